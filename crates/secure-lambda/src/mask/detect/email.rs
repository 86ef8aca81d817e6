//! Email addresses, found at their `@`.

use super::{is_alnum, Finding, PiiKind};

fn is_local_char(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_char(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'.' | b'-')
}

/// An email around the `@` at `at`: local part of allowed characters (`+` tags and `'` as in
/// `o'brien` included; no leading, trailing or double dot), domain of dot-separated labels
/// (letters, digits, inner hyphens, 1-63 long) ending in a TLD of two or more letters. The `@`
/// that ends a URL's user info (`scheme://user:password@host`) is the URL's, not an email's.
pub(super) fn email_at(bytes: &[u8], at: usize) -> Option<Finding> {
    let mut start = at;
    while start > 0 && is_local_char(bytes[start - 1]) && at - start < 64 {
        start -= 1;
    }
    while start < at && matches!(bytes[start], b'.' | b'\'') {
        start += 1;
    }
    let local = &bytes[start..at];
    // At most 64 bytes: a window beats setting up a substring searcher per `@`.
    if local.is_empty() || local.ends_with(b".") || local.windows(2).any(|w| w == b"..") {
        return None;
    }
    if ends_url_password(bytes, at) {
        return None;
    }
    let mut end = at + 1;
    while end < bytes.len() && is_domain_char(bytes[end]) && end - at <= 253 {
        end += 1;
    }
    while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &bytes[at + 1..end];
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && is_alnum(label[0])
            && is_alnum(label[label.len() - 1]);
        if !valid {
            return None;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic);
    (labels >= 2 && tld_ok).then(|| Finding::new(PiiKind::Email, start, end))
}

/// True when the `@` at `at` ends `scheme://user:password` (a URL's user info with a password,
/// which the URL detector masks; read as an email, its mask would keep characters of it).
fn ends_url_password(bytes: &[u8], at: usize) -> bool {
    let before = &bytes[at.saturating_sub(256)..at];
    match before.windows(3).rposition(|w| w == b"://") {
        Some(scheme_end) => {
            let user_info = &before[scheme_end + 3..];
            !user_info
                .iter()
                .any(|&b| matches!(b, b'/' | b' ' | b'"' | b'@' | b'\\'))
                && user_info.contains(&b':')
        }
        None => false,
    }
}
