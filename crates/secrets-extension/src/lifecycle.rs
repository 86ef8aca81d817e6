//! The Extensions API: register for SHUTDOWN (only: the extension does nothing per invocation,
//! so an INVOKE subscription would add a `/next` round trip to every invocation for nothing),
//! then wait for it.
//!
//! Registration comes after the listeners are bound: Lambda starts the function's init as soon
//! as every extension has registered, and that init may read a secret at once.

use std::sync::Arc;

use lambda_extension::{service_fn, Error, Extension, LambdaEvent, NextEvent};
use tokio::sync::Notify;

/// The name Lambda registers the extension under: the file name in `/opt/extensions/`, which
/// Lambda requires to match.
pub fn extension_name() -> String {
    std::env::args()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .and_then(|name| name.to_str())
        .map_or_else(|| "secrets-extension".to_owned(), str::to_owned)
}

/// Why the Extensions API cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("AWS_LAMBDA_RUNTIME_API is not set (the extension runs inside Lambda, or under its emulator)")]
    NoRuntimeApi,
    #[error("AWS_LAMBDA_RUNTIME_API is not a host:port")]
    BadRuntimeApi,
    #[error("the Extensions API: {0}")]
    Api(String),
}

/// Checks `AWS_LAMBDA_RUNTIME_API` the way the Extensions API client reads it (which would
/// panic on a bad value).
pub fn check_runtime_api(value: Option<&str>) -> Result<(), LifecycleError> {
    let value = value.ok_or(LifecycleError::NoRuntimeApi)?;
    let uri: hyper::Uri = value.parse().map_err(|_| LifecycleError::BadRuntimeApi)?;
    if uri.authority().is_none() || uri.scheme().is_some() {
        return Err(LifecycleError::BadRuntimeApi);
    }
    Ok(())
}

/// Registers, then returns when Lambda sends SHUTDOWN (or the Extensions API fails).
pub async fn run_until_shutdown(name: &str) -> Result<(), LifecycleError> {
    check_runtime_api(std::env::var("AWS_LAMBDA_RUNTIME_API").ok().as_deref())?;
    let shutdown = Arc::new(Notify::new());
    let signal = shutdown.clone();
    let processor = service_fn(move |event: LambdaEvent| {
        let signal = signal.clone();
        async move {
            if let NextEvent::Shutdown(_) = event.next {
                signal.notify_one();
            }
            Ok::<(), Error>(())
        }
    });
    let registered = Extension::new()
        .with_extension_name(name)
        .with_events(&["SHUTDOWN"])
        .with_events_processor(processor)
        .register()
        .await
        .map_err(|e| LifecycleError::Api(e.to_string()))?;
    tracing::info!(extension = name, "registered for SHUTDOWN");
    tokio::select! {
        result = registered.run() => result.map_err(|e| LifecycleError::Api(e.to_string())),
        () = shutdown.notified() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_api_must_be_a_host_and_port() {
        assert!(check_runtime_api(Some("127.0.0.1:9001")).is_ok());
        assert!(check_runtime_api(Some("localhost:9001")).is_ok());
        for bad in [
            None,
            Some(""),
            Some("http://127.0.0.1:9001"),
            Some("a b"),
            Some("/path"),
        ] {
            assert!(check_runtime_api(bad).is_err(), "{bad:?}");
        }
    }
}
