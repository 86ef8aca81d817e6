//! The functions' logs: JSON lines on stdout (what CloudWatch Logs and Lambda's JSON log format
//! expect), one per event, with the fields of the current span (the runtime's span carries the
//! request id), every one written through the redacting writer. The level comes from
//! `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else `RUST_LOG`, else `INFO`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

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
    if tracing::subscriber::set_global_default(subscriber(out, log_filter(&level))).is_ok() {
        std::panic::set_hook(Box::new(log_panic));
    }
}

/// The panic hook: where the panic happened, and its message only when it is a fixed string.
/// A message formatted at run time may quote the data at hand (slicing a string in the middle
/// of a character quotes the string), and the default hook would print it to stderr as it is.
/// A panic while logging one (inside the redacting writer) is not logged again. Release builds
/// abort on a panic (`panic = "abort"`): once the line is written the hook ends the process with
/// the status an unwinding panic gives (101), so that no abort signal leaves a core dump holding
/// the secrets in memory.
fn log_panic(panic: &std::panic::PanicHookInfo<'_>) {
    thread_local! {
        static LOGGING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if LOGGING.with(|logging| logging.replace(true)) {
        return;
    }
    let location = panic
        .location()
        .map(|at| format!("{}:{}", at.file(), at.line()))
        .unwrap_or_default();
    let message = panic
        .payload()
        .downcast_ref::<&'static str>()
        .copied()
        .unwrap_or("(a message formatted at run time, not logged: it may quote data)");
    tracing::error!(%location, message, "the function panicked");
    LOGGING.with(|logging| logging.set(false));
    #[cfg(panic = "abort")]
    std::process::exit(101);
}

/// The levels `spec` asks for: a level (`AWS_LAMBDA_LOG_LEVEL`'s `DEBUG`, any case; Lambda's
/// `FATAL` is `error`) or `RUST_LOG` directives (`warn,secure_lambda=debug`). Targets no
/// directive names log at INFO; a spec that does not parse logs everything at INFO.
pub fn log_filter(spec: &str) -> Targets {
    let spec = spec.trim().to_ascii_lowercase();
    let spec = if spec == "fatal" { "error" } else { &spec };
    let info = || Targets::new().with_default(LevelFilter::INFO);
    if spec.is_empty() {
        return info();
    }
    match spec.parse::<Targets>() {
        Ok(targets) if targets.default_level().is_some() => targets,
        Ok(targets) => targets.with_default(LevelFilter::INFO),
        Err(_) => info(),
    }
}

/// The subscriber every function logs through: one JSON line per event with the current span's
/// fields, written through [`RedactingMakeWriter`] to `writer`. Tests build it over a buffer to
/// see exactly what a function would write.
pub fn subscriber<W>(writer: W, filter: Targets) -> impl tracing::Subscriber + Send + Sync
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
        .with_writer(RedactingMakeWriter::new(writer))
        .finish()
        .with(filter)
}

#[cfg(test)]
mod tests {
    use super::{log_filter, log_panic, subscriber};
    use crate::mask::LogSink as Sink;
    use tracing::Level;

    /// A panic is one log line with its location; its message only when it is fixed text, since
    /// a formatted one may quote what the function was holding.
    #[test]
    fn panics_are_logged_without_what_they_quote() {
        let sink = Sink::default();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(log_panic));
        tracing::subscriber::with_default(subscriber(sink.clone(), log_filter("info")), || {
            let _ = std::panic::catch_unwind(|| panic!("the cache is in a state it cannot be"));
            let record = "Jane's note: call me on 07700 900123";
            let _ = std::panic::catch_unwind(|| panic!("cannot mask {record}"));
        });
        std::panic::set_hook(previous);
        let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = logged.lines().collect();
        assert_eq!(lines.len(), 2, "{logged}");
        assert!(lines
            .iter()
            .all(|l| l.contains("the function panicked") && l.contains("src/logging.rs:")));
        assert!(
            lines[0].contains("the cache is in a state it cannot be"),
            "{logged}"
        );
        assert!(
            !logged.contains("Jane") && !logged.contains("07700"),
            "{logged}"
        );
    }

    #[test]
    fn lambda_levels_and_rust_log_directives_both_read() {
        let cases: [(&str, &str, Level, bool); 10] = [
            ("DEBUG", "data_masking", Level::DEBUG, true),
            ("INFO", "data_masking", Level::DEBUG, false),
            ("FATAL", "secure_lambda", Level::ERROR, true),
            ("FATAL", "secure_lambda", Level::WARN, false),
            (
                "warn,secure_lambda=debug",
                "secure_lambda::secrets",
                Level::DEBUG,
                true,
            ),
            ("warn,secure_lambda=debug", "hyper", Level::INFO, false),
            // A directive for one target leaves the others at INFO, not silent.
            ("secure_lambda=trace", "data_masking", Level::INFO, true),
            ("secure_lambda=trace", "data_masking", Level::DEBUG, false),
            ("", "data_masking", Level::INFO, true),
            ("not a level=[", "data_masking", Level::INFO, true),
        ];
        for (spec, target, level, enabled) in cases {
            assert_eq!(
                log_filter(spec).would_enable(target, &level),
                enabled,
                "{spec:?} {target} {level}"
            );
        }
        assert!(!log_filter("off").would_enable("data_masking", &Level::ERROR));
    }
}
