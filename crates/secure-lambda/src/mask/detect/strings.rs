//! The quoted strings of a text, read as their reader reads them.
//!
//! Detection runs on a text as given, then on every quoted string that holds an escape, decoded
//! (`\n` a line break, `\"` a quote, `\u0034` the digit 4), and so on down to [`MAX_NESTING`]
//! levels; findings in a decoded string map back to the raw bytes they came from. A reader may
//! also ignore the quotes and undo every escape of a line at once (a stray quote in a message
//! shifts how quotes pair up), so the whole text is read that way too, level by level. A finding
//! never ends inside an escape sequence or past the end of the string it starts in, so a masked
//! JSON line stays JSON.
//!
//! Fail closed, from where reading lost track to the end of the text:
//! - an unterminated string in a value position (after `:`, `=`, `[`, `,`, `{`, `(`), which is
//!   what a cut preview looks like;
//! - a string in a JSON position (after `"key":`, `,`, `[` or `{`) whose closing quote is followed
//!   by something JSON never puts there (`"93... | {"next"`): a cut preview with more text after
//!   it, whose quotes no longer pair up;
//! - an escaped string nested deeper than [`MAX_NESTING`] (to the end of that string).

use memchr::{memchr, memchr_iter};

use super::label::{self, Label};
use super::pairs::string_end;
use super::{resolve_overlaps, scan, Finding, PiiKind, MAX_NESTING};

/// Runs detection over `bytes` and the strings inside it, appending findings in `bytes`'
/// coordinates.
pub(super) fn find_level(bytes: &[u8], label: Option<Label>, depth: usize, out: &mut Vec<Finding>) {
    let own = out.len();
    scan::detect(bytes, label, out);
    if memchr(b'\\', bytes).is_none() {
        // Without escapes, strings are the quotes taken in pairs: one walk, no allocation.
        let mut open: Option<usize> = None;
        let mut lost: Option<usize> = None;
        for quote in memchr_iter(b'"', bytes) {
            match open {
                None => open = Some(quote),
                Some(start) => {
                    if json_position(bytes, start) && !closes_json(bytes, quote) {
                        lost = Some(start);
                        break;
                    }
                    open = None;
                }
            }
        }
        if lost.is_none() {
            lost = open.filter(|start| value_position(bytes, *start));
        }
        if out[own..].iter().any(|f| f.end == bytes.len()) {
            clamp_to_strings(&plain_strings(bytes), &mut out[own..]);
        }
        if let Some(start) = lost {
            out.push(Finding::new(PiiKind::Unreadable, start + 1, bytes.len()));
        }
        return;
    }

    let strings = escaped_strings(bytes);
    if depth == 0 {
        for (from, to) in escaped_regions(bytes, &strings) {
            let before = out.len();
            whole_text_views(&bytes[from..to], label, out);
            for finding in &mut out[before..] {
                finding.start += from;
                finding.end += from;
            }
        }
    }
    for finding in &mut out[own..] {
        finding.start = escape_start(bytes, finding.start);
        finding.end = escape_end(bytes, finding.end);
    }
    clamp_to_strings(&strings, &mut out[own..]);
    for string in &strings {
        let content = string.open + 1;
        match string.close {
            None => {
                if value_position(bytes, string.open) {
                    out.push(Finding::new(PiiKind::Unreadable, content, bytes.len()));
                }
            }
            Some(close) if json_position(bytes, string.open) && !closes_json(bytes, close) => {
                out.push(Finding::new(PiiKind::Unreadable, content, bytes.len()));
                break;
            }
            Some(close) if string.escaped => {
                if depth + 1 >= MAX_NESTING {
                    out.push(Finding::new(PiiKind::Unreadable, content, close));
                    continue;
                }
                let decoded = decode(&bytes[content..close], content);
                let mut inner = Vec::new();
                let inner_label = label::before(bytes, string.open, None);
                find_level(&decoded.bytes, inner_label, depth + 1, &mut inner);
                resolve_overlaps(&mut inner);
                out.extend(
                    inner.iter().map(|f| {
                        Finding::new(f.kind, decoded.starts[f.start], decoded.starts[f.end])
                    }),
                );
            }
            Some(_) => {}
        }
    }
}

/// The stretches of a text that hold escapes, each read as a whole: every string with an
/// escape, and every stretch between strings with one. Reading a stretch as a whole ignores how
/// its quotes pair up; keeping to a stretch keeps the text's own quotes out of what it finds.
fn escaped_regions(bytes: &[u8], strings: &[Quoted]) -> Vec<(usize, usize)> {
    let mut regions = Vec::new();
    let mut gap_start = 0;
    for string in strings {
        if memchr(b'\\', &bytes[gap_start..string.open]).is_some() {
            regions.push((gap_start, string.open));
        }
        let end = string.close.unwrap_or(bytes.len());
        if string.escaped {
            regions.push((string.open + 1, end));
        }
        gap_start = (end + 1).min(bytes.len());
    }
    if gap_start < bytes.len() && memchr(b'\\', &bytes[gap_start..]).is_some() {
        regions.push((gap_start, bytes.len()));
    }
    regions
}

/// Detection over a whole stretch of text with every escape undone, then again on that, as long as
/// escapes remain (at most [`MAX_NESTING`] times); findings map back through each level.
fn whole_text_views(bytes: &[u8], label: Option<Label>, out: &mut Vec<Finding>) {
    let mut views: Vec<Decoded> = Vec::new();
    for _ in 0..MAX_NESTING {
        let current = views.last().map_or(bytes, |view| view.bytes.as_slice());
        if memchr(b'\\', current).is_none() {
            break;
        }
        let view = decode(current, 0);
        let mut found = Vec::new();
        scan::detect(&view.bytes, label, &mut found);
        views.push(view);
        for finding in found {
            let (mut start, mut end) = (finding.start, finding.end);
            for view in views.iter().rev() {
                start = view.starts[start];
                end = view.starts[end];
            }
            out.push(Finding::new(finding.kind, start, end));
        }
    }
}

/// A quoted string of one level: its opening quote, its closing quote if it has one, and whether
/// it holds an escape.
struct Quoted {
    open: usize,
    close: Option<usize>,
    escaped: bool,
}

/// Quote pairs of a text without escapes.
fn plain_strings(bytes: &[u8]) -> Vec<Quoted> {
    let quotes: Vec<usize> = memchr_iter(b'"', bytes).collect();
    quotes
        .chunks(2)
        .map(|pair| Quoted {
            open: pair[0],
            close: pair.get(1).copied(),
            escaped: false,
        })
        .collect()
}

/// The strings of a text with escapes, each closed by the first quote not escaped.
fn escaped_strings(bytes: &[u8]) -> Vec<Quoted> {
    let mut strings = Vec::new();
    let mut i = 0;
    while let Some(at) = memchr(b'"', &bytes[i..]) {
        let open = i + at;
        let (end, closed) = string_end(bytes, open + 1, b'"');
        let escaped = memchr(b'\\', &bytes[open + 1..end]).is_some();
        strings.push(Quoted {
            open,
            close: closed.then_some(end),
            escaped,
        });
        if !closed {
            break;
        }
        i = end + 1;
    }
    strings
}

/// A finding that starts inside a string ends at that string's closing quote at the latest; one
/// that starts outside every string ends before the next string opens. So no finding takes a
/// quote of the text's own structure with it.
fn clamp_to_strings(strings: &[Quoted], findings: &mut [Finding]) {
    for finding in findings {
        let index = strings.partition_point(|s| s.open < finding.start);
        let inside = index
            .checked_sub(1)
            .map(|i| &strings[i])
            .and_then(|string| string.close.filter(|close| finding.start <= *close));
        let limit = match inside {
            Some(close) => Some(close),
            None => strings.get(index).map(|next| next.open),
        };
        if let Some(limit) = limit {
            finding.end = finding.end.min(limit).max(finding.start);
        }
    }
}

/// True when a quote at `open` starts a value: after `:`, `=`, `[`, `,`, `{` or `(`, or at the
/// start of the text.
fn value_position(bytes: &[u8], open: usize) -> bool {
    let mut k = open;
    while k > 0 && matches!(bytes[k - 1], b' ' | b'\t' | b'\n' | b'\r') {
        k -= 1;
    }
    k == 0 || matches!(bytes[k - 1], b':' | b'=' | b'[' | b',' | b'{' | b'(')
}

/// True when a quote at `open` starts a string where JSON would: after `"key":`, `,`, `[` or `{`.
/// (After a bare `key:` or `=`, a quoted value followed by prose is ordinary text.)
fn json_position(bytes: &[u8], open: usize) -> bool {
    let before = |mut k: usize| {
        while k > 0 && matches!(bytes[k - 1], b' ' | b'\t' | b'\n' | b'\r') {
            k -= 1;
        }
        k.checked_sub(1).map(|i| (i, bytes[i]))
    };
    match before(open) {
        Some((_, b',' | b'[' | b'{')) => true,
        Some((colon, b':')) => matches!(before(colon), Some((_, b'"'))),
        _ => false,
    }
}

/// True when what follows the quote at `close` is what follows a JSON string: `,`, `:`, `}`,
/// `]`, or the end of the text.
fn closes_json(bytes: &[u8], close: usize) -> bool {
    bytes[close + 1..]
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_none_or(|b| matches!(b, b',' | b':' | b'}' | b']'))
}

/// True when the backslash at `at` starts an escape (is not itself escaped).
fn starts_escape(bytes: &[u8], at: usize) -> bool {
    let run = bytes[..at]
        .iter()
        .rev()
        .take_while(|b| **b == b'\\')
        .count();
    bytes[at] == b'\\' && run % 2 == 0
}

/// Length of the escape sequence starting at the backslash `at`.
fn escape_len(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at + 1) {
        Some(b'u') if bytes.get(at + 2) == Some(&b'{') => bytes[at + 2..]
            .iter()
            .take(10)
            .position(|b| *b == b'}')
            .map_or(2, |close| close + 3),
        Some(b'u')
            if bytes
                .get(at + 2..at + 6)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) =>
        {
            6
        }
        Some(_) => 2,
        None => 1,
    }
}

/// The escape sequence `pos` lies strictly inside, as `(start, end)`.
fn escape_around(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    (1..=12).find_map(|back| {
        let at = pos.checked_sub(back)?;
        if bytes[at] != b'\\' || !starts_escape(bytes, at) {
            return None;
        }
        let end = at + escape_len(bytes, at);
        (end > pos).then_some((at, end))
    })
}

fn escape_start(bytes: &[u8], pos: usize) -> usize {
    escape_around(bytes, pos).map_or(pos, |(start, _)| start)
}

fn escape_end(bytes: &[u8], pos: usize) -> usize {
    escape_around(bytes, pos).map_or(pos, |(_, end)| end.min(bytes.len()))
}

/// A decoded string and, for each of its bytes (and its end), where that byte came from.
struct Decoded {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

/// Decodes the escapes of a string's content (`raw`, which starts at `base` in its text): JSON's
/// (`\n`, `\t`, `\r`, `\b`, `\f`, `\/`, `\"`, `\\`, `\uXXXX` with surrogate pairs) and Rust's
/// `Debug` (`\'`, `\0`, `\u{...}`). What does not decode stays as written; an invalid code point
/// becomes U+FFFD, so the result is UTF-8 whenever `raw` is.
fn decode(raw: &[u8], base: usize) -> Decoded {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut starts = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    let push_char = |c: char, from: usize, bytes: &mut Vec<u8>, starts: &mut Vec<usize>| {
        let mut buffer = [0u8; 4];
        for b in c.encode_utf8(&mut buffer).bytes() {
            bytes.push(b);
            starts.push(base + from);
        }
    };
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            bytes.push(b);
            starts.push(base + i);
            i += 1;
            continue;
        }
        let simple = match raw.get(i + 1) {
            Some(b'n') => Some(b'\n'),
            Some(b't') => Some(b'\t'),
            Some(b'r') => Some(b'\r'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'0') => Some(0),
            Some(&c @ (b'/' | b'"' | b'\'' | b'\\')) => Some(c),
            Some(&c) if c.is_ascii() && c != b'u' => Some(c),
            _ => None,
        };
        if let Some(c) = simple {
            bytes.push(c);
            starts.push(base + i);
            i += 2;
            continue;
        }
        match unicode_escape(raw, i) {
            Some((c, len)) => {
                push_char(c, i, &mut bytes, &mut starts);
                i += len;
            }
            None => {
                // A lone backslash, or one before a non-ASCII character: kept as written.
                bytes.push(b'\\');
                starts.push(base + i);
                i += 1;
            }
        }
    }
    starts.push(base + raw.len());
    Decoded { bytes, starts }
}

/// `\uXXXX` (a surrogate pair as two), or `\u{X...}`, at `at`: the character and the escape's
/// length.
fn unicode_escape(raw: &[u8], at: usize) -> Option<(char, usize)> {
    if raw.get(at + 1) != Some(&b'u') {
        return None;
    }
    if raw.get(at + 2) == Some(&b'{') {
        let close = raw[at + 3..].iter().take(7).position(|b| *b == b'}')?;
        let code = hex_value(&raw[at + 3..at + 3 + close])?;
        return Some((
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
            close + 4,
        ));
    }
    let unit = hex_value(raw.get(at + 2..at + 6)?)?;
    if (0xD800..0xDC00).contains(&unit) && raw.get(at + 6..at + 8) == Some(b"\\u") {
        if let Some(low) = raw.get(at + 8..at + 12).and_then(hex_value) {
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                return Some((
                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
                    12,
                ));
            }
        }
    }
    Some((
        char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
        6,
    ))
}

fn hex_value(hex: &[u8]) -> Option<u32> {
    if hex.is_empty() || hex.len() > 6 {
        return None;
    }
    hex.iter().try_fold(0u32, |acc, b| {
        let digit = char::from(*b).to_digit(16)?;
        Some(acc * 16 + digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_maps_every_byte_to_its_source() {
        let raw = br#"a\n\u0034\"\u00e9\ud83d\ude00\u{1F600}z"#;
        let decoded = decode(raw, 10);
        assert_eq!(
            String::from_utf8(decoded.bytes.clone()).unwrap(),
            "a\n4\"\u{e9}\u{1F600}\u{1F600}z"
        );
        assert_eq!(decoded.starts[0], 10);
        assert_eq!(decoded.starts[1], 11, "`\\n` comes from its backslash");
        assert_eq!(decoded.starts[2], 13, "`4` from `\\u0034`");
        assert_eq!(decoded.starts[decoded.bytes.len()], 10 + raw.len());
    }

    #[test]
    fn odd_escapes_stay_text() {
        for raw in ["\\", "\\u12", "\\uzzzz", "x\\é"] {
            let decoded = decode(raw.as_bytes(), 0);
            assert!(String::from_utf8(decoded.bytes).is_ok(), "{raw}");
        }
    }

    #[test]
    fn findings_never_split_an_escape() {
        let text = br#"ab\"cd\u0034"#;
        assert_eq!(escape_start(text, 3), 2);
        assert_eq!(escape_end(text, 3), 4);
        assert_eq!(escape_end(text, 8), 12);
        assert_eq!(escape_start(text, 4), 4);
        assert!(!starts_escape(br"\\n", 1));
    }
}
