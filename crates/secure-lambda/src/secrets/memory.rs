//! In-memory adapters of [`SecretSource`] and [`ParameterSource`] for tests: they behave like the
//! AWS services where it matters here (version stages, ten names per batch, pages of ten by path)
//! and count the calls made.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use super::source::{
    ParameterBatch, ParameterSource, Resource, SecretError, SecretSource, GET_PARAMETERS_MAX_NAMES,
};
use super::value::{
    Parameter, ParameterKind, SecretRequest, SecretVersion, VersionSelector, AWS_CURRENT,
    AWS_PREVIOUS,
};

struct StoredVersion {
    id: String,
    stages: Vec<String>,
    value: SecretString,
}

/// Secrets Manager in memory.
#[derive(Default)]
pub struct MemorySecrets {
    secrets: Mutex<HashMap<String, Vec<StoredVersion>>>,
    denied: Mutex<HashSet<String>>,
    failures: Mutex<Vec<SecretError>>,
    calls: AtomicU32,
}

impl MemorySecrets {
    /// Stores a new version as `AWSCURRENT`; the former current one becomes `AWSPREVIOUS`
    /// (what `PutSecretValue` does).
    pub fn put(&self, id: &str, value: &str) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let versions = secrets.entry(id.to_owned()).or_default();
        for version in versions.iter_mut() {
            version.stages.retain(|s| s != AWS_PREVIOUS);
            if let Some(current) = version.stages.iter_mut().find(|s| *s == AWS_CURRENT) {
                *current = AWS_PREVIOUS.to_owned();
            }
        }
        versions.push(StoredVersion {
            id: format!("v{}", versions.len() + 1),
            stages: vec![AWS_CURRENT.to_owned()],
            value: SecretString::from(value),
        });
    }

    /// Every later read of `id` is denied.
    pub fn deny(&self, id: &str) {
        self.denied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
    }

    /// The next reads fail with these errors, in order.
    pub fn fail_next(&self, errors: Vec<SecretError>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures = errors.into_iter().rev().collect();
    }

    /// `GetSecretValue` calls made so far.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl SecretSource for MemorySecrets {
    async fn get_secret(&self, request: &SecretRequest) -> Result<SecretVersion, SecretError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(error) = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            return Err(error);
        }
        let id = &request.secret_id;
        if self
            .denied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
        {
            return Err(SecretError::AccessDenied {
                what: Resource::Secret,
                name: id.clone(),
                detail: "not authorized to perform secretsmanager:GetSecretValue".into(),
            });
        }
        let not_found = || SecretError::NotFound {
            what: Resource::Secret,
            name: id.clone(),
        };
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let versions = secrets.get(id).ok_or_else(not_found)?;
        let version = versions
            .iter()
            .find(|v| match &request.version {
                VersionSelector::Stage(stage) => v.stages.contains(stage),
                VersionSelector::Id(version_id) => &v.id == version_id,
            })
            .ok_or_else(not_found)?;
        Ok(SecretVersion::new(
            id.clone(),
            Some(version.id.clone()),
            version.stages.clone(),
            SecretString::from(version.value.expose_secret()),
        ))
    }
}

/// Parameter Store in memory.
#[derive(Default)]
pub struct MemoryParameters {
    parameters: Mutex<BTreeMap<String, (ParameterKind, i64, String)>>,
    single_calls: AtomicU32,
    batch_calls: AtomicU32,
    path_pages: AtomicU32,
}

impl MemoryParameters {
    /// Creates or overwrites a parameter (version + 1 on overwrite).
    pub fn put(&self, name: &str, kind: ParameterKind, value: &str) {
        let mut parameters = self.parameters.lock().unwrap_or_else(|p| p.into_inner());
        let version = parameters.get(name).map_or(1, |(_, v, _)| v + 1);
        parameters.insert(name.to_owned(), (kind, version, value.to_owned()));
    }

    pub fn single_calls(&self) -> u32 {
        self.single_calls.load(Ordering::SeqCst)
    }

    pub fn batch_calls(&self) -> u32 {
        self.batch_calls.load(Ordering::SeqCst)
    }

    pub fn path_pages(&self) -> u32 {
        self.path_pages.load(Ordering::SeqCst)
    }

    fn lookup(&self, name: &str) -> Option<Parameter> {
        let parameters = self.parameters.lock().unwrap_or_else(|p| p.into_inner());
        parameters.get(name).map(|(kind, version, value)| {
            Parameter::new(name, *kind, *version, SecretString::from(value.as_str()))
        })
    }
}

impl ParameterSource for MemoryParameters {
    async fn get_parameter(&self, name: &str) -> Result<Parameter, SecretError> {
        self.single_calls.fetch_add(1, Ordering::SeqCst);
        self.lookup(name).ok_or_else(|| SecretError::NotFound {
            what: Resource::Parameter,
            name: name.to_owned(),
        })
    }

    async fn get_parameters(&self, names: &[String]) -> Result<ParameterBatch, SecretError> {
        self.batch_calls.fetch_add(1, Ordering::SeqCst);
        if names.len() > GET_PARAMETERS_MAX_NAMES {
            return Err(SecretError::Failed {
                what: Resource::Parameter,
                name: names.join(","),
                detail: "ValidationException: at most 10 names per call".into(),
            });
        }
        let mut batch = ParameterBatch::default();
        for name in names {
            match self.lookup(name) {
                Some(parameter) => batch.found.push(parameter),
                None => batch.invalid.push(name.clone()),
            }
        }
        Ok(batch)
    }

    async fn get_parameters_by_path(
        &self,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<Parameter>, SecretError> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let names: Vec<String> = {
            let parameters = self.parameters.lock().unwrap_or_else(|p| p.into_inner());
            parameters
                .keys()
                .filter(|name| {
                    name.strip_prefix(&prefix)
                        .is_some_and(|rest| recursive || !rest.contains('/'))
                })
                .cloned()
                .collect()
        };
        let pages = names.len().div_ceil(10).max(1);
        self.path_pages
            .fetch_add(u32::try_from(pages).unwrap_or(u32::MAX), Ordering::SeqCst);
        Ok(names.iter().filter_map(|name| self.lookup(name)).collect())
    }
}
