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
/// `Cookie`) or the whole key (`Name`, `Value`). Grouped by last letter so that most keys are
/// rejected by one table look-up.
fn key_words(last: u8) -> &'static [(&'static [u8], KeyKind)] {
    use KeyKind::{Cookie, Name, Secret, Value};
    match last {
        b'd' => &[
            (b"password", Secret),
            (b"passwd", Secret),
            (b"pwd", Secret),
            (b"secretid", Name),
            (b"field", Name),
        ],
        b't' => &[(b"secret", Secret)],
        b'n' => &[(b"token", Secret), (b"authorization", Secret)],
        b'h' => &[(b"auth", Secret)],
        b'y' => &[
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
            (b"secretbinary", Value),
        ],
        b'l' => &[(b"credential", Secret), (b"label", Name), (b"val", Value)],
        b's' => &[
            (b"credentials", Secret),
            (b"secrets", Secret),
            (b"passwords", Secret),
            (b"tokens", Secret),
        ],
        b'e' => &[
            (b"passphrase", Secret),
            (b"cookie", Cookie),
            (b"name", Name),
            (b"parametername", Name),
            (b"optionname", Name),
            (b"secretname", Name),
            (b"keyname", Name),
            (b"fieldname", Name),
            (b"variable", Name),
            (b"value", Value),
            (b"parametervalue", Value),
            (b"optionvalue", Value),
            (b"tagvalue", Value),
            (b"secretvalue", Value),
        ],
        b'g' => &[(b"secretstring", Value)],
        _ => &[],
    }
}

/// The key's letters from the end, lower-cased, `_` and `-` skipped.
fn folded_from_end(key: &[u8]) -> impl Iterator<Item = u8> + '_ {
    key.iter()
        .rev()
        .filter(|b| !matches!(b, b'_' | b'-'))
        .map(u8::to_ascii_lowercase)
}

fn key_kind(key: &[u8]) -> Option<KeyKind> {
    let last = folded_from_end(key).next()?;
    key_words(last).iter().find_map(|&(word, kind)| {
        let mut folded = folded_from_end(key);
        let suffix = word.iter().rev().all(|w| folded.next() == Some(*w));
        let whole = folded.next().is_none();
        let matches = match kind {
            KeyKind::Secret | KeyKind::Cookie => suffix,
            KeyKind::Name | KeyKind::Value => suffix && whole,
        };
        matches.then_some(kind)
    })
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

/// Whether a key's value is to be masked because of what a member beside it says: the value
/// member of an object whose name member names a secret.
pub(crate) fn is_value_key(key: &str) -> bool {
    key_kind(key.as_bytes()) == Some(KeyKind::Value)
}

/// Whether a key names its sibling value (`Name`, `Key`, `ParameterKey`, ...).
pub(crate) fn is_name_key(key: &str) -> bool {
    key_kind(key.as_bytes()) == Some(KeyKind::Name)
}

/// Longest key read back from a separator.
const MAX_KEY_BYTES: usize = 64;

/// Last letters of every key word: keys ending otherwise are rejected before they are read.
const KEY_LAST_LETTERS: [bool; 256] = {
    let mut table = [false; 256];
    let letters = b"dtnhylsegDTNHYLSEG";
    let mut i = 0;
    while i < letters.len() {
        table[letters[i] as usize] = true;
        i += 1;
    }
    table
};

/// The findings a pair at the separator `sep` (`:` or `=`) holds, if its key (or, for `://`, its
/// scheme) says so; returns where the scan resumes.
pub(super) fn pair_at(bytes: &[u8], sep: usize, out: &mut Vec<Finding>) -> Option<usize> {
    if bytes[sep] == b':' && bytes[sep + 1..].starts_with(b"//") {
        return url_password_at(bytes, sep, out);
    }
    let (key_start, key_end) = key_before(bytes, sep)?;
    match key_kind(&bytes[key_start..key_end])? {
        KeyKind::Secret => secret_value_at(bytes, sep, out),
        KeyKind::Cookie => cookies_at(bytes, sep, &bytes[key_start..key_end], out),
        KeyKind::Name => named_sibling_at(bytes, key_start, sep, out),
        KeyKind::Value => None,
    }
}

/// The key before a separator: skip spaces and a closing quote (`"`, `'`, or JSON-escaped `\"`),
/// then read back letters, digits, `_` and `-`.
fn key_before(bytes: &[u8], sep: usize) -> Option<(usize, usize)> {
    let mut k = sep;
    while k > 0 && bytes[k - 1] == b' ' {
        k -= 1;
    }
    if k > 0 && matches!(bytes[k - 1], b'"' | b'\'') {
        k -= 1;
        if k > 0 && bytes[k - 1] == b'\\' {
            k -= 1;
        }
    }
    let key_end = k;
    if !KEY_LAST_LETTERS[usize::from(*bytes.get(key_end.checked_sub(1)?)?)] {
        return None;
    }
    while k > 0
        && (is_alnum(bytes[k - 1]) || matches!(bytes[k - 1], b'_' | b'-'))
        && key_end - k < MAX_KEY_BYTES
    {
        k -= 1;
    }
    (key_end - k >= 3).then_some((k, key_end))
}

/// Skips spaces from `from`.
fn skip_spaces(bytes: &[u8], mut from: usize) -> usize {
    while from < bytes.len() && bytes[from] == b' ' {
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

/// The scalar after `sep`: a quoted string (`"..."`, `'...'`, or `\"...\"` inside an escaped
/// string), or a bare word. `None` for containers and for nothing.
fn scalar_after(bytes: &[u8], sep: usize) -> Option<Scalar> {
    let v = skip_spaces(bytes, sep + 1);
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
        b'{' | b'[' => None,
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

/// The value of a pair whose key names a secret.
fn secret_value_at(bytes: &[u8], sep: usize, out: &mut Vec<Finding>) -> Option<usize> {
    let v = skip_spaces(bytes, sep + 1);
    if matches!(bytes.get(v), Some(b'{' | b'[')) {
        if escaped_key(bytes, sep) {
            // `\"key\":{...}`: a container inside a string, whose quotes are escapes at this
            // level; the string's decoded level reads it.
            return None;
        }
        let before = out.len();
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
        return (out.len() > before).then_some(end);
    }
    let mut value = scalar_after(bytes, sep)?;
    let word = &bytes[value.start..value.end];
    if value.start == v && (word == b"null" || word == b"true" || word == b"false") {
        return None;
    }
    // `Authorization: Bearer <token>`: the scheme and the credentials are one value.
    if value.start == v
        && (word.eq_ignore_ascii_case(b"bearer") || word.eq_ignore_ascii_case(b"basic"))
        && bytes.get(value.end) == Some(&b' ')
    {
        let mut end = skip_spaces(bytes, value.end);
        while end < bytes.len() && !ends_bare_value(bytes[end]) {
            end += 1;
        }
        value.end = end;
        value.resume = end;
    }
    // Resume inside the value: a pair hidden in it (`token: 'x | {"token": "y"}`) is read too.
    (value.end > value.start).then(|| {
        out.push(Finding::new(PiiKind::Secret, value.start, value.end));
        value.start
    })
}

/// The value members beside a name member that names a secret: in the object around the name
/// (either order), or, in text without braces (`name=API_TOKEN value=...`), anywhere in the text.
fn named_sibling_at(
    bytes: &[u8],
    key_start: usize,
    sep: usize,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let name = scalar_after(bytes, sep)?;
    let name_text = std::str::from_utf8(&bytes[name.start..name.end]).ok()?;
    if name.end - name.start > 256 || !names_secret(name_text) {
        return None;
    }
    let (from, flat) = match enclosing_object(bytes, key_start) {
        Some(open) => (open, false),
        None => (0, true),
    };
    // `masking` is the depth of a value-like member's container while inside it.
    let mut masking: Option<usize> = None;
    let object_depth = if flat { 0 } else { 1 };
    let mut visit = |event: Event<'_>| match event {
        Event::Enter { depth, key } => {
            if masking.is_none()
                && (flat || depth == object_depth + 1)
                && key.is_some_and(value_key)
            {
                masking = Some(depth);
            }
        }
        Event::Leave { depth } => {
            if masking == Some(depth) {
                masking = None;
            }
        }
        Event::Value {
            start,
            end,
            depth,
            key,
        } => {
            let member = (flat || depth == object_depth) && key.is_some_and(value_key);
            if (masking.is_some() || member) && end > start {
                out.push(Finding::new(PiiKind::Secret, start, end));
            }
        }
    };
    if flat {
        walk_members(bytes, 0, 0, &mut visit);
    } else {
        walk(bytes, from, &mut visit);
    }
    Some(name.resume)
}

fn value_key(key: &[u8]) -> bool {
    key_kind(key) == Some(KeyKind::Value)
}

/// The `{` of the innermost object that holds `pos`, read forward from the start of the text
/// (backwards, quotes cannot be told from their content).
fn enclosing_object(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut open: Vec<(usize, u8)> = Vec::new();
    let mut tokens = Tokens { bytes, i: 0 };
    while let Some((at, token)) = tokens.next() {
        if at >= pos {
            break;
        }
        match token {
            Token::Open => open.push((at, bytes[at])),
            Token::Close => {
                open.pop();
            }
            _ => {}
        }
    }
    match open.last() {
        Some(&(at, b'{')) => Some(at),
        _ => None,
    }
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

/// True when the key before `sep` is quoted with escaped quotes (`\"key\":`).
fn escaped_key(bytes: &[u8], sep: usize) -> bool {
    let mut k = sep;
    while k > 0 && bytes[k - 1] == b' ' {
        k -= 1;
    }
    k >= 2 && bytes[k - 1] == b'"' && bytes[k - 2] == b'\\'
}

/// Session-like cookie values of a `Cookie:` or `Set-Cookie:` header; in `Set-Cookie`, only
/// the first pair is a cookie (the rest are attributes).
fn cookies_at(bytes: &[u8], sep: usize, key: &[u8], out: &mut Vec<Finding>) -> Option<usize> {
    let set_cookie = {
        let mut folded = folded_from_end(key);
        b"setcookie".iter().rev().all(|w| folded.next() == Some(*w))
    };
    let v = skip_spaces(bytes, sep + 1);
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
            let end = bytes[v..]
                .iter()
                .position(|b| matches!(b, b'\n' | b'\r' | b'"' | b'\\'))
                .map_or(bytes.len(), |at| v + at);
            (v, end)
        }
    };
    let before = out.len();
    let mut part_start = start;
    for (index, part) in bytes[start..end].split(|b| *b == b';').enumerate() {
        let part_end = part_start + part.len();
        if let Some(eq) = memchr(b'=', part) {
            let name = part[..eq].trim_ascii();
            let mut value_start = part_start + eq + 1;
            let mut value_end = part_end;
            while value_start < value_end && bytes[value_start] == b' ' {
                value_start += 1;
            }
            while value_end > value_start && bytes[value_end - 1] == b' ' {
                value_end -= 1;
            }
            if value_end > value_start && is_session_cookie(name) && !(set_cookie && index > 0) {
                out.push(Finding::new(PiiKind::Secret, value_start, value_end));
            }
        }
        part_start = part_end + 1;
    }
    (out.len() > before).then_some(end)
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
    /// A quoted string's content, and whether its closing quote was found.
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
}

impl Tokens<'_> {
    /// The next token and where it starts.
    fn next(&mut self) -> Option<(usize, Token)> {
        let bytes = self.bytes;
        while self.i < bytes.len() && matches!(bytes[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let at = self.i;
        let token = match *bytes.get(at)? {
            b'{' | b'[' => Token::Open,
            b'}' | b']' => Token::Close,
            b':' | b'=' => Token::Colon,
            b',' | b';' => Token::Comma,
            quote @ (b'"' | b'\'') => {
                let (end, closed) = string_end(bytes, at + 1, quote);
                self.i = if closed { end + 1 } else { end };
                return Some((at, Token::Str { start: at + 1, end }));
            }
            _ => {
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
                            | b'"'
                            | b':'
                            | b'='
                            | b','
                            | b';'
                    )
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
}

/// What [`walk`] reports: containers entered and left, and every value with the key it stands
/// under (keys themselves are not values).
enum Event<'a> {
    Enter {
        depth: usize,
        key: Option<&'a [u8]>,
    },
    Leave {
        depth: usize,
    },
    Value {
        start: usize,
        end: usize,
        depth: usize,
        key: Option<&'a [u8]>,
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
    let mut tokens = Tokens { bytes, i: from };
    let mut depth = 0usize;
    // The key of the member being read at each depth, and the scalar whose role (key or value)
    // the next token decides.
    let mut keys: Vec<Option<&'a [u8]>> = Vec::new();
    let mut key: Option<&'a [u8]> = None;
    let mut pending: Option<(usize, usize)> = None;
    while let Some((at, token)) = tokens.next() {
        if token == Token::Colon {
            if let Some((start, end)) = pending.take() {
                key = Some(&bytes[start..end]);
            }
            continue;
        }
        if let Some((start, end)) = pending.take() {
            visit(Event::Value {
                start,
                end,
                depth,
                key,
            });
        }
        match token {
            // A backslash outside a string: escaped JSON, which is read at its decoded level.
            Token::Bare { start, end } if memchr(b'\\', &bytes[start..end]).is_some() => {
                return at;
            }
            Token::Str { start, end } | Token::Bare { start, end } => pending = Some((start, end)),
            Token::Open => {
                visit(Event::Enter {
                    depth: depth + 1,
                    key,
                });
                keys.push(key);
                key = None;
                depth += 1;
            }
            Token::Close => {
                if depth == 0 {
                    continue;
                }
                visit(Event::Leave { depth });
                depth -= 1;
                key = keys.pop().flatten();
                if stop_depth != 0 && depth == 0 {
                    return at + 1;
                }
            }
            Token::Comma => key = None,
            Token::Colon => {}
        }
    }
    if let Some((start, end)) = pending {
        visit(Event::Value {
            start,
            end,
            depth,
            key,
        });
    }
    bytes.len()
}
