//! AWS SDK set-up shared by every binary, and one classification of SDK errors.
//!
//! The same code serves a real account and the local stack: `AWS_ENDPOINT_URL` (read by the SDK
//! itself) is the only difference.

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::{env_parse, ConfigError};

/// Connect timeout of every AWS call: Lambda and the AWS endpoints share a region.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Budget of one attempt; the SDK's standard retry (3 attempts) runs inside the operation budget.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Budget of one operation, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);
/// Attempts per operation (the first and two retries), the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 3;
/// First retry delay; the SDK doubles it per retry and draws the delay uniformly below it (full
/// jitter), so two retries wait at most 1 s + 2 s, inside [`OPERATION_TIMEOUT`] for answers
/// that come back fast (throttling, 5xx).
pub const RETRY_INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// Timeouts and retries of every SDK client of a function. The defaults are the constants above;
/// `SDK_CONNECT_TIMEOUT_MS`, `SDK_ATTEMPT_TIMEOUT_MS`, `SDK_OPERATION_TIMEOUT_MS` and
/// `SDK_RETRY_INITIAL_BACKOFF_MS` override them (the fault-injection tests shrink them so that a
/// black-holed endpoint costs them a second, not eight), and `AWS_MAX_ATTEMPTS` is the SDK's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkBudget {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
    pub initial_backoff: Duration,
}

impl Default for SdkBudget {
    fn default() -> Self {
        Self {
            connect: CONNECT_TIMEOUT,
            attempt: ATTEMPT_TIMEOUT,
            operation: OPERATION_TIMEOUT,
            initial_backoff: RETRY_INITIAL_BACKOFF,
        }
    }
}

impl SdkBudget {
    /// The defaults, overridden by the `SDK_*_MS` variables; refuses a budget in which an
    /// attempt could outlast its operation.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let millis = |name: &str, default: Duration| {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            match env_parse::<u64>(name, default, "a whole number of milliseconds (e.g. 3000)")? {
                0 => Err(ConfigError::new(name, "must be more than 0")),
                ms => Ok(Duration::from_millis(ms)),
            }
        };
        let budget = Self {
            connect: millis("SDK_CONNECT_TIMEOUT_MS", defaults.connect)?,
            attempt: millis("SDK_ATTEMPT_TIMEOUT_MS", defaults.attempt)?,
            operation: millis("SDK_OPERATION_TIMEOUT_MS", defaults.operation)?,
            initial_backoff: millis("SDK_RETRY_INITIAL_BACKOFF_MS", defaults.initial_backoff)?,
        };
        if budget.attempt > budget.operation || budget.connect > budget.attempt {
            return Err(ConfigError::new(
                "SDK_OPERATION_TIMEOUT_MS",
                "must be at least SDK_ATTEMPT_TIMEOUT_MS, which must be at least SDK_CONNECT_TIMEOUT_MS",
            ));
        }
        Ok(budget)
    }

    /// The loader with these timeouts, the standard retry mode and the process's one HTTPS
    /// client ([`shared_https_client`]).
    pub fn loader(&self) -> ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(shared_https_client())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect)
                    .operation_attempt_timeout(self.attempt)
                    .operation_timeout(self.operation)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(self.initial_backoff),
            )
    }
}

/// The process's one HTTP client for the SDK ([`crate::http::SdkHttpClient`]). The first call
/// starts reading the system's root certificates on a thread of their own, so that the first
/// request finds them loaded.
///
/// Before it, every SDK client validated the SDK's default HTTPS client when it was built, which
/// built a throwaway TLS connector and parsed every root certificate: secure-config did so three
/// times before its first `GET /next` (found with `strace -r -f` and gdb under the `make bench`
/// harness), multi-tenant-query once more per tenant-scoped DynamoDB client.
pub fn shared_https_client() -> SharedHttpClient {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(crate::http::load_tls_in_background);
    crate::http::SdkHttpClient::shared()
}

/// The SDK configuration loader with the suite's default timeouts, for callers that adjust more.
pub fn sdk_config_loader() -> ConfigLoader {
    SdkBudget::default().loader()
}

/// Loads the SDK configuration once per execution environment, with explicit timeouts and
/// retries ([`SdkBudget::from_env`]).
pub async fn load_sdk_config() -> Result<SdkConfig, ConfigError> {
    Ok(SdkBudget::from_env()?.loader().load().await)
}

/// Failures worth retrying later, and serving a cached value through meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    Throttled,
    ServerError,
    Timeout,
    Network,
}

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transient::Throttled => "throttled",
            Transient::ServerError => "server error",
            Transient::Timeout => "timeout",
            Transient::Network => "network error",
        })
    }
}

/// An AWS service a function depends on, as error bodies and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    SecretsManager,
    ParameterStore,
    Kms,
    Sts,
    DynamoDb,
    Cognito,
    Lambda,
}

impl Dependency {
    pub fn name(self) -> &'static str {
        match self {
            Dependency::SecretsManager => "Secrets Manager",
            Dependency::ParameterStore => "Parameter Store",
            Dependency::Kms => "KMS",
            Dependency::Sts => "STS",
            Dependency::DynamoDb => "DynamoDB",
            Dependency::Cognito => "Cognito",
            Dependency::Lambda => "Lambda",
        }
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of failure an SDK error is, independent of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    NotFound,
    AccessDenied,
    Transient(Transient),
    Other,
}

/// An SDK error reduced to what callers act on. `detail` holds the AWS error code and message,
/// which never carry secret values but may carry account ids and ARNs: it goes to the log, and
/// only `code` (or [`AwsFailure::summary`]) to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    pub kind: FailureKind,
    pub code: Option<String>,
    pub detail: String,
}

impl AwsFailure {
    /// The AWS error code, or what kind of transport failure it was: safe to show a caller.
    pub fn summary(&self) -> String {
        match (&self.code, &self.kind) {
            (Some(code), _) => code.clone(),
            (None, FailureKind::Transient(kind)) => kind.to_string(),
            (None, FailureKind::NotFound) => "not found".to_owned(),
            (None, FailureKind::AccessDenied) => "access denied".to_owned(),
            (None, FailureKind::Other) => "failed".to_owned(),
        }
    }
}

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "NotFoundException",
    "UserNotFoundException",
];
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "NotAuthorizedException",
];
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
];

/// Classifies an SDK error of any service.
pub fn classify<E>(error: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = error.code().map(str::to_owned);
    let message = error.message().unwrap_or_default();
    let detail = match &code {
        Some(code) if message.is_empty() => code.clone(),
        Some(code) => format!("{code}: {message}"),
        None => describe_transport(error),
    };
    let kind = match error {
        SdkError::TimeoutError(_) => FailureKind::Transient(Transient::Timeout),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            FailureKind::Transient(Transient::Timeout)
        }
        SdkError::DispatchFailure(_) => FailureKind::Transient(Transient::Network),
        SdkError::ResponseError(_) => FailureKind::Transient(Transient::ServerError),
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            match code.as_deref() {
                Some(c) if NOT_FOUND_CODES.contains(&c) => FailureKind::NotFound,
                Some(c) if ACCESS_DENIED_CODES.contains(&c) => FailureKind::AccessDenied,
                Some(c) if THROTTLING_CODES.contains(&c) => {
                    FailureKind::Transient(Transient::Throttled)
                }
                _ if status == 429 => FailureKind::Transient(Transient::Throttled),
                _ if status >= 500 => FailureKind::Transient(Transient::ServerError),
                _ if status == 403 => FailureKind::AccessDenied,
                _ => FailureKind::Other,
            }
        }
        _ => FailureKind::Other,
    };
    AwsFailure { kind, code, detail }
}

fn describe_transport<E>(error: &SdkError<E, HttpResponse>) -> String {
    match error {
        SdkError::TimeoutError(_) => "the request timed out".to_owned(),
        SdkError::DispatchFailure(_) => {
            "the request could not be sent (connection failed)".to_owned()
        }
        SdkError::ResponseError(_) => "the response could not be read".to_owned(),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        _ => "unexpected SDK error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_read_from_the_environment_and_checked() {
        // This test alone sets the SDK_* variables (tests share the process environment).
        assert_eq!(SdkBudget::from_env(), Ok(SdkBudget::default()));
        std::env::set_var("SDK_ATTEMPT_TIMEOUT_MS", "300");
        std::env::set_var("SDK_OPERATION_TIMEOUT_MS", "1200");
        std::env::set_var("SDK_CONNECT_TIMEOUT_MS", "200");
        std::env::set_var("SDK_RETRY_INITIAL_BACKOFF_MS", "50");
        assert_eq!(
            SdkBudget::from_env(),
            Ok(SdkBudget {
                connect: Duration::from_millis(200),
                attempt: Duration::from_millis(300),
                operation: Duration::from_millis(1200),
                initial_backoff: Duration::from_millis(50),
            })
        );
        std::env::set_var("SDK_OPERATION_TIMEOUT_MS", "100");
        assert!(
            SdkBudget::from_env().is_err(),
            "attempt longer than operation"
        );
        std::env::set_var("SDK_OPERATION_TIMEOUT_MS", "0");
        assert!(SdkBudget::from_env().is_err());
        std::env::set_var("SDK_OPERATION_TIMEOUT_MS", "soon");
        assert!(SdkBudget::from_env().is_err());
        for name in [
            "SDK_ATTEMPT_TIMEOUT_MS",
            "SDK_OPERATION_TIMEOUT_MS",
            "SDK_CONNECT_TIMEOUT_MS",
            "SDK_RETRY_INITIAL_BACKOFF_MS",
        ] {
            std::env::remove_var(name);
        }
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<GetSecretValueError, HttpResponse> {
        let error = GetSecretValueError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("details")
                .build(),
        );
        let status = StatusCode::try_from(status).unwrap();
        SdkError::service_error(error, HttpResponse::new(status, SdkBody::empty()))
    }

    #[test]
    fn service_errors_by_code_then_status() {
        let cases = [
            ("ResourceNotFoundException", 400, FailureKind::NotFound),
            ("ParameterNotFound", 400, FailureKind::NotFound),
            ("AccessDeniedException", 400, FailureKind::AccessDenied),
            ("ExpiredTokenException", 400, FailureKind::AccessDenied),
            (
                "ThrottlingException",
                400,
                FailureKind::Transient(Transient::Throttled),
            ),
            (
                "SomethingNew",
                429,
                FailureKind::Transient(Transient::Throttled),
            ),
            (
                "InternalServiceError",
                500,
                FailureKind::Transient(Transient::ServerError),
            ),
            (
                "SomethingNew",
                503,
                FailureKind::Transient(Transient::ServerError),
            ),
            ("SomethingNew", 403, FailureKind::AccessDenied),
            ("DecryptionFailure", 400, FailureKind::Other),
        ];
        for (code, status, expected) in cases {
            let failure = classify(&service_error(code, status));
            assert_eq!(failure.kind, expected, "{code} {status}");
            assert_eq!(failure.detail, format!("{code}: details"));
        }
    }

    #[test]
    fn transport_errors_are_transient() {
        let timeout: SdkError<GetSecretValueError, HttpResponse> = SdkError::timeout_error("slow");
        assert_eq!(
            classify(&timeout).kind,
            FailureKind::Transient(Transient::Timeout)
        );
        let io: SdkError<GetSecretValueError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        assert_eq!(
            classify(&io).kind,
            FailureKind::Transient(Transient::Network)
        );
        let slow: SdkError<GetSecretValueError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect timeout".into()));
        assert_eq!(
            classify(&slow).kind,
            FailureKind::Transient(Transient::Timeout)
        );
    }
}
