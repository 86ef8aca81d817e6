//! What a caller may ask of `data-masking`, validated field by field.
//!
//! `{}` asks for the lab's sample users. Otherwise:
//! `{"records": [<any JSON>...], "rules": {"<JSONPath>": "<strategy>"}, "detect": true}`.
//! Rules are evaluated against each record (`$.email` is a record's `email`); `detect` (default
//! `true`) also masks whatever the detectors find outside the rules.

use std::io::Write;

use secure_lambda::mask::{JsonPath, Strategy};
use secure_lambda::{request, ApiError};
use serde::Deserialize;
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
    fn size_is_measured_exactly() {
        let records = vec![json!("abc")]; // `["abc"]` = 7 bytes
        assert!(!serialized_len_exceeds(&records, 7));
        assert!(serialized_len_exceeds(&records, 6));
    }
}
