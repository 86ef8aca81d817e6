//! What one request is answered with: admission ([`crate::auth`]), the route and query
//! ([`crate::query`]), then the value from the cache or from AWS ([`crate::upstream`]).
//!
//! Behind AWS's contract, the library's cache: one upstream call per key at a time however many
//! requests wait for it (single flight), an expired value served for a bounded time while AWS
//! throttles, fails or times out (with jittered backoff before AWS is asked again), "not found"
//! remembered briefly, a value dropped when access is denied. Upstream calls per service are
//! bounded by `PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS`, with a bounded queue behind them:
//! past it a request fails at once instead of piling up.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secure_lambda::secrets::{
    Cache, CacheCounters, CacheMetrics, CachePolicy, Origin, ReadOptions, Resource, SecretError,
    Transient,
};
use tokio::sync::Semaphore;

use crate::auth::{ExpectedToken, Refusal, BAD_TOKEN_BODY};
use crate::config::{Config, Extras};
use crate::error::{ErrorStyle, Failure};
use crate::query::{self, ParameterRequest, QueryError, Request, SecretRequest};
use crate::upstream::{Batch, Body, Upstream, BATCH_GET_SECRETS, GET_PARAMETERS_BATCH};

/// What the prefetch at init did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PrefetchReport {
    /// Values now cached.
    pub cached: usize,
    /// Targets that failed (not found, denied, ...) or could not be read as a request.
    pub failed: usize,
    /// Upstream calls made (batches and single reads).
    pub calls: usize,
}

/// Requests that may wait for an upstream slot, per service, before more are refused.
pub const QUEUE_LIMIT: usize = 1024;

/// An answer: status, content type, and the body (a cached value is shared, not copied).
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: ResponseBody,
    /// Where a value came from (`X-Cache`), for values only.
    pub origin: Option<Origin>,
    /// `x-amzn-errortype`, as AWS's layer sends it with a 401.
    pub error_type: Option<&'static str>,
}

pub enum ResponseBody {
    Value(Arc<Body>),
    Text(String),
}

impl ResponseBody {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Value(body) => body.as_str().as_bytes(),
            Self::Text(text) => text.as_bytes(),
        }
    }
}

impl Response {
    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: ResponseBody::Text(body.to_owned()),
            origin: None,
            error_type: None,
        }
    }
}

/// The cache key: the request as AWS would be asked it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Secret(SecretRequest),
    Parameter(ParameterRequest),
}

/// One service's upstream limits.
struct Lane {
    ttl: Duration,
    permits: Semaphore,
    waiting: AtomicUsize,
    timeout: Option<Duration>,
    resource: Resource,
}

impl Lane {
    fn new(
        ttl: Duration,
        connections: usize,
        timeout: Option<Duration>,
        resource: Resource,
    ) -> Self {
        Self {
            ttl,
            permits: Semaphore::new(connections.clamp(1, Semaphore::MAX_PERMITS)),
            waiting: AtomicUsize::new(0),
            timeout,
            resource,
        }
    }

    /// Runs `call` within the lane's connection limit and timeout.
    async fn run<T, F>(&self, name: &str, call: F) -> Result<T, SecretError>
    where
        F: std::future::Future<Output = Result<T, SecretError>>,
    {
        let unavailable = |kind, detail: &str| SecretError::Unavailable {
            what: self.resource,
            name: name.to_owned(),
            kind,
            detail: detail.to_owned(),
        };
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= QUEUE_LIMIT {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(unavailable(
                Transient::Throttled,
                "too many requests waiting for an upstream connection",
            ));
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| unavailable(Transient::Network, "shutting down"))?;
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .unwrap_or_else(|_| Err(unavailable(Transient::Timeout, "no answer in time"))),
            None => call.await,
        }
    }
}

/// What the library's cache counters do not say: requests that waited for another's upstream
/// call, and upstream failures by class.
#[derive(Debug, Default)]
struct Counters {
    upstream_calls: AtomicU64,
    coalesced: AtomicU64,
    not_found: AtomicU64,
    denied: AtomicU64,
    throttled: AtomicU64,
    timeouts: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
}

/// A point-in-time copy of every counter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub cache: CacheCounters,
    /// Calls made to Secrets Manager or Parameter Store, cached or not.
    pub upstream_calls: u64,
    pub coalesced: u64,
    pub not_found: u64,
    pub denied: u64,
    pub throttled: u64,
    pub timeouts: u64,
    pub unavailable: u64,
    pub other: u64,
}

impl Snapshot {
    /// The counters as one CloudWatch EMF document.
    pub fn to_emf(&self, function_name: &str) -> secure_lambda::telemetry::Emf {
        [
            ("ExtensionCacheHits", self.cache.hits),
            ("ExtensionCacheMisses", self.cache.misses),
            ("ExtensionStaleServed", self.cache.stale_served),
            ("ExtensionUpstreamCalls", self.upstream_calls),
            ("ExtensionCoalescedWaits", self.coalesced),
            ("ExtensionUpstreamNotFound", self.not_found),
            ("ExtensionUpstreamAccessDenied", self.denied),
            ("ExtensionUpstreamThrottled", self.throttled),
            ("ExtensionUpstreamTimeouts", self.timeouts),
            ("ExtensionUpstreamUnavailable", self.unavailable),
            ("ExtensionUpstreamOtherErrors", self.other),
        ]
        .into_iter()
        .fold(
            secure_lambda::telemetry::Emf::new(function_name),
            |emf, (name, value)| emf.metric(name, "Count", value),
        )
    }
}

/// The extension's request handling, over an [`Upstream`].
pub struct Service<U> {
    upstream: U,
    token: ExpectedToken,
    errors: ErrorStyle,
    extras: Extras,
    counters: Counters,
    /// Keys with an upstream call in flight: a request that finds its key here waits for it.
    in_flight: Mutex<HashSet<Key>>,
    /// `None` when caching is off (`CACHE_ENABLED=false`, `CACHE_SIZE=0`).
    cache: Option<Cache<Key, Body>>,
    metrics: Arc<CacheMetrics>,
    secrets: Lane,
    parameters: Lane,
}

impl<U: Upstream> Service<U> {
    pub fn new(upstream: U, config: &Config, token: ExpectedToken, errors: ErrorStyle) -> Self {
        let metrics = Arc::new(CacheMetrics::default());
        let longest = config.secrets_ttl.max(config.parameters_ttl);
        let cache = NonZeroUsize::new(config.cache_size)
            .filter(|_| config.cache_enabled && !longest.is_zero())
            .map(|capacity| {
                let policy = CachePolicy {
                    ttl: longest,
                    ..CachePolicy::default()
                };
                Cache::with_capacity(policy, metrics.clone(), capacity)
            });
        Self {
            upstream,
            token,
            errors,
            extras: config.extras.clone(),
            counters: Counters::default(),
            in_flight: Mutex::new(HashSet::new()),
            cache,
            metrics,
            secrets: Lane::new(
                config.secrets_ttl,
                config.max_connections,
                config.secrets_timeout,
                Resource::Secret,
            ),
            parameters: Lane::new(
                config.parameters_ttl,
                config.max_connections,
                config.parameters_timeout,
                Resource::Parameter,
            ),
        }
    }

    /// Counters of the cache (hits, misses, stale serves, upstream calls).
    pub fn counters(&self) -> CacheCounters {
        self.metrics.snapshot()
    }

    /// Every counter.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.counters;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Snapshot {
            cache: self.metrics.snapshot(),
            upstream_calls: load(&c.upstream_calls),
            coalesced: load(&c.coalesced),
            not_found: load(&c.not_found),
            denied: load(&c.denied),
            throttled: load(&c.throttled),
            timeouts: load(&c.timeouts),
            unavailable: load(&c.unavailable),
            other: load(&c.other),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<Key>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count_failure(&self, error: &SecretError) {
        let c = &self.counters;
        let counter = match error {
            SecretError::NotFound { .. } => &c.not_found,
            SecretError::AccessDenied { .. } => &c.denied,
            SecretError::Unavailable {
                kind: Transient::Throttled,
                ..
            } => &c.throttled,
            SecretError::Unavailable {
                kind: Transient::Timeout,
                ..
            } => &c.timeouts,
            SecretError::Unavailable { .. } => &c.unavailable,
            _ => &c.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The answer to `GET <path>?<query>` with `headers`.
    pub async fn answer<'h>(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> Response {
        if self.extras.ping && method == "GET" && path == "/ping" {
            return Response::text(200, "healthy");
        }
        match self.token.check(headers) {
            Ok(()) => {}
            Err(Refusal::BadToken) => {
                return Response {
                    error_type: Some("AccessDeniedException"),
                    ..Response::text(401, BAD_TOKEN_BODY)
                }
            }
            Err(Refusal::Forwarded) => {
                return Response::text(400, "forwarded requests are refused")
            }
        }
        if method != "GET" {
            return Response::text(405, "method not allowed");
        }
        let request = match query::parse(path, query) {
            Ok(request) => request,
            Err(QueryError::UnknownPath) => return Response::text(404, "not found"),
            Err(error) => return self.failure(&Failure::BadRequest(error.to_string())),
        };
        let (key, lane, name) = match request {
            Request::Secret(secret) => {
                let name = secret.secret_id.clone();
                (Key::Secret(secret), &self.secrets, name)
            }
            Request::Parameter(parameter) => {
                let name = parameter.qualified_name();
                (Key::Parameter(parameter), &self.parameters, name)
            }
        };
        let refresh = match query::refresh_now(query) {
            Ok(refresh) => refresh && self.extras.refresh_now,
            Err(error) => return self.failure(&Failure::BadRequest(error.to_string())),
        };
        let result = match &self.cache {
            Some(cache) if !lane.ttl.is_zero() => {
                if self.in_flight().contains(&key) {
                    self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                }
                let options = ReadOptions {
                    max_age: Some(lane.ttl),
                    force_refresh: refresh,
                };
                let fetch = || async {
                    self.in_flight().insert(key.clone());
                    let result = lane.run(&name, self.fetch(&key)).await;
                    self.in_flight().remove(&key);
                    self.count_result(&result);
                    result
                };
                cache
                    .get_or_fetch(&key, options, fetch)
                    .await
                    .map(|cached| (cached.value, cached.origin))
            }
            _ => {
                let result = lane.run(&name, self.fetch(&key)).await;
                self.count_result(&result);
                result.map(|body| (Arc::new(body), Origin::Aws))
            }
        };
        match result {
            Ok((body, origin)) => Response {
                status: 200,
                content_type: "application/json",
                body: ResponseBody::Value(body),
                origin: Some(origin),
                error_type: None,
            },
            Err(error) => {
                tracing::warn!(error = %error, "lookup failed");
                self.failure(&failure_of(&error))
            }
        }
    }

    /// Reads `targets` (request targets as a client would send them) into the cache: current
    /// secrets by `BatchGetSecretValue` (20 a call) and plain parameters by `GetParameters` (10 a
    /// call, grouped by `withDecryption`); versions, stages and labels one by one.
    pub async fn prefetch(&self, targets: &[String]) -> PrefetchReport {
        let mut report = PrefetchReport::default();
        let Some(cache) = &self.cache else {
            return report;
        };
        let mut secrets = Vec::new();
        let mut parameters: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        let mut singles = Vec::new();
        for target in targets {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            match query::parse(path, query) {
                Ok(Request::Secret(r)) if r.version_id.is_none() && r.version_stage.is_none() => {
                    secrets.push(r.secret_id)
                }
                Ok(Request::Parameter(r)) if r.selector.is_none() => {
                    parameters[usize::from(r.with_decryption)].push(r.name)
                }
                Ok(Request::Secret(r)) => singles.push(Key::Secret(r)),
                Ok(Request::Parameter(r)) => singles.push(Key::Parameter(r)),
                Err(error) => {
                    tracing::warn!(target = %target, error = %error, "prefetch target ignored");
                    report.failed += 1;
                }
            }
        }
        for ids in secrets.chunks(BATCH_GET_SECRETS) {
            let result = self
                .secrets
                .run("prefetch", self.upstream.get_secrets(ids))
                .await;
            let key = |id: String| {
                Key::Secret(SecretRequest {
                    secret_id: id,
                    version_id: None,
                    version_stage: None,
                })
            };
            self.store_batch(cache, result, key, ids.len(), &mut report)
                .await;
        }
        for (with_decryption, names) in [false, true].into_iter().zip(&parameters) {
            for names in names.chunks(GET_PARAMETERS_BATCH) {
                let result = self
                    .parameters
                    .run(
                        "prefetch",
                        self.upstream.get_parameters(names, with_decryption),
                    )
                    .await;
                let key = |name: String| {
                    Key::Parameter(ParameterRequest {
                        name,
                        selector: None,
                        with_decryption,
                    })
                };
                self.store_batch(cache, result, key, names.len(), &mut report)
                    .await;
            }
        }
        for key in singles {
            let lane = match &key {
                Key::Secret(_) => &self.secrets,
                Key::Parameter(_) => &self.parameters,
            };
            let result = cache
                .get_or_fetch(&key, ReadOptions::default(), || async {
                    let result = lane.run("prefetch", self.fetch(&key)).await;
                    self.count_result(&result);
                    result
                })
                .await;
            report.calls += 1;
            match result {
                Ok(_) => report.cached += 1,
                Err(_) => report.failed += 1,
            }
        }
        report
    }

    async fn store_batch(
        &self,
        cache: &Cache<Key, Body>,
        result: Result<Batch, SecretError>,
        key: impl Fn(String) -> Key,
        asked: usize,
        report: &mut PrefetchReport,
    ) {
        report.calls += 1;
        self.counters.upstream_calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(batch) => {
                for (name, value) in batch {
                    if let Err(error) = &value {
                        self.count_failure(error);
                        report.failed += 1;
                    } else {
                        report.cached += 1;
                    }
                    let _ = cache.insert(&key(name), value).await;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "prefetch batch failed; its values are read on first use");
                self.count_failure(&error);
                report.failed += asked;
            }
        }
    }

    fn count_result(&self, result: &Result<Body, SecretError>) {
        self.counters.upstream_calls.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = result {
            self.count_failure(error);
        }
    }

    async fn fetch(&self, key: &Key) -> Result<Body, SecretError> {
        match key {
            Key::Secret(request) => self.upstream.get_secret(request).await,
            Key::Parameter(request) => self.upstream.get_parameter(request).await,
        }
    }

    fn failure(&self, failure: &Failure) -> Response {
        let response = self.errors.respond(failure);
        Response {
            status: response.status,
            content_type: response.content_type,
            body: ResponseBody::Text(response.body),
            origin: None,
            error_type: None,
        }
    }
}

/// How a read's failure is reported (the message names the secret or parameter, never a value).
fn failure_of(error: &SecretError) -> Failure {
    let message = error.to_string();
    match error {
        SecretError::NotFound { .. } => Failure::NotFound(message),
        SecretError::AccessDenied { .. } => Failure::AccessDenied(message),
        SecretError::Unavailable { .. } => Failure::Unavailable(message),
        _ => Failure::Internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// An upstream of one secret and one parameter that counts its calls, can be made to fail,
    /// and can be slowed so that concurrent requests overlap.
    #[derive(Default)]
    struct FakeUpstream {
        calls: AtomicU32,
        batch_calls: AtomicU32,
        failing: std::sync::Mutex<Option<SecretError>>,
        delay: Duration,
    }

    impl FakeUpstream {
        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }

        fn fail_with(&self, error: Option<SecretError>) {
            *self.failing.lock().unwrap() = error;
        }

        async fn answer(&self, name: &str, found: bool) -> Result<Body, SecretError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if let Some(error) = self.failing.lock().unwrap().clone() {
                return Err(error);
            }
            if !found {
                return Err(SecretError::NotFound {
                    what: Resource::Secret,
                    name: name.to_owned(),
                });
            }
            Ok(Body::new(format!(
                "{{\"SecretString\":\"value-of-{name}\"}}"
            )))
        }
    }

    impl Upstream for Arc<FakeUpstream> {
        async fn get_secret(&self, request: &SecretRequest) -> Result<Body, SecretError> {
            self.answer(&request.secret_id, request.secret_id != "missing")
                .await
        }

        async fn get_parameter(&self, request: &ParameterRequest) -> Result<Body, SecretError> {
            self.answer(&request.qualified_name(), true).await
        }

        async fn get_parameters(
            &self,
            names: &[String],
            _with_decryption: bool,
        ) -> Result<Batch, SecretError> {
            self.batch_calls.fetch_add(1, Ordering::SeqCst);
            Ok(names
                .iter()
                .map(|n| (n.clone(), Ok(Body::new(format!("{{\"Value\":\"{n}\"}}")))))
                .collect())
        }

        async fn get_secrets(&self, ids: &[String]) -> Result<Batch, SecretError> {
            self.batch_calls.fetch_add(1, Ordering::SeqCst);
            Ok(ids
                .iter()
                .map(|id| {
                    let value = if id == "missing" {
                        Err(SecretError::NotFound {
                            what: Resource::Secret,
                            name: id.clone(),
                        })
                    } else {
                        Ok(Body::new(format!("{{\"SecretString\":\"batch-{id}\"}}")))
                    };
                    (id.clone(), value)
                })
                .collect())
        }
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    fn service(
        vars: &[(&str, &str)],
        delay: Duration,
    ) -> (Arc<Service<Arc<FakeUpstream>>>, Arc<FakeUpstream>) {
        let upstream = Arc::new(FakeUpstream {
            delay,
            ..FakeUpstream::default()
        });
        let token = ExpectedToken::from_lookup(|name| {
            (name == "AWS_SESSION_TOKEN").then(|| "session-token".to_owned())
        });
        let detailed = vars.iter().any(|(k, _)| *k == "DETAILED");
        let style = if detailed {
            ErrorStyle::Detailed
        } else {
            ErrorStyle::Generic
        };
        let service = Service::new(upstream.clone(), &config(vars), token, style);
        (Arc::new(service), upstream)
    }

    const TOKEN: [(&str, &[u8]); 1] = [("X-Aws-Parameters-Secrets-Token", b"session-token")];

    async fn get(service: &Service<Arc<FakeUpstream>>, path: &str, query: &str) -> Response {
        service.answer("GET", path, query, TOKEN).await
    }

    fn text(response: &Response) -> String {
        String::from_utf8_lossy(response.body.as_bytes()).into_owned()
    }

    #[tokio::test]
    async fn five_hundred_concurrent_cold_requests_make_one_upstream_call() {
        let (service, upstream) = service(&[], Duration::from_millis(50));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..500 {
            let service = service.clone();
            tasks.spawn(async move {
                let response = get(&service, "/secretsmanager/get", "secretId=db").await;
                (response.status, text(&response))
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (status, body) = done.unwrap();
            assert_eq!(status, 200);
            assert!(body.contains("value-of-db"));
        }
        assert_eq!(upstream.calls(), 1);
        let counters = service.counters();
        assert_eq!((counters.misses, counters.aws_calls), (1, 1));
        assert_eq!(counters.hits, 499);
    }

    #[tokio::test(start_paused = true)]
    async fn values_live_for_their_service_ttl() {
        let (service, upstream) = service(
            &[
                ("SECRETS_MANAGER_TTL", "10"),
                ("SSM_PARAMETER_STORE_TTL", "100"),
            ],
            Duration::ZERO,
        );
        for _ in 0..3 {
            get(&service, "/secretsmanager/get", "secretId=db").await;
            get(
                &service,
                "/systemsmanager/parameters/get",
                "name=%2Fapp%2Fa",
            )
            .await;
        }
        assert_eq!(upstream.calls(), 2);
        tokio::time::advance(Duration::from_secs(11)).await;
        get(&service, "/secretsmanager/get", "secretId=db").await;
        get(
            &service,
            "/systemsmanager/parameters/get",
            "name=%2Fapp%2Fa",
        )
        .await;
        assert_eq!(
            upstream.calls(),
            3,
            "the secret expired, the parameter did not"
        );
    }

    #[tokio::test]
    async fn ttl_zero_cache_size_zero_or_cache_disabled_bypass_the_cache() {
        for vars in [
            &[("SECRETS_MANAGER_TTL", "0")][..],
            &[("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "0")][..],
            &[("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "false")][..],
        ] {
            let (service, upstream) = service(vars, Duration::ZERO);
            for _ in 0..3 {
                let response = get(&service, "/secretsmanager/get", "secretId=db").await;
                assert_eq!(response.status, 200);
            }
            assert_eq!(upstream.calls(), 3, "{vars:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_value_is_served_while_aws_throttles_and_not_after_a_denial() {
        let (service, upstream) = service(&[("SECRETS_MANAGER_TTL", "5")], Duration::ZERO);
        assert_eq!(
            get(&service, "/secretsmanager/get", "secretId=db")
                .await
                .status,
            200
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        upstream.fail_with(Some(SecretError::Unavailable {
            what: Resource::Secret,
            name: "db".into(),
            kind: Transient::Throttled,
            detail: "Rate exceeded".into(),
        }));
        let response = get(&service, "/secretsmanager/get", "secretId=db").await;
        assert_eq!(
            (response.status, response.origin),
            (200, Some(Origin::Stale))
        );
        assert_eq!(service.counters().stale_served, 1);
        upstream.fail_with(Some(SecretError::AccessDenied {
            what: Resource::Secret,
            name: "db".into(),
            detail: "AccessDeniedException".into(),
        }));
        tokio::time::advance(Duration::from_secs(60)).await;
        let response = get(&service, "/secretsmanager/get", "secretId=db").await;
        assert_eq!(response.status, 400);
        upstream.fail_with(None);
        let response = get(&service, "/secretsmanager/get", "secretId=db").await;
        assert_eq!(
            response.origin,
            Some(Origin::Aws),
            "the denied value was dropped"
        );
    }

    #[tokio::test]
    async fn refusals_and_errors_are_awss_unless_details_are_asked_for() {
        let (service, _) = service(&[], Duration::ZERO);
        let no_token = service
            .answer("GET", "/secretsmanager/get", "secretId=db", [])
            .await;
        assert_eq!(
            (no_token.status, no_token.content_type),
            (401, "text/plain")
        );
        assert_eq!(text(&no_token), BAD_TOKEN_BODY);
        assert_eq!(no_token.error_type, Some("AccessDeniedException"));
        let wrong = service
            .answer(
                "GET",
                "/secretsmanager/get",
                "secretId=db",
                [("x-aws-parameters-secrets-token", &b"session-tokeN"[..])],
            )
            .await;
        assert_eq!(wrong.status, 401);
        let forwarded = service
            .answer(
                "GET",
                "/secretsmanager/get",
                "secretId=db",
                [TOKEN[0], ("X-Forwarded-For", &b"10.0.0.1"[..])],
            )
            .await;
        assert_eq!(forwarded.status, 400);
        assert_eq!(
            service
                .answer("POST", "/secretsmanager/get", "secretId=db", TOKEN)
                .await
                .status,
            405
        );
        assert_eq!(get(&service, "/secrets", "secretId=db").await.status, 404);
        for query in ["", "secretId=missing"] {
            let response = get(&service, "/secretsmanager/get", query).await;
            assert_eq!(response.status, 400, "{query}");
            assert_eq!(text(&response), crate::error::GENERIC_BODY);
        }
        let (detailed, _) = service_detailed();
        let response = get(&detailed, "/secretsmanager/get", "secretId=missing").await;
        assert_eq!(response.status, 404);
        assert!(
            text(&response).contains("ResourceNotFoundException"),
            "{}",
            text(&response)
        );
    }

    #[tokio::test]
    async fn prefetch_reads_in_batches_and_serves_from_the_cache() {
        let (service, upstream) = service(
            &[("PARAMETERS_SECRETS_EXTENSION_PING", "true")],
            Duration::ZERO,
        );
        let mut targets: Vec<String> = (0..25)
            .map(|n| format!("/secretsmanager/get?secretId=s{n}"))
            .collect();
        targets.extend((0..12).map(|n| format!("/systemsmanager/parameters/get?name=p{n}")));
        targets.push("/systemsmanager/parameters/get?name=p0&withDecryption=true".into());
        targets.push("/secretsmanager/get?secretId=missing".into());
        targets.push("/systemsmanager/parameters/get?name=p1&version=3".into());
        targets.push("/nowhere?x=1".into());
        let report = service.prefetch(&targets).await;
        // Secrets: 26 ids in 2 calls; parameters: 12 + 1 in 3 calls; the version: 1 read.
        assert_eq!(upstream.batch_calls.load(Ordering::SeqCst), 5);
        assert_eq!(upstream.calls(), 1);
        assert_eq!(
            report,
            PrefetchReport {
                cached: 39,
                failed: 2,
                calls: 6
            }
        );
        let response = get(&service, "/secretsmanager/get", "secretId=s24").await;
        assert_eq!(response.origin, Some(Origin::Cache));
        assert!(text(&response).contains("batch-s24"));
        let response = get(&service, "/systemsmanager/parameters/get", "name=p11").await;
        assert_eq!(response.origin, Some(Origin::Cache));
        assert_eq!(upstream.calls(), 1, "no read after the prefetch");
        let ping = service.answer("GET", "/ping", "", []).await;
        assert_eq!((ping.status, text(&ping).as_str()), (200, "healthy"));
        assert_eq!(service.snapshot().not_found, 1);
    }

    #[tokio::test]
    async fn refresh_now_and_ping_are_opt_in() {
        let (plain, upstream) = service(&[], Duration::ZERO);
        get(&plain, "/secretsmanager/get", "secretId=db").await;
        let response = get(&plain, "/secretsmanager/get", "secretId=db&refreshNow=true").await;
        assert_eq!(
            response.origin,
            Some(Origin::Cache),
            "ignored unless enabled"
        );
        assert_eq!(upstream.calls(), 1);
        assert_eq!(plain.answer("GET", "/ping", "", []).await.status, 401);
        let (opted, upstream) = service(
            &[("PARAMETERS_SECRETS_EXTENSION_REFRESH_NOW", "true")],
            Duration::ZERO,
        );
        get(&opted, "/secretsmanager/get", "secretId=db").await;
        for query in ["secretId=db&refreshNow=true", "refreshNow=1&secretId=db"] {
            let response = get(&opted, "/secretsmanager/get", query).await;
            assert_eq!(response.origin, Some(Origin::Aws), "{query}");
        }
        assert_eq!(upstream.calls(), 3);
        assert_eq!(
            get(
                &opted,
                "/secretsmanager/get",
                "secretId=db&refreshNow=maybe"
            )
            .await
            .status,
            400
        );
    }

    #[tokio::test(start_paused = true)]
    async fn coalesced_waits_and_failures_are_counted() {
        let (service, _) = service(&[], Duration::from_millis(100));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let service = service.clone();
            tasks.spawn(async move {
                get(&service, "/secretsmanager/get", "secretId=db")
                    .await
                    .status
            });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        get(&service, "/secretsmanager/get", "secretId=missing").await;
        let snapshot = service.snapshot();
        assert_eq!(snapshot.coalesced, 9);
        assert_eq!((snapshot.upstream_calls, snapshot.not_found), (2, 1));
        let emf = snapshot.to_emf("f").to_json();
        assert_eq!(emf["ExtensionCoalescedWaits"], 9);
        assert_eq!(emf["ExtensionUpstreamNotFound"], 1);
    }

    fn service_detailed() -> (Arc<Service<Arc<FakeUpstream>>>, Arc<FakeUpstream>) {
        service(&[("DETAILED", "")], Duration::ZERO)
    }

    #[tokio::test(start_paused = true)]
    async fn upstream_calls_are_bounded_with_a_timeout() {
        let (service, upstream) = service(
            &[
                ("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", "2"),
                ("SECRETS_MANAGER_TIMEOUT_MILLIS", "100"),
                ("DETAILED", ""),
            ],
            Duration::from_secs(1),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..6 {
            let service = service.clone();
            tasks.spawn(async move {
                get(&service, "/secretsmanager/get", &format!("secretId=s{n}"))
                    .await
                    .status
            });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap(), 503, "timed out");
        }
        assert_eq!(upstream.calls(), 6);
        // A label and a version are separate keys.
        let (service, upstream) = service_detailed();
        get(
            &service,
            "/systemsmanager/parameters/get",
            "name=p&version=2",
        )
        .await;
        get(
            &service,
            "/systemsmanager/parameters/get",
            "name=p&label=live",
        )
        .await;
        get(
            &service,
            "/systemsmanager/parameters/get/",
            "name=p&version=2",
        )
        .await;
        assert_eq!(upstream.calls(), 2);
    }
}
