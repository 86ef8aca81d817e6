//! `data-masking`: masks PII and secrets in JSON records (field rules, detection, keyed tokens);
//! `{}` shows the lab's sample users masked. `main` only wires; see [`handler`].

// The runtime's future nests the SDK's deep futures; the default limit is too low to lay it out.
#![recursion_limit = "256"]

mod config;
mod handler;
mod request;
mod sample;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use secure_lambda::mask::RedactionReporter;
use secure_lambda::secrets::{AwsSecretStore, MetricsReporter};
use secure_lambda::{aws, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let config = config::Config::from_env()?;
    let sdk_config = aws::load_sdk_config().await;
    let store = AwsSecretStore::from_sdk_config(&sdk_config, config.cache.clone());
    let function = handler::DataMasking::new(store, config);
    let cache_metrics = MetricsReporter::default();
    let redaction_metrics = RedactionReporter::default();
    let function_name = telemetry::function_name();

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (function, function_name) = (&function, &function_name);
        let (cache_metrics, redaction_metrics) = (&cache_metrics, &redaction_metrics);
        async move {
            let response = function.handle(event.payload).await;
            cache_metrics.report(function.store().counters(), function_name);
            redaction_metrics.report(function_name);
            Ok::<Value, Error>(response)
        }
    }))
    .await
}
