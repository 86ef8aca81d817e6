//! AWS SDK adapters of the secret and parameter ports.

use secrecy::SecretString;

use super::source::{ParameterBatch, ParameterSource, Resource, SecretError, SecretSource};
use super::value::{Parameter, ParameterKind, SecretRequest, SecretVersion, VersionSelector};
use crate::aws::{classify, FailureKind, Transient};
use crate::backoff::{retry_throttled, ThrottleRetry};

/// Pages requested by path are capped: a path that returns more than this is a mistake, and an
/// unbounded loop inside a Lambda invocation is worse.
const MAX_PATH_PAGES: usize = 500;

/// An AWS failure of a read of `name` as the cache classifies it.
pub fn to_secret_error(what: Resource, name: &str, failure: crate::aws::AwsFailure) -> SecretError {
    let name = name.to_owned();
    let detail = failure.detail;
    match failure.kind {
        FailureKind::NotFound => SecretError::NotFound { what, name },
        FailureKind::AccessDenied => SecretError::AccessDenied { what, name, detail },
        FailureKind::Transient(kind) => SecretError::Unavailable {
            what,
            name,
            kind,
            detail,
        },
        FailureKind::Other => SecretError::Failed { what, name, detail },
    }
}

/// Secrets Manager through the AWS SDK.
#[derive(Clone)]
pub struct AwsSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

impl SecretSource for AwsSecrets {
    async fn get_secret(&self, request: &SecretRequest) -> Result<SecretVersion, SecretError> {
        let call = self.client.get_secret_value().secret_id(&request.secret_id);
        let call = match &request.version {
            VersionSelector::Stage(stage) => call.version_stage(stage),
            VersionSelector::Id(id) => call.version_id(id),
        };
        let output = call
            .send()
            .await
            .map_err(|e| to_secret_error(Resource::Secret, &request.secret_id, classify(&e)))?;
        let version_id = output.version_id().map(str::to_owned);
        let stages = output.version_stages().to_vec();
        let name = output.name().unwrap_or(&request.secret_id).to_owned();
        match output.secret_string {
            Some(text) => Ok(SecretVersion::new(
                name,
                version_id,
                stages,
                SecretString::from(text),
            )),
            None => Err(SecretError::Malformed {
                name,
                reason: "has no SecretString (binary secrets are not supported)".to_owned(),
            }),
        }
    }
}

/// Parameter Store through the AWS SDK; every read asks for decryption. Its throughput quota is
/// the account's (40 requests/s by default, shared by every function and caller): a throttled
/// read is retried with jittered backoff inside the invocation's budget ([`crate::backoff`]).
#[derive(Clone)]
pub struct AwsParameters {
    client: aws_sdk_ssm::Client,
    throttle: ThrottleRetry,
}

impl AwsParameters {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self::with_throttle_retry(client, ThrottleRetry::default())
    }

    pub fn with_throttle_retry(client: aws_sdk_ssm::Client, throttle: ThrottleRetry) -> Self {
        Self { client, throttle }
    }
}

fn throttled(error: &SecretError) -> bool {
    error.transient() == Some(Transient::Throttled)
}

fn convert(parameter: aws_sdk_ssm::types::Parameter) -> Option<Parameter> {
    use aws_sdk_ssm::types::ParameterType;
    let kind = match parameter.r#type() {
        Some(ParameterType::SecureString) => ParameterKind::SecureString,
        Some(ParameterType::StringList) => ParameterKind::StringList,
        _ => ParameterKind::String,
    };
    let version = parameter.version();
    let name = parameter.name?;
    let value = parameter.value?;
    Some(Parameter::new(
        name,
        kind,
        version,
        SecretString::from(value),
    ))
}

impl ParameterSource for AwsParameters {
    async fn get_parameter(&self, name: &str) -> Result<Parameter, SecretError> {
        let output = retry_throttled(&self.throttle, throttled, || async {
            self.client
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| to_secret_error(Resource::Parameter, name, classify(&e)))
        })
        .await?;
        output
            .parameter
            .and_then(convert)
            .ok_or_else(|| SecretError::Failed {
                what: Resource::Parameter,
                name: name.to_owned(),
                detail: "GetParameter answered without a value".to_owned(),
            })
    }

    async fn get_parameters(&self, names: &[String]) -> Result<ParameterBatch, SecretError> {
        let output = retry_throttled(&self.throttle, throttled, || async {
            self.client
                .get_parameters()
                .set_names(Some(names.to_vec()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| to_secret_error(Resource::Parameter, &names.join(","), classify(&e)))
        })
        .await?;
        Ok(ParameterBatch {
            invalid: output.invalid_parameters.unwrap_or_default(),
            found: output
                .parameters
                .unwrap_or_default()
                .into_iter()
                .filter_map(convert)
                .collect(),
        })
    }

    async fn get_parameters_by_path(
        &self,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<Parameter>, SecretError> {
        let mut parameters = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_PATH_PAGES {
            let token = next_token.take();
            let output = retry_throttled(&self.throttle, throttled, || async {
                self.client
                    .get_parameters_by_path()
                    .path(path)
                    .recursive(recursive)
                    .with_decryption(true)
                    .max_results(10)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| to_secret_error(Resource::ParameterPath, path, classify(&e)))
            })
            .await?;
            parameters.extend(
                output
                    .parameters
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(convert),
            );
            match output.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => return Ok(parameters),
            }
        }
        Err(SecretError::Failed {
            what: Resource::ParameterPath,
            name: path.to_owned(),
            detail: format!("more than {MAX_PATH_PAGES} pages; narrow the path"),
        })
    }
}
