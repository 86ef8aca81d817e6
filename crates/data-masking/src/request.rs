//! What a caller may ask of `data-masking`, validated field by field.
//!
//! `{}` asks for the lab's sample users. Otherwise:
//! `{"records": [<any JSON>...], "rules": {"<JSONPath>": "<strategy>"}, "detect": true}`.
//! Rules are evaluated against each record (`$.email` is a record's `email`); `detect` (default
//! `true`) also masks whatever the detectors find outside the rules. The `encrypt` strategy
//! takes `"context": {"<key>": "<value>", ...}` (a direct invocation's encryption context; over
//! HTTP the tenant comes from the verified token) and `"bindPaths": true` (each value's context
//! also names its rule).
//!
//! The decrypt function takes `{"records": [...], "fields": ["<JSONPath>", ...], "context": {..},
//! "bindPaths": false}`: the values the paths select are put back.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use secure_lambda::mask::{JsonPath, Strategy};
use secure_lambda::{request, ApiError};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// More rules than this is a mistake, not a policy.
pub const MAX_RULES: usize = 100;

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    SampleUsers,
    Mask(MaskRequest),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaskRequest {
    pub records: Vec<Value>,
    pub rules: Vec<(JsonPath, Strategy)>,
    pub detect: bool,
    pub encryption: EncryptionRequest,
}

/// What a request says about reversible masking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionRequest {
    /// `context`: the caller's encryption context entries, as given.
    pub context: Option<BTreeMap<String, String>>,
    /// `bindPaths`: each value's context also names the rule that selected it.
    pub bind_paths: bool,
}

impl MaskRequest {
    pub fn uses_tokens(&self) -> bool {
        self.rules.iter().any(|(_, s)| *s == Strategy::Token)
    }
}

/// What a caller sends, before the rules are compiled and the size is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    records: Vec<Value>,
    #[serde(default)]
    rules: Option<Map<String, Value>>,
    #[serde(default = "detect_by_default")]
    detect: bool,
    #[serde(default)]
    context: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "bindPaths")]
    bind_paths: bool,
}

fn detect_by_default() -> bool {
    true
}

/// Validates a request object. `max_bytes` bounds the records' serialized size (the HTTP body is
/// checked before parsing; a direct invocation arrives parsed, so its records are measured here).
pub fn parse(payload: Map<String, Value>, max_bytes: usize) -> Result<Request, ApiError> {
    if payload.is_empty() {
        return Ok(Request::SampleUsers);
    }
    let wire: WireRequest = request::parse(payload)?;
    if serialized_len_exceeds(&wire.records, max_bytes) {
        return Err(too_large(max_bytes).with_field("records"));
    }
    let rules = match &wire.rules {
        Some(rules) => parse_rules(rules)?,
        None => Vec::new(),
    };
    Ok(Request::Mask(MaskRequest {
        records: wire.records,
        rules,
        detect: wire.detect,
        encryption: EncryptionRequest {
            context: wire.context,
            bind_paths: wire.bind_paths,
        },
    }))
}

fn parse_rules(rules: &Map<String, Value>) -> Result<Vec<(JsonPath, Strategy)>, ApiError> {
    if rules.len() > MAX_RULES {
        return Err(ApiError::bad_request(
            "InvalidField",
            format!("at most {MAX_RULES} rules, got {}", rules.len()),
        )
        .with_field("rules"));
    }
    rules
        .iter()
        .map(|(path_text, strategy)| {
            let field = format!("rules.{}", truncate(path_text, 128));
            let path = JsonPath::parse(path_text).map_err(|e| {
                ApiError::bad_request("InvalidRule", e.to_string()).with_field(field.clone())
            })?;
            let strategy = strategy.as_str().and_then(Strategy::parse).ok_or_else(|| {
                ApiError::bad_request(
                    "InvalidRule",
                    format!("the strategy must be one of: {}", Strategy::NAMES),
                )
                .with_field(field.clone())
            })?;
            Ok((path, strategy))
        })
        .collect()
}

/// A validated request whose records stay as the caller's JSON text (an array), to be masked as
/// a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestText<'a> {
    SampleUsers,
    Mask(MaskText<'a>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaskText<'a> {
    /// The `records` array's JSON text.
    pub records: &'a str,
    pub rules: Vec<(JsonPath, Strategy)>,
    pub detect: bool,
    pub encryption: EncryptionRequest,
    /// Whether the records' end is a guess (see [`RecordsEnd::FromBack`]): if masking them fails,
    /// the request is read again with [`RecordsEnd::Scanned`] before any error is answered.
    pub records_end_guessed: bool,
}

/// How [`parse_text_with`] finds where the records array ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsEnd {
    /// From the members after it, read backward from the request's end, without a pass over
    /// the array: checked, or else a guess the masker checks (it reads the array up to there
    /// and refuses anything after its end).
    FromBack,
    /// By a pass over the array, counting brackets.
    Scanned,
}

impl MaskText<'_> {
    pub fn uses_tokens(&self) -> bool {
        self.rules.iter().any(|(_, s)| *s == Strategy::Token)
    }

    /// The paths of the `encrypt` rules.
    pub fn encrypting(&self) -> Vec<&JsonPath> {
        self.rules
            .iter()
            .filter(|(_, s)| *s == Strategy::Encrypt)
            .map(|(path, _)| path)
            .collect()
    }
}

/// Validates a request given as JSON text (an HTTP body, or a direct invocation's event) without
/// building its records: the same checks and the same errors as [`parse`]. `records` is measured
/// by its JSON text without insignificant whitespace.
///
/// The records' text may be unchecked (unless rules need AWS keys): whoever reads them answers
/// an error there with [`check_json`]'s first, so that text that is not JSON gets the same 400
/// wherever it fails.
pub fn parse_text(text: &str, max_bytes: usize, direct: bool) -> Result<RequestText<'_>, ApiError> {
    parse_text_with(text, max_bytes, direct, RecordsEnd::FromBack)
}

/// [`parse_text`], finding the records' end as `how` says. Its errors are never a guess's: a
/// request refused with a guessed end is read again with the end scanned.
pub fn parse_text_with(
    text: &str,
    max_bytes: usize,
    direct: bool,
    how: RecordsEnd,
) -> Result<RequestText<'_>, ApiError> {
    if text.trim().is_empty() {
        return Ok(RequestText::SampleUsers);
    }
    if !text.trim_start().starts_with('{') {
        check_json(text, direct)?;
        return Err(ApiError::bad_request(
            "InvalidBody",
            format!(
                "the request body must be a JSON object, got a {}",
                secure_lambda::envelope::kind_of_text(text)
            ),
        )
        .with_field("body"));
    }
    // Most of a request is its records, which the masker reads anyway: the members are found
    // without a parser's pass over them, every member but the records array is read here, and
    // the records are checked as they are masked. Where that reader gives up, serde_json reads
    // the text whole, as it does for every error (see `check_json`).
    let found = match how {
        RecordsEnd::FromBack => secure_lambda::envelope::object_members_around(text, "records"),
        RecordsEnd::Scanned => secure_lambda::envelope::object_members(text).map(|m| (m, false)),
    };
    let Some((members, guessed)) = found else {
        return read_members(text, max_bytes, direct);
    };
    let scanned = || parse_text_with(text, max_bytes, direct, RecordsEnd::Scanned);
    let members: BTreeMap<Cow<'_, str>, &str> = members
        .into_iter()
        .map(|(name, value)| (Cow::Owned(name), value))
        .collect();
    let mut request = match mask_request(&members, max_bytes, direct) {
        Ok(request) => request,
        Err(_) if guessed => return scanned(),
        Err(error) => return Err(check_json(text, direct).err().unwrap_or(error)),
    };
    if let RequestText::Mask(request) = &mut request {
        // Fetching the token key or data keys for records that are not JSON would be an AWS
        // call on a request refused anyway: such requests are read whole first, and their
        // records' end is never a guess (a second masking would fetch the keys again).
        if request.uses_tokens() || !request.encrypting().is_empty() {
            if guessed {
                return scanned();
            }
            check_json(text, direct)?;
        }
        request.records_end_guessed = guessed;
    }
    Ok(request)
}

/// [`parse_text`] with serde_json reading the whole text (records included) first.
fn read_members(text: &str, max_bytes: usize, direct: bool) -> Result<RequestText<'_>, ApiError> {
    let members: Members<'_> =
        serde_json::from_str(text).map_err(|e| not_json(direct, e.line(), e.column()))?;
    let members = members
        .into_iter()
        .map(|(name, raw)| (name, raw.get()))
        .collect();
    mask_request(&members, max_bytes, direct)
}

/// An object request as serde_json reads it: each member's name and its (checked) JSON text.
type Members<'t> = BTreeMap<Cow<'t, str>, &'t RawValue>;

/// The 400 of JSON's reader for text that is not JSON: the error a request gets when any of it
/// is not JSON, whatever else is wrong with it, as if it were read whole before anything else.
pub fn check_json(text: &str, direct: bool) -> Result<(), ApiError> {
    let read = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Members<'_>>(text).map(drop)
    } else {
        serde_json::from_str::<serde::de::IgnoredAny>(text).map(drop)
    };
    read.map_err(|e| not_json(direct, e.line(), e.column()))
}

/// The request from its members' texts: every member read but `records`, whose text is kept.
fn mask_request<'t>(
    members: &BTreeMap<Cow<'_, str>, &'t str>,
    max_bytes: usize,
    direct: bool,
) -> Result<RequestText<'t>, ApiError> {
    let invalid_json = |e: serde_json::Error| not_json(direct, e.line(), e.column());
    if members.is_empty() {
        return Ok(RequestText::SampleUsers);
    }
    // The members as `parse` sees them, with `records` (and any unknown member) replaced by an
    // empty value of the same kind: the errors are `parse`'s, without building the records.
    let mut payload = Map::new();
    let mut records = None;
    for (name, raw) in members {
        let raw: &'t str = raw;
        let value = match name.as_ref() {
            "rules" | "detect" | "context" | "bindPaths" => {
                serde_json::from_str(raw).map_err(invalid_json)?
            }
            // Not an array: read, so that what JSON refuses (`1e400`) is refused as before.
            "records" if !raw.starts_with('[') => {
                serde_json::from_str(raw).map_err(invalid_json)?
            }
            other => {
                if other == "records" {
                    records = Some(raw);
                }
                empty_of_kind(raw)
            }
        };
        payload.insert(name.clone().into_owned(), value);
    }
    let wire: WireRequest = request::parse(payload)?;
    let records = records.unwrap_or("[]");
    if compact_len_exceeds(records, max_bytes) {
        return Err(too_large(max_bytes).with_field("records"));
    }
    let rules = match &wire.rules {
        Some(rules) => parse_rules(rules)?,
        None => Vec::new(),
    };
    Ok(RequestText::Mask(MaskText {
        records,
        rules,
        detect: wire.detect,
        encryption: EncryptionRequest {
            context: wire.context,
            bind_paths: wire.bind_paths,
        },
        records_end_guessed: false,
    }))
}

/// Most paths one decrypt request names.
pub const MAX_FIELDS: usize = MAX_RULES;

/// A validated decrypt request.
#[derive(Debug, Clone, PartialEq)]
pub struct DecryptRequest {
    pub records: Vec<Value>,
    pub fields: Vec<JsonPath>,
    pub encryption: EncryptionRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDecrypt {
    records: Vec<Value>,
    fields: Vec<String>,
    #[serde(default)]
    context: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "bindPaths")]
    bind_paths: bool,
}

/// Validates a decrypt request given as JSON text (an HTTP body, or a direct invocation's
/// event). `records` is bounded by `max_bytes` as in [`parse_text`].
pub fn parse_decrypt(
    text: &str,
    max_bytes: usize,
    direct: bool,
) -> Result<DecryptRequest, ApiError> {
    let invalid_json = |e: serde_json::Error| not_json(direct, e.line(), e.column());
    let value: Value = serde_json::from_str(text).map_err(invalid_json)?;
    let Value::Object(payload) = value else {
        return Err(ApiError::bad_request(
            "InvalidBody",
            format!(
                "the request must be a JSON object, got a {}",
                secure_lambda::envelope::kind_of_text(text)
            ),
        )
        .with_field("body"));
    };
    let wire: WireDecrypt = request::parse(payload)?;
    if serialized_len_exceeds(&wire.records, max_bytes) {
        return Err(too_large(max_bytes).with_field("records"));
    }
    if wire.fields.is_empty() || wire.fields.len() > MAX_FIELDS {
        return Err(ApiError::bad_request(
            "InvalidField",
            format!(
                "name 1 to {MAX_FIELDS} paths of encrypted values (`$` for records encrypted whole), got {}",
                wire.fields.len()
            ),
        )
        .with_field("fields"));
    }
    let fields = wire
        .fields
        .iter()
        .enumerate()
        .map(|(index, text)| {
            JsonPath::parse(text).map_err(|e| {
                ApiError::bad_request("InvalidField", e.to_string())
                    .with_field(format!("fields[{index}]"))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(DecryptRequest {
        records: wire.records,
        fields,
        encryption: EncryptionRequest {
            context: wire.context,
            bind_paths: wire.bind_paths,
        },
    })
}

/// The 400 for a request that is not JSON: the event's for a direct invocation, the body's for
/// an HTTP request.
pub fn not_json(direct: bool, line: usize, column: usize) -> ApiError {
    if direct {
        return ApiError::bad_request(
            "InvalidEvent",
            format!("the event is not valid JSON (line {line}, column {column})"),
        );
    }
    ApiError::bad_request(
        "InvalidBody",
        format!("the request body is not valid JSON (line {line}, column {column})"),
    )
    .with_field("body")
}

/// [`not_json`] for byte `at` of `text`.
pub fn not_json_at(direct: bool, text: &str, at: usize) -> ApiError {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    not_json(direct, line, column)
}

/// An empty JSON value of the kind `text` holds.
fn empty_of_kind(text: &str) -> Value {
    match secure_lambda::envelope::kind_of_text(text) {
        "object" => Value::Object(Map::new()),
        "array" => Value::Array(Vec::new()),
        "string" => Value::String(String::new()),
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        _ => Value::from(0),
    }
}

/// True when `text` (valid JSON) is longer than `limit` bytes without whitespace outside strings.
fn compact_len_exceeds(text: &str, limit: usize) -> bool {
    // Whitespace only makes text longer: text within the limit as it is needs no count.
    if text.len() <= limit {
        return false;
    }
    let mut len = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b.is_ascii_whitespace() {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        len += 1;
        if len > limit {
            return true;
        }
    }
    false
}

/// The error for a request over the size limit: 413, as the suite answers every too-large input.
pub fn too_large(max_bytes: usize) -> ApiError {
    ApiError::new(
        413,
        "PayloadTooLarge",
        format!("the request is larger than the limit of {max_bytes} bytes"),
    )
}

/// True when `value` serializes to more than `limit` bytes; stops writing once past it.
fn serialized_len_exceeds(value: &[Value], limit: usize) -> bool {
    struct Budget(usize);
    impl Write for Budget {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(bytes.len())
                .ok_or(std::io::ErrorKind::Other)?;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Budget(limit), value).is_err()
}

/// At most `max` characters of caller text, for messages.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(value: Value) -> Result<Request, ApiError> {
        let Value::Object(map) = value else {
            panic!("test input must be an object")
        };
        parse(map, 1024)
    }

    #[test]
    fn empty_request_is_the_sample() {
        assert_eq!(parse_json(json!({})).unwrap(), Request::SampleUsers);
    }

    #[test]
    fn records_rules_and_detect_are_read() {
        let Request::Mask(request) = parse_json(json!({
            "records": [{"email": "a@b.co"}, 7],
            "rules": {"$.email": "token", "$..card": "keep-last-4"},
            "detect": false
        }))
        .unwrap() else {
            panic!("expected a mask request")
        };
        assert_eq!(request.records.len(), 2);
        assert_eq!(request.rules.len(), 2);
        assert!(!request.detect);
        assert!(request.uses_tokens());
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            (json!({"record": []}), "UnknownField", "record"),
            (json!({"rules": {}}), "MissingField", "records"),
            (json!({"records": {"a": 1}}), "InvalidField", "records"),
            (
                json!({"records": [], "detect": "yes"}),
                "InvalidField",
                "detect",
            ),
            (
                json!({"records": [], "rules": ["$.a"]}),
                "InvalidField",
                "rules",
            ),
            (
                json!({"records": [], "rules": {"email": "email"}}),
                "InvalidRule",
                "rules.email",
            ),
            (
                json!({"records": [], "rules": {"$.a": "blur"}}),
                "InvalidRule",
                "rules.$.a",
            ),
            (
                json!({"records": [], "rules": {"$.a": 3}}),
                "InvalidRule",
                "rules.$.a",
            ),
            (
                json!({"records": ["x".repeat(2000)]}),
                "PayloadTooLarge",
                "records",
            ),
        ];
        for (input, code, field) in cases {
            let error = parse_json(input.clone()).unwrap_err();
            let status = if code == "PayloadTooLarge" { 413 } else { 400 };
            assert_eq!(error.status, status, "{input}");
            assert_eq!(error.code, code, "{input}");
            assert_eq!(error.field.as_deref(), Some(field), "{input}");
        }
    }

    #[test]
    fn text_requests_are_checked_as_parsed_ones_are() {
        let cases = [
            r#"{"record": []}"#,
            r#"{"rules": {}}"#,
            r#"{"records": {"a": 1}}"#,
            r#"{"records": [], "detect": "yes"}"#,
            r#"{"records": [], "rules": ["$.a"]}"#,
            r#"{"records": [], "rules": {"email": "email"}}"#,
            r#"{"records": [], "rules": {"$.a": "blur"}}"#,
        ];
        for text in cases {
            let Value::Object(map) = serde_json::from_str(text).unwrap() else {
                panic!("an object")
            };
            assert_eq!(
                parse_text(text, 1024, false).unwrap_err(),
                parse(map, 1024).unwrap_err(),
                "{text}"
            );
        }
        let big = format!(r#"{{"records": ["{}"]}}"#, "x".repeat(2000));
        assert_eq!(parse_text(&big, 1024, false).unwrap_err().status, 413);
        assert_eq!(
            parse_text(" ", 1024, false).unwrap(),
            RequestText::SampleUsers
        );
        assert_eq!(
            parse_text("{ }", 1024, false).unwrap(),
            RequestText::SampleUsers
        );
        assert_eq!(
            parse_text("[1]", 1024, false).unwrap_err().code,
            "InvalidBody"
        );
        let Ok(RequestText::Mask(request)) = parse_text(
            r#"{"detect": false, "records": [ {"a": 1} ], "rules": {"$.a": "token"}}"#,
            1024,
            false,
        ) else {
            panic!("a mask request")
        };
        assert_eq!(request.records, r#"[ {"a": 1} ]"#);
        assert!(!request.detect);
        assert!(request.uses_tokens());
        let err = parse_text(r#"{"records": 1e400}"#, 1024, false).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.field.as_deref()),
            ("InvalidBody", Some("body"))
        );
        let err = parse_text(r#"{"records": 1, "detect": 1e400}"#, 1024, true).unwrap_err();
        assert_eq!((err.code.as_str(), err.field), ("InvalidEvent", None));
        assert!(not_json_at(true, "{\n  x", 4)
            .message
            .contains("line 2, column 3"));
        assert!(!compact_len_exceeds(r#"[ "a b" ]"#, 7));
        assert!(compact_len_exceeds(r#"[ "a b" ]"#, 6));
    }

    #[test]
    fn size_is_measured_exactly() {
        let records = vec![json!("abc")]; // `["abc"]` = 7 bytes
        assert!(!serialized_len_exceeds(&records, 7));
        assert!(serialized_len_exceeds(&records, 6));
    }
}
