//! The log redactor on arbitrary bytes: never panics; the output is the input with exactly the
//! findings replaced; and no finding's mask contains the value it replaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::mask::format::redaction_marker;
use secure_lambda::mask::text::{default_mask, replacement};
use secure_lambda::mask::{find_all, redact_text, RedactionCounts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut counts = RedactionCounts::default();
    let redacted = redact_text(text, &mut counts);
    let findings = find_all(text);
    assert_eq!(counts.total(), findings.len() as u64);

    let mut expected = String::new();
    let mut last = 0;
    for finding in &findings {
        assert!(finding.start >= last && finding.end > finding.start);
        assert!(text.is_char_boundary(finding.start) && text.is_char_boundary(finding.end));
        let value = &text[finding.start..finding.end];
        let mask = default_mask(finding.kind, value);
        // A mask may keep a little (the last digits, an email's domain), never the whole value;
        // a value that is itself part of the marker text (`SECRET`, `]`) is no leak.
        let marker = redaction_marker(Some(finding.kind));
        assert!(
            !mask.contains(value) || marker.contains(value),
            "{value:?} survives in its mask {mask:?}"
        );
        expected.push_str(&text[last..finding.start]);
        expected.push_str(&replacement(text, finding));
        last = finding.end;
    }
    expected.push_str(&text[last..]);
    assert_eq!(redacted.as_ref(), expected, "the output is not the input with the findings replaced");
});
