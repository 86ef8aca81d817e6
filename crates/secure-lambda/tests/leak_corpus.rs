//! The leak corpus in the test command: generated PII and credentials in hostile and careless
//! shapes, through JSON masking and through the log writer with the functions' own subscriber;
//! zero may survive. A clean corpus of look-alikes must come out unchanged.
// Test and bench code: a panic here is a failed run, not a crashed function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use secure_lambda::logging::log_filter;
use secure_lambda::mask::corpus::{self, Case};
use secure_lambda::mask::{redact_text, JsonMasker, RedactionCounts};
use tracing_subscriber::fmt::MakeWriter;

const SEED: u64 = 0x5eed_2026;
/// Cases per path; `LEAK_CORPUS_CASES` runs more (`make bench` runs 100,000 in the bench).
fn cases() -> usize {
    std::env::var("LEAK_CORPUS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6_000)
}
const CLEAN_CASES: usize = 3_000;

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

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

impl Sink {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

/// Logs `case` the ways the functions log caller data, through the functions' subscriber, and
/// returns what was written.
fn logged(case: &Case, form: usize) -> String {
    let sink = Sink::default();
    let subscriber = secure_lambda::logging::subscriber(sink.clone(), log_filter("info"));
    let record = case.record.to_string();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("invocation", requestId = "3f2c-44aa");
        let _entered = span.enter();
        match form % 7 {
            0 => tracing::info!("{}", case.text),
            1 => tracing::info!(detail = %case.text, "caller data"),
            2 => tracing::info!(detail = ?case.text, "caller data (debug)"),
            3 => tracing::info!(body = %record, "request body"),
            4 => tracing::warn!(row = %case.text, body = ?record, "both"),
            5 => tracing::error!("failed: {} | {}", case.text, record),
            // `Debug` of a JSON value: `Object {"password": String("...")}`.
            _ => tracing::info!(event = ?case.record, "record"),
        }
    });
    sink.take()
}

fn report(failures: &[String], total: usize, what: &str) {
    assert!(
        failures.is_empty(),
        "{} of {total} {what} leaked; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn json_masking_lets_nothing_through() {
    let masker = JsonMasker::new();
    let mut failures = Vec::new();
    for (index, case) in corpus::cases(SEED, cases()).iter().enumerate() {
        let (masked, _) = masker.mask(&case.record).unwrap();
        let output = masked.to_string();
        let leaked = corpus::leaks(&output, &case.secrets);
        if !leaked.is_empty() {
            failures.push(format!("#{index} {}: {leaked:?} in {output}", case.shape));
        }
    }
    report(&failures, cases(), "JSON records");
}

#[test]
fn log_redaction_lets_nothing_through() {
    let mut failures = Vec::new();
    for (index, case) in corpus::cases(SEED + 1, cases()).iter().enumerate() {
        let output = logged(case, index);
        assert!(!output.is_empty(), "#{index}: nothing was written");
        for line in output.lines() {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "#{index} {}: not JSON after redaction: {line}",
                case.shape
            );
        }
        let leaked = corpus::leaks(&output, &case.secrets);
        if !leaked.is_empty() {
            failures.push(format!("#{index} {}: {leaked:?} in {output}", case.shape));
        }
    }
    report(&failures, cases(), "log events");
}

#[test]
fn look_alikes_are_left_alone() {
    let masker = JsonMasker::new();
    let mut changed = Vec::new();
    for case in corpus::clean_cases(SEED + 2, CLEAN_CASES) {
        let (masked, _) = masker.mask(&case.record).unwrap();
        let text = redact_text(&case.text, &mut RedactionCounts::default());
        if masked != case.record || text != case.text {
            changed.push(format!("{} -> {}", case.text, text));
        }
    }
    assert!(
        changed.is_empty(),
        "{} of {CLEAN_CASES} clean cases were masked:\n{}",
        changed.len(),
        changed
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
