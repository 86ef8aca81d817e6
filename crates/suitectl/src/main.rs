//! `suitectl`: the operator CLI of the secure Lambda suite. The same commands serve a real
//! account (after `sam deploy`) and the local stack (`--endpoint-url http://127.0.0.1:<port>`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use suitectl::{encrypt_env, endpoint, seed, values};

#[derive(Parser)]
#[command(
    name = "suitectl",
    version,
    about = "Operate the secure Lambda suite: seed a real account or the local stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, idempotently, every secret, parameter, key, table, item, user pool, app client and
    /// user of the lab flows. Changes only what differs; never prints a secret value.
    Seed(SeedArgs),
    /// Encrypt a value with KMS for one function (encryption context
    /// LambdaFunctionName=<function>) and set it as an environment variable of that function,
    /// or write it to a local env file. The plaintext is never printed.
    EncryptEnv(EncryptEnvArgs),
}

#[derive(Args)]
struct EncryptEnvArgs {
    #[command(flatten)]
    target: Target,
    /// The function whose name is the encryption context and whose variable is set.
    #[arg(long)]
    function: String,
    /// The variable to set, e.g. USER_NAME.
    #[arg(long)]
    var: String,
    /// The plaintext (or env SUITECTL_ENCRYPT_VALUE; prefer that, it stays out of shell history).
    #[arg(long, env = "SUITECTL_ENCRYPT_VALUE", hide_env_values = true)]
    value: String,
    /// The KMS key (id, ARN or alias).
    #[arg(long, default_value = "alias/UserName")]
    key: String,
    /// Write `VAR=<ciphertext>` into this env file (for `cargo lambda watch --env-file`) instead
    /// of updating a deployed function.
    #[arg(long)]
    env_file: Option<PathBuf>,
}

#[derive(Args)]
struct Target {
    /// AWS endpoint to talk to instead of the real one (the local stack's moto server).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// AWS region (defaults to the SDK's region chain; us-east-1 for a local endpoint).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
}

#[derive(Args)]
struct SeedArgs {
    #[command(flatten)]
    target: Target,
    /// Password stored in the `prod/database/credentials` secret.
    #[arg(long, env = "SUITECTL_DB_PASSWORD", hide_env_values = true)]
    db_password: Option<String>,
    /// Value of the `/app/secrets/api-key` SecureString parameter.
    #[arg(long, env = "SUITECTL_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Password of the Cognito users, also stored in a secret named after each user.
    #[arg(long, env = "SUITECTL_USER_PASSWORD", hide_env_values = true)]
    user_password: Option<String>,
    /// JSON file with any of `dbPassword`, `apiKey`, `userPassword` (flags and env win over it).
    #[arg(long)]
    values_file: Option<PathBuf>,
    /// Use the lab's values for anything not given, even against a real account.
    #[arg(long)]
    lab_defaults: bool,
    /// Also write the seeded identifiers (pool id, client id, key id; no secrets) to this file.
    #[arg(long)]
    outputs_file: Option<PathBuf>,
    /// Use this user pool (the stack's `UserPoolId` output) instead of creating the lab's own.
    #[arg(long, env = "SUITECTL_USER_POOL_ID")]
    user_pool_id: Option<String>,
    /// Use this app client (the stack's `UserPoolClientId` output).
    #[arg(long, env = "SUITECTL_APP_CLIENT_ID", requires = "user_pool_id")]
    app_client_id: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Seed(args) => run_seed(args).await,
        Command::EncryptEnv(args) => run_encrypt_env(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("suitectl: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_seed(args: SeedArgs) -> anyhow::Result<()> {
    let endpoint_url = args.target.endpoint_url.as_deref();
    let local = endpoint_url.is_some_and(endpoint::is_loopback);
    let flags = values::ValuesFile {
        db_password: args.db_password.map(SecretString::from),
        api_key: args.api_key.map(SecretString::from),
        user_password: args.user_password.map(SecretString::from),
    };
    let file = args
        .values_file
        .as_deref()
        .map(values::ValuesFile::read)
        .transpose()?;
    let seed_values = values::resolve(flags, file, local || args.lab_defaults)?;

    let config = endpoint::sdk_config(endpoint_url, args.target.region.as_deref()).await;
    let target = endpoint_url.unwrap_or("the AWS account of the current credentials");
    let region = config
        .region()
        .map(ToString::to_string)
        .unwrap_or_else(|| "(no region)".into());
    eprintln!("suitectl: seeding {target} in {region}");
    let clients = seed::Clients::new(&config);
    let existing = seed::Existing {
        user_pool_id: args.user_pool_id,
        app_client_id: args.app_client_id,
    };
    let outputs = seed::seed_into(&clients, &seed_values, &existing, &|line| {
        eprintln!("  {line}")
    })
    .await?;

    let text = serde_json::to_string_pretty(&outputs)?;
    if let Some(path) = args.outputs_file {
        std::fs::write(&path, format!("{text}\n"))
            .map_err(|e| anyhow::anyhow!("writing outputs to {}: {e}", path.display()))?;
        eprintln!("suitectl: outputs written to {}", path.display());
    }
    println!("{text}");
    Ok(())
}

async fn run_encrypt_env(args: EncryptEnvArgs) -> anyhow::Result<()> {
    let config = endpoint::sdk_config(
        args.target.endpoint_url.as_deref(),
        args.target.region.as_deref(),
    )
    .await;
    let value = SecretString::from(args.value);
    let ciphertext = encrypt_env::encrypt_for_function(
        &aws_sdk_kms::Client::new(&config),
        &args.key,
        &args.function,
        &value,
    )
    .await?;
    match &args.env_file {
        Some(path) => {
            encrypt_env::set_in_env_file(path, &args.var, &ciphertext)?;
            eprintln!(
                "suitectl: {} written to {} (encrypted with {}, context LambdaFunctionName={})",
                args.var,
                path.display(),
                args.key,
                args.function
            );
        }
        None => {
            encrypt_env::set_on_function(
                &aws_sdk_lambda::Client::new(&config),
                &args.function,
                &args.var,
                &ciphertext,
            )
            .await?;
            eprintln!(
                "suitectl: {} set on function {} (encrypted with {}, context LambdaFunctionName={})",
                args.var, args.function, args.key, args.function
            );
        }
    }
    Ok(())
}
