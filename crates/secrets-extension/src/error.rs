//! Error responses. By default they are AWS's: HTTP 400 and one generic text for every failure
//! (clients written against AWS's layer retry on 400 and match that text). With
//! `PARAMETERS_SECRETS_EXTENSION_DETAILED_ERRORS=true` they carry the upstream error code in
//! `{"__type","message"}` with an honest status. Messages name the secret or parameter, never
//! a value.

use serde_json::json;

/// AWS's body for any failed lookup.
pub const GENERIC_BODY: &str = "an unexpected error occurred while executing request";

/// What went wrong, as far as the caller needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The query could not be understood; the message names the field.
    BadRequest(String),
    NotFound(String),
    AccessDenied(String),
    /// AWS throttled, timed out or failed and no cached value could stand in.
    Unavailable(String),
    Internal(String),
}

/// A response: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Whether errors carry details (the opt-in) or AWS's generic text (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    Generic,
    Detailed,
}

impl ErrorStyle {
    /// Reads `PARAMETERS_SECRETS_EXTENSION_DETAILED_ERRORS` (`true`/`false`, default false).
    pub fn from_value(value: Option<&str>) -> Result<Self, crate::config::ConfigError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::Generic),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Self::Generic),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Self::Detailed),
            Some(_) => Err(crate::config::ConfigError {
                variable: "PARAMETERS_SECRETS_EXTENSION_DETAILED_ERRORS",
                expected: "TRUE or FALSE",
            }),
        }
    }

    /// The response for `failure`.
    pub fn respond(self, failure: &Failure) -> ErrorResponse {
        match self {
            Self::Generic => ErrorResponse {
                status: 400,
                content_type: "text/plain",
                body: GENERIC_BODY.to_owned(),
            },
            Self::Detailed => {
                let (status, kind, message) = match failure {
                    Failure::BadRequest(m) => (400, "ValidationException", m),
                    Failure::NotFound(m) => (404, "ResourceNotFoundException", m),
                    Failure::AccessDenied(m) => (403, "AccessDeniedException", m),
                    Failure::Unavailable(m) => (503, "ServiceUnavailable", m),
                    Failure::Internal(m) => (500, "InternalFailure", m),
                };
                ErrorResponse {
                    status,
                    content_type: "application/json",
                    body: json!({ "__type": kind, "message": message }).to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_aws_generic_400_for_everything() {
        let style = ErrorStyle::from_value(None).unwrap();
        for f in [
            Failure::NotFound("secret `x` was not found".into()),
            Failure::AccessDenied("denied".into()),
            Failure::Unavailable("throttled".into()),
        ] {
            let r = style.respond(&f);
            assert_eq!(
                (r.status, r.content_type, r.body.as_str()),
                (400, "text/plain", GENERIC_BODY)
            );
        }
    }

    #[test]
    fn detailed_errors_have_honest_status_and_escaped_json() {
        let style = ErrorStyle::from_value(Some("TRUE")).unwrap();
        let r = style.respond(&Failure::NotFound("secret `a\"b` was not found".into()));
        assert_eq!(r.status, 404);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["__type"], "ResourceNotFoundException");
        assert_eq!(v["message"], "secret `a\"b` was not found");
        assert_eq!(
            style.respond(&Failure::AccessDenied(String::new())).status,
            403
        );
        assert_eq!(
            style.respond(&Failure::Unavailable(String::new())).status,
            503
        );
        assert_eq!(
            style
                .respond(&Failure::BadRequest("missing query parameter: name".into()))
                .status,
            400
        );
    }

    #[test]
    fn bad_opt_in_value_names_the_variable() {
        let e = ErrorStyle::from_value(Some("1")).unwrap_err();
        assert_eq!(e.variable, "PARAMETERS_SECRETS_EXTENSION_DETAILED_ERRORS");
    }
}
