//! What one request is answered with: admission ([`crate::auth`]), the route and query
//! ([`crate::query`]), then the value from the cache or from AWS ([`crate::upstream`]).
//!
//! Behind AWS's contract, the library's cache: one upstream call per key at a time however many
//! requests wait for it (single flight), an expired value served for a bounded time while AWS
//! throttles, fails or times out (with jittered backoff before AWS is asked again), "not found"
//! remembered briefly, a value dropped when access is denied. Upstream calls per service are
//! bounded by `PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS`, with a bounded queue behind them:
//! past it a request fails at once instead of piling up.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use secure_lambda::secrets::{
    Cache, CacheCounters, CacheMetrics, CachePolicy, Origin, ReadOptions, Resource, SecretError,
    Transient,
};
use tokio::sync::Semaphore;

use crate::auth::{ExpectedToken, Refusal, BAD_TOKEN_BODY};
use crate::config::Config;
use crate::error::{ErrorStyle, Failure};
use crate::query::{self, ParameterRequest, QueryError, Request, SecretRequest};
use crate::upstream::{Body, Upstream};

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
    async fn run<F>(&self, name: &str, call: F) -> Result<Body, SecretError>
    where
        F: std::future::Future<Output = Result<Body, SecretError>>,
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

/// The extension's request handling, over an [`Upstream`].
pub struct Service<U> {
    upstream: U,
    token: ExpectedToken,
    errors: ErrorStyle,
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

    /// The answer to `GET <path>?<query>` with `headers`.
    pub async fn answer<'h>(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> Response {
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
        let fetch = || lane.run(&name, self.fetch(&key));
        let result = match &self.cache {
            Some(cache) if !lane.ttl.is_zero() => cache
                .get_or_fetch(&key, ReadOptions::max_age(lane.ttl), fetch)
                .await
                .map(|cached| (cached.value, cached.origin)),
            _ => fetch().await.map(|body| (Arc::new(body), Origin::Aws)),
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
