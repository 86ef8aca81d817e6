//! The functions' logs: JSON lines on stdout (what CloudWatch Logs and Lambda's JSON log format
//! expect), one per event, with the fields of the current span (the runtime's span carries the
//! request id), every one written through the redacting writer. The level comes from
//! `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else `RUST_LOG`, else `INFO`.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;

use crate::mask::RedactingMakeWriter;

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
