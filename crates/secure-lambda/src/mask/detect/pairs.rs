//! Values that their context names secret, found at a `:` or `=`:
//!
//! - the value of a pair whose key names a secret (`password`, `api_key`, `clientSecret`, ...),
//!   quoted, bare, or a container, whose every scalar is then masked (`{"password": {"current":
//!   "..."}}`, `password=["a", "b"]`);
//! - the value member beside a name member that names a secret: `{"Name": "/prod/db/password",
//!   "Value": "..."}` (SSM), `{"name": "API_TOKEN", "value": "..."}` (ECS, Kubernetes),
//!   `{"ParameterKey": "DbPassword", "ParameterValue": "..."}` (CloudFormation), in either order;
//! - cookie values whose name says session, token, auth or id, in `Cookie:` and `Set-Cookie:`;
//! - the password of a URL's user info (`mysql://root:<password>@db:3306/app`).

use memchr::{memchr, memchr2, memmem, memrchr};

use super::{is_alnum, Finding, PiiKind};

/// What a key says of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// The value is a secret.
    Secret,
    /// The value is a list of cookies.
    Cookie,
    /// The value names another member (`Name`, `Key`, `ParameterKey`).
    Name,
    /// The value is what a name member names (`Value`, `SecretString`).
    Value,
}

/// Key words, lower-case without `_` and `-`, matched against the end of a key (`Secret`,
/// `Cookie`) or the whole key (`Name`, `Value`), grouped by their last two letters so that most
/// keys are rejected after reading two bytes.
const fn key_words(second: u8, last: u8) -> &'static [(&'static [u8], KeyKind)] {
    use KeyKind::{Cookie, Name, Secret, Value};
    match (second, last) {
        (b'r', b'd') => &[(b"password", Secret)],
        (b'w', b'd') => &[(b"passwd", Secret), (b"pwd", Secret)],
        (b'e', b't') => &[(b"secret", Secret)],
        (b'e', b'n') => &[(b"token", Secret)],
        (b'o', b'n') => &[(b"authorization", Secret)],
        (b't', b'h') => &[(b"auth", Secret)],
        (b'e', b'y') => &[
            (b"secretkey", Secret),
            (b"apikey", Secret),
            (b"privatekey", Secret),
            (b"sessionkey", Secret),
            (b"masterkey", Secret),
            (b"encryptionkey", Secret),
            (b"signingkey", Secret),
            (b"secretaccesskey", Secret),
            (b"key", Name),
            (b"parameterkey", Name),
            (b"tagkey", Name),
        ],
        (b'a', b'l') => &[(b"credential", Secret), (b"val", Value)],
        (b'l', b's') => &[(b"credentials", Secret)],
        (b't', b's') => &[(b"secrets", Secret)],
        (b'd', b's') => &[(b"passwords", Secret)],
        (b'n', b's') => &[(b"tokens", Secret)],
        (b's', b'e') => &[(b"passphrase", Secret)],
        (b'i', b'e') => &[(b"cookie", Cookie)],
        (b'i', b'd') => &[(b"secretid", Name)],
        (b'l', b'd') => &[(b"field", Name)],
        (b'e', b'l') => &[(b"label", Name)],
        (b'm', b'e') => &[
            (b"name", Name),
            (b"parametername", Name),
            (b"optionname", Name),
            (b"secretname", Name),
            (b"keyname", Name),
            (b"fieldname", Name),
        ],
        (b'l', b'e') => &[(b"variable", Name)],
        (b'r', b'y') => &[(b"secretbinary", Secret)],
        (b'u', b'e') => &[
            (b"value", Value),
            (b"parametervalue", Value),
            (b"optionvalue", Value),
            (b"tagvalue", Value),
            (b"secretvalue", Secret),
        ],
        (b'n', b'g') => &[(b"secretstring", Secret)],
        (b'e', b's') => &[(b"cookies", Cookie)],
        _ => &[],
    }
}

/// Longest key read back from a separator.
const MAX_KEY_BYTES: usize = 64;

/// True for the characters keys are made of.
fn is_key_char(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'_' | b'-')
}

/// Where `word` starts if the key ending at `end` ends with it (case folded, `_` and `-`
/// skipped), compared from the end so that most words fail on their second or third letter.
fn word_start(bytes: &[u8], end: usize, word: &[u8]) -> Option<usize> {
    let mut k = end;
    for &expected in word.iter().rev() {
        while k > 0 && matches!(bytes[k - 1], b'_' | b'-' | b' ') {
            k -= 1;
        }
        if k == 0 || bytes[k - 1].to_ascii_lowercase() != expected {
            return None;
        }
        k -= 1;
    }
    Some(k)
}

/// Letters that end a key word: keys ending otherwise are rejected by one table look-up.
const ENDS_A_KEY_WORD: [bool; 256] = {
    let mut table = [false; 256];
    let letters = b"dtnhylsegDTNHYLSEG";
    let mut i = 0;
    while i < letters.len() {
        table[letters[i] as usize] = true;
        i += 1;
    }
    table
};

/// The last two characters before `end`, folded, `_`, `-` and spaces skipped.
fn last_two(bytes: &[u8], end: usize) -> Option<(u8, u8)> {
    // The common case: two letters.
    if end >= 2 && bytes[end - 1].is_ascii_alphabetic() && bytes[end - 2].is_ascii_alphabetic() {
        return Some((
            bytes[end - 2].to_ascii_lowercase(),
            bytes[end - 1].to_ascii_lowercase(),
        ));
    }
    let mut k = end;
    let mut next = || {
        while k > 0 && matches!(bytes[k - 1], b'_' | b'-' | b' ') && end - k < 4 {
            k -= 1;
        }
        k = k.checked_sub(1)?;
        Some(bytes[k].to_ascii_lowercase())
    };
    let last = next()?;
    Some((next()?, last))
}

/// Whether any key word ends with two given lower-case letters, by `(second - 'a') * 26 + (last -
/// 'a')`: one load rejects most keys.
const ENDS_A_KEY_WORD_PAIR: [bool; 26 * 26] = {
    let mut table = [false; 26 * 26];
    let mut second = 0;
    while second < 26 {
        let mut last = 0;
        while last < 26 {
            table[second * 26 + last] =
                !key_words(b'a' + second as u8, b'a' + last as u8).is_empty();
            last += 1;
        }
        second += 1;
    }
    table
};

/// What the key ending at `end` says of its value.
fn kind_of_key_ending(bytes: &[u8], end: usize) -> Option<KeyKind> {
    if !ENDS_A_KEY_WORD[usize::from(*bytes.get(end.checked_sub(1)?)?)] {
        return None;
    }
    let (second, last) = last_two(bytes, end)?;
    if second.is_ascii_lowercase()
        && last.is_ascii_lowercase()
        && !ENDS_A_KEY_WORD_PAIR[usize::from(second - b'a') * 26 + usize::from(last - b'a')]
    {
        return None;
    }
    key_words(second, last).iter().find_map(|&(word, kind)| {
        let start = word_start(bytes, end, word)?;
        let whole = matches!(kind, KeyKind::Name | KeyKind::Value);
        (!whole || start == 0 || !is_key_char(bytes[start - 1])).then_some(kind)
    })
}

fn key_kind(key: &[u8]) -> Option<KeyKind> {
    // A key may hide its word behind characters no reader sees: `password\u0000`,
    // `pass\u200bword`, `token\u00a0`. Those are read as absent (controls, zero-width and soft
    // hyphens) or as a space (any other whitespace) before the word is looked for; only keys with
    // a control or a non-ASCII byte pay for the copy.
    if key.iter().any(|&b| b < 0x20 || b == 0x7f || b >= 0x80) {
        if let Ok(text) = std::str::from_utf8(key) {
            let seen: String = text
                .chars()
                .filter(|c| !is_invisible(*c))
                .map(|c| if c.is_whitespace() { ' ' } else { c })
                .collect();
            let seen = seen.trim();
            return kind_of_key_ending(seen.as_bytes(), seen.len());
        }
    }
    kind_of_key_ending(key, key.len())
}

/// Characters that take no room when a key is shown.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// True when a field or key of this name holds a secret: `password`, `passwd`, `pwd`, `secret`,
/// `token`, `auth`, `authorization`, `api_key`, `private_key`, `credentials`, ... at the end of
/// the key, in any case, with `-` and `_` ignored. `db_password`, `X-Api-Key` and `clientSecret`
/// match; `secret_id`, `token_use` and `SecretsManager` do not.
pub fn is_secret_key(key: &str) -> bool {
    key_kind(key.as_bytes()) == Some(KeyKind::Secret)
}

/// True when a name (an SSM parameter, an environment variable, a tag key) names a secret: the
/// key rules applied to the whole name and to its last segment (`/prod/db/password`,
/// `API_TOKEN`, `spring.datasource.password`, `DB password`).
pub fn names_secret(name: &str) -> bool {
    let name = name.trim();
    let last = name
        .rsplit(['/', ':', '.', ' '])
        .find(|segment| !segment.is_empty())
        .unwrap_or(name);
    is_secret_key(name) || is_secret_key(last)
}

/// For a key that holds cookies (`Cookie`, `cookies`, `Set-Cookie`): whether it is a
/// `Set-Cookie` header.
pub(crate) fn cookie_key(key: &str) -> Option<bool> {
    let bytes = key.as_bytes();
    (key_kind(bytes) == Some(KeyKind::Cookie))
        .then(|| word_start(bytes, bytes.len(), b"setcookie").is_some())
}

/// Whether a key's value is to be masked because of what a member beside it says: the value
/// member of an object whose name member names a secret.
pub(crate) fn is_value_key(key: &str) -> bool {
    key_kind(key.as_bytes()) == Some(KeyKind::Value)
}

/// Whether a key names its sibling value (`Name`, `Key`, `ParameterKey`, ...).
pub(crate) fn is_name_key(key: &str) -> bool {
    key_kind(key.as_bytes()) == Some(KeyKind::Name)
}

/// What one scan has already read, so that no stretch is read twice: the sibling window last
/// walked and the cookie header last parsed. Without it, text repeating `name=pwd ` or
/// `cookie:a=b;` costs time quadratic in its length.
#[derive(Debug, Default)]
pub(super) struct PairState {
    siblings_read: Option<(usize, usize)>,
    cookies_read_until: usize,
    /// The text holds a backslash, so a key may be escaped.
    escaped: bool,
}

impl PairState {
    pub(super) fn new(escaped: bool) -> Self {
        Self {
            escaped,
            ..Self::default()
        }
    }
}

/// The findings a pair at the separator `sep` (`:` or `=`) holds, if its key (or, for `://`, its
/// scheme) says so; returns where the scan resumes.
pub(super) fn pair_at(
    bytes: &[u8],
    sep: usize,
    state: &mut PairState,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    if bytes[sep] == b':' && bytes[sep + 1..].starts_with(b"//") {
        return url_password_at(bytes, sep, out);
    }
    let key = key_before(bytes, sep, state.escaped)?;
    match key.kind {
        KeyKind::Secret => secret_value_at(bytes, sep, &key, out),
        KeyKind::Cookie => {
            if sep < state.cookies_read_until {
                return None;
            }
            let (resume, end) = cookies_at(bytes, sep, &key, out)?;
            state.cookies_read_until = end;
            Some(resume)
        }
        KeyKind::Name => named_sibling_at(bytes, &key, sep, state, out),
        KeyKind::Value => None,
    }
}

/// A key before a separator, and what it says of its value.
struct Key {
    start: usize,
    end: usize,
    kind: KeyKind,
    /// A `Set-Cookie` header (its attributes are not cookies).
    set_cookie: bool,
    /// Quoted with escaped quotes (`\"key\":`): it sits inside a string at this level.
    escaped_quotes: bool,
}

/// The key before a separator, if it says something of its value. Spaces and a closing quote
/// (`"`, `'`, or JSON-escaped `\"`) are skipped, and so are the brackets of form keys
/// (`user[password]=`, `tokens[]=`, `user%5Bpassword%5D=`); a quoted key is read back to its
/// opening quote (spaces and escapes included), an unquoted one over letters, digits, `_` and `-`.
fn key_before(bytes: &[u8], sep: usize, escaped: bool) -> Option<Key> {
    let mut k = sep;
    while k > 0 && matches!(bytes[k - 1], b' ' | b'\t') {
        k -= 1;
    }
    // A quoted key may stand on the line before its separator (`"Name"\n:`); a bare word there
    // is the end of a sentence, not a key.
    let mut across = k;
    while across > 0 && matches!(bytes[across - 1], b' ' | b'\t' | b'\n' | b'\r') {
        across -= 1;
    }
    if across < k && across > 0 && matches!(bytes[across - 1], b'"' | b'\'') {
        k = across;
    }
    let mut quote = None;
    let mut escaped_quotes = false;
    if k > 0 && matches!(bytes[k - 1], b'"' | b'\'') {
        quote = Some(bytes[k - 1]);
        k -= 1;
        if k > 0 && bytes[k - 1] == b'\\' {
            k -= 1;
            escaped_quotes = true;
        }
    }
    match bytes[..k].last() {
        Some(b']') if bytes[..k].ends_with(b"[]") => k -= 2,
        Some(b']') => k -= 1,
        Some(b'D' | b'd') if k >= 3 && bytes[k - 3..k - 1].eq_ignore_ascii_case(b"%5") => k -= 3,
        _ => {}
    }
    let end = k;
    // Cheapest first: most keys are rejected by their last two characters. Only a text with
    // backslashes can hide a key word behind an escape (`"pass\u0077ord"`).
    let plain_kind = kind_of_key_ending(bytes, end);
    // A key may end in characters no reader sees (`name\u{200b}`, `value\0`): see `key_kind`.
    let hidden = end > 0 && (bytes[end - 1] >= 0x80 || bytes[end - 1] < 0x20);
    if plain_kind.is_none() && !escaped && !hidden {
        return None;
    }
    let start = match quote {
        Some(q) => quoted_key_start(bytes, end, q)?,
        None => key_start(bytes, end)?,
    };
    let raw = &bytes[start..end];
    let kind = match plain_kind {
        Some(kind) => kind,
        // An escaped key is classified as its reader reads it.
        None if memchr(b'\\', raw).is_some() => key_kind(&decode_key(raw))?,
        None if hidden => key_kind(raw)?,
        None => return None,
    };
    if end - start < 3 {
        return None;
    }
    Some(Key {
        start,
        end,
        kind,
        set_cookie: kind == KeyKind::Cookie && word_start(raw, raw.len(), b"setcookie").is_some(),
        escaped_quotes,
    })
}

/// The start of a quoted key ending at `end`: after its opening quote (read back at most
/// [`MAX_KEY_BYTES`]), or where key characters stop when there is none.
fn quoted_key_start(bytes: &[u8], end: usize, quote: u8) -> Option<usize> {
    let from = end.saturating_sub(MAX_KEY_BYTES);
    match memrchr(quote, &bytes[from..end]) {
        Some(at) => Some(from + at + 1),
        None => key_start(bytes, end),
    }
}

/// The start of an unquoted key ending at `end` (letters, digits, `_` and `-`).
fn key_start(bytes: &[u8], end: usize) -> Option<usize> {
    let mut k = end;
    while k > 0 && is_key_char(bytes[k - 1]) && end - k < MAX_KEY_BYTES {
        k -= 1;
    }
    (k < end).then_some(k)
}

/// A key's `\uXXXX` and single-character escapes decoded (enough to classify it).
fn decode_key(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && raw.get(i + 1) == Some(&b'u') {
            let code = raw
                .get(i + 2..i + 6)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .and_then(char::from_u32);
            if let Some(c) = code {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                i += 6;
                continue;
            }
        }
        if raw[i] == b'\\' && i + 1 < raw.len() {
            i += 1;
            // `\n`, `\t`, ... are the controls they stand for (which a key's reader drops), not
            // letters.
            out.push(match raw[i] {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'b' => 0x08,
                b'f' => 0x0c,
                other => other,
            });
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Skips spaces and tabs from `from`.
fn skip_spaces(bytes: &[u8], mut from: usize) -> usize {
    while from < bytes.len() && matches!(bytes[from], b' ' | b'\t') {
        from += 1;
    }
    from
}

/// The end of a string whose content starts at `from`, honouring backslash escapes: the index
/// of the closing `quote`, or `bytes.len()` (and `false`) when it is not closed.
pub(super) fn string_end(bytes: &[u8], from: usize, quote: u8) -> (usize, bool) {
    let mut i = from;
    while i < bytes.len() {
        match memchr2(quote, b'\\', &bytes[i..]) {
            Some(at) if bytes[i + at] == b'\\' => i += at + 2,
            Some(at) => return (i + at, true),
            None => break,
        }
    }
    (bytes.len(), false)
}

/// A scalar value after a separator: its content span and where it ends in the text.
struct Scalar {
    start: usize,
    end: usize,
    resume: usize,
}

/// Ends an unquoted value: what separates fields in logs, query strings and JSON.
fn ends_bare_value(b: u8) -> bool {
    matches!(
        b,
        b' ' | b',' | b';' | b'&' | b'}' | b')' | b']' | b'"' | b'\'' | b'\n' | b'\r' | b'\t'
    )
}

/// The scalar at `v`: a quoted string (`"..."`, `'...'`, or `\"...\"` inside an escaped
/// string), or a bare word. `None` for containers and for nothing.
fn scalar_at(bytes: &[u8], v: usize) -> Option<Scalar> {
    let rest = bytes.get(v..)?;
    if rest.starts_with(b"\\\"") {
        let start = v + 2;
        let end = memmem::find(&bytes[start..], b"\\\"").map_or(bytes.len(), |at| start + at);
        return Some(Scalar {
            start,
            end,
            resume: end,
        });
    }
    match rest.first()? {
        quote @ (b'"' | b'\'') => {
            let (end, _) = string_end(bytes, v + 1, *quote);
            Some(Scalar {
                start: v + 1,
                end,
                resume: end,
            })
        }
        b'{' | b'[' | b'(' => None,
        _ => {
            let mut end = v;
            while end < bytes.len() && !ends_bare_value(bytes[end]) {
                end += 1;
            }
            (end > v).then_some(Scalar {
                start: v,
                end,
                resume: end,
            })
        }
    }
}

/// Where a value after `sep` starts: blanks skipped, and the `>` of `=>` (Ruby, PHP).
fn value_start(bytes: &[u8], sep: usize) -> usize {
    let v = skip_spaces(bytes, sep + 1);
    if bytes[sep] == b'=' && bytes.get(v) == Some(&b'>') {
        skip_spaces(bytes, v + 1)
    } else {
        v
    }
}

/// A value wrapped as `Debug`, reprs and templates write them: `Some("x")`, `String("x")`,
/// `Password("x")`, `Object {...}`, `map[...]` (Go), `b'x'` (Python bytes). Returns the span of the
/// wrapper's name and where its content starts (a bracket or a quote).
fn wrapper_at(bytes: &[u8], v: usize) -> Option<(usize, usize, usize)> {
    let first = *bytes.get(v)?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let mut end = v;
    while end < bytes.len() && end - v < 32 && (is_alnum(bytes[end]) || bytes[end] == b'_') {
        end += 1;
    }
    let name = &bytes[v..end];
    let after = skip_spaces(bytes, end);
    match bytes.get(end) {
        Some(b'(' | b'[') => Some((v, end, end)),
        Some(b' ') if bytes.get(after) == Some(&b'{') => Some((v, end, after)),
        Some(b'{') => Some((v, end, end)),
        Some(b'\'' | b'"') if matches!(name, b"b" | b"r" | b"u" | b"f" | b"br" | b"rb") => {
            Some((v, end, end))
        }
        _ => None,
    }
}

/// A YAML value on the lines after its key: `key:` then nothing (or a block indicator `|`, `>`,
/// `|-`, ...) then lines indented deeper than the key's. The span of those lines.
fn yaml_block(bytes: &[u8], key_start: usize, sep: usize) -> Option<(usize, usize)> {
    if bytes[sep] != b':' {
        return None;
    }
    let line_end = memchr(b'\n', &bytes[sep..]).map_or(bytes.len(), |at| sep + at);
    let rest = bytes[sep + 1..line_end].trim_ascii();
    let block_indicator = matches!(rest, b"" | b"|" | b">" | b"|-" | b">-" | b"|+" | b">+");
    if !block_indicator || line_end == bytes.len() {
        return None;
    }
    let line_start = memrchr(b'\n', &bytes[..key_start]).map_or(0, |at| at + 1);
    let indent = bytes[line_start..key_start]
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    let mut end = line_end;
    let mut first_content = None;
    while end < bytes.len() {
        let next_start = end + 1;
        let next_end =
            memchr(b'\n', &bytes[next_start..]).map_or(bytes.len(), |at| next_start + at);
        let line = &bytes[next_start..next_end];
        let deeper = line
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        if line.trim_ascii().is_empty() && next_end < bytes.len() {
            end = next_end;
            continue;
        }
        if deeper <= indent || line.trim_ascii().is_empty() {
            break;
        }
        first_content.get_or_insert(next_start + deeper);
        end = next_end;
    }
    first_content.map(|start| (start, end))
}

/// The value of a pair whose key names a secret.
fn secret_value_at(bytes: &[u8], sep: usize, key: &Key, out: &mut Vec<Finding>) -> Option<usize> {
    if let Some((start, end)) = yaml_block(bytes, key.start, sep) {
        out.push(Finding::new(PiiKind::Secret, start, end));
        return Some(start);
    }
    let mut v = value_start(bytes, sep);
    if let Some((name_start, name_end, content)) = wrapper_at(bytes, v) {
        // The wrapper's name is masked too: `abc(def)` may be a value, not a wrapper.
        out.push(Finding::new(PiiKind::Secret, name_start, name_end));
        v = content;
    }
    if matches!(bytes.get(v), Some(b'{' | b'[' | b'(')) {
        if key.escaped_quotes {
            // `\"key\":{...}`: a container inside a string, whose quotes are escapes at this
            // level; the string's decoded level reads it.
            return None;
        }
        let end = walk(bytes, v, |event| {
            if let Event::Value {
                start, end, depth, ..
            } = event
            {
                let literal = matches!(&bytes[start..end], b"null" | b"true" | b"false");
                if depth >= 1 && end > start && !literal {
                    out.push(Finding::new(PiiKind::Secret, start, end));
                }
            }
        });
        // Every scalar inside was masked: the scan resumes after the container (an unclosed
        // one ends the text, so a run of them is read once).
        return Some(end);
    }
    let mut value = scalar_at(bytes, v)?;
    let word = &bytes[value.start..value.end];
    if value.start == v && (word == b"null" || word == b"true" || word == b"false") {
        return None;
    }
    // `Authorization: <scheme> <credentials>`: whatever the scheme (`Bearer`, `Basic`, `Token`,
    // `ApiKey`, `Digest ...`), the rest of the header is the credential.
    let authorization = word_start(
        &bytes[key.start..key.end],
        key.end - key.start,
        b"authorization",
    )
    .is_some()
        || word.eq_ignore_ascii_case(b"bearer")
        || word.eq_ignore_ascii_case(b"basic");
    if value.start == v && authorization && bytes.get(value.end) == Some(&b' ') {
        // Quotes belong to it (`Digest response="..."`); in a JSON line the string's own end
        // bounds it (see `strings::keep_structure`).
        let end = bytes[value.end..]
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r' | b'\\'))
            .map_or(bytes.len(), |at| value.end + at);
        value.end = end;
        value.resume = end;
    }
    // Resume inside the value: a pair hidden in it (`token: 'x | {"token": "y"}`) is read too.
    // A value that runs to the end of the text is masked whole, and what it hides with it: the
    // scan ends there (`password=password=...` would otherwise read to the end once per key).
    (value.end > value.start).then(|| {
        out.push(Finding::new(PiiKind::Secret, value.start, value.end));
        if value.end >= bytes.len() {
            bytes.len()
        } else {
            value.start
        }
    })
}

/// The value members beside a name member that names a secret: in the object around the name
/// (either order), or, in text without braces (`name=API_TOKEN value=...`), anywhere in the text.
fn named_sibling_at(
    bytes: &[u8],
    key: &Key,
    sep: usize,
    state: &mut PairState,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let mut v = value_start(bytes, sep);
    // A name on the next line (`"Name":\n  "db_password"`, `Name:\n  [db_password]`).
    while matches!(bytes.get(v), Some(b'\n' | b'\r' | b' ' | b'\t')) {
        v += 1;
    }
    // A YAML list item (`Name:\n  - db_password`).
    if bytes.get(v) == Some(&b'-') && matches!(bytes.get(v + 1), Some(b' ' | b'\t')) {
        v = skip_spaces(bytes, v + 1);
    }
    if let Some((_, _, content)) = wrapper_at(bytes, v) {
        v = content + usize::from(bytes.get(content) == Some(&b'('));
    }
    let resume = if matches!(bytes.get(v), Some(b'[' | b'(')) {
        // A name given as a list (`"Name": ["db_password"]`): the walk below reads its elements.
        // The scan resumes inside it, where pairs may sit too.
        v + 1
    } else {
        // A name is read no further than a name can be long (`key=key=key=...` would otherwise
        // read to the end of the text for every key).
        let name = scalar_at(&bytes[..bytes.len().min(v + MAX_NAME_BYTES + 3)], v)?;
        if !span_names_secret(bytes, name.start, name.end) {
            return None;
        }
        name.resume
    };
    if let Some((from, to)) = state.siblings_read {
        if (from..to).contains(&key.start) {
            // This window's objects, the ones nested in others among them, are read already.
            return Some(resume);
        }
    }
    let from = outermost_open(bytes, key.start);
    let named_at = (!matches!(bytes.get(v), Some(b'[' | b'('))).then_some(key.start);
    let to = mask_named_values(bytes, from, named_at, true, out);
    state.siblings_read = Some((from.unwrap_or(0), to));
    Some(resume)
}

/// A value to mask, as findings: a value of escaped JSON holding an escaped quote
/// (`hun\\\"ter:2`) is masked around the quote, its backslashes and JSON's punctuation, which
/// the line's structure may need (a finding across them would be dropped to keep it).
fn push_value(bytes: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
    if memchr(b'"', &bytes[start..end]).is_none() {
        out.push(Finding::new(PiiKind::Secret, start, end));
        return;
    }
    let mut piece = start;
    for (at, &b) in bytes.iter().enumerate().take(end).skip(start) {
        if matches!(b, b'"' | b'\\' | b',' | b':' | b'{' | b'}' | b'[' | b']') {
            if at > piece {
                out.push(Finding::new(PiiKind::Secret, piece, at));
            }
            piece = at + 1;
        }
    }
    if end > piece {
        out.push(Finding::new(PiiKind::Secret, piece, end));
    }
}

/// A container being read by [`mask_named_values`].
struct Frame {
    /// A name member (or a list under one) names a secret.
    named: bool,
    /// The values this container's naming decides: its value members' scalars, and every scalar
    /// of the containers it owns.
    spans: Vec<(usize, usize)>,
    /// The frame whose value member this container is, or is inside of.
    owner: Option<usize>,
    /// The frame whose name member this list is (`"Name": ["db_password"]`).
    names_for: Option<usize>,
}

impl Frame {
    fn new(owner: Option<usize>, names_for: Option<usize>) -> Self {
        Self {
            named: false,
            spans: Vec::new(),
            owner,
            names_for,
        }
    }
}

/// Reads the container opening at `from` (or, with `None`, the whole text as members of one
/// implicit object) in one pass and masks the value members of every container whose name
/// member names a secret, in either order, at any depth: each container is judged when it
/// closes, so one inside another is judged on its own names too. A value member that is itself a
/// container is masked whole; an unnamed container inside a value member of a named one is
/// masked with it. In text without braces (`name=API_TOKEN value=...`) a value member anywhere
/// counts. `named_at` is where a name member the scan already judged secret starts: its
/// container is named whatever the walk makes of the name's spelling (`'name'=>'DB_PASSWORD'`).
/// A string of the container that holds pairs itself (`"msg": "name=DB_PASSWORD value=..."`) is
/// read as text of its own. Returns where reading stopped.
fn mask_named_values(
    bytes: &[u8],
    from: Option<usize>,
    mut named_at: Option<usize>,
    read_strings: bool,
    out: &mut Vec<Finding>,
) -> usize {
    let flat = from.is_none();
    let mut frames: Vec<Frame> = Vec::new();
    if flat {
        frames.push(Frame::new(None, None));
    }
    let mut texts: Vec<(usize, usize)> = Vec::new();
    fn close(bytes: &[u8], frames: &mut Vec<Frame>, out: &mut Vec<Finding>) {
        let Some(frame) = frames.pop() else { return };
        if frame.named {
            for &(start, end) in &frame.spans {
                push_value(bytes, start, end, out);
            }
        } else if let Some(owner) = frame.owner.and_then(|owner| frames.get_mut(owner)) {
            owner.spans.extend(frame.spans);
        }
    }
    let visit = |event: Event<'_>| {
        // The first thing read past the judged name member is its value (or the container's
        // end): the container then on top holds the name.
        // A name inside a string (`"msg": "name=DB_PASSWORD ..."`) names the container around
        // the string too: which quotes pair up is a guess in text (a stray apostrophe shifts
        // them), and masking a value too many is the failure to prefer.
        if let Some(name) = named_at {
            let past = match event {
                Event::Enter { at, .. } | Event::Leave { at } => at > name,
                Event::Value { start, .. } => start > name,
            };
            if past {
                if let Some(top) = frames.last_mut() {
                    top.named = true;
                }
                // Text without braces: the name names value members anywhere in it.
                if flat {
                    if let Some(root) = frames.first_mut() {
                        root.named = true;
                    }
                }
                named_at = None;
            }
        }
        match event {
            Event::Enter { key, open, .. } => {
                let parent = frames.len().checked_sub(1);
                let (owner, names_for) = match parent {
                    Some(p) => {
                        let owner = if key.is_some_and(value_key) {
                            Some(p)
                        } else {
                            frames[p].owner
                        };
                        let names = key.is_some_and(name_key) && matches!(open, b'[' | b'(');
                        (owner, names.then_some(p))
                    }
                    None => (None, None),
                };
                frames.push(Frame::new(owner, names_for));
            }
            Event::Leave { .. } => close(bytes, &mut frames, out),
            Event::Value {
                start,
                end,
                key,
                string,
                ..
            } => {
                let Some(current) = frames.len().checked_sub(1) else {
                    return;
                };
                if end <= start {
                    return;
                }
                if string && read_strings && memchr2(b'=', b':', &bytes[start..end]).is_some() {
                    texts.push((start, end));
                }
                match key {
                    Some(key) if value_key(key) => {
                        frames[current].spans.push((start, end));
                        if flat && current > 0 {
                            frames[0].spans.push((start, end));
                        }
                        return;
                    }
                    Some(key) if name_key(key) => {
                        if span_names_secret(bytes, start, end) {
                            frames[current].named = true;
                        }
                    }
                    None => {
                        if let Some(named) = frames[current].names_for {
                            if span_names_secret(bytes, start, end) {
                                frames[named].named = true;
                            }
                        }
                    }
                    Some(_) => {}
                }
                if let Some(owner) = frames[current].owner {
                    frames[owner].spans.push((start, end));
                }
            }
        }
    };
    let to = match from {
        Some(open) => walk(bytes, open, visit),
        None => walk_members(bytes, 0, 0, visit),
    };
    // Nothing was read past the judged name (its value taken for a key, `Name=>x =>`): the
    // containers still open hold it.
    if named_at.is_some() {
        if let Some(top) = frames.last_mut() {
            top.named = true;
        }
        if let Some(root) = frames.first_mut().filter(|_| flat) {
            root.named = true;
        }
    }
    while !frames.is_empty() {
        close(bytes, &mut frames, out);
    }
    for (start, end) in texts {
        let mut inner = Vec::new();
        mask_named_values(&bytes[start..end], None, None, false, &mut inner);
        out.extend(
            inner
                .into_iter()
                .map(|f| Finding::new(f.kind, f.start + start, f.end + start)),
        );
    }
    to
}

/// Whether the text in `start..end` names a secret; longer than a name can be, it does not.
/// The longest name read as one: longer, it names nothing.
const MAX_NAME_BYTES: usize = 256;

/// An escaped name (`db_\u0070assword`) is read as its reader decodes it.
fn span_names_secret(bytes: &[u8], start: usize, end: usize) -> bool {
    let raw = &bytes[start..end];
    if raw.len() > MAX_NAME_BYTES {
        return false;
    }
    if memchr(b'\\', raw).is_some() {
        return std::str::from_utf8(&decode_key(raw)).is_ok_and(names_secret);
    }
    std::str::from_utf8(raw).is_ok_and(names_secret)
}

/// What a key read by [`walk`] says; an escaped key is read as its reader decodes it.
fn walked_key_kind(key: &[u8]) -> Option<KeyKind> {
    // Longer than a key can be: a span the walk took for one (text after a stray quote).
    if key.len() > MAX_KEY_BYTES {
        return None;
    }
    if memchr(b'\\', key).is_some() {
        key_kind(&decode_key(key))
    } else {
        key_kind(key)
    }
}

fn value_key(key: &[u8]) -> bool {
    walked_key_kind(key) == Some(KeyKind::Value)
}

fn name_key(key: &[u8]) -> bool {
    walked_key_kind(key) == Some(KeyKind::Name)
}

/// How far back [`outermost_open`] reads: the containers around a name member are found in
/// this window, and a bounded look-back keeps a text full of name members linear.
const OBJECT_LOOK_BACK: usize = 4096;

/// The outermost object still open at `pos`, read forward from at most [`OBJECT_LOOK_BACK`]
/// bytes before it (backwards, quotes cannot be told from their content). Reading from the
/// outermost one judges the objects around `pos` and beside it in one walk, whichever name
/// member comes first.
fn outermost_open(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut open: Vec<usize> = Vec::new();
    // Read up to `pos` only: a quote the look-back starts on may never close, and its string
    // must not run to the end of the text for every name.
    let mut tokens = Tokens::new(&bytes[..pos], pos.saturating_sub(OBJECT_LOOK_BACK));
    while let Some((at, token)) = tokens.next() {
        match token {
            Token::Open => open.push(at),
            Token::Close => {
                open.pop();
            }
            _ => {}
        }
    }
    // Objects only: brackets and parentheses also stand in prose and reprs (`see 2)`,
    // `map[...]`), where a stray one would cut the walk short; outside any object the name
    // reads the whole text.
    open.into_iter().find(|&at| bytes[at] == b'{')
}

/// Cookie names that authenticate or identify a visitor.
fn is_session_cookie(name: &[u8]) -> bool {
    const WORDS: [&[u8]; 13] = [
        b"sess",
        b"sid",
        b"token",
        b"auth",
        b"jwt",
        b"csrf",
        b"xsrf",
        b"login",
        b"remember",
        b"secret",
        b"pass",
        b"key",
        b"cred",
    ];
    let lower: Vec<u8> = name.iter().map(u8::to_ascii_lowercase).collect();
    WORDS
        .iter()
        .any(|word| memmem::find(&lower, word).is_some())
        || lower.ends_with(b"id")
}

/// `Set-Cookie` attributes: what follows a cookie in its header, not another cookie.
fn is_cookie_attribute(name: &[u8]) -> bool {
    const ATTRIBUTES: [&[u8]; 9] = [
        b"path",
        b"domain",
        b"expires",
        b"max-age",
        b"samesite",
        b"secure",
        b"httponly",
        b"partitioned",
        b"priority",
    ];
    ATTRIBUTES
        .iter()
        .any(|attribute| name.eq_ignore_ascii_case(attribute))
}

/// Masks the session-like cookie values of a cookie list in `bytes[start..end]`: `name=value`
/// pairs split by `;`. In a `Set-Cookie` list, pairs named as attributes (`Path`, `Expires`) are
/// skipped and a comma may start a further cookie (folded headers).
pub(super) fn cookie_list(
    bytes: &[u8],
    start: usize,
    end: usize,
    set_cookie: bool,
    out: &mut Vec<Finding>,
) {
    let mut part_start = start;
    for part in bytes[start..end].split(|b| *b == b';' || (set_cookie && *b == b',')) {
        let part_end = part_start + part.len();
        if let Some(eq) = memchr(b'=', part) {
            let name = part[..eq].trim_ascii();
            let mut value_start = part_start + eq + 1;
            let mut value_end = part_end;
            while value_start < value_end && matches!(bytes[value_start], b' ' | b'"') {
                value_start += 1;
            }
            while value_end > value_start && matches!(bytes[value_end - 1], b' ' | b'"') {
                value_end -= 1;
            }
            let attribute = set_cookie && is_cookie_attribute(name);
            if value_end > value_start && !attribute && is_session_cookie(name) {
                out.push(Finding::new(PiiKind::Secret, value_start, value_end));
            }
        }
        part_start = part_end + 1;
    }
}

/// The session-like cookie values of a `Cookie:` or `Set-Cookie:` header, or of a list of them
/// (`"cookies": ["sid=...", ...]`). Returns where the scan resumes (inside the header, so that
/// the rest of it is read too) and where the header ends.
fn cookies_at(
    bytes: &[u8],
    sep: usize,
    key: &Key,
    out: &mut Vec<Finding>,
) -> Option<(usize, usize)> {
    let v = value_start(bytes, sep);
    if bytes.get(v) == Some(&b'[') {
        let end = walk(bytes, v, |event| {
            if let Event::Value { start, end, .. } = event {
                cookie_list(bytes, start, end, key.set_cookie, out);
            }
        });
        return Some((v + 1, end));
    }
    let (start, end) = match bytes.get(v) {
        Some(b'\\') if bytes.get(v + 1) == Some(&b'"') => {
            let start = v + 2;
            (
                start,
                memmem::find(&bytes[start..], b"\\\"").map_or(bytes.len(), |at| start + at),
            )
        }
        Some(quote @ (b'"' | b'\'')) => (v + 1, string_end(bytes, v + 1, *quote).0),
        _ => {
            // A header runs to the end of its line; a quoted cookie value (`sid="..."`) is
            // part of it.
            let end = bytes[v..]
                .iter()
                .position(|b| matches!(b, b'\n' | b'\r' | b'\\'))
                .map_or(bytes.len(), |at| v + at);
            (v, end)
        }
    };
    cookie_list(bytes, start, end, key.set_cookie, out);
    Some((start, end))
}

/// The password in `scheme://user:password@host`: scheme, user and host stay readable. The
/// user info ends at the last `@` before the path; a password may hold `?`, `#` or `@` unencoded
/// (careless, but it happens), so only `/`, spaces and quotes end it.
fn url_password_at(bytes: &[u8], colon: usize, out: &mut Vec<Finding>) -> Option<usize> {
    let authority_start = colon + 3;
    let authority_end = bytes[authority_start..]
        .iter()
        .position(|b| {
            matches!(
                b,
                b'/' | b' ' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'\n' | b'\r' | b'\t'
            )
        })
        .map_or(bytes.len(), |at| authority_start + at);
    let authority = &bytes[authority_start..authority_end];
    let at = memrchr(b'@', authority)?;
    let user_end = memchr(b':', &authority[..at])?;
    if authority[..user_end]
        .iter()
        .any(|b| matches!(b, b'?' | b'#'))
    {
        return None;
    }
    let password_start = authority_start + user_end + 1;
    let password_end = authority_start + at;
    (password_end > password_start).then(|| {
        out.push(Finding::new(PiiKind::Secret, password_start, password_end));
        authority_start
    })
}

/// A token of JSON-ish text: JSON itself, Python reprs, `key=value` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    /// A quoted string's content (`"..."`, `'...'`, or `\"...\"` in escaped JSON).
    Str {
        start: usize,
        end: usize,
    },
    Bare {
        start: usize,
        end: usize,
    },
    /// `:` or `=`.
    Colon,
    /// `,` or `;`.
    Comma,
}

struct Tokens<'a> {
    bytes: &'a [u8],
    i: usize,
    /// A `"`, a `'` and an escaped `\"` string were found never to close: later ones are not
    /// either (no closing quote follows), so they are not looked for again; else a text of
    /// quotes that escapes hide would cost a scan to its end per quote.
    unclosed: [bool; 3],
}

impl<'a> Tokens<'a> {
    fn new(bytes: &'a [u8], from: usize) -> Self {
        Self {
            bytes,
            i: from,
            unclosed: [false; 3],
        }
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Option<(usize, Token)> {
        let bytes = self.bytes;
        while self.i < bytes.len() && matches!(bytes[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let at = self.i;
        let token = match *bytes.get(at)? {
            b'{' | b'[' | b'(' => Token::Open,
            b'}' | b']' | b')' => Token::Close,
            b'=' if bytes.get(at + 1) == Some(&b'>') => {
                // Ruby's and PHP's `=>`.
                self.i = at + 2;
                return Some((at, Token::Colon));
            }
            b':' | b'=' => Token::Colon,
            b',' | b';' => Token::Comma,
            b'&' if form_pair_at(bytes, at + 1) => Token::Comma,
            b'\\' if bytes.get(at + 1) == Some(&b'"') => {
                // A string of JSON escaped inside a string: `{\"Name\":\"db_password\"}`.
                let start = at + 2;
                let end = if self.unclosed[2] {
                    None
                } else {
                    escaped_string_end(bytes, start)
                };
                self.unclosed[2] |= end.is_none();
                return Some(match end {
                    Some(end) => {
                        self.i = end + 2;
                        (at, Token::Str { start, end })
                    }
                    None => self.unclosed(at, start),
                });
            }
            quote @ (b'"' | b'\'') => {
                let kind = usize::from(quote == b'\'');
                let (end, closed) = if self.unclosed[kind] {
                    (bytes.len(), false)
                } else {
                    string_end(bytes, at + 1, quote)
                };
                if !closed {
                    self.unclosed[kind] = true;
                    return Some(self.unclosed(at, at + 1));
                }
                self.i = end + 1;
                return Some((at, Token::Str { start: at + 1, end }));
            }
            _ => {
                let ends_word = |at: usize| {
                    (bytes[at] == b'&' && form_pair_at(bytes, at + 1))
                        || (bytes[at] == b'\\' && bytes.get(at + 1) == Some(&b'"'))
                };
                let mut end = at;
                while end < bytes.len()
                    && !matches!(
                        bytes[end],
                        b' ' | b'\t'
                            | b'\n'
                            | b'\r'
                            | b'{'
                            | b'}'
                            | b'['
                            | b']'
                            | b'('
                            | b')'
                            | b'"'
                            | b','
                            | b';'
                            | b':'
                            | b'='
                    )
                    && !ends_word(end)
                {
                    end += 1;
                }
                self.i = end;
                return Some((at, Token::Bare { start: at, end }));
            }
        };
        self.i = at + 1;
        Some((at, token))
    }

    /// A quote never closed: a stray apostrophe, a quote in prose, or text cut short. Its string
    /// runs to the end (a value cut short is all masked), and reading goes on after the quote,
    /// so that the pairs in what it would swallow are read too.
    fn unclosed(&mut self, at: usize, start: usize) -> (usize, Token) {
        self.i = start;
        (
            at,
            Token::Str {
                start,
                end: self.bytes.len(),
            },
        )
    }
}

/// Where a string of escaped JSON whose content starts at `from` ends: the next `\"` that
/// closes it, not the `\\\"` of a quote escaped inside it (1, 5, 9, ... backslashes before the
/// quote close it; 3, 7, ... are the content's own quote).
fn escaped_string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(at) = memmem::find(&bytes[i..], b"\\\"") {
        let slash = i + at;
        let run = bytes[..=slash]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if run % 4 == 1 {
            return Some(slash);
        }
        i = slash + 2;
    }
    None
}

/// Whether a form pair (`Value=`, `user[password]=`) starts at `from`: what an `&` before it
/// separates (in a value, `p&ss` keeps its `&`).
fn form_pair_at(bytes: &[u8], from: usize) -> bool {
    let key = bytes[from.min(bytes.len())..]
        .iter()
        .take(MAX_KEY_BYTES + 1)
        .take_while(|&&b| is_key_char(b) || matches!(b, b'[' | b']' | b'%' | b'.'))
        .count();
    key > 0 && key <= MAX_KEY_BYTES && bytes.get(from + key) == Some(&b'=')
}

/// What [`walk`] reports: containers entered and left, and every value with the key it stands
/// under (keys themselves are not values).
enum Event<'a> {
    Enter {
        key: Option<&'a [u8]>,
        /// The bracket that opens it, and where.
        open: u8,
        at: usize,
    },
    Leave {
        at: usize,
    },
    Value {
        start: usize,
        end: usize,
        depth: usize,
        key: Option<&'a [u8]>,
        /// A quoted string's content, not a bare word.
        string: bool,
    },
}

/// Walks the container opening at `open` (a `{` or `[`) to its close, or to the end of the text
/// when it has none; returns the index after it.
fn walk<'a>(bytes: &'a [u8], open: usize, visit: impl FnMut(Event<'a>)) -> usize {
    walk_members(bytes, open, usize::MAX, visit)
}

/// Walks tokens from `from`; with `stop_depth` 0, as members at depth 0 to the end of the text,
/// else until the container opened at `from` closes.
fn walk_members<'a>(
    bytes: &'a [u8],
    from: usize,
    stop_depth: usize,
    mut visit: impl FnMut(Event<'a>),
) -> usize {
    let mut tokens = Tokens::new(bytes, from);
    let mut depth = 0usize;
    // The key of the member being read at each depth, and the scalar whose role (key or value)
    // the next token decides.
    let mut keys: Vec<Option<&'a [u8]>> = Vec::new();
    let mut key: Option<&'a [u8]> = None;
    let mut pending: Option<Pending> = None;
    // The last token was a separator, and the key a value glued to the separator after it
    // continues (`value=admin:hunter2`, `value: c2VjcmV0cGFzcw==`).
    let mut after_separator = false;
    let mut chain: Option<&'a [u8]> = None;
    let emit =
        |visit: &mut dyn FnMut(Event<'a>), p: Pending, key, chain: Option<&'a [u8]>, depth| {
            visit(Event::Value {
                start: p.start,
                end: p.end,
                depth,
                key,
                string: p.string,
            });
            if chain.is_some() && chain != key {
                visit(Event::Value {
                    start: p.start,
                    end: p.end,
                    depth,
                    key: chain,
                    string: p.string,
                });
            }
        };
    while let Some((at, token)) = tokens.next() {
        if token == Token::Colon {
            if let Some(p) = pending.take() {
                // A scalar glued between two separators (`a=b=c`, `a=b:c`) is read both ways:
                // as the value of `a` (and what follows it too), and as the key of what follows
                // (`msg=name=DB_PASSWORD`).
                if key.is_some() && p.after_separator && p.token_end == at {
                    emit(&mut visit, p, key, chain, depth);
                    chain = chain.or(key);
                } else {
                    chain = None;
                }
                key = Some(&bytes[p.start..p.end]);
            }
            after_separator = true;
            continue;
        }
        let follows_separator = std::mem::take(&mut after_separator);
        if let Some(p) = pending.take() {
            emit(&mut visit, p, key, chain, depth);
            chain = None;
        }
        match token {
            Token::Str { start, end } | Token::Bare { start, end } => {
                pending = Some(Pending {
                    start,
                    end,
                    token_end: tokens.i,
                    after_separator: follows_separator,
                    string: matches!(token, Token::Str { .. }),
                });
            }
            Token::Open => {
                chain = None;
                visit(Event::Enter {
                    key,
                    open: bytes[at],
                    at,
                });
                keys.push(key);
                key = None;
                depth += 1;
            }
            Token::Close => {
                chain = None;
                if depth == 0 {
                    continue;
                }
                visit(Event::Leave { at });
                depth -= 1;
                key = keys.pop().flatten();
                if stop_depth != 0 && depth == 0 {
                    return at + 1;
                }
            }
            Token::Comma => {
                key = None;
                chain = None;
            }
            Token::Colon => {}
        }
    }
    if let Some(p) = pending {
        emit(&mut visit, p, key, chain, depth);
    }
    bytes.len()
}

/// A scalar whose role the next token decides.
#[derive(Clone, Copy)]
struct Pending {
    start: usize,
    end: usize,
    token_end: usize,
    after_separator: bool,
    string: bool,
}
