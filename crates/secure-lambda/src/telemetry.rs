//! Logging and metrics set-up shared by every function.
//!
//! Logs are JSON lines on stdout (what CloudWatch Logs and Lambda's JSON log format expect), one
//! per event, with the fields of the current span (the runtime's span carries the request id).
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
//! `RUST_LOG`, else `INFO`. Metrics are CloudWatch Embedded Metric Format documents, each on a
//! line of its own so that CloudWatch extracts them.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;

use crate::mask::writer::RedactingMakeWriter;

/// The CloudWatch namespace of every metric the suite emits.
pub const METRICS_NAMESPACE: &str = "SecureLambdaSuite";

/// Installs the JSON subscriber, writing through the redacting writer: PII and secret values
/// are removed from every event before it reaches stdout. Calling it twice is harmless.
pub fn init_logging() {
    init_logging_to(std::io::stdout);
}

/// [`init_logging`] with the redacted events written to `out` rather than straight to stdout,
/// for a function that must keep more out of its logs than the detectors know of (loadtest
/// masks the user names it decrypts, wherever a line carries them).
pub fn init_logging_to<M>(out: M)
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "INFO".to_owned());
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(level.to_ascii_lowercase());
    let _ = tracing::subscriber::set_global_default(subscriber(out, filter));
}

/// The subscriber every function logs through: one JSON line per event with the current span's
/// fields, written through [`RedactingMakeWriter`] to `writer`. Tests build it over a buffer to
/// see exactly what a function would write.
pub fn subscriber<W>(writer: W, filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(RedactingMakeWriter::new(writer))
        .finish()
}

/// Milliseconds since the Unix epoch, for EMF timestamps.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes one EMF document as its own stdout line.
pub fn emit_metrics(document: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A metrics line that cannot be written is dropped: losing a metric must not fail an invocation.
    let _ = writeln!(out, "{document}");
}

/// The function name Lambda gives the environment (or `local` outside Lambda).
pub fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned())
}

/// The metrics every function publishes after each invocation: the secret cache's counters and
/// the log redactions, each as one EMF line covering that invocation.
#[derive(Debug)]
pub struct InvocationMetrics {
    function_name: String,
    cache: crate::secrets::MetricsReporter,
    redactions: crate::mask::RedactionReporter,
}

impl InvocationMetrics {
    /// For the function named by `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn new() -> Self {
        Self {
            function_name: function_name(),
            cache: Default::default(),
            redactions: Default::default(),
        }
    }

    /// Publishes what changed since the previous call. `cache` is the store's current counters.
    pub fn report(&self, cache: crate::secrets::CacheCounters) {
        self.cache.report(cache, &self.function_name);
        self.redactions.report(&self.function_name);
    }
}

impl Default for InvocationMetrics {
    fn default() -> Self {
        Self::new()
    }
}
