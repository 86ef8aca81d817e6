//! Redacting free text (log lines): every finding replaced by its kind's default mask.

use std::borrow::Cow;

use super::detect::{find_in_cookie_header, find_labelled, Finding, Label, PiiKind};
use super::format::lab_format;

/// How many values of each kind were replaced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedactionCounts(pub [u64; PiiKind::ALL.len()]);

impl RedactionCounts {
    pub fn add(&mut self, kind: PiiKind) {
        self.0[kind.index()] += 1;
    }

    pub fn get(&self, kind: PiiKind) -> u64 {
        self.0[kind.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// The default replacement in free text: the lab formats for contact and identity data, whole
/// redaction for secrets.
pub fn default_mask(kind: PiiKind, value: &str) -> String {
    lab_format(kind, value)
}

/// Redacts `text`; borrows when there was nothing to redact.
pub fn redact_text<'a>(text: &'a str, counts: &mut RedactionCounts) -> Cow<'a, str> {
    let mut findings = Vec::new();
    redact_with(text, counts, &mut findings)
}

/// Redacts text that its container labels (a JSON value under `phone`): see
/// [`find_labelled`](super::detect::find_labelled).
pub fn redact_labelled<'a>(
    text: &'a str,
    label: Option<Label>,
    counts: &mut RedactionCounts,
) -> Cow<'a, str> {
    redact_labelled_with(text, label, counts, &mut Vec::new())
}

/// Like [`redact_labelled`], reusing a findings buffer across calls (the JSON masker's hot path).
pub(crate) fn redact_labelled_with<'a>(
    text: &'a str,
    label: Option<Label>,
    counts: &mut RedactionCounts,
    findings: &mut Vec<Finding>,
) -> Cow<'a, str> {
    find_labelled(text, label, findings);
    apply_findings(text, counts, findings)
}

/// Redacts the value of a cookie header: session-like cookie values and whatever else the
/// detectors find.
pub(crate) fn redact_cookie_header<'a>(
    text: &'a str,
    set_cookie: bool,
    counts: &mut RedactionCounts,
) -> Cow<'a, str> {
    let mut findings = Vec::new();
    find_in_cookie_header(text, set_cookie, &mut findings);
    apply_findings(text, counts, &findings)
}

/// Like [`redact_text`], reusing a findings buffer across calls (the log writer's hot path).
pub fn redact_with<'a>(
    text: &'a str,
    counts: &mut RedactionCounts,
    findings: &mut Vec<Finding>,
) -> Cow<'a, str> {
    find_labelled(text, None, findings);
    apply_findings(text, counts, findings)
}

/// `text` with every finding replaced by its kind's default mask. A mask that replaces a bare
/// JSON value (`"card":4111111111111111`) is quoted, so that a JSON line stays JSON.
fn apply_findings<'a>(
    text: &'a str,
    counts: &mut RedactionCounts,
    findings: &[Finding],
) -> Cow<'a, str> {
    if findings.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16 * findings.len());
    let mut last = 0;
    for finding in findings {
        out.push_str(&text[last..finding.start]);
        out.push_str(&replacement(text, finding));
        counts.add(finding.kind);
        last = finding.end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// What replaces `finding` in `text`: its kind's default mask, quoted when it replaces a bare
/// JSON value (`"card":4111111111111111`) so that a JSON line stays JSON.
pub fn replacement(text: &str, finding: &Finding) -> String {
    let mask = default_mask(finding.kind, &text[finding.start..finding.end]);
    if bare_json_value(text.as_bytes(), finding.start, finding.end) {
        format!("\"{mask}\"")
    } else {
        mask
    }
}

/// True when `text[start..end]` is a whole unquoted value of a JSON member: after `"key":`
/// (the key's quote not escaped) and before `,`, `}`, `]` or the end.
fn bare_json_value(text: &[u8], start: usize, end: usize) -> bool {
    let before = text[..start].trim_ascii_end();
    let Some(before) = before.strip_suffix(b":") else {
        return false;
    };
    let before = before.trim_ascii_end();
    let escaped = before
        .iter()
        .rev()
        .skip(1)
        .take_while(|b| **b == b'\\')
        .count()
        % 2
        == 1;
    let after = text[end..].trim_ascii_start();
    before.last() == Some(&b'"')
        && !escaped
        && matches!(after.first(), None | Some(b',' | b'}' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_log_sanitization() {
        let mut counts = RedactionCounts::default();
        let line = r#"{"message":"signup","user":{"email":"jane.doe@example.com","password":"hunter2!","ssn":"123-45-6789","card":"4111 1111 1111 1111"}}"#;
        let redacted = redact_text(line, &mut counts);
        assert_eq!(
            redacted,
            r#"{"message":"signup","user":{"email":"j***e@example.com","password":"[REDACTED:SECRET]","ssn":"***-**-6789","card":"****-****-****-1111"}}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&redacted).is_ok());
        assert_eq!(counts.total(), 4);
        assert_eq!(counts.get(PiiKind::Secret), 1);
    }

    #[test]
    fn clean_text_is_borrowed() {
        let mut counts = RedactionCounts::default();
        let line = r#"{"timestamp":"2026-11-24T00:24:27.799154Z","level":"INFO","message":"read","ms":5.81}"#;
        assert!(matches!(redact_text(line, &mut counts), Cow::Borrowed(_)));
        assert_eq!(counts.total(), 0);
    }
}
