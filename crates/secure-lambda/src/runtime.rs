//! The Lambda runtime loop every function runs: each event through the function's handler, then
//! the invocation's metrics (secret cache counters and log redactions) as EMF lines.

use std::future::Future;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use crate::secrets::CacheCounters;
use crate::telemetry::InvocationMetrics;

/// What the runtime needs of a function.
pub trait Function: Send + Sync {
    /// Answers one event; errors are responses too, so this cannot fail.
    fn handle(&self, event: Value) -> impl Future<Output = Value> + Send;

    /// The secret store's counters, published after each invocation.
    fn cache_counters(&self) -> CacheCounters;
}

/// Serves `function` until the runtime stops.
pub async fn run(function: impl Function) -> Result<(), Error> {
    let metrics = InvocationMetrics::new();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (function, metrics) = (&function, &metrics);
        async move {
            let response = function.handle(event.payload).await;
            metrics.report(function.cache_counters());
            Ok::<Value, Error>(response)
        }
    }))
    .await
}
