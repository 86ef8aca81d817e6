//! The redacting log writer: every log event is buffered, redacted, then written, so no
//! unredacted byte reaches stdout (and CloudWatch).
//!
//! Fail closed: an event that is not UTF-8, or whose redaction fails, is replaced by a notice
//! line; it is never written raw. (Release builds abort on a panic, so there a redaction that
//! panics ends the process: nothing is written either.) Counts of what was redacted are kept per kind and published as
//! CloudWatch Embedded Metric Format by [`RedactionReporter`].

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

use super::detect::{Finding, PiiKind};
use super::text::{redact_with, RedactionCounts};

/// The line written instead of an event that could not be redacted.
pub const WITHHELD_NOTICE: &str =
    "{\"level\":\"WARN\",\"message\":\"log event withheld: it could not be redacted\",\"target\":\"redaction\"}\n";

static COUNTS: [AtomicU64; PiiKind::ALL.len()] = [const { AtomicU64::new(0) }; PiiKind::ALL.len()];
static WITHHELD: AtomicU64 = AtomicU64::new(0);

/// Redactions made by every redacting writer of the process, by kind.
pub fn redaction_totals() -> (RedactionCounts, u64) {
    let mut counts = RedactionCounts::default();
    for kind in PiiKind::ALL {
        counts.0[kind.index()] = COUNTS[kind.index()].load(Ordering::Relaxed);
    }
    (counts, WITHHELD.load(Ordering::Relaxed))
}

/// Redacts one buffered event; `None` means it must be withheld.
pub fn redact_event(
    event: &[u8],
    findings: &mut Vec<Finding>,
) -> Option<(Vec<u8>, RedactionCounts)> {
    let text = std::str::from_utf8(event).ok()?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut counts = RedactionCounts::default();
        let redacted = redact_with(text, &mut counts, findings)
            .into_owned()
            .into_bytes();
        (redacted, counts)
    }))
    .ok()
}

/// Wraps a `MakeWriter` (e.g. `std::io::stdout`) so that everything written is redacted first.
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            buffer: Vec::with_capacity(512),
        }
    }
}

/// One event's writer: collects the event, redacts and writes it when dropped.
pub struct RedactingWriter<W: Write> {
    inner: W,
    buffer: Vec<u8>,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Writing happens once, on drop: flushing a half event would bypass redaction of
        // values split across writes.
        Ok(())
    }
}

thread_local! {
    static FINDINGS: std::cell::RefCell<Vec<Finding>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let result = FINDINGS
            .try_with(|findings| match findings.try_borrow_mut() {
                Ok(mut findings) => redact_event(&self.buffer, &mut findings),
                Err(_) => redact_event(&self.buffer, &mut Vec::new()),
            })
            .unwrap_or_else(|_| redact_event(&self.buffer, &mut Vec::new()));
        // A log line that cannot be written is lost; failing the invocation over it is worse.
        match result {
            Some((redacted, counts)) => {
                for kind in PiiKind::ALL {
                    let n = counts.get(kind);
                    if n > 0 {
                        COUNTS[kind.index()].fetch_add(n, Ordering::Relaxed);
                    }
                }
                let _ = self.inner.write_all(&redacted);
            }
            None => {
                WITHHELD.fetch_add(1, Ordering::Relaxed);
                let _ = self.inner.write_all(WITHHELD_NOTICE.as_bytes());
            }
        }
        let _ = self.inner.flush();
    }
}

/// Publishes the redactions made since the previous report as one EMF line.
#[derive(Debug, Default)]
pub struct RedactionReporter {
    last: Mutex<(RedactionCounts, u64)>,
}

impl RedactionReporter {
    pub fn report(&self, function_name: &str) {
        let (now, withheld) = redaction_totals();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let emf = PiiKind::ALL
            .into_iter()
            .fold(crate::telemetry::Emf::new(function_name), |emf, kind| {
                let delta = now.get(kind).saturating_sub(last.0.get(kind));
                emf.metric(format!("Redacted{}", pascal(kind.name())), "Count", delta)
            })
            .metric(
                "LogEventsWithheld",
                "Count",
                withheld.saturating_sub(last.1),
            );
        *last = (now, withheld);
        emf.emit();
    }
}

/// `AWS_ACCESS_KEY` → `AwsAccessKey`.
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_string() + &chars.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// What a writer wrote, shared with the test that reads it (the crate's log tests use it).
    #[derive(Clone, Default)]
    pub(crate) struct Sink(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn events_are_redacted_before_they_are_written() {
        let sink = Sink::default();
        let make = RedactingMakeWriter::new(sink.clone());
        {
            let mut writer = make.make_writer();
            // A value split across two writes is still caught: redaction runs on the whole event.
            writer
                .write_all(br#"{"message":"login","password":"hun"#)
                .unwrap();
            writer
                .write_all(b"ter2\",\"email\":\"jane.doe@example.com\"}\n")
                .unwrap();
            writer.flush().unwrap();
            assert!(
                sink.0.lock().unwrap().is_empty(),
                "nothing is written before the event ends"
            );
        }
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            written,
            "{\"message\":\"login\",\"password\":\"[REDACTED:SECRET]\",\"email\":\"j***e@example.com\"}\n"
        );
    }

    #[test]
    fn events_that_cannot_be_redacted_are_withheld() {
        let sink = Sink::default();
        let make = RedactingMakeWriter::new(sink.clone());
        {
            let mut writer = make.make_writer();
            writer
                .write_all(b"ssn 123-45-6789 \xff\xfe not utf-8")
                .unwrap();
        }
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written, WITHHELD_NOTICE);
        assert!(redaction_totals().1 >= 1);
    }

    #[test]
    fn works_as_the_tracing_writer() {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(RedactingMakeWriter::new(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                card = "4111 1111 1111 1111",
                token = "abc.def.ghi",
                "charging jane.doe@example.com"
            );
        });
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        for leaked in ["4111 1111 1111 1111", "abc.def.ghi", "jane.doe@example.com"] {
            assert!(!written.contains(leaked), "{leaked} in {written}");
        }
        assert!(
            serde_json::from_str::<serde_json::Value>(written.trim()).is_ok(),
            "{written}"
        );
        assert_eq!(pascal("AWS_ACCESS_KEY"), "AwsAccessKey");
    }

    /// The shapes the masking issue found written verbatim, through the functions' own
    /// subscriber: each event is logged the way a careless caller would, and none survives.
    #[test]
    fn hostile_log_shapes_through_the_functions_subscriber() {
        let sink = Sink::default();
        let filter = crate::logging::log_filter("info");
        let subscriber = crate::logging::subscriber(sink.clone(), filter);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("declined:\n4111 1111 1111 1111");
            tracing::info!(row = "jane\t4111111111111111\tok", "row");
            tracing::info!(
                body = %r#"[{"user":"a","password":"hunter2-very-secret"#,
                "preview"
            );
            tracing::info!(body = ?r#"[{"user":"a","password":"hunter2-very-secret"#, "preview");
            tracing::info!(body = %r#"{"token":"ab\"cdefSECRETTAIL"}"#, "nested");
            tracing::info!(body = %r#"{"password":{"current":"hunter2-very-secret"}}"#, "nested");
            tracing::info!("SSN:123-45-6789 card:4111111111111111 phone:415-555-2671");
            tracing::info!(
                params = %r#"[{"Name":"/prod/db/password","Value":"pg-secret-value"}]"#,
                "ssm"
            );
        });
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        for leaked in [
            "4111 1111 1111 1111",
            "4111111111111111",
            "hunter2",
            "SECRETTAIL",
            "cdef",
            "123-45-6789",
            "415-555-2671",
            "pg-secret-value",
        ] {
            assert!(!written.contains(leaked), "{leaked} in {written}");
        }
        for line in written.lines() {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "{line}"
            );
        }
        assert_eq!(written.lines().count(), 8);
    }
}
