//! The ports through which the cache reaches a store of secrets or parameters, and the errors
//! they report.
//!
//! Adapters: [`super::aws`] (the AWS SDK) and [`super::memory`] (in memory, for tests).

use std::future::Future;

use super::value::{Parameter, SecretRequest, SecretVersion};
pub use crate::aws::Transient;

/// Why a read failed. Messages name the secret or parameter, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{what} `{name}` was not found")]
    NotFound { what: Resource, name: String },
    #[error("access to {what} `{name}` was denied: {detail}")]
    AccessDenied {
        what: Resource,
        name: String,
        detail: String,
    },
    #[error("{what} `{name}` is temporarily unavailable ({kind}): {detail}")]
    Unavailable {
        what: Resource,
        name: String,
        kind: Transient,
        detail: String,
    },
    #[error("{what} `{name}` could not be read: {detail}")]
    Failed {
        what: Resource,
        name: String,
        detail: String,
    },
    #[error("secret `{name}` {reason}")]
    Malformed { name: String, reason: String },
    #[error("secret `{name}` has no key `{key}`")]
    MissingKey { name: String, key: String },
}

/// The kind of store a failing read targeted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Secret,
    Parameter,
    ParameterPath,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Secret => "secret",
            Resource::Parameter => "parameter",
            Resource::ParameterPath => "parameter path",
        })
    }
}

impl SecretError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, SecretError::NotFound { .. })
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(self, SecretError::AccessDenied { .. })
    }

    pub fn transient(&self) -> Option<Transient> {
        match self {
            SecretError::Unavailable { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Reads secret versions (Secrets Manager `GetSecretValue`).
pub trait SecretSource: Send + Sync {
    fn get_secret(
        &self,
        request: &SecretRequest,
    ) -> impl Future<Output = Result<SecretVersion, SecretError>> + Send;
}

/// What one `GetParameters` call returned: the parameters found and the names it did not know.
#[derive(Debug, Default)]
pub struct ParameterBatch {
    pub found: Vec<Parameter>,
    pub invalid: Vec<String>,
}

/// The most names one `GetParameters` call accepts.
pub const GET_PARAMETERS_MAX_NAMES: usize = 10;

/// Reads Parameter Store parameters, always with decryption.
pub trait ParameterSource: Send + Sync {
    fn get_parameter(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Parameter, SecretError>> + Send;

    /// One `GetParameters` call; callers pass at most [`GET_PARAMETERS_MAX_NAMES`] names.
    fn get_parameters(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<ParameterBatch, SecretError>> + Send;

    /// Every parameter under `path`, following every page.
    fn get_parameters_by_path(
        &self,
        path: &str,
        recursive: bool,
    ) -> impl Future<Output = Result<Vec<Parameter>, SecretError>> + Send;
}
