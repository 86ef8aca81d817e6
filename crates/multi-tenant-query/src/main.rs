//! `multi-tenant-query`: not implemented yet (tenant-isolated order queries lands in its own change).
//!
//! Until then the binary builds, starts like the others and answers every invocation with a
//! structured 501, so that deploys and invokes fail loudly instead of silently.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use secure_lambda::envelope::{respond_error, Invocation, ResponseStyle};
use secure_lambda::{telemetry, ApiError};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let style = Invocation::parse(event.payload).map_or(ResponseStyle::Direct, |i| i.style());
        let error = ApiError::new(
            501,
            "NotImplemented",
            "multi-tenant-query is not implemented yet",
        );
        tracing::warn!("invoked before it is implemented");
        Ok::<Value, Error>(respond_error(style, &error))
    }))
    .await
}
