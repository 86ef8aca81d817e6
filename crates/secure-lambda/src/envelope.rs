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
}
