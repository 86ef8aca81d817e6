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
        let payload = match (output.secret_string(), output.secret_binary()) {
            (Some(text), _) => Some(SecretPayload::Text(text.to_owned())),
            (None, Some(blob)) => Some(SecretPayload::Binary(blob.as_ref().to_vec())),
            (None, None) => None,
        };
        let body = SecretBody {
            arn: output.arn().map(str::to_owned),
            created_date: rfc3339(output.created_date()),
            name: output.name().map(str::to_owned),
            payload,
            version_id: output.version_id().map(str::to_owned),
            version_stages: output.version_stages().to_vec(),
        };
        Ok(Body::new(body.to_json()))
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
        Ok(Body::new(body.to_json()))
    }
}
