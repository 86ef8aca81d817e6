//! The log redactor on arbitrary text: never panics; the detector's findings are ordered, disjoint
//! and on character boundaries; and a finding long enough to be unambiguous (12 bytes or more)
//! that occurs once in the input is gone from the output, whatever surrounds it (the redaction
//! markers taken out first: a value such as `CTED:UNREADA` is the marker's own text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::mask::format::redaction_marker;
use secure_lambda::mask::{find_all, redact_text, PiiKind, RedactionCounts};

/// Shorter values (a 4-digit PIN-like tail, `SECRET`) may legitimately remain as part of a mask
/// or a redaction marker.
const UNAMBIGUOUS: usize = 12;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut counts = RedactionCounts::default();
    let redacted = redact_text(text, &mut counts);
    let findings = find_all(text);
    let markers = PiiKind::ALL
        .iter()
        .map(|kind| redaction_marker(Some(*kind)))
        .chain([redaction_marker(None)]);
    // The output cut at every marker: a leak is a value whole inside one piece.
    let pieces = markers.fold(vec![redacted.to_string()], |pieces, marker| {
        pieces
            .iter()
            .flat_map(|piece| piece.split(marker.as_str()).map(str::to_owned).collect::<Vec<_>>())
            .collect()
    });
    let mut last = 0;
    for finding in &findings {
        assert!(finding.start >= last && finding.end > finding.start, "findings overlap or are empty");
        assert!(text.is_char_boundary(finding.start) && text.is_char_boundary(finding.end));
        last = finding.end;
        let value = &text[finding.start..finding.end];
        if value.len() >= UNAMBIGUOUS && text.matches(value).count() == 1 {
            assert!(!pieces.iter().any(|piece| piece.contains(value)), "{:?} ({:?}) survives redaction", value, finding.kind);
        }
    }
    assert!(counts.total() >= findings.len() as u64, "a finding was not counted");
});
