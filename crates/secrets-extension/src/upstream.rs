//! Where values come from: Secrets Manager `GetSecretValue` and Parameter Store `GetParameter`,
//! answered as the bodies AWS's layer returns ([`crate::body`]).
//!
//! [`Upstream`] is the port the server reads through; [`AwsUpstream`] is it on the SDK clients
//! (built from the standard SDK configuration, so `AWS_ENDPOINT_URL*` points it at moto or
//! LocalStack). Failures are the library's [`SecretError`], classified as its cache expects
//! (not found, access denied, transient, other).

use std::future::Future;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use secure_lambda::aws::classify;
use secure_lambda::secrets::aws::to_secret_error;
use secure_lambda::secrets::{Resource, SecretError, Versioned};
use zeroize::Zeroizing;

use crate::body::{ParameterBody, SecretBody, SecretPayload};
use crate::query::{ParameterRequest, SecretRequest};

/// A response body holding a value: zeroized when dropped, never printed (no `Debug`).
pub struct Body(Zeroizing<String>);

impl Body {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Versioned for Body {
    // A body is served as fetched; the cache needs no version to tell rotations apart.
    fn version_tag(&self) -> Option<String> {
        None
    }
}

/// The most names one `GetParameters` call takes.
pub const GET_PARAMETERS_BATCH: usize = 10;
/// The most ids one `BatchGetSecretValue` call takes here.
pub const BATCH_GET_SECRETS: usize = 20;

/// Each name or id of a batch read and what it gave.
pub type Batch = Vec<(String, Result<Body, SecretError>)>;

/// The reads the extension makes.
pub trait Upstream: Send + Sync {
    fn get_secret(
        &self,
        request: &SecretRequest,
    ) -> impl Future<Output = Result<Body, SecretError>> + Send;

    fn get_parameter(
        &self,
        request: &ParameterRequest,
    ) -> impl Future<Output = Result<Body, SecretError>> + Send;

    /// One `GetParameters` call for at most [`GET_PARAMETERS_BATCH`] plain names.
    fn get_parameters(
        &self,
        names: &[String],
        with_decryption: bool,
    ) -> impl Future<Output = Result<Batch, SecretError>> + Send;

    /// One `BatchGetSecretValue` call for at most [`BATCH_GET_SECRETS`] ids (current versions).
    fn get_secrets(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Batch, SecretError>> + Send;
}

/// [`Upstream`] on the AWS SDK.
pub struct AwsUpstream {
    secrets: aws_sdk_secretsmanager::Client,
    parameters: aws_sdk_ssm::Client,
}

impl AwsUpstream {
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            parameters: aws_sdk_ssm::Client::new(config),
        }
    }
}

/// RFC 3339 with milliseconds, as AWS's layer writes dates.
fn rfc3339(date: Option<&DateTime>) -> Option<String> {
    date.and_then(|d| d.fmt(Format::DateTime).ok())
}

impl Upstream for AwsUpstream {
    async fn get_secret(&self, request: &SecretRequest) -> Result<Body, SecretError> {
        let output = self
            .secrets
            .get_secret_value()
            .secret_id(&request.secret_id)
            .set_version_id(request.version_id.clone())
            .set_version_stage(request.version_stage.clone())
            .send()
            .await
            .map_err(|e| to_secret_error(Resource::Secret, &request.secret_id, classify(&e)))?;
        Ok(secret_body(SecretFields {
            arn: output.arn(),
            created_date: output.created_date(),
            name: output.name(),
            text: output.secret_string(),
            binary: output.secret_binary(),
            version_id: output.version_id(),
            version_stages: output.version_stages(),
        }))
    }

    async fn get_parameter(&self, request: &ParameterRequest) -> Result<Body, SecretError> {
        let name = request.qualified_name();
        let output = self
            .parameters
            .get_parameter()
            .name(&name)
            .with_decryption(request.with_decryption)
            .send()
            .await
            .map_err(|e| to_secret_error(Resource::Parameter, &name, classify(&e)))?;
        let parameter = output.parameter().ok_or_else(|| SecretError::Failed {
            what: Resource::Parameter,
            name: name.clone(),
            detail: "GetParameter answered without a parameter".to_owned(),
        })?;
        Ok(parameter_body(parameter))
    }

    async fn get_parameters(
        &self,
        names: &[String],
        with_decryption: bool,
    ) -> Result<Batch, SecretError> {
        let label = names.join(",");
        let output = self
            .parameters
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .with_decryption(with_decryption)
            .send()
            .await
            .map_err(|e| to_secret_error(Resource::Parameter, &label, classify(&e)))?;
        let mut batch: Batch = output
            .parameters()
            .iter()
            .filter_map(|p| Some((p.name()?.to_owned(), Ok(parameter_body(p)))))
            .collect();
        batch.extend(output.invalid_parameters().iter().map(|name| {
            let missing = SecretError::NotFound {
                what: Resource::Parameter,
                name: name.clone(),
            };
            (name.clone(), Err(missing))
        }));
        Ok(batch)
    }

    async fn get_secrets(&self, ids: &[String]) -> Result<Batch, SecretError> {
        let label = ids.join(",");
        let output = self
            .secrets
            .batch_get_secret_value()
            .set_secret_id_list(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| to_secret_error(Resource::Secret, &label, classify(&e)))?;
        let mut batch = Batch::new();
        for value in output.secret_values() {
            let body = secret_body(SecretFields {
                arn: value.arn(),
                created_date: value.created_date(),
                name: value.name(),
                text: value.secret_string(),
                binary: value.secret_binary(),
                version_id: value.version_id(),
                version_stages: value.version_stages(),
            });
            // Asked by name or by ARN: the answer carries both.
            let asked = ids
                .iter()
                .find(|id| Some(id.as_str()) == value.name() || Some(id.as_str()) == value.arn());
            if let Some(id) = asked {
                batch.push((id.clone(), Ok(body)));
            }
        }
        for error in output.errors() {
            if let Some(id) = error.secret_id() {
                let failure = SecretError::Failed {
                    what: Resource::Secret,
                    name: id.to_owned(),
                    detail: error.error_code().unwrap_or("error").to_owned(),
                };
                let failure = match error.error_code() {
                    Some("ResourceNotFoundException") => SecretError::NotFound {
                        what: Resource::Secret,
                        name: id.to_owned(),
                    },
                    _ => failure,
                };
                batch.push((id.to_owned(), Err(failure)));
            }
        }
        Ok(batch)
    }
}

/// The fields of a secret version, from `GetSecretValue` or `BatchGetSecretValue`.
struct SecretFields<'a> {
    arn: Option<&'a str>,
    created_date: Option<&'a DateTime>,
    name: Option<&'a str>,
    text: Option<&'a str>,
    binary: Option<&'a aws_smithy_types::Blob>,
    version_id: Option<&'a str>,
    version_stages: &'a [String],
}

fn secret_body(fields: SecretFields<'_>) -> Body {
    let payload = match (fields.text, fields.binary) {
        (Some(text), _) => Some(SecretPayload::Text(text.to_owned())),
        (None, Some(blob)) => Some(SecretPayload::Binary(blob.as_ref().to_vec())),
        (None, None) => None,
    };
    let body = SecretBody {
        arn: fields.arn.map(str::to_owned),
        created_date: rfc3339(fields.created_date),
        name: fields.name.map(str::to_owned),
        payload,
        version_id: fields.version_id.map(str::to_owned),
        version_stages: fields.version_stages.to_vec(),
    };
    Body::new(body.to_json())
}

fn parameter_body(parameter: &aws_sdk_ssm::types::Parameter) -> Body {
    let body = ParameterBody {
        arn: parameter.arn().map(str::to_owned),
        data_type: parameter.data_type().map(str::to_owned),
        last_modified_date: rfc3339(parameter.last_modified_date()),
        name: parameter.name().map(str::to_owned),
        selector: parameter.selector().map(str::to_owned),
        source_result: parameter.source_result().map(str::to_owned),
        kind: parameter.r#type().map(|t| t.as_str().to_owned()),
        value: parameter.value().map(str::to_owned),
        version: parameter.version(),
    };
    Body::new(body.to_json())
}
