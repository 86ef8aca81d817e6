//! Requests as serde types: one parse for every function, naming the failing field by its path.
//!
//! A function declares what a caller may send as a `#[derive(Deserialize)]` type with
//! `#[serde(deny_unknown_fields)]`, and checks what spans fields (or depends on configuration) in
//! a `TryFrom` or a method after [`parse`]. Whatever goes wrong, the caller gets one 400 body:
//!
//! | code | when | `field` |
//! | --- | --- | --- |
//! | `UnknownField` | a field the type does not have | its path (`rules.extra`) |
//! | `MissingField` | a required field is absent | its path |
//! | `InvalidField` | a value of the wrong type or out of range | its path (`records[3]`) |
//!
//! Messages never repeat a caller's value (it may be a secret sent in the wrong place); names of
//! unknown fields are cut to [`MAX_NAME_IN_MESSAGE`] characters.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The most characters of a caller's field name an error repeats.
pub const MAX_NAME_IN_MESSAGE: usize = 64;

/// `payload` as a `T`, or the 400 that names what is wrong and where. A request is always an
/// object (serde would also build a struct from an array of its fields, in order).
pub fn parse<T: DeserializeOwned>(payload: Map<String, Value>) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Object(payload)).map_err(|error| {
        let path = error.path().to_string();
        rejection(&path, &error.inner().to_string())
    })
}

/// The 400 for serde's `message` about the value at `path` (`.` is the payload itself).
fn rejection(path: &str, message: &str) -> ApiError {
    let at = |name: &str| -> String {
        let name = cut(name);
        match path {
            "." | "" => name,
            parent => format!("{parent}.{name}"),
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `<caller's name>`, expected one of `a`, `b`": the name ends at the last
        // "`, expected" (a name may itself hold backticks) or, with no list, at the last backtick.
        let (name, expected) = match rest.rfind("`, expected") {
            Some(end) => (&rest[..end], Some(&rest[end + 2..])),
            None => (rest.trim_end_matches('`'), None),
        };
        // The path already ends with the unknown name: keep its parent, cut the name.
        let field = match path.strip_suffix(name) {
            Some(parent) => format!("{parent}{}", cut(name)),
            None => at(name),
        };
        let message = match expected {
            Some(expected) => format!("unknown field `{}`; {expected}", cut(name)),
            None => format!("unknown field `{}`", cut(name)),
        };
        return ApiError::bad_request("UnknownField", message).with_field(field);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        let field = at(name);
        return ApiError::bad_request("MissingField", format!("`{field}` is required"))
            .with_field(field);
    }
    let field = match path {
        "." | "" => "(request)".to_owned(),
        path => path.to_owned(),
    };
    let message = match shape_mismatch(message) {
        Some((got, expected)) => {
            // The `http` crate's header map says only "lots of things can go wrong with HeaderMap".
            let expected = if expected.contains("HeaderMap") {
                "an object of header names and values without control characters (no CR or LF)"
            } else {
                expected
            };
            format!("`{field}` must be {expected}, got {got}")
        }
        // Our own checks (`de::Error::custom`) and serde's length errors repeat no caller value.
        None if !message.contains('"') && !message.contains('`') => {
            format!("`{field}`: {message}")
        }
        None => format!("`{field}` is not valid here"),
    };
    ApiError::bad_request("InvalidField", message).with_field(field)
}

/// Splits serde's "invalid type: <what was found>, expected <what the type wants>" (or "invalid
/// value: ...") into the kind of JSON found (never the value itself) and the expectation.
fn shape_mismatch(message: &str) -> Option<(&'static str, &str)> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let expected = &rest[rest.rfind(", expected ")? + ", expected ".len()..];
    let got = match rest.split([' ', ',']).next().unwrap_or_default() {
        "string" | "character" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "an object",
        "unit" | "null" => "null",
        _ => "another kind of value",
    };
    Some((got, expected))
}

/// At most [`MAX_NAME_IN_MESSAGE`] characters of caller text.
fn cut(text: &str) -> String {
    text.chars().take(MAX_NAME_IN_MESSAGE).collect()
}

/// For `#[serde(default, deserialize_with = "number_or_string")]` on an `Option<T>` field: a
/// number, a string holding one (the labs send `"3"`), or null. What `T` cannot hold (a negative
/// count, a fraction where a whole number is wanted) is refused by `T`'s own parse.
pub fn number_or_string<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Number(serde_json::Number),
        Text(String),
    }
    let text = match Option::<Lenient>::deserialize(deserializer) {
        Ok(None) => return Ok(None),
        Ok(Some(Lenient::Number(number))) => number.to_string(),
        Ok(Some(Lenient::Text(text))) => text,
        Err(_) => {
            return Err(serde::de::Error::custom(
                "must be a number or a string holding one",
            ))
        }
    };
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom("must be a number or a string holding one"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The fields are only there to be parsed.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Sample {
        name: String,
        #[serde(default)]
        flag: bool,
        #[serde(default, deserialize_with = "number_or_string")]
        count: Option<u32>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        items: Vec<u8>,
    }

    fn object(payload: Value) -> Map<String, Value> {
        match payload {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn fails(payload: Value) -> ApiError {
        match parse::<Sample>(object(payload)) {
            Ok(sample) => panic!("accepted: {sample:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn numbers_may_arrive_as_strings() {
        for count in [json!(3), json!("3"), json!(" 3 ")] {
            let sample: Sample = parse(object(json!({"name": "a", "count": count}))).unwrap();
            assert_eq!(sample.count, Some(3));
        }
        let sample: Sample = parse(object(json!({"name": "a", "count": null}))).unwrap();
        assert_eq!(sample.count, None);
        for bad in [json!(-1), json!("x"), json!(1.5), json!([3]), json!(true)] {
            let error = fails(json!({"name": "a", "count": bad}));
            assert_eq!(
                (error.code.as_str(), error.field.as_deref()),
                ("InvalidField", Some("count")),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_name_the_field_by_its_path() {
        let cases = [
            (json!({}), "MissingField", "name"),
            (json!({"name": "a", "nmae": 1}), "UnknownField", "nmae"),
            (json!({"name": 5}), "InvalidField", "name"),
            (json!({"name": "a", "flag": "yes"}), "InvalidField", "flag"),
            (
                json!({"name": "a", "inner": {"items": [1, 300]}}),
                "InvalidField",
                "inner.items[1]",
            ),
            (
                json!({"name": "a", "inner": {}}),
                "MissingField",
                "inner.items",
            ),
            (
                json!({"name": "a", "inner": {"items": [], "x": 1}}),
                "UnknownField",
                "inner.x",
            ),
        ];
        for (payload, code, field) in cases {
            let error = fails(payload.clone());
            assert_eq!(error.status, 400, "{payload}");
            assert_eq!(error.code, code, "{payload}: {}", error.message);
            assert_eq!(error.field.as_deref(), Some(field), "{payload}");
        }
    }

    #[test]
    fn messages_never_repeat_a_callers_value() {
        let secret = "hunter2-very-secret";
        for payload in [
            json!({"name": "a", "flag": secret}),
            json!({"name": ["x", secret]}),
            json!({"name": "a", "count": secret}),
            json!({"name": "a", "inner": {"items": secret}}),
        ] {
            let error = fails(payload.clone());
            assert!(
                !error.message.contains(secret),
                "{payload}: {}",
                error.message
            );
            assert!(!error.body().to_string().contains(secret));
        }
        // A long or hostile unknown name is cut.
        let long = "k".repeat(500);
        let error = fails(json!({"name": "a", long.clone(): 1}));
        assert_eq!(error.code, "UnknownField");
        assert!(error.message.len() < 300, "{}", error.message);
        assert_eq!(
            error.field.as_deref().map(str::len),
            Some(MAX_NAME_IN_MESSAGE)
        );
        let error = fails(json!({"name": "a", "a`, expected b": 1}));
        assert_eq!(error.field.as_deref(), Some("a`, expected b"));
    }
}
