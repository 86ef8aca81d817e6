//! The shared library of the secure Lambda suite.
//!
//! - [`runtime`]: the Lambda runtime loop with per-invocation metrics;
//! - [`secrets`]: Secrets Manager and Parameter Store behind a per-environment cache, values held
//!   as secret types;
//! - [`envelope`]: the two invocation shapes (direct and HTTP) and the matching responses;
//! - [`error`]: the one error body every function returns;
//! - [`request`]: requests as serde types, one parse naming the failing field by its path;
//! - [`http`]: the HTTP client stack for non-AWS calls (hyper over rustls);
//! - [`idtoken`]: Cognito ID token verification (RS256, JWKS cached) where no authorizer ran;
//! - [`crypto`]: KMS envelope encryption in the AWS Encryption SDK message format (v2), as
//!   Powertools Data Masking writes and reads it;
//! - [`kms_env`]: KMS-encrypted environment variables (function-name encryption context);
//! - [`mask`]: PII and secret detection, masking (text and JSON), and the redacting log writer;
//! - [`config`]: configuration from environment variables, validated once;
//! - [`aws`]: SDK configuration with explicit timeouts, and SDK error classification;
//! - [`logging`]: JSON logs, every line through the redacting writer;
//! - [`telemetry`]: CloudWatch Embedded Metric Format, one builder;
//! - [`tenant`]: validated tenant and user ids, table keys, sealed pagination cursors.

pub mod aws;
pub mod backoff;
pub mod config;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod http;
pub mod idtoken;
pub mod kms_env;
pub mod logging;
pub mod mask;
pub mod request;
pub mod runtime;
mod runtime_api;
pub mod secrets;
pub mod telemetry;
pub mod tenant;

pub use error::ApiError;

/// The marker that stands where a secret value was removed from a response.
pub const REDACTED: &str = "[REDACTED]";
