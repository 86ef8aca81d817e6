//! `secure-config`: database credentials (password never returned), app config and feature
//! flags, read through the cached secret store. `main` only wires; see [`handler`].

// The runtime's future nests the SDK's deep futures; the default limit is too low to lay it out.
#![recursion_limit = "256"]

mod config;
mod handler;

use secure_lambda::runtime::Error;
use secure_lambda::secrets::AwsSecretStore;
use secure_lambda::{aws, logging, runtime};

// One thread: Lambda hands a function one event at a time, and a runtime without worker threads
// starts sooner (see data-masking's main for the figures).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    runtime::start(async {
        let config = config::Config::from_env()?;
        let sdk_config = aws::load_sdk_config().await?;
        let store = AwsSecretStore::from_sdk_config(&sdk_config, config.cache.clone());
        Ok::<_, Error>(handler::SecureConfig::new(store, config))
    })
    .await
}
