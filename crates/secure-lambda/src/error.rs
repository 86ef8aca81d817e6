//! The one error body every function returns:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}` with a matching status code.

use serde::Serialize;

use crate::aws::{AwsFailure, Dependency, FailureKind, Transient};
use crate::crypto::{CryptoError, KeyFailure};
use crate::kms_env::EnvDecryptError;
use crate::secrets::{Resource, SecretError};

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

impl ApiError {
    /// The one mapping from an AWS failure (any service) to what a caller sees: throttled, 5xx,
    /// refused or reset is 503 `DependencyUnavailable`; timed out is 504 `DependencyTimeout`;
    /// not found, denied or anything else is 502. The message names the dependency and the AWS
    /// error code, never AWS's message (it can carry account ids and ARNs): that goes to the
    /// log, which the redacting writer guards.
    pub fn dependency(dependency: Dependency, failure: &AwsFailure) -> Self {
        tracing::warn!(
            dependency = dependency.name(),
            code = failure.summary(),
            detail = %failure.detail,
            "dependency failed"
        );
        let summary = failure.summary();
        let (status, code, message) = match failure.kind {
            FailureKind::Transient(Transient::Timeout) => (
                504,
                "DependencyTimeout",
                format!("{dependency} did not answer in time"),
            ),
            FailureKind::Transient(Transient::Throttled) => (
                503,
                "DependencyUnavailable",
                format!("{dependency} is throttling requests ({summary}); retry later"),
            ),
            FailureKind::Transient(_) => (
                503,
                "DependencyUnavailable",
                format!("{dependency} is unavailable ({summary}); retry later"),
            ),
            FailureKind::NotFound => (
                502,
                "DependencyNotFound",
                format!("{dependency} did not find what the function needs ({summary})"),
            ),
            FailureKind::AccessDenied => (
                502,
                "DependencyAccessDenied",
                format!("{dependency} denied the function access ({summary})"),
            ),
            FailureKind::Other => (
                502,
                "DependencyFailed",
                format!("{dependency} failed ({summary})"),
            ),
        };
        ApiError::new(status, code, message)
    }
}

/// The AWS error code at the start of a failure's detail (`Code: message`), if there is one.
fn aws_code(detail: &str) -> Option<&str> {
    let code = detail.split(':').next()?.trim();
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
}

/// A secret or parameter read's failure, as the caller of a function sees it: the function could
/// not get what it needs, so 502 (or 503/504 when AWS is throttling or slow), never 4xx (the
/// caller did nothing wrong). The message names the secret or parameter and the AWS error code,
/// never the value or AWS's message.
impl From<&SecretError> for ApiError {
    fn from(error: &SecretError) -> Self {
        let dependency = |what: &Resource| match what {
            Resource::Secret => Dependency::SecretsManager,
            Resource::Parameter | Resource::ParameterPath => Dependency::ParameterStore,
        };
        let failure = |kind: FailureKind, detail: &str| AwsFailure {
            kind,
            code: aws_code(detail).map(str::to_owned),
            detail: detail.to_owned(),
        };
        match error {
            SecretError::NotFound { what, name } => ApiError::new(
                502,
                match what {
                    Resource::Secret => "SecretNotFound",
                    _ => "ParameterNotFound",
                },
                format!("{what} `{name}` was not found in {}", dependency(what)),
            ),
            SecretError::AccessDenied { what, name, detail } => {
                let mut api = ApiError::dependency(
                    dependency(what),
                    &failure(FailureKind::AccessDenied, detail),
                );
                api.message = format!(
                    "access to {what} `{name}` was denied ({})",
                    api_code(detail)
                );
                api
            }
            SecretError::Unavailable {
                what,
                name,
                kind,
                detail,
            } => {
                let mut api = ApiError::dependency(
                    dependency(what),
                    &failure(FailureKind::Transient(*kind), detail),
                );
                api.message = format!("{what} `{name}`: {}", api.message);
                api
            }
            SecretError::Failed { what, name, detail } => {
                let mut api =
                    ApiError::dependency(dependency(what), &failure(FailureKind::Other, detail));
                api.message = format!("{what} `{name}` could not be read ({})", api_code(detail));
                api
            }
            SecretError::Malformed { .. } | SecretError::MissingKey { .. } => {
                ApiError::new(502, "MalformedSecret", error.to_string())
            }
        }
    }
}

/// The code part of a detail for a message, or a neutral word when there is none.
fn api_code(detail: &str) -> &str {
    aws_code(detail).unwrap_or("no AWS error code")
}

/// What a caller sees when an encrypted variable cannot be read: the function's deployment is at
/// fault (500 for a missing variable), or KMS or the ciphertext is (502, 503/504 by the one
/// mapping of AWS failures). Messages name the variable and the AWS error code, never a value or
/// AWS's message.
impl From<&EnvDecryptError> for ApiError {
    fn from(error: &EnvDecryptError) -> Self {
        match error {
            EnvDecryptError::Missing { .. } => {
                ApiError::new(500, "EncryptedConfigMissing", error.to_string())
            }
            // These messages hold no AWS text: the variable, the context and what to do.
            EnvDecryptError::NotBase64 { .. }
            | EnvDecryptError::NotText { .. }
            | EnvDecryptError::WrongContext { .. } => {
                ApiError::new(502, "EncryptedConfigRejected", error.to_string())
            }
            EnvDecryptError::AccessDenied { variable, .. } => ApiError::new(
                502,
                "DependencyAccessDenied",
                format!("KMS denied Decrypt of environment variable {variable}"),
            ),
            EnvDecryptError::KeyDisabled { variable }
            | EnvDecryptError::KeyUnusable { variable, .. } => ApiError::new(
                502,
                "KmsKeyUnusable",
                format!("the KMS key of environment variable {variable} cannot be used"),
            ),
            EnvDecryptError::Failed { variable, failure } => {
                let mut api = ApiError::dependency(Dependency::Kms, failure);
                api.message = format!("environment variable {variable}: {}", api.message);
                api
            }
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(error: SecretError) -> Self {
        ApiError::from(&error)
    }
}

/// An envelope-encryption failure as a caller sees it. The caller's own input (a value that is
/// not a message of this key, tampered, or under another context) is 4xx, a context that does
/// not match is 403; KMS failures follow [`ApiError::dependency`], except a denial, which under
/// key policies conditioned on the encryption context is a refusal of the caller's context
/// (403). Messages name the check that failed, never key material, plaintext or ciphertext.
impl From<&CryptoError> for ApiError {
    fn from(error: &CryptoError) -> Self {
        match error {
            CryptoError::ContextMismatch => {
                ApiError::new(403, "ContextMismatch", error.to_string())
            }
            CryptoError::InvalidKeyArn(_) => {
                ApiError::new(500, "EncryptionKeyMisconfigured", error.to_string())
            }
            CryptoError::InvalidContextKey { .. } | CryptoError::ContextTooLarge => {
                ApiError::bad_request("InvalidContext", error.to_string())
            }
            CryptoError::UnbindablePath(_) => {
                ApiError::bad_request("UnbindablePath", error.to_string()).with_field("bindPaths")
            }
            CryptoError::FieldTooLarge | CryptoError::PlaintextTooLarge => {
                ApiError::new(413, "ValueTooLarge", error.to_string())
            }
            CryptoError::NoConfiguredKey => ApiError::bad_request(
                "ForeignKey",
                "the value was not encrypted under this function's KMS key",
            ),
            CryptoError::NotAMessage(_)
            | CryptoError::UnsupportedVersion { .. }
            | CryptoError::NonCommittingSuite { .. }
            | CryptoError::UnknownSuite { .. }
            | CryptoError::Truncated { .. }
            | CryptoError::Malformed { .. }
            | CryptoError::TooManyDataKeys { .. }
            | CryptoError::CommitmentMismatch
            | CryptoError::HeaderAuthentication
            | CryptoError::FrameAuthentication { .. }
            | CryptoError::BadSignature
            | CryptoError::NotJson => ApiError::bad_request("InvalidCiphertext", error.to_string()),
            CryptoError::Kms { operation, failure } => match failure {
                KeyFailure::InvalidCiphertext => ApiError::bad_request(
                    "InvalidCiphertext",
                    "KMS refused the value's encrypted data key",
                ),
                KeyFailure::AccessDenied(detail) => {
                    tracing::warn!(operation, detail = %detail, "KMS denied a data key");
                    ApiError::new(
                        403,
                        "KeyAccessDenied",
                        format!(
                            "KMS refused to {operation} a data key under this encryption context \
                         (the key policy and the function's role allow each tenant's context only)"
                        ),
                    )
                }
                KeyFailure::KeyDisabled | KeyFailure::KeyUnusable(_) => ApiError::new(
                    502,
                    "KmsKeyUnusable",
                    "the KMS key of reversible masking cannot be used",
                ),
                KeyFailure::BadResponse(what) => {
                    ApiError::new(502, "DependencyFailed", format!("KMS: {what}"))
                }
                KeyFailure::Other(failure) => ApiError::dependency(Dependency::Kms, failure),
            },
            CryptoError::Primitive(_) => ApiError::new(500, "EncryptionFailed", error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: FailureKind, code: Option<&str>) -> AwsFailure {
        AwsFailure {
            kind,
            code: code.map(str::to_owned),
            detail: "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/x is not authorized".to_owned(),
        }
    }

    #[test]
    fn every_failure_maps_to_one_status_and_never_to_aws_text() {
        for (kind, status, code) in [
            (
                FailureKind::Transient(Transient::Timeout),
                504,
                "DependencyTimeout",
            ),
            (
                FailureKind::Transient(Transient::Throttled),
                503,
                "DependencyUnavailable",
            ),
            (
                FailureKind::Transient(Transient::ServerError),
                503,
                "DependencyUnavailable",
            ),
            (
                FailureKind::Transient(Transient::Network),
                503,
                "DependencyUnavailable",
            ),
            (FailureKind::NotFound, 502, "DependencyNotFound"),
            (FailureKind::AccessDenied, 502, "DependencyAccessDenied"),
            (FailureKind::Other, 502, "DependencyFailed"),
        ] {
            let error =
                ApiError::dependency(Dependency::Sts, &failure(kind.clone(), Some("SomeCode")));
            assert_eq!(
                (error.status, error.code.as_str()),
                (status, code),
                "{kind:?}"
            );
            assert!(error.message.contains("STS"), "{}", error.message);
            assert!(!error.message.contains("123456789012"), "{}", error.message);
            assert!(!error.message.contains("arn:"), "{}", error.message);
        }
    }

    #[test]
    fn secret_errors_name_the_resource_and_code_only() {
        let error = ApiError::from(&SecretError::AccessDenied {
            what: Resource::Secret,
            name: "prod/db".into(),
            detail: "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/x".into(),
        });
        assert_eq!(
            (error.status, error.code.as_str()),
            (502, "DependencyAccessDenied")
        );
        assert_eq!(
            error.message,
            "access to secret `prod/db` was denied (AccessDeniedException)"
        );
        let error = ApiError::from(&SecretError::Unavailable {
            what: Resource::Parameter,
            name: "/app/x".into(),
            kind: Transient::Timeout,
            detail: "timed out".into(),
        });
        assert_eq!(
            (error.status, error.code.as_str()),
            (504, "DependencyTimeout")
        );
    }

    /// A disabled KMS key (moto cannot disable one; AWS answers `DisabledException`) is a clear
    /// 502 naming the variable, not the key's ARN.
    #[test]
    fn a_disabled_key_is_a_clear_error() {
        let error = ApiError::from(&EnvDecryptError::KeyDisabled {
            variable: "USER_NAME".into(),
        });
        assert_eq!((error.status, error.code.as_str()), (502, "KmsKeyUnusable"));
        assert_eq!(
            error.message,
            "the KMS key of environment variable USER_NAME cannot be used"
        );
    }
}
