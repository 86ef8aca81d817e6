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
//! - a string in a JSON position (after `"key":`, `,`, `[` or `{`) whose closing quote has a
//!   letter or another quote glued to it (`"93... | {"next"`): a cut preview with more text after
//!   it, whose quotes no longer pair up;
//! - an escaped string nested deeper than [`MAX_NESTING`] (to the end of that string);
//! - a number cut at the end of the text where JSON holds a value (`"card":41111111111...`).

use memchr::memchr;

use super::label::{self, Label};
use super::pairs::string_end;
use super::{resolve_overlaps, scan, Finding, PiiKind, MAX_NESTING};

/// Runs detection over `bytes` and the strings inside it, appending findings in `bytes`'
/// coordinates.
pub(super) fn find_level(bytes: &[u8], label: Option<Label>, depth: usize, out: &mut Vec<Finding>) {
    let own = out.len();
    let rare = scan::RareBytes::of(bytes);
    scan::detect(bytes, label, rare, out);
    if !rare.escaped {
        // Without escapes, strings are the quotes taken in pairs. A JSON object written by a
        // serializer (every log line) has its quotes paired by construction: an even count
        // between `{` and `}` is taken as that, and the pairs are walked only otherwise.
        let quotes = count_quotes(bytes);
        let text = bytes.trim_ascii();
        let serialized = depth == 0
            && quotes % 2 == 0
            && text.first() == Some(&b'{')
            && text.last() == Some(&b'}');
        let mut open: Option<usize> = None;
        let mut lost: Option<usize> = None;
        for_each_quote(if serialized { &[] } else { bytes }, |quote| {
            match open {
                None => open = Some(quote),
                Some(start) => {
                    // Checked cheapest first: in a JSON line every string is followed by one of
                    // `,:}]`, so the position is looked at only when it is not.
                    if !closes_json(bytes, quote) && json_position(bytes, start) {
                        lost = Some(start);
                        return false;
                    }
                    open = None;
                }
            }
            true
        });
        if lost.is_none() {
            lost = open.filter(|start| value_position(bytes, *start));
        }
        // Only a finding that holds structure, or runs to the end, can cross a string's end.
        let may_cross = out[own..].iter().any(|f| {
            f.end == bytes.len()
                || bytes[f.start..f.end]
                    .iter()
                    .any(|b| matches!(b, b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"'))
        });
        if depth == 0 && may_cross && is_json_text(bytes) {
            keep_structure(bytes, &plain_strings(bytes), &mut out[own..]);
        }
        if let Some(start) = lost {
            out.push(Finding::new(PiiKind::Unreadable, start + 1, bytes.len()));
        }
        out.extend(cut_number(bytes));
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
    if depth == 0 && is_json_text(bytes) {
        keep_structure(bytes, &strings, &mut out[own..]);
    }
    out.extend(cut_number(bytes));
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
        scan::detect(
            &view.bytes,
            label,
            scan::RareBytes::of(&view.bytes),
            &mut found,
        );
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

/// Calls `each` with the index of every `"` in `bytes`, in order, until it returns `false`.
///
/// A log line holds a quote every few bytes, and a substring search restarted at every hit costs
/// more than the hit: eight bytes at a time, a quote becomes a zero byte (`^ 0x22`), and the
/// exact zero-byte mask (high bit set where the byte was a quote) is walked bit by bit.
fn for_each_quote(bytes: &[u8], mut each: impl FnMut(usize) -> bool) {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut mask = quote_mask(chunk);
        while mask != 0 {
            let byte = mask.trailing_zeros() as usize / 8;
            mask &= mask - 1;
            if !each(base + byte) {
                return;
            }
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'"' && !each(base + i) {
            return;
        }
    }
}

/// How many `"` a text holds, eight bytes at a time (see [`for_each_quote`]).
fn count_quotes(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut count = 0;
    for chunk in &mut chunks {
        count += quote_mask(chunk).count_ones() as usize;
    }
    count + chunks.remainder().iter().filter(|b| **b == b'"').count()
}

/// The high bit of every byte of an 8-byte `chunk` that is a `"`.
#[inline(always)]
fn quote_mask(chunk: &[u8]) -> u64 {
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    let word = u64::from_le_bytes(word) ^ QUOTES;
    !(((word & LOW_SEVEN) + LOW_SEVEN) | word | LOW_SEVEN)
}

/// Quote pairs of a text without escapes.
fn plain_strings(bytes: &[u8]) -> Vec<Quoted> {
    let mut quotes = Vec::new();
    for_each_quote(bytes, |at| {
        quotes.push(at);
        true
    });
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

/// True when a text is a JSON document at its top (`{...}` or `[...]`), as every log line of the
/// functions is: its structure is then kept intact by [`keep_structure`].
fn is_json_text(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii();
    matches!(
        (text.first(), text.last()),
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']'))
    )
}

/// Keeps a JSON text's own structure out of its findings, so that the masked text is still JSON:
/// a finding that starts inside a string ends at that string's closing quote at the latest; one
/// that starts outside every string (a bare number) ends before the next string opens, and is
/// dropped if it holds structure (`,`, `:`, brackets, quotes), which only a detector that took a
/// closing quote for an opening one finds there (`"...password:","next":...`).
fn keep_structure(bytes: &[u8], strings: &[Quoted], findings: &mut [Finding]) {
    for finding in findings {
        let index = strings.partition_point(|s| s.open < finding.start);
        let inside = index
            .checked_sub(1)
            .map(|i| &strings[i])
            .and_then(|string| string.close.filter(|close| finding.start <= *close));
        if let Some(close) = inside {
            finding.end = finding.end.min(close).max(finding.start);
            continue;
        }
        if let Some(next) = strings.get(index) {
            finding.end = finding.end.min(next.open).max(finding.start);
        }
        let structural = bytes[finding.start..finding.end]
            .iter()
            .any(|b| matches!(b, b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"'));
        if structural {
            finding.end = finding.start;
        }
    }
}

/// A number cut at the end of a text where JSON would hold a value (`"card":41111111111...`, a
/// preview cut inside a number): masked from its first digit, since what is left of it cannot be
/// validated.
fn cut_number(bytes: &[u8]) -> Option<Finding> {
    let text = bytes.trim_ascii_end();
    let text = text.strip_suffix(b"...").unwrap_or(text);
    let digits = text.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits < 4 {
        return None;
    }
    let start = text.len() - digits;
    let before = text[..start].trim_ascii_end();
    let json_start = matches!(bytes.trim_ascii_start().first(), Some(b'{' | b'['));
    let in_value = match before.last() {
        Some(b':') => before[..before.len() - 1].trim_ascii_end().last() == Some(&b'"'),
        Some(b'[' | b',') => json_start,
        _ => false,
    };
    in_value.then(|| Finding::new(PiiKind::Unreadable, start, bytes.len()))
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

/// True when what follows the quote at `close` may follow a string: `,`, `:`, `}`, `]`,
/// whitespace (prose may go on after a quoted value), or the end of the text. A letter or another
/// quote glued to it means the quotes no longer pair up.
fn closes_json(bytes: &[u8], close: usize) -> bool {
    matches!(
        bytes.get(close + 1),
        None | Some(b',' | b':' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
    )
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
    fn quotes_are_found_wherever_they_fall() {
        let text = br#""a" "b\"c" "" x""y"z"#;
        let mut seen = Vec::new();
        for_each_quote(text, |at| {
            seen.push(at);
            true
        });
        let expected: Vec<usize> = memchr::memchr_iter(b'"', text).collect();
        assert_eq!(seen, expected);
        let all = [b'"'; 19];
        let mut count = 0;
        for_each_quote(&all, |_| {
            count += 1;
            true
        });
        assert_eq!(count, 19);
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
