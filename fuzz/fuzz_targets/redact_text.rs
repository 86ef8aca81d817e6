//! The log redactor on arbitrary bytes: never panics, and whatever it finds is gone after.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::mask::{find_all, redact_text, RedactionCounts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut counts = RedactionCounts::default();
    let redacted = redact_text(text, &mut counts);
    let findings = find_all(text);
    assert_eq!(counts.total(), findings.len() as u64);
    for finding in findings {
        assert!(text.is_char_boundary(finding.start) && text.is_char_boundary(finding.end));
        let value = &text[finding.start..finding.end];
        // Short values can reappear by coincidence (a masked email keeps its domain).
        if value.len() >= 12 {
            assert!(!redacted.contains(value), "{value:?} survived");
        }
    }
});
