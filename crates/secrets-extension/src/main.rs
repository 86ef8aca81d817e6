//! `secrets-extension`: serves AWS's Parameters and Secrets Extension API on localhost through
//! the suite's cache. `main` only wires; see the library's modules.

use std::process::ExitCode;
use std::sync::Arc;

use secrets_extension::auth::ExpectedToken;
use secrets_extension::config::{Config, LogLevel};
use secrets_extension::error::ErrorStyle;
use secrets_extension::lifecycle;
use secrets_extension::server::Listeners;
use secrets_extension::service::Service;
use secrets_extension::upstream::AwsUpstream;
use secure_lambda::{aws, logging, telemetry};

// One thread: an extension shares the function's CPU, one core serves 50,000+ cached reads a
// second, and each extra worker thread brings its own allocator arena and stack (RSS).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let config = match Config::from_lookup(env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("secrets-extension: {error}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(config.log_level);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "secrets-extension stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let errors = ErrorStyle::from_value(
        std::env::var("PARAMETERS_SECRETS_EXTENSION_DETAILED_ERRORS")
            .ok()
            .as_deref(),
    )?;
    let token = ExpectedToken::from_lookup(|name| std::env::var(name).ok());
    if !token.is_configured() {
        tracing::warn!("neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN is set: every request will be refused");
    }
    // Clients first, so that the first request does not build them.
    let sdk_config = aws::load_sdk_config().await?;
    let service = Arc::new(Service::new(
        AwsUpstream::from_sdk_config(&sdk_config),
        &config,
        token,
        errors,
    ));
    let listeners = Listeners::bind(config.http_port).await?;
    tracing::debug!(config = ?config, "configuration");
    tracing::info!(port = listeners.port(), "listening");
    listeners.serve(service.clone());
    if !config.extras.prefetch.is_empty() {
        // Beside registration, not before it: the function's init is not held up, and a read
        // that comes first is simply a miss.
        let (service, targets) = (service.clone(), config.extras.prefetch.clone());
        tokio::spawn(async move {
            let report = service.prefetch(&targets).await;
            tracing::info!(
                cached = report.cached,
                failed = report.failed,
                calls = report.calls,
                "prefetched"
            );
        });
    }
    let function_name = telemetry::function_name();
    if config.extras.metrics {
        let (service, function_name) = (service.clone(), function_name.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(METRICS_PERIOD);
            every.tick().await;
            loop {
                every.tick().await;
                service.snapshot().to_emf(&function_name).emit();
            }
        });
    }
    lifecycle::run_until_shutdown(&lifecycle::extension_name()).await?;
    let snapshot = service.snapshot();
    if config.extras.metrics {
        snapshot.to_emf(&function_name).emit();
    }
    tracing::info!(
        hits = snapshot.cache.hits,
        misses = snapshot.cache.misses,
        stale_served = snapshot.cache.stale_served,
        coalesced = snapshot.coalesced,
        upstream_calls = snapshot.upstream_calls,
        "shutdown"
    );
    Ok(())
}

/// How often the opt-in EMF line is written while the environment runs.
const METRICS_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

fn init_logging(level: LogLevel) {
    let directive = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
        LogLevel::None => "off",
    };
    let _ = tracing::subscriber::set_global_default(logging::subscriber(
        std::io::stdout,
        logging::log_filter(directive),
    ));
}
