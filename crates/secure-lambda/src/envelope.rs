//! Events in, responses out: the two invocation shapes every function accepts.
//!
//! - a direct invocation (`aws lambda invoke`, the lab events): a plain JSON object, answered with
//!   the lab's envelope `{"statusCode", "headers", "body": "<JSON text>"}`;
//! - an API Gateway HTTP API or function-URL event (payload v2, recognised by
//!   `requestContext.http`), answered with an `ApiGatewayV2httpResponse`.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{header::CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::secrets::value::json_kind;

/// The deepest nesting an event may have: far more than any request of the suite, and less than
/// the JSON parser's own limit, so that a deeper payload is a 400 like any other bad input.
pub const MAX_EVENT_DEPTH: usize = 64;

/// An event's raw JSON text, as the runtime hands it over, parsed; too deep or not JSON is a 400.
pub fn parse_event(text: &str) -> Result<Value, ApiError> {
    if nesting_exceeds(text.as_bytes(), MAX_EVENT_DEPTH) {
        return Err(ApiError::bad_request(
            "TooDeep",
            format!("the event is nested deeper than {MAX_EVENT_DEPTH} levels"),
        ));
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

/// True when brackets outside strings nest deeper than `max` (one pass, no recursion).
fn nesting_exceeds(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
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

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_http(map: Map<String, Value>) -> Result<HttpRequest, ApiError> {
    let context = map.get("requestContext");
    let method = context
        .and_then(|c| c.pointer("/http/method"))
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let path = map
        .get("rawPath")
        .and_then(Value::as_str)
        .or_else(|| {
            context
                .and_then(|c| c.pointer("/http/path"))
                .and_then(Value::as_str)
        })
        .unwrap_or("/")
        .to_owned();
    // Query parameter names are case-sensitive; only header names are folded.
    let query = map
        .get("queryStringParameters")
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let headers = string_map(map.get("headers"));
    let base64 = map
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match map.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if base64 => {
            let bytes = aws_smithy_types::base64::decode(text).map_err(|_| {
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
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(
                "InvalidEvent",
                format!("`body` must be a string, got a {}", json_kind(other)),
            )
            .with_field("body"))
        }
    };
    let jwt_claims = context
        .and_then(|c| c.pointer("/authorizer/jwt/claims"))
        .and_then(Value::as_object)
        .cloned();
    Ok(HttpRequest {
        method,
        path,
        query,
        headers,
        body,
        jwt_claims,
    })
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
    let (status, body) = match dispatch(invocation).await {
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
}
