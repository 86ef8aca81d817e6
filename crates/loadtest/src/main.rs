//! `loadtest`: signs the users named by the KMS-encrypted `USER_NAME` in to Cognito (passwords
//! from Secrets Manager) and drives load at `API_URL`. `main` only wires; see [`loadtest::handler`].

// The runtime's future nests the SDK's deep futures; the default limit is too low to lay it out.
#![recursion_limit = "256"]

use hyper::Method;
use loadtest::config::Config;
use loadtest::engine::Engine;
use loadtest::fanout::LambdaInvoker;
use loadtest::handler::LoadTest;
use loadtest::names::{ScrubbingMakeWriter, UserNames};
use loadtest::signin::{Cognito, PasswordSecrets, SignIns};
use secure_lambda::kms_env::{AwsKms, EncryptedEnv, EncryptionContext};
use secure_lambda::runtime::Error;
use secure_lambda::secrets::AwsSecretStore;
use secure_lambda::{aws, logging, runtime, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Every log line, the library's included, passes through the user-name mask.
    let names = UserNames::default();
    logging::init_logging_to(ScrubbingMakeWriter::new(names.clone(), std::io::stdout));
    runtime::start(async {
        let config = Config::from_env()?;
        let context = EncryptionContext::from_env()?;
        let sdk_config = aws::load_sdk_config().await?;
        let env = EncryptedEnv::new(AwsKms(aws_sdk_kms::Client::new(&sdk_config)), context)
            .retry_without_context(config.kms_retry_without_context);
        let sign_ins = SignIns::new(
            Cognito {
                client: aws_sdk_cognitoidentityprovider::Client::new(&sdk_config),
                client_id: config.client_id.clone(),
            },
            AwsSecretStore::from_sdk_config(&sdk_config, config.cache.clone()),
            PasswordSecrets {
                prefix: config.password_prefix.clone(),
                key: config.password_key.clone(),
            },
            config.sign_in_interval,
        );
        let engine = Engine::new(config.api_url.parse()?, Method::GET, config.request_timeout)?;
        let invoker = LambdaInvoker::new(&sdk_config, telemetry::function_name());
        tracing::info!(
            user_pool = config.user_pool_id.as_str(),
            api = config.api_url.as_str(),
            "loadtest ready"
        );
        Ok::<_, Error>(LoadTest::new(
            env, sign_ins, engine, invoker, config, &names,
        ))
    })
    .await
}
