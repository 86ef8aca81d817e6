//! `suitectl`: the operator CLI of the secure Lambda suite. The same commands serve a deployed
//! stack (`--stack-name`, after `sam deploy`) and the local stack (`--stack-outputs
//! tests/local-stack.json --endpoint-url http://127.0.0.1:<port>`). Every resource name comes from
//! the stack's outputs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use suitectl::stack::{keys, Names, StackOutputs, USER_NAME_PARAMETER};
use suitectl::{encrypt_env, endpoint, samconfig, seed, values};

#[derive(Parser)]
#[command(
    name = "suitectl",
    version,
    about = "Operate the secure Lambda suite: seed a deployed stack or the local stack, encrypt variables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put the lab flows' values into the stack's resources: secret values, the SecureString API
    /// key, the orders, the users and their password secrets (and, on the local stack, the
    /// resources themselves). Changes only what differs; never prints a secret value.
    Seed(SeedArgs),
    /// Encrypt a value with the stack's KMS key for one function (encryption context
    /// LambdaFunctionName=<function>) and record it where that function's environment comes from:
    /// samconfig.toml's parameter_overrides for a deployed stack (applied by the next `sam
    /// deploy`), or an env file on the local stack. The plaintext is never printed.
    EncryptEnv(EncryptEnvArgs),
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
#[group(required = true, multiple = false)]
struct StackSource {
    /// The deployed stack (`sam deploy`'s stack name): names are read from its outputs.
    #[arg(long)]
    stack_name: Option<String>,
    /// A JSON file of stack outputs instead, e.g. the local stack's tests/local-stack.json.
    #[arg(long)]
    stack_outputs: Option<PathBuf>,
}

impl StackSource {
    async fn outputs(&self, config: &aws_config::SdkConfig) -> anyhow::Result<StackOutputs> {
        match (&self.stack_name, &self.stack_outputs) {
            (Some(name), _) => {
                StackOutputs::describe(&aws_sdk_cloudformation::Client::new(config), name).await
            }
            (None, Some(path)) => StackOutputs::read(path),
            (None, None) => bail!("give --stack-name or --stack-outputs"),
        }
    }
}

#[derive(Args)]
struct SeedArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    stack: StackSource,
    /// Password stored in the database credentials secret.
    #[arg(long, env = "SUITECTL_DB_PASSWORD", hide_env_values = true)]
    db_password: Option<String>,
    /// Value of the `<path>/secrets/api-key` SecureString parameter.
    #[arg(long, env = "SUITECTL_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Password of the Cognito users, also stored in a secret per user.
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
    ids_file: Option<PathBuf>,
}

#[derive(Args)]
struct EncryptEnvArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    stack: StackSource,
    /// The variable to encrypt.
    #[arg(long, default_value = "USER_NAME")]
    var: String,
    /// The plaintext (or env SUITECTL_ENCRYPT_VALUE; prefer that, it stays out of shell history).
    #[arg(long, env = "SUITECTL_ENCRYPT_VALUE", hide_env_values = true)]
    value: String,
    /// The encryption context: the function's name as Lambda gives it to the function. Defaults
    /// to the stack's LoadTestFunctionName; under `sam local invoke` it is the logical id,
    /// LoadTestFunction.
    #[arg(long)]
    function: Option<String>,
    /// The KMS key (id, ARN or alias). Defaults to the stack's UserNameKeyAlias.
    #[arg(long)]
    key: Option<String>,
    /// Write the ciphertext into this env file instead of samconfig.toml: `KEY=VALUE` lines for
    /// `cargo lambda watch --env-file`, or, for a `.json` file, SAM local's `--env-vars` (under
    /// the function's name).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// The samconfig.toml whose parameter_overrides `sam deploy` reads.
    #[arg(long, default_value = "samconfig.toml")]
    samconfig: PathBuf,
    /// Its configuration environment: the one `sam deploy --config-env` deploys the stack with.
    #[arg(long, default_value = "default")]
    config_env: String,
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
    let names = Names::from_outputs(&args.stack.outputs(&config).await?)?;
    let target = endpoint_url.unwrap_or("the AWS account of the current credentials");
    let region = config
        .region()
        .map(ToString::to_string)
        .unwrap_or_else(|| "(no region)".into());
    eprintln!("suitectl: seeding {target} in {region}");
    let clients = seed::Clients::new(&config);
    let outputs = seed::seed(&clients, &names, &seed_values, &|line| {
        eprintln!("  {line}")
    })
    .await?;

    let text = serde_json::to_string_pretty(&outputs)?;
    if let Some(path) = args.ids_file {
        std::fs::write(&path, format!("{text}\n"))
            .map_err(|e| anyhow::anyhow!("writing identifiers to {}: {e}", path.display()))?;
        eprintln!("suitectl: identifiers written to {}", path.display());
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
    let outputs = args.stack.outputs(&config).await?;
    let function = match &args.function {
        Some(function) => function.clone(),
        None => outputs.get(keys::LOAD_TEST_FUNCTION_NAME)?.to_owned(),
    };
    let key = match &args.key {
        Some(key) => key.clone(),
        None => outputs.get(keys::USER_NAME_KEY_ALIAS)?.to_owned(),
    };
    let ciphertext = encrypt_env::encrypt_for_function(
        &aws_sdk_kms::Client::new(&config),
        &key,
        &function,
        &SecretString::from(args.value),
    )
    .await?;
    let encrypted = format!(
        "{} encrypted with {key} for LambdaFunctionName={function}",
        args.var
    );
    if let Some(path) = &args.env_file {
        encrypt_env::set_in_env_file(path, &function, &args.var, &ciphertext)?;
        eprintln!("suitectl: {encrypted}, written to {}", path.display());
        return Ok(());
    }
    let Some(stack_name) = outputs.stack_name() else {
        bail!("stack outputs from a file name no deployed stack: pass --env-file, or --stack-name");
    };
    if args.var != "USER_NAME" {
        bail!(
            "the template has a parameter for USER_NAME only ({USER_NAME_PARAMETER}); \
             write {} to an --env-file instead",
            args.var
        );
    }
    samconfig::record_parameter_override(
        &args.samconfig,
        &args.config_env,
        stack_name,
        USER_NAME_PARAMETER,
        &ciphertext,
    )?;
    let deploy = match args.config_env.as_str() {
        "default" => "sam deploy".to_owned(),
        env => format!("sam deploy --config-env {env}"),
    };
    eprintln!(
        "suitectl: {encrypted}, recorded as {USER_NAME_PARAMETER} in {} [{}]",
        args.samconfig.display(),
        args.config_env
    );
    eprintln!("suitectl: apply it to stack {stack_name} with: {deploy}");
    Ok(())
}
