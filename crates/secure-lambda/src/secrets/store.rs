//! [`SecretStore`]: the one object a function asks for secrets and parameters.
//!
//! It puts the cache in front of a [`SecretSource`] and a [`ParameterSource`], batches parameter
//! reads into `GetParameters` calls of ten, and writes one audit line per read (what, which
//! version, cache or AWS, how long) without the value.

use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Instant as WallInstant;

use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::cache::{Cache, CachePolicy, Cached, ReadOptions, Versioned};
use super::metrics::{CacheCounters, CacheMetrics};
use super::source::{ParameterSource, SecretError, SecretSource, GET_PARAMETERS_MAX_NAMES};
use super::value::{Parameter, SecretJson, SecretRequest, SecretVersion, VersionSelector};
use super::Resource;

impl Versioned for SecretVersion {
    fn version_tag(&self) -> Option<String> {
        self.version_id.clone()
    }
}

impl Versioned for Parameter {
    fn version_tag(&self) -> Option<String> {
        Some(self.version.to_string())
    }
}

type AccessDeniedHook = Arc<dyn Fn(&SecretError) + Send + Sync>;

/// A name and what the cache answered for it (`None`: still to fetch).
type PendingRead = (String, Option<Result<Cached<Parameter>, SecretError>>);

/// Cached access to Secrets Manager and Parameter Store for one execution environment.
pub struct SecretStore<S, P> {
    secrets: S,
    parameters: P,
    secret_cache: Cache<SecretRequest, SecretVersion>,
    parameter_cache: Cache<String, Parameter>,
    path_cache: Cache<(String, bool), Vec<Parameter>>,
    metrics: Arc<CacheMetrics>,
    on_access_denied: Option<AccessDeniedHook>,
}

impl<S: SecretSource, P: ParameterSource> SecretStore<S, P> {
    pub fn new(secrets: S, parameters: P, policy: CachePolicy) -> Self {
        let metrics = Arc::new(CacheMetrics::default());
        Self {
            secrets,
            parameters,
            secret_cache: Cache::new(policy.clone(), metrics.clone()),
            parameter_cache: Cache::new(policy.clone(), metrics.clone()),
            path_cache: Cache::new(policy, metrics.clone()),
            metrics,
            on_access_denied: None,
        }
    }

    /// Called whenever AWS denies a read (after the cached value has been dropped): the place to
    /// raise an alarm or to drop what was derived from the value.
    pub fn on_access_denied(mut self, hook: impl Fn(&SecretError) + Send + Sync + 'static) -> Self {
        self.on_access_denied = Some(Arc::new(hook));
        self
    }

    /// The secret source behind the cache.
    pub fn secret_source(&self) -> &S {
        &self.secrets
    }

    /// The parameter source behind the cache.
    pub fn parameter_source(&self) -> &P {
        &self.parameters
    }

    /// Counters since the environment started.
    pub fn counters(&self) -> CacheCounters {
        self.metrics.snapshot()
    }

    /// The `AWSCURRENT` version of a secret.
    pub async fn secret(&self, secret_id: &str) -> Result<Arc<SecretVersion>, SecretError> {
        self.secret_with(&SecretRequest::current(secret_id), ReadOptions::default())
            .await
    }

    /// A secret at a given stage or version id, with per-read cache options.
    pub async fn secret_with(
        &self,
        request: &SecretRequest,
        options: ReadOptions,
    ) -> Result<Arc<SecretVersion>, SecretError> {
        let started = WallInstant::now();
        let result = self
            .secret_cache
            .get_or_fetch(request, options, || self.secrets.get_secret(request))
            .await;
        let version = match &request.version {
            VersionSelector::Stage(stage) => stage.as_str(),
            VersionSelector::Id(id) => id.as_str(),
        };
        self.finish(
            Resource::Secret,
            &request.secret_id,
            version,
            started,
            result,
        )
    }

    /// The secret string of the `AWSCURRENT` version.
    pub async fn secret_string(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        Ok(self.secret(secret_id).await?.value().clone())
    }

    /// The secret string's bytes as key material of at least `min_len` bytes (HMAC keys of
    /// tokens and cursors). A shorter value is [`SecretError::Malformed`], naming the secret only.
    pub async fn key_material(
        &self,
        secret_id: &str,
        min_len: usize,
    ) -> Result<Vec<u8>, SecretError> {
        let value = self.secret_string(secret_id).await?;
        let bytes = value.expose_secret().as_bytes();
        if bytes.len() < min_len {
            return Err(SecretError::Malformed {
                name: secret_id.to_owned(),
                reason: format!("must hold a key of at least {min_len} bytes"),
            });
        }
        Ok(bytes.to_vec())
    }

    /// The secret parsed as a JSON object.
    pub async fn secret_json(&self, secret_id: &str) -> Result<SecretJson, SecretError> {
        self.secret(secret_id).await?.json()
    }

    /// The secret deserialized into `T`.
    pub async fn secret_typed<T: DeserializeOwned>(
        &self,
        secret_id: &str,
    ) -> Result<T, SecretError> {
        self.secret(secret_id).await?.typed()
    }

    /// One key of a JSON secret.
    pub async fn secret_field(
        &self,
        secret_id: &str,
        key: &str,
    ) -> Result<SecretString, SecretError> {
        self.secret(secret_id).await?.field(key)
    }

    /// Forgets a cached secret, e.g. when a database rejected the password it held: the next
    /// read fetches the version that rotation made current.
    pub fn invalidate_secret(&self, request: &SecretRequest) {
        self.secret_cache.invalidate(request);
        tracing::info!(target: "audit", secret = %request.secret_id, "cached secret invalidated");
    }

    /// One parameter, decrypted.
    pub async fn parameter(&self, name: &str) -> Result<Arc<Parameter>, SecretError> {
        self.parameter_with(name, ReadOptions::default()).await
    }

    pub async fn parameter_with(
        &self,
        name: &str,
        options: ReadOptions,
    ) -> Result<Arc<Parameter>, SecretError> {
        let started = WallInstant::now();
        let key = name.to_owned();
        let result = self
            .parameter_cache
            .get_or_fetch(&key, options, || self.parameters.get_parameter(name))
            .await;
        self.finish(Resource::Parameter, name, "latest", started, result)
    }

    /// Many parameters by name: cached ones from the cache, the rest in `GetParameters` calls of
    /// at most ten names. One result per name, in the order given.
    pub async fn parameters(
        &self,
        names: &[&str],
    ) -> Vec<(String, Result<Arc<Parameter>, SecretError>)> {
        let started = WallInstant::now();
        let mut results: Vec<PendingRead> = Vec::new();
        for name in names {
            let key = (*name).to_owned();
            let answer = self
                .parameter_cache
                .cached(&key, ReadOptions::default())
                .await;
            results.push((key, answer));
        }
        let mut missing: Vec<String> = results
            .iter()
            .filter(|(_, answer)| answer.is_none())
            .map(|(name, _)| name.clone())
            .collect();
        missing.dedup();

        for chunk in missing.chunks(GET_PARAMETERS_MAX_NAMES) {
            self.metrics.aws_call();
            let batch = self.parameters.get_parameters(chunk).await;
            for name in chunk {
                self.metrics.miss();
                let fetched = take_parameter(&batch, name);
                let recorded = self.parameter_cache.insert(name, fetched).await;
                for (result_name, answer) in results.iter_mut() {
                    if result_name == name && answer.is_none() {
                        *answer = Some(clone_cached(&recorded));
                    }
                }
            }
        }

        results
            .into_iter()
            .map(|(name, answer)| {
                let answer = answer.unwrap_or_else(|| {
                    Err(SecretError::Failed {
                        what: Resource::Parameter,
                        name: name.clone(),
                        detail: "no answer was recorded for this name".into(),
                    })
                });
                let result = self.finish(Resource::Parameter, &name, "latest", started, answer);
                (name, result)
            })
            .collect()
    }

    /// Every parameter under `path` (all pages), cached as one value.
    pub async fn parameters_by_path(
        &self,
        path: &str,
        recursive: bool,
    ) -> Result<Arc<Vec<Parameter>>, SecretError> {
        let started = WallInstant::now();
        let key = (path.to_owned(), recursive);
        let result = self
            .path_cache
            .get_or_fetch(&key, ReadOptions::default(), || {
                self.parameters.get_parameters_by_path(path, recursive)
            })
            .await;
        self.finish(Resource::ParameterPath, path, "latest", started, result)
    }

    fn finish<V>(
        &self,
        what: Resource,
        name: &str,
        version: &str,
        started: WallInstant,
        result: Result<Cached<V>, SecretError>,
    ) -> Result<Arc<V>, SecretError> {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(cached) => {
                tracing::info!(
                    target: "audit",
                    resource = %what,
                    name,
                    version,
                    source = cached.origin.as_str(),
                    ms,
                    "read"
                );
                Ok(cached.value)
            }
            Err(error) => {
                tracing::warn!(target: "audit", resource = %what, name, version, ms, error = %error, "read failed");
                if error.is_access_denied() {
                    if let Some(hook) = &self.on_access_denied {
                        hook(&error);
                    }
                }
                Err(error)
            }
        }
    }
}

fn take_parameter(
    batch: &Result<super::source::ParameterBatch, SecretError>,
    name: &str,
) -> Result<Parameter, SecretError> {
    match batch {
        Ok(batch) => batch
            .found
            .iter()
            .find(|p| p.name == name)
            .map(|p| Parameter::new(p.name.clone(), p.kind, p.version, p.value().clone()))
            .ok_or_else(|| SecretError::NotFound {
                what: Resource::Parameter,
                name: name.to_owned(),
            }),
        Err(error) => Err(rename(error, name)),
    }
}

/// A batch-level error, re-addressed to one name of the batch.
fn rename(error: &SecretError, name: &str) -> SecretError {
    let mut error = error.clone();
    match &mut error {
        SecretError::NotFound { name: n, .. }
        | SecretError::AccessDenied { name: n, .. }
        | SecretError::Unavailable { name: n, .. }
        | SecretError::Failed { name: n, .. }
        | SecretError::Malformed { name: n, .. }
        | SecretError::MissingKey { name: n, .. } => *n = name.to_owned(),
    }
    error
}

fn clone_cached<V>(result: &Result<Cached<V>, SecretError>) -> Result<Cached<V>, SecretError> {
    match result {
        Ok(cached) => Ok(Cached {
            value: cached.value.clone(),
            origin: cached.origin,
        }),
        Err(error) => Err(error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::memory::{MemoryParameters, MemorySecrets};
    use crate::secrets::{ParameterKind, AWS_PREVIOUS};
    use secrecy::ExposeSecret;
    use std::time::Duration;

    fn store() -> SecretStore<MemorySecrets, MemoryParameters> {
        let secrets = MemorySecrets::default();
        secrets.put("prod/db", r#"{"username":"admin","password":"pw-1"}"#);
        let parameters = MemoryParameters::default();
        for i in 0..25 {
            parameters.put(
                &format!("/app/p{i:02}"),
                ParameterKind::String,
                &i.to_string(),
            );
        }
        parameters.put("/app/flags/a", ParameterKind::String, "true");
        parameters.put("/app/flags/nested/b", ParameterKind::String, "false");
        parameters.put("/app/key", ParameterKind::SecureString, "sk-secret");
        SecretStore::new(secrets, parameters, CachePolicy::default())
    }

    #[tokio::test(start_paused = true)]
    async fn secret_reads_are_cached_and_rotation_is_picked_up_after_ttl() {
        let store = store();
        assert_eq!(
            store
                .secret_field("prod/db", "password")
                .await
                .unwrap()
                .expose_secret(),
            "pw-1"
        );
        assert_eq!(
            store
                .secret_field("prod/db", "username")
                .await
                .unwrap()
                .expose_secret(),
            "admin"
        );
        assert_eq!(store.secrets.calls(), 1);

        store
            .secrets
            .put("prod/db", r#"{"username":"admin","password":"pw-2"}"#);
        assert_eq!(
            store
                .secret_field("prod/db", "password")
                .await
                .unwrap()
                .expose_secret(),
            "pw-1"
        );
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(
            store
                .secret_field("prod/db", "password")
                .await
                .unwrap()
                .expose_secret(),
            "pw-2"
        );
        assert_eq!(store.counters().rotations_seen, 1);

        let previous = store
            .secret_with(
                &SecretRequest::stage("prod/db", AWS_PREVIOUS),
                ReadOptions::default(),
            )
            .await
            .unwrap();
        assert!(previous.value().expose_secret().contains("pw-1"));
        let first_id = previous.version_id.clone().unwrap();
        let by_id = store
            .secret_with(
                &SecretRequest::version_id("prod/db", first_id),
                ReadOptions::default(),
            )
            .await
            .unwrap();
        assert!(by_id.value().expose_secret().contains("pw-1"));
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_after_downstream_auth_failure_fetches_the_new_version() {
        let store = store();
        store.secret("prod/db").await.unwrap();
        store
            .secrets
            .put("prod/db", r#"{"username":"admin","password":"pw-2"}"#);
        store.invalidate_secret(&SecretRequest::current("prod/db"));
        assert_eq!(
            store
                .secret_field("prod/db", "password")
                .await
                .unwrap()
                .expose_secret(),
            "pw-2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn parameters_are_batched_by_ten_and_cached() {
        let store = store();
        let names: Vec<String> = (0..25).map(|i| format!("/app/p{i:02}")).collect();
        let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
        refs.push("/app/missing");
        let results = store.parameters(&refs).await;
        assert_eq!(
            store.parameters.batch_calls(),
            3,
            "26 names -> 3 GetParameters calls"
        );
        assert_eq!(results.len(), 26);
        for (i, (name, result)) in results.iter().take(25).enumerate() {
            assert_eq!(name, &names[i]);
            assert_eq!(
                result.as_ref().unwrap().value().expose_secret(),
                &i.to_string()
            );
        }
        assert!(results[25].1.as_ref().unwrap_err().is_not_found());

        let again = store.parameters(&refs).await;
        assert_eq!(
            store.parameters.batch_calls(),
            3,
            "all answered from cache (incl. negative)"
        );
        assert_eq!(again.len(), 26);
    }

    #[tokio::test(start_paused = true)]
    async fn by_path_follows_pages_and_respects_recursion() {
        let store = store();
        let flat = store.parameters_by_path("/app/flags", false).await.unwrap();
        assert_eq!(
            flat.iter().map(|p| p.leaf_name()).collect::<Vec<_>>(),
            vec!["a"]
        );
        let deep = store.parameters_by_path("/app/flags", true).await.unwrap();
        assert_eq!(deep.len(), 2);
        let all = store.parameters_by_path("/app", true).await.unwrap();
        assert_eq!(all.len(), 28);
        assert_eq!(
            store.parameters.path_pages(),
            1 + 1 + 3,
            "one page per flags read, and 28 items at 10 per page is 3 pages"
        );
        store.parameters_by_path("/app", true).await.unwrap();
        assert_eq!(store.counters().hits, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn access_denied_calls_the_hook() {
        let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = seen.clone();
        let store = store()
            .on_access_denied(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
        store.secrets.deny("prod/db");
        assert!(store
            .secret("prod/db")
            .await
            .unwrap_err()
            .is_access_denied());
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst));
    }
}
