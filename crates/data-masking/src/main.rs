//! `data-masking`: masks PII and secrets in JSON records (field rules, detection, keyed tokens);
//! `{}` shows the lab's sample users masked. `main` only wires; see [`handler`].

// The runtime's future nests the SDK's deep futures; the default limit is too low to lay it out.
#![recursion_limit = "256"]

mod config;
mod handler;
mod request;
mod sample;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use secure_lambda::aws;
use secure_lambda::secrets::AwsSecretStore;
use secure_lambda::telemetry::{self, InvocationMetrics};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let config = config::Config::from_env()?;
    let sdk_config = aws::load_sdk_config().await;
    let store = AwsSecretStore::from_sdk_config(&sdk_config, config.cache.clone());
    let function = handler::DataMasking::new(store, config);
    let metrics = InvocationMetrics::new();

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (function, metrics) = (&function, &metrics);
        async move {
            let response = function.handle(event.payload).await;
            metrics.report(function.store().counters());
            Ok::<Value, Error>(response)
        }
    }))
    .await
}
