//! Events in, responses out: the two invocation shapes every function accepts.
//!
//! - a direct invocation (`aws lambda invoke`, the lab events): a plain JSON object, answered with
//!   the lab's envelope `{"statusCode", "headers", "body": "<JSON text>"}`;
//! - an API Gateway HTTP API or function-URL event (payload v2, recognised by
//!   `requestContext.http`), answered with an `ApiGatewayV2httpResponse`.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{header::CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::request;
use crate::secrets::value::json_kind;

mod from_back;

/// The deepest nesting an event may have: far more than any request of the suite, and less than
/// the JSON parser's own limit, so that a deeper payload is a 400 like any other bad input.
pub const MAX_EVENT_DEPTH: usize = 64;

/// An event's raw JSON text, as the runtime hands it over, parsed; too deep or not JSON is a 400.
pub fn parse_event(text: &str) -> Result<Value, ApiError> {
    if nesting_exceeds(text.as_bytes(), MAX_EVENT_DEPTH) {
        return Err(too_deep());
    }
    serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(
            "InvalidEvent",
            format!(
                "the event is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// True when brackets outside strings nest deeper than `max` (one pass, no recursion). Strings
/// are skipped to their closing quote eight bytes at a time: in a large event most bytes are in
/// them.
fn nesting_exceeds(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => match string_end(bytes, at + 1) {
                Some(end) => at = end,
                // Unterminated: the parser says so.
                None => return false,
            },
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    false
}

/// The index of the quote closing the string whose text starts at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = crate::mask::next_string_byte(bytes, from)?;
        match bytes[at] {
            b'"' => return Some(at),
            // A backslash escapes the byte after it, a quote or another backslash included.
            b'\\' => from = at + 2,
            // A raw control character: the parser refuses it; the nesting goes on being counted.
            _ => from = at + 1,
        }
    }
}

/// An event read without building a tree of it: a direct invocation keeps its text (the request
/// itself), an HTTP event gives its request line and headers, and its body decoded on its own.
/// For a function whose requests are large (data-masking), this is the difference between the
/// payload once and the payload as a `Value` tree (tens of bytes per byte).
#[derive(Debug)]
pub enum EventText {
    Direct(String),
    Http { request: HttpRequest, body: String },
}

impl EventText {
    pub fn style(&self) -> ResponseStyle {
        match self {
            EventText::Direct(_) => ResponseStyle::Direct,
            EventText::Http { .. } => ResponseStyle::Http,
        }
    }

    /// Reads `event`, refusing an HTTP body that decodes to more than `max_body_bytes` with
    /// `too_large` before decoding it. The event's text is dropped once its body is out.
    pub fn parse(
        event: String,
        max_body_bytes: usize,
        too_large: impl Fn() -> ApiError,
    ) -> Result<Self, ApiError> {
        let not_json = |e: serde_json::Error| {
            ApiError::bad_request(
                "InvalidEvent",
                format!(
                    "the event is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        };
        let named = |needle: &[u8]| memchr::memmem::find(event.as_bytes(), needle).is_some();
        let object = first_byte(&event) == Some(b'{');
        // A direct event (the common case, and the large one) is told apart without reading
        // it: an HTTP event has a `requestContext` member, a name JSON can spell only so or
        // with `\u` escapes. The function reads a direct event's text next, with the same
        // errors for text that is not JSON.
        if !object || (!named(b"requestContext") && !named(b"\\u")) {
            if nesting_exceeds(event.as_bytes(), MAX_EVENT_DEPTH) {
                return Err(too_deep());
            }
            if !object {
                serde_json::from_str::<serde::de::IgnoredAny>(&event).map_err(not_json)?;
                return Err(ApiError::bad_request(
                    "InvalidEvent",
                    format!(
                        "the event must be a JSON object, got a {}",
                        kind_of_text(&event)
                    ),
                ));
            }
            return Ok(EventText::Direct(event));
        }
        // Most of an HTTP event is its body, one string: its members are found by looking for
        // each string's end, not by a parser's pass over the body, and serde_json reads the
        // event whole only when that reader gives up, for its errors.
        let top = match TopLevel::read_members(&event, max_body_bytes) {
            Some(top) => top,
            None => TopLevel::read_with_serde(&event, not_json)?,
        };
        let (map, body) = match top {
            TopLevel::TooDeep => return Err(too_deep()),
            TopLevel::NotHttp => return Ok(EventText::Direct(event)),
            TopLevel::Http { members, body } => (members, body),
        };
        let base64 = map.get("isBase64Encoded") == Some(&Value::Bool(true));
        let request = parse_http(map)?;
        let body = match body {
            None | Some(BodyText::Raw("null")) => String::new(),
            Some(BodyText::Raw(raw)) => decode_body(raw, base64, max_body_bytes, &too_large)?,
            Some(BodyText::Decoded(text)) if base64 => base64_body(text.into_bytes())?,
            Some(BodyText::Decoded(text)) => text,
        };
        drop(event);
        Ok(EventText::Http { request, body })
    }
}

fn too_deep() -> ApiError {
    ApiError::bad_request(
        "TooDeep",
        format!("the event is nested deeper than {MAX_EVENT_DEPTH} levels"),
    )
}

/// An object event's top level: every member parsed but the body, kept as its JSON text.
enum TopLevel<'e> {
    TooDeep,
    /// No `requestContext.http` object: a direct invocation that names `requestContext`.
    NotHttp,
    Http {
        members: Map<String, Value>,
        body: Option<BodyText<'e>>,
    },
}

/// The body member as read: its JSON text, or the string it holds, decoded as its end was looked
/// for (a body no larger than the limit, even before unescaping).
enum BodyText<'e> {
    Raw(&'e str),
    Decoded(String),
}

/// Each member's name and value text, the body decoded when [`member_texts`] did so, and whether
/// an array's end is a guess (see [`object_members_around`]).
type MemberTexts<'t> = (Vec<(String, &'t str)>, Option<String>, bool);

/// More members than any HTTP event has: past it the event is read by serde_json.
const MAX_FAST_MEMBERS: usize = 64;

impl<'e> TopLevel<'e> {
    /// Reads the members from their text found by [`member_texts`]; `None` when that reader gives
    /// up or a member is not JSON (serde_json then reads the event whole, for its error).
    fn read_members(event: &'e str, max_body_bytes: usize) -> Option<Self> {
        let (texts, decoded, _) = member_texts(event, Some(max_body_bytes), None)?;
        // Every value checked as JSON first (strings were, as their ends were found), so that
        // what the whole event's reader would refuse is refused by it, and the nesting counted
        // member by member is the event's (a stray quote would shift a count over unchecked
        // text).
        let checked = texts.iter().all(|(_, text)| {
            text.starts_with('"') || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
        });
        if !checked {
            return None;
        }
        let too_deep = texts.iter().any(|(_, text)| {
            !text.starts_with('"') && nesting_exceeds(text.as_bytes(), MAX_EVENT_DEPTH - 1)
        });
        if too_deep {
            return Some(TopLevel::TooDeep);
        }
        let context = texts.iter().find(|(name, _)| name == "requestContext");
        if !is_http(context.map(|(_, text)| *text))? {
            return Some(TopLevel::NotHttp);
        }
        let mut members = Map::new();
        let mut body = None;
        for (name, text) in texts {
            if name == "body" {
                body = Some(BodyText::Raw(text));
                continue;
            }
            members.insert(name, serde_json::from_str(text).ok()?);
        }
        let body = decoded.map(BodyText::Decoded).or(body);
        Some(TopLevel::Http { members, body })
    }

    /// Reads the event with serde_json: its errors for text that is not JSON.
    fn read_with_serde(
        event: &'e str,
        not_json: impl Fn(serde_json::Error) -> ApiError,
    ) -> Result<Self, ApiError> {
        use serde_json::value::RawValue;
        use std::borrow::Cow;

        if nesting_exceeds(event.as_bytes(), MAX_EVENT_DEPTH) {
            return Ok(TopLevel::TooDeep);
        }
        let texts: BTreeMap<Cow<'e, str>, &'e RawValue> =
            serde_json::from_str(event).map_err(&not_json)?;
        if is_http(texts.get("requestContext").map(|raw| raw.get())) != Some(true) {
            return Ok(TopLevel::NotHttp);
        }
        let mut members = Map::new();
        let mut body = None;
        for (name, raw) in texts {
            if name == "body" {
                body = Some(BodyText::Raw(raw.get()));
                continue;
            }
            let value = serde_json::from_str(raw.get()).map_err(&not_json)?;
            members.insert(name.into_owned(), value);
        }
        Ok(TopLevel::Http { members, body })
    }
}

/// Whether a `requestContext` member's text is an object with an `http` object: an HTTP event.
/// Only that member is read first: a direct event may name `requestContext` and be large.
/// `None` when the member is not JSON.
fn is_http(request_context: Option<&str>) -> Option<bool> {
    let Some(text) = request_context else {
        return Some(false);
    };
    let context: Value = serde_json::from_str(text).ok()?;
    Some(context.get("http").is_some_and(Value::is_object))
}

/// The members of the JSON object `text`: each name decoded, and each value's text unchecked (see
/// [`member_texts`]); `None` where that reader gives up (then serde_json reads the text).
pub fn object_members(text: &str) -> Option<Vec<(String, &str)>> {
    member_texts(text, None, None).map(|(members, _, _)| members)
}

/// [`object_members`], with the end of the array member `large` found from the members after it,
/// read backward from the object's end (see [`from_back`]), instead of by a pass over the array.
/// The flag is `true` when that end is only a guess: a large value ends there, taken for the
/// array; the array's reader must then check that the array ends exactly there, and if it does
/// not, the members are those of [`object_members`].
pub fn object_members_around<'t>(
    text: &'t str,
    large: &str,
) -> Option<(Vec<(String, &'t str)>, bool)> {
    member_texts(text, None, Some(large)).map(|(members, _, guessed)| (members, guessed))
}

/// The members of the JSON object `text`, each name decoded and each value's text, found with
/// one look for each string's end and brackets counted outside strings. Values are not checked
/// (their readers do that); names and the object's own punctuation are. `None` for what this
/// reader does not follow: text that is not one object, a malformed string, a name given twice
/// (serde_json keeps the last; the caller reads the event with it then), or too many members.
///
/// With `max_body_bytes`, a `body` string whose text is within it is also decoded, in the pass
/// that finds its end (unescaping only shortens: it cannot decode to more).
fn member_texts<'t>(
    text: &'t str,
    max_body_bytes: Option<usize>,
    from_back: Option<&str>,
) -> Option<MemberTexts<'t>> {
    let bytes = text.as_bytes();
    let mut decoded_body = None;
    let mut guessed = false;
    let mut members: Vec<(String, &str)> = Vec::new();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_ws(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        return (skip_ws(bytes, at + 1) == bytes.len()).then_some((members, None, false));
    }
    loop {
        if bytes.get(at) != Some(&b'"') || members.len() == MAX_FAST_MEMBERS {
            return None;
        }
        let name_end = checked_string_end(bytes, at + 1)? + 1;
        let name = crate::mask::decode_json_string(&text[at..name_end], name_end - at)?;
        if members.iter().any(|(seen, _)| *seen == name) {
            return None;
        }
        at = skip_ws(bytes, name_end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let start = skip_ws(bytes, at + 1);
        // Room for the body's text: decoded, it is at most that long.
        let room = text.len() - start;
        let decode = max_body_bytes.is_some_and(|max| room <= max);
        let end = if name == "body" && bytes.get(start) == Some(&b'"') && decode {
            let (mut decoded, len) = crate::mask::decode_json_string_at(&text[start..], room)?;
            // The room was the rest of the event: what the body did not use goes back.
            decoded.shrink_to_fit();
            decoded_body = Some(decoded);
            start + len
        } else if from_back == Some(name.as_str()) {
            match from_back::array_end(bytes, start) {
                Some((end, checked)) => {
                    guessed = !checked;
                    end
                }
                None => value_end(bytes, start)?,
            }
        } else {
            value_end(bytes, start)?
        };
        members.push((name, &text[start..end]));
        at = skip_ws(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_ws(bytes, at + 1),
            Some(b'}') => {
                let whole = skip_ws(bytes, at + 1) == bytes.len();
                return whole.then_some((members, decoded_body, guessed));
            }
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(at) {
        at += 1;
    }
    at
}

/// Where the value starting at `start` ends: after its closing quote or bracket, or its last
/// byte before a delimiter. Brackets are counted, not matched: the value's reader checks it.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => Some(checked_string_end(bytes, start + 1)? + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match bytes.get(at)? {
                    b'"' => at = checked_string_end(bytes, at + 1)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let len = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(bytes.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

/// The index of the quote closing the string whose text starts at `from`, checking what
/// serde_json checks of a string it skips: escapes are one of JSON's, `\u` has four hex digits,
/// no raw control character. `None` if the string is not one.
fn checked_string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = crate::mask::next_string_byte(bytes, from)?;
        match bytes[at] {
            b'"' => return Some(at),
            b'\\' => match bytes.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => from = at + 2,
                b'u' => {
                    let hex = bytes.get(at + 2..at + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    from = at + 6;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// The body of an HTTP event from its JSON string text: unescaped, then base64-decoded in place
/// when so marked; refused over `max_bytes` (decoded) before either.
fn decode_body(
    quoted: &str,
    base64: bool,
    max_bytes: usize,
    too_large: &dyn Fn() -> ApiError,
) -> Result<String, ApiError> {
    let invalid = |message: &str| ApiError::bad_request("InvalidBody", message.to_owned());
    let not_a_string = || invalid("the body must be a string").with_field("body");
    // Unescaping only shortens: a plain body whose text is within the limit is decoded without
    // a pass to measure it, into a buffer of its text's length (the bytes escapes saved are
    // never touched, so never resident).
    let text_len = quoted.len().saturating_sub(2);
    if !base64 && text_len <= max_bytes {
        return crate::mask::decode_json_string(quoted, text_len).ok_or_else(not_a_string);
    }
    let unescaped_len = unescaped_len(quoted).ok_or_else(not_a_string)?;
    let decoded_len = if base64 {
        let padding = quoted
            .trim_end_matches('"')
            .bytes()
            .rev()
            .take_while(|b| *b == b'=')
            .count();
        (unescaped_len.div_ceil(4) * 3).saturating_sub(padding)
    } else {
        unescaped_len
    };
    if decoded_len > max_bytes {
        return Err(too_large().with_field("body"));
    }
    if base64 && !quoted.contains('\\') {
        // Base64 text holds no escapes: decoded straight from the event's text.
        use base64::Engine;
        let inner = quoted.trim_matches('"');
        // The decoder asks for room for whole groups of three: the padding's bytes too.
        let mut bytes = vec![0; inner.len().div_ceil(4) * 3];
        let written = base64::engine::general_purpose::STANDARD
            .decode_slice(inner, &mut bytes)
            .map_err(|_| {
                invalid("the body is marked base64 but is not valid base64").with_field("body")
            })?;
        bytes.truncate(written);
        return String::from_utf8(bytes)
            .map_err(|_| invalid("the body is not valid UTF-8").with_field("body"));
    }
    // Decoded into a buffer of its exact size (growing by doubling would reserve up to twice).
    let text = crate::mask::decode_json_string(quoted, unescaped_len)
        .ok_or_else(|| invalid("the body must be a string").with_field("body"))?;
    if !base64 {
        return Ok(text);
    }
    base64_body(text.into_bytes())
}

/// A body marked base64, from its unescaped text: decoded in place.
fn base64_body(text: Vec<u8>) -> Result<String, ApiError> {
    let invalid = |message: &str| ApiError::bad_request("InvalidBody", message.to_owned());
    let mut bytes = base64_decode_in_place(text).ok_or_else(|| {
        invalid("the body is marked base64 but is not valid base64").with_field("body")
    })?;
    bytes.shrink_to_fit();
    String::from_utf8(bytes).map_err(|_| invalid("the body is not valid UTF-8").with_field("body"))
}

/// The length of a JSON string's value from its text, without decoding it; `None` if the text is
/// not a string.
fn unescaped_len(quoted: &str) -> Option<usize> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let bytes = inner.as_bytes();
    let (mut len, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            len += 1;
            i += 1;
            continue;
        }
        if bytes.get(i + 1) != Some(&b'u') {
            len += 1;
            i += 2;
            continue;
        }
        let code = inner
            .get(i + 2..i + 6)
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())?;
        // A surrogate pair (12 characters) is one 4-byte character; count 2 per half.
        len += match code {
            0..=0x7f => 1,
            0x80..=0x7ff => 2,
            0xd800..=0xdfff => 2,
            _ => 3,
        };
        i += 6;
    }
    Some(len)
}

/// Standard base64 decoded within its own buffer (the output never overtakes the input), in
/// chunks of whole groups: padding is refused anywhere but in the last, as a decoder of the whole
/// text would.
fn base64_decode_in_place(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    use base64::Engine;
    const CHUNK: usize = 4096;
    let last_chunk = bytes.len().saturating_sub(1) / CHUNK * CHUNK;
    if memchr::memchr(b'=', &bytes[..last_chunk]).is_some() {
        return None;
    }
    let mut out = [0u8; CHUNK / 4 * 3];
    let (mut read, mut written) = (0, 0);
    while read < bytes.len() {
        let end = (read + CHUNK).min(bytes.len());
        let n = base64::engine::general_purpose::STANDARD
            .decode_slice(&bytes[read..end], &mut out)
            .ok()?;
        bytes[written..written + n].copy_from_slice(&out[..n]);
        written += n;
        read = end;
    }
    bytes.truncate(written);
    Some(bytes)
}

fn first_byte(text: &str) -> Option<u8> {
    text.bytes().find(|b| !b.is_ascii_whitespace())
}

/// What kind of JSON value `text` (valid JSON) is, from its first byte.
pub fn kind_of_text(text: &str) -> &'static str {
    match first_byte(text) {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// A response in the caller's shape, as text, with its body written by `write_body` as the
/// contents of the `body` string (see [`crate::mask::JsonOut::quoted`]): the body is never held
/// apart from the response.
pub fn respond_text(
    style: ResponseStyle,
    status: u16,
    capacity: usize,
    write_body: impl FnOnce(&mut Vec<u8>),
) -> String {
    let mut head = respond(style, status, &Value::Null);
    if let Value::Object(map) = &mut head {
        map.remove("body");
    }
    let head = head.to_string();
    let mut out = Vec::with_capacity(head.len() + capacity + 16);
    out.extend_from_slice(head.as_bytes());
    out.pop();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(br#""body":""#);
    write_body(&mut out);
    out.extend_from_slice(br#""}"#);
    // Every byte written is JSON text or escaped JSON text, both UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The content type of every response body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Which response shape the caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStyle {
    Direct,
    Http,
}

/// An HTTP request as API Gateway (payload v2) or a function URL delivers it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// `requestContext.authorizer.jwt.claims`, present when a JWT authorizer ran.
    pub jwt_claims: Option<Map<String, Value>>,
}

/// One invocation, told apart by its shape.
#[derive(Debug, Clone)]
pub enum Invocation {
    Direct(Map<String, Value>),
    Http(HttpRequest),
}

impl Invocation {
    /// Recognises the event's shape. A non-object event is a 400.
    pub fn parse(event: Value) -> Result<Self, ApiError> {
        let Value::Object(map) = event else {
            return Err(ApiError::bad_request(
                "InvalidEvent",
                format!(
                    "the event must be a JSON object, got a {}",
                    json_kind(&event)
                ),
            ));
        };
        let is_http = map
            .get("requestContext")
            .and_then(|c| c.get("http"))
            .is_some_and(Value::is_object);
        if !is_http {
            return Ok(Invocation::Direct(map));
        }
        parse_http(map).map(Invocation::Http)
    }

    pub fn style(&self) -> ResponseStyle {
        match self {
            Invocation::Direct(_) => ResponseStyle::Direct,
            Invocation::Http(_) => ResponseStyle::Http,
        }
    }

    /// The JSON object the caller sent: the event itself, or the HTTP body (an empty body is `{}`).
    pub fn json_payload(&self) -> Result<Map<String, Value>, ApiError> {
        match self {
            Invocation::Direct(map) => Ok(map.clone()),
            Invocation::Http(request) => match request.body.as_deref().map(str::trim) {
                None | Some("") => Ok(Map::new()),
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(map)) => Ok(map),
                    Ok(other) => Err(ApiError::bad_request(
                        "InvalidBody",
                        format!(
                            "the request body must be a JSON object, got a {}",
                            json_kind(&other)
                        ),
                    )
                    .with_field("body")),
                    Err(e) => Err(ApiError::bad_request(
                        "InvalidBody",
                        format!(
                            "the request body is not valid JSON (line {}, column {})",
                            e.line(),
                            e.column()
                        ),
                    )
                    .with_field("body")),
                },
            },
        }
    }
}

fn parse_http(map: Map<String, Value>) -> Result<HttpRequest, ApiError> {
    let event: ApiGatewayV2httpRequest = request::parse(map)?;
    let context = event.request_context;
    let path = event
        .raw_path
        .or(context.http.path)
        .unwrap_or_else(|| "/".to_owned());
    // Query parameter names are case-sensitive; only header names are folded (`http` does).
    let query = event
        .query_string_parameters
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let headers = event
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let body = match event.body {
        Some(text) if event.is_base64_encoded => {
            let bytes = aws_smithy_types::base64::decode(&text).map_err(|_| {
                ApiError::bad_request(
                    "InvalidBody",
                    "the body is marked base64 but is not valid base64",
                )
                .with_field("body")
            })?;
            Some(String::from_utf8(bytes).map_err(|_| {
                ApiError::bad_request("InvalidBody", "the body is not valid UTF-8")
                    .with_field("body")
            })?)
        }
        body => body,
    };
    let jwt_claims = context
        .authorizer
        .and_then(|authorizer| authorizer.jwt)
        .map(|jwt| {
            jwt.claims
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect()
        });
    Ok(HttpRequest {
        method: context.http.method.as_str().to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
        jwt_claims,
    })
}

impl HttpRequest {
    /// Checks that this is `method` on `route`: the route's path under any stage or base path
    /// (`/prod/mask` is `/mask`), or `/` as a function URL delivers it. 404 for another path,
    /// 405 for another method, both saying what to send.
    pub fn expect_route(&self, method: &str, route: &str) -> Result<(), ApiError> {
        let path = self.path.trim_end_matches('/');
        if !(path.is_empty() || path.ends_with(route.trim_end_matches('/'))) {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("no such route; use {method} {route}"),
            ));
        }
        if !self.method.eq_ignore_ascii_case(method) {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("use {method} {route}"),
            ));
        }
        Ok(())
    }
}

/// A response in the shape the caller expects.
pub fn respond(style: ResponseStyle, status: u16, body: &Value) -> Value {
    let text = body.to_string();
    match style {
        ResponseStyle::Direct => serde_json::json!({
            "statusCode": status,
            "headers": { "Content-Type": JSON_CONTENT_TYPE },
            "body": text,
        }),
        ResponseStyle::Http => {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = i64::from(status);
            response
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
            response.body = Some(Body::Text(text));
            // Serializing this type cannot fail (string keys, no maps with non-string keys); the
            // fallback keeps the status and body should that ever change.
            serde_json::to_value(&response).unwrap_or_else(|_| {
                serde_json::json!({
                    "statusCode": status,
                    "headers": { "content-type": JSON_CONTENT_TYPE },
                    "body": body.to_string(),
                    "isBase64Encoded": false,
                    "cookies": [],
                })
            })
        }
    }
}

/// One invocation from event to response: recognises the event's shape, runs `dispatch`, and
/// answers in the caller's shape, errors included. Every function's handler goes through here.
pub async fn serve<Fut>(
    event: Value,
    function: &'static str,
    dispatch: impl FnOnce(Invocation) -> Fut,
) -> Value
where
    Fut: std::future::Future<Output = Result<Value, ApiError>>,
{
    let invocation = match Invocation::parse(event) {
        Ok(invocation) => invocation,
        Err(error) => return respond_error(ResponseStyle::Direct, &error),
    };
    let style = invocation.style();
    let outcome = match crate::runtime::budget_end() {
        Some(end) => tokio::time::timeout_at(end, dispatch(invocation))
            .await
            .unwrap_or_else(|_| Err(crate::runtime::out_of_time())),
        None => dispatch(invocation).await,
    };
    let (status, body) = match outcome {
        Ok(body) => (200, body),
        Err(error) => (error.status, error.body()),
    };
    tracing::info!(status, function, "invocation done");
    respond(style, status, &body)
}

/// An error response in the shape the caller expects.
pub fn respond_error(style: ResponseStyle, error: &ApiError) -> Value {
    respond(style, error.status, &error.body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_events_are_objects() {
        assert!(matches!(
            Invocation::parse(json!({"action": "x"})),
            Ok(Invocation::Direct(_))
        ));
        let err = Invocation::parse(json!([1, 2])).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "InvalidEvent"));
        assert!(err.message.contains("array"));
    }

    #[test]
    fn http_events_are_recognised_and_decoded() {
        let event = json!({
            "version": "2.0",
            "rawPath": "/orders",
            "headers": {"Authorization": "Bearer x"},
            "queryStringParameters": {"limit": "5"},
            "requestContext": {"http": {"method": "post"}, "authorizer": {"jwt": {"claims": {"sub": "1"}}}},
            "body": aws_smithy_types::base64::encode(r#"{"a":1}"#),
            "isBase64Encoded": true
        });
        let Invocation::Http(request) = Invocation::parse(event).unwrap() else {
            panic!("expected HTTP");
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/orders");
        assert_eq!(request.headers["authorization"], "Bearer x");
        assert_eq!(request.query["limit"], "5");
        assert_eq!(request.jwt_claims.unwrap()["sub"], "1");
        assert_eq!(request.body.as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn malformed_http_events_name_the_field() {
        for (event, field) in [
            (
                json!({"requestContext": {"http": {}}}),
                "requestContext.http.method",
            ),
            (
                json!({"requestContext": {"http": {"method": "GET"}}, "body": 5}),
                "body",
            ),
            (
                json!({"requestContext": {"http": {"method": "GET"}}, "queryStringParameters": {"a": [1]}}),
                "queryStringParameters",
            ),
        ] {
            let error = Invocation::parse(event.clone()).unwrap_err();
            assert_eq!(error.status, 400, "{event}");
            assert!(
                error.field.as_deref().is_some_and(|f| f.starts_with(field)),
                "{event}: {error:?}"
            );
        }
    }

    /// A header value with CR/LF (header injection) is refused naming `headers` and saying why.
    #[test]
    fn injected_headers_are_refused_plainly() {
        let event = json!({
            "requestContext": {"http": {"method": "GET"}},
            "headers": {"x-tenant": "tenant-a\r\nX-Tenant: tenant-b"}
        });
        let error = Invocation::parse(event).unwrap_err();
        assert_eq!(
            (error.status, error.code.as_str(), error.field.as_deref()),
            (400, "InvalidField", Some("headers"))
        );
        assert!(error.message.contains("no CR or LF"), "{}", error.message);
    }

    #[test]
    fn routes_are_checked_in_one_place() {
        let request = |method: &str, path: &str| HttpRequest {
            method: method.into(),
            path: path.into(),
            ..HttpRequest::default()
        };
        for path in ["/mask", "/prod/mask", "/mask/", "/", ""] {
            assert!(
                request("POST", path).expect_route("POST", "/mask").is_ok(),
                "{path}"
            );
        }
        for (method, path, status) in [
            ("POST", "/unmask", 404),
            ("POST", "/mask/x", 404),
            ("GET", "/mask", 405),
        ] {
            let error = request(method, path)
                .expect_route("POST", "/mask")
                .unwrap_err();
            assert_eq!(error.status, status, "{method} {path}");
            assert!(error.message.contains("POST /mask"));
        }
    }

    #[test]
    fn http_body_must_be_a_json_object() {
        let http = |body: &str| {
            Invocation::parse(json!({"requestContext": {"http": {"method": "POST"}}, "body": body}))
                .unwrap()
        };
        assert!(http("").json_payload().unwrap().is_empty());
        assert_eq!(
            http("{oops").json_payload().unwrap_err().field.as_deref(),
            Some("body")
        );
        assert!(http("[1]")
            .json_payload()
            .unwrap_err()
            .message
            .contains("array"));
    }

    #[test]
    fn responses_match_the_caller_shape() {
        let direct = respond(ResponseStyle::Direct, 200, &json!({"ok": true}));
        assert_eq!(direct["statusCode"], 200);
        assert_eq!(direct["headers"]["Content-Type"], JSON_CONTENT_TYPE);
        assert_eq!(direct["body"], r#"{"ok":true}"#);

        let http = respond_error(
            ResponseStyle::Http,
            &ApiError::bad_request("Bad", "no").with_field("f"),
        );
        assert_eq!(http["statusCode"], 400);
        assert_eq!(http["cookies"], json!([]));
        let body: Value = serde_json::from_str(http["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "Bad", "message": "no", "field": "f"}})
        );
    }

    fn http_event(body: &str, base64: bool) -> String {
        json!({
            "version": "2.0",
            "rawPath": "/mask",
            "requestContext": {"http": {"method": "POST"}},
            "body": body,
            "isBase64Encoded": base64
        })
        .to_string()
    }

    fn too_large() -> ApiError {
        ApiError::new(413, "PayloadTooLarge", "too large")
    }

    #[test]
    fn event_text_keeps_direct_events_and_decodes_http_bodies() {
        let direct = r#"{"records": [1]}"#.to_owned();
        match EventText::parse(direct.clone(), 10, too_large).unwrap() {
            EventText::Direct(text) => assert_eq!(text, direct),
            other => panic!("{other:?}"),
        }
        let body = "{\"a\":\"q\\\"é😀/\\n\"}";
        for base64 in [false, true] {
            let sent = if base64 {
                aws_smithy_types::base64::encode(body)
            } else {
                body.to_owned()
            };
            let event = http_event(&sent, base64);
            match EventText::parse(event.clone(), body.len(), too_large).unwrap() {
                EventText::Http { request, body: got } => {
                    assert_eq!(got, body);
                    assert_eq!(request.method, "POST");
                    assert_eq!(request.body, None);
                }
                other => panic!("{other:?}"),
            }
            // One byte over, refused before decoding.
            let err = EventText::parse(event, body.len() - 1, too_large).unwrap_err();
            assert_eq!((err.status, err.field.as_deref()), (413, Some("body")));
        }
        // Base64 with an escaped slash goes through the unescaping path.
        let encoded = aws_smithy_types::base64::encode("???");
        assert!(encoded.contains('/'));
        let event = http_event(&encoded, true).replace('/', "\\/");
        match EventText::parse(event, 100, too_large).unwrap() {
            EventText::Http { body, .. } => assert_eq!(body, "???"),
            other => panic!("{other:?}"),
        }
        for (event, code) in [
            ("[1]".to_owned(), "InvalidEvent"),
            (r#"{"requestContext":"#.to_owned(), "InvalidEvent"),
            (r#"{"request\u0043ontext":"#.to_owned(), "InvalidEvent"),
            (http_event("%%%", true), "InvalidBody"),
            // A lone surrogate: JSON text, but no string (read by both readers).
            (
                http_event("S", false).replace("\"S\"", "\"\\ud800\""),
                "InvalidBody",
            ),
            (format!("{}{}", "[".repeat(100), "]".repeat(100)), "TooDeep"),
            (
                format!(
                    r#"{{"a":"\\","b":{}1{}}}"#,
                    "[".repeat(100),
                    "]".repeat(100)
                ),
                "TooDeep",
            ),
        ] {
            let err = EventText::parse(event.clone(), 100, too_large).unwrap_err();
            assert_eq!(err.code, code, "{event}");
        }
        // Found by an attack on the member reader: padding where a chunk of the in-place base64
        // decoder ends, and a body that is not JSON, are refused as the whole event's readers do.
        let context = r#""requestContext":{"http":{"method":"POST"}}"#;
        for (event, code) in [
            (
                format!(
                    r#"{{{context},"isBase64Encoded":true,"body":"{}QQ==QUJD"}}"#,
                    "A".repeat(4092)
                ),
                "InvalidBody",
            ),
            (format!(r#"{{{context},"body":tru}}"#), "InvalidEvent"),
            (format!(r#"{{{context},"body":1x}}"#), "InvalidEvent"),
            // A stray quote: the whole event's count finds the brackets outside strings.
            (
                format!(r#"{{{context},"body":x","a":"{}","b":1}}"#, "[".repeat(70)),
                "TooDeep",
            ),
            // Direct events that name `requestContext` are checked whole all the same.
            (
                r#"{"requestContext":{},"x":tru}"#.to_owned(),
                "InvalidEvent",
            ),
            (
                format!(
                    r#"{{"requestContext":{{}},"a":x","b":"{}","c":1}}"#,
                    "[".repeat(70)
                ),
                "TooDeep",
            ),
        ] {
            let err = EventText::parse(event.clone(), 10_000, too_large).unwrap_err();
            assert_eq!(err.code, code, "{event}");
        }
        // Without `requestContext` an event is direct, unread: its reader reports what is wrong.
        for event in [
            "{",
            r#"{"records":[1,"#,
            r#"{"a":"[[[[\"[[[["}"#,
            r#"{"a":"\"#,
        ] {
            match EventText::parse(event.to_owned(), 100, too_large) {
                Ok(EventText::Direct(text)) => assert_eq!(text, event),
                other => panic!("{event}: {other:?}"),
            }
        }
        // Brackets inside strings, escaped quotes included, are not nesting.
        let in_strings = format!(
            r#"{{"a":"{}\"{}","b":"\\"}}"#,
            "[".repeat(200),
            "{".repeat(200)
        );
        assert!(!nesting_exceeds(in_strings.as_bytes(), 2));
        assert!(nesting_exceeds(br#"{"a":"\\",[[[1]]]}"#, 3));
    }

    /// What a top-level reader made of an event, comparable across the two readers.
    fn summary(top: TopLevel<'_>) -> String {
        match top {
            TopLevel::TooDeep => "too deep".to_owned(),
            TopLevel::NotHttp => "not http".to_owned(),
            TopLevel::Http { members, body } => {
                let body = body.map(|body| match body {
                    BodyText::Raw(raw) => crate::mask::decode_json_string(raw, raw.len())
                        .unwrap_or_else(|| format!("not a string: {raw}")),
                    BodyText::Decoded(text) => text,
                });
                format!("{members:?} body={body:?}")
            }
        }
    }

    #[test]
    fn the_member_reader_agrees_with_serde_json_or_gives_up() {
        let not_json = |e: serde_json::Error| ApiError::bad_request("InvalidEvent", e.to_string());
        let context = r#""requestContext":{"http":{"method":"POST","path":"/mask"}}"#;
        let deep = format!("{}1{}", "[".repeat(63), "]".repeat(63));
        let too_deep = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        // Read by the member reader: the same result as serde_json's.
        let followed = [
            format!(r#"{{{context},"body":"{{\"a\":\"q\\\"}}\"}}"}}"#),
            format!(" \n{{ \"b\\u006fdy\" : \"x\" , {context} }}\t"),
            format!(r#"{{{context},"body":null,"isBase64Encoded":true}}"#),
            format!(r#"{{{context},"body":{{"a":[1,"]}}"]}}}}"#),
            format!(r#"{{{context},"headers":{{"x-y":"\"{{["}},"n":-1.5e3,"t":true}}"#),
            format!(r#"{{{context},"deep":{deep}}}"#),
            format!(r#"{{{context},"deep":{too_deep}}}"#),
            format!(
                r#"{{"body":"{}","requestContext":{{"http":1}}}}"#,
                "\\\"".repeat(50)
            ),
            r#"{"requestContext":{"elb":{}},"body":"x"}"#.to_owned(),
            r#"{"requestContext":null}"#.to_owned(),
            r#"{"requestContext":{}}"#.to_owned(),
            "{}".to_owned(),
        ];
        // With a limit that lets the body be decoded as it is read, and one that does not.
        for (event, limit) in followed.iter().flat_map(|e| [(e, 10_000), (e, 0)]) {
            let fast = TopLevel::read_members(event, limit)
                .unwrap_or_else(|| panic!("the member reader gave up on {event}"));
            let serde = TopLevel::read_with_serde(event, not_json).unwrap();
            assert_eq!(summary(fast), summary(serde), "{event}");
        }
        // Not followed: serde_json reads these, and says what is wrong with most.
        let given_up = [
            format!(r#"{{{context},"body":"a","body":"b"}}"#),
            format!(r#"{{{context},"b\u006fdy":"a","body":"b"}}"#),
            format!(r#"{{{context},"body":"\x"}}"#),
            format!(r#"{{{context},"body":"\u12G4"}}"#),
            format!("{{{context},\"body\":\"\u{1}\"}}"),
            format!(r#"{{{context},"body":"open}}"#),
            format!(r#"{{{context},"body":"\ud800"}}"#),
            format!(r#"{{{context},"body":"a"}} x"#),
            format!(r#"{{{context},"body":"a",}}"#),
            format!(r#"{{{context} "body":"a"}}"#),
            format!(r#"{{{context},"body" "a"}}"#),
            format!(r#"{{{context},"body":}}"#),
            format!(r#"{{{context},"n":tru}}"#),
            format!(r#"{{{context},"a":[1,}}"#),
            r#"{"requestContext":{"http":{}"#.to_owned(),
            r#"{"requestContext":{"http":{]}}"#.to_owned(),
            format!(
                "{{{context},{}\"last\":1}}",
                (0..MAX_FAST_MEMBERS)
                    .map(|i| format!("\"m{i}\":{i},"))
                    .collect::<String>()
            ),
        ];
        for event in &given_up {
            assert!(
                TopLevel::read_members(event, 10_000).is_none(),
                "the member reader followed {event}"
            );
        }
        // Serde's verdict stands for those: the same as the whole event's parse.
        let err = TopLevel::read_with_serde(&given_up[2], not_json)
            .err()
            .unwrap();
        assert_eq!(err.code, "InvalidEvent");
        let last_wins = TopLevel::read_with_serde(&given_up[0], not_json).unwrap();
        assert!(summary(last_wins).ends_with(r#"body=Some("b")"#));
    }

    #[test]
    fn unescaped_length_is_exact() {
        for text in [
            "",
            "abc",
            "a\"b\\c\n\u{1}",
            "é😀\u{7ff}\u{800}",
            "\u{10ffff}/",
        ] {
            let quoted = serde_json::to_string(text).unwrap();
            assert_eq!(unescaped_len(&quoted), Some(text.len()), "{quoted}");
            let ascii = quoted
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        let mut units = [0u16; 2];
                        c.encode_utf16(&mut units)
                            .iter()
                            .map(|u| format!("\\u{u:04x}"))
                            .collect()
                    }
                })
                .collect::<String>();
            assert_eq!(unescaped_len(&ascii), Some(text.len()), "{ascii}");
        }
    }

    #[test]
    fn text_responses_match_value_responses() {
        for style in [ResponseStyle::Direct, ResponseStyle::Http] {
            let body = json!({"a": "x\"y"});
            let text = respond_text(style, 201, 0, |buf| {
                buf.extend_from_slice(br#"{\"a\":\"x\\\"y\"}"#)
            });
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, respond(style, 201, &body));
        }
    }
}
