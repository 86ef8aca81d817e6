//! The one error body every function returns:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}` with a matching status code.

use serde::Serialize;

use crate::secrets::{SecretError, Transient};

/// An error as the caller sees it. Build it from a typed error at the edge of a handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Top-level fields added to the body next to `error` (e.g. the valid choices).
    #[serde(skip)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Names the input field the error is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the caller sent something wrong.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// Adds a top-level field to the body, next to `error`.
    pub fn with_extra(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The body: `{"error": {...}}`, plus any extra fields.
    pub fn body(&self) -> serde_json::Value {
        let mut body = self.extra.clone();
        body.insert(
            "error".into(),
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        );
        serde_json::Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A dependency's failure, as the caller of a function sees it: the function could not get what
/// it needs, so 502 (or 503/504 when AWS is throttling or slow). Never 4xx: the caller did
/// nothing wrong. The message names the secret or parameter, never its value.
impl From<&SecretError> for ApiError {
    fn from(error: &SecretError) -> Self {
        let (status, code) = match error {
            SecretError::NotFound { what, .. } => (
                502,
                match what {
                    crate::secrets::Resource::Secret => "SecretNotFound",
                    _ => "ParameterNotFound",
                },
            ),
            SecretError::AccessDenied { .. } => (502, "DependencyAccessDenied"),
            SecretError::Unavailable {
                kind: Transient::Timeout,
                ..
            } => (504, "DependencyTimeout"),
            SecretError::Unavailable { .. } => (503, "DependencyUnavailable"),
            SecretError::Failed { .. } => (502, "DependencyFailed"),
            SecretError::Malformed { .. } | SecretError::MissingKey { .. } => {
                (502, "MalformedSecret")
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl From<SecretError> for ApiError {
    fn from(error: SecretError) -> Self {
        ApiError::from(&error)
    }
}
