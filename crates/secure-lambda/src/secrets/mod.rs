//! Secrets Manager and Parameter Store access with a per-environment cache.
//!
//! - [`value`]: the secret types values travel in (redacted `Debug`, zeroized on drop);
//! - [`source`]: the ports (`SecretSource`, `ParameterSource`) and their errors;
//! - [`aws`] / `memory` (feature `testing`): the AWS SDK adapters and in-memory fakes of those
//!   ports;
//! - [`cache`]: TTL, single flight, stale-on-failure with backoff, negative caching;
//! - [`store`]: [`SecretStore`], what functions use;
//! - [`metrics`]: hit/miss/stale/call counters and their EMF form.

pub mod aws;
mod cache;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
mod metrics;
mod source;
mod store;
pub(crate) mod value;

pub use cache::{Cache, CachePolicy, Cached, Origin, ReadOptions, Versioned};
pub use metrics::{CacheCounters, CacheMetrics, MetricsReporter};
pub use source::{ParameterBatch, ParameterSource, Resource, SecretError, SecretSource, Transient};
pub use store::SecretStore;
pub use value::{
    Parameter, ParameterKind, SecretJson, SecretRequest, SecretVersion, VersionSelector,
    AWS_CURRENT, AWS_PENDING, AWS_PREVIOUS,
};

/// The store wired to the AWS SDK.
pub type AwsSecretStore = SecretStore<aws::AwsSecrets, aws::AwsParameters>;

impl AwsSecretStore {
    /// A store over Secrets Manager and Parameter Store clients built from `sdk_config`;
    /// throttled parameter reads are retried on the scale of its retry backoff.
    pub fn from_sdk_config(sdk_config: &aws_config::SdkConfig, policy: CachePolicy) -> Self {
        let initial_backoff = sdk_config
            .retry_config()
            .map_or(crate::aws::RETRY_INITIAL_BACKOFF, |r| r.initial_backoff());
        SecretStore::new(
            aws::AwsSecrets::new(aws_sdk_secretsmanager::Client::new(sdk_config)),
            aws::AwsParameters::with_throttle_retry(
                aws_sdk_ssm::Client::new(sdk_config),
                crate::backoff::ThrottleRetry::after_sdk_backoff(initial_backoff),
            ),
            policy,
        )
    }
}
