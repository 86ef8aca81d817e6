//! The `loadtest` handler: decrypt the user names, sign them in, run the load (or fan it out),
//! report. A worker message is authenticated before anything else happens (see
//! [`crate::worker`]); user names leave only as [`UserNames::display`] shows them.

use std::sync::Arc;

use hyper::{Method, Uri};
use secrecy::ExposeSecret;
use secure_lambda::envelope::Invocation;
use secure_lambda::kms_env::{split_list, Decrypter, EncryptedEnv};
use secure_lambda::runtime::Function;
use secure_lambda::secrets::{CacheCounters, ParameterSource, SecretSource};
use secure_lambda::telemetry::{now_millis, Emf};
use secure_lambda::ApiError;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::engine::{Caller, Engine, Plan};
use crate::fanout::{self, Invoker};
use crate::names::UserNames;
use crate::request::{Limits, LoadRequest, Schedule};
use crate::signin::{IdentityProvider, SignIns};
use crate::stats::RunStats;
use crate::worker::{self, Admissions, WorkerKey};

/// The function: encrypted env, sign-ins, the engine for `API_URL`, the fan-out invoker.
pub struct LoadTest<D, I, S, P, V> {
    env: EncryptedEnv<D>,
    sign_ins: SignIns<I, S, P>,
    engine: Arc<Engine>,
    invoker: V,
    config: Config,
    /// This function's name, which worker messages must carry.
    function: String,
    names: UserNames,
    admissions: Admissions,
}

impl<D, I, S, P, V> LoadTest<D, I, S, P, V>
where
    D: Decrypter,
    I: IdentityProvider,
    S: SecretSource,
    P: ParameterSource,
    V: Invoker,
{
    /// `names` is shared with the log writer ([`crate::names::ScrubbingMakeWriter`]), which
    /// masks the names this function decrypts.
    pub fn new(
        env: EncryptedEnv<D>,
        sign_ins: SignIns<I, S, P>,
        engine: Engine,
        invoker: V,
        config: Config,
        names: &UserNames,
    ) -> Self {
        if std::env::var_os("USER_PASSWORD").is_some() {
            tracing::warn!(
                "USER_PASSWORD is set and ignored: passwords are read from Secrets Manager"
            );
        }
        let names = names.revealing(config.log_user_names);
        Self {
            env,
            sign_ins: sign_ins.user_names(names.clone()),
            engine: Arc::new(engine),
            invoker,
            config,
            function: secure_lambda::telemetry::function_name(),
            names,
            admissions: Admissions::default(),
        }
    }

    async fn answer(&self, invocation: Invocation) -> Result<Value, ApiError> {
        let Invocation::Direct(payload) = invocation else {
            return Err(ApiError::bad_request(
                "DirectInvocationOnly",
                "invoke loadtest directly (aws lambda invoke), not over HTTP",
            ));
        };
        if payload.contains_key("_worker") {
            return self.work(&payload).await;
        }
        let request = LoadRequest::parse(&payload, &self.config.caps)?;
        let users = self.users().await?;
        request.check_users(users.len() as u64)?;
        if request.workers > 1 {
            return self.fan_out(&request).await;
        }
        self.run(&users, &request).await
    }

    /// A worker's part of a fanned-out run, once its message is proven to be the coordinator's
    /// and fresh: nobody is signed in and nothing is called before that.
    async fn work(&self, payload: &Map<String, Value>) -> Result<Value, ApiError> {
        let refused = |refusal: worker::Refusal| {
            tracing::warn!(reason = %refusal, "worker message refused");
            ApiError::from(refusal)
        };
        let sealed = worker::unseal(payload).map_err(refused)?;
        let claims = sealed.verify(&self.worker_key().await?).map_err(refused)?;
        self.admissions
            .admit(&claims, &self.function, now_millis())
            .map_err(refused)?;
        let caps = &self.config.caps;
        let signed = Limits {
            calls: claims.max_calls,
            rate: claims.max_rate,
            duration: caps.max_duration,
        };
        let request = LoadRequest::for_worker(&claims.run, claims.slice(), signed, caps)?;
        let users = self.users().await?;
        request.check_users(users.len() as u64)?;
        let mut body = self.run(&users, &request).await?;
        if let Some(body) = body.as_object_mut() {
            body.insert(
                "worker".into(),
                json!({"runId": claims.run_id, "index": claims.index}),
            );
        }
        Ok(body)
    }

    /// The key that signs worker messages.
    async fn worker_key(&self) -> Result<WorkerKey, ApiError> {
        let bytes = self
            .sign_ins
            .store()
            .key_material(&self.config.worker_key_secret_id, WorkerKey::MIN_LEN)
            .await
            .map_err(|e| ApiError::from(&e))?;
        WorkerKey::new(bytes).ok_or_else(|| {
            ApiError::new(500, "WorkerKeyRejected", "the worker key was not accepted")
        })
    }

    /// The decrypted `USER_NAME` list. Its value is never logged or returned in an error; the
    /// log writer masks these names from here on.
    async fn users(&self) -> Result<Vec<String>, ApiError> {
        let value = self
            .env
            .get(&self.config.user_name_variable)
            .await
            .map_err(|e| ApiError::from(&e))?;
        let users = split_list(&value);
        if users.is_empty() {
            return Err(ApiError::new(
                500,
                "EncryptedConfigError",
                "USER_NAME decrypts to no user name",
            ));
        }
        self.names.remember(&users, &self.config.password_prefix);
        Ok(users)
    }

    fn engine_for(&self, request: &LoadRequest) -> Result<Arc<Engine>, ApiError> {
        if request.path.is_none() && request.method == "GET" {
            return Ok(Arc::clone(&self.engine));
        }
        let base = self.engine.uri();
        let uri = match &request.path {
            Some(path) => {
                let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
                let scheme = base.scheme_str().unwrap_or("https");
                format!("{scheme}://{authority}{path}")
                    .parse::<Uri>()
                    .map_err(|_| {
                        ApiError::bad_request("InvalidField", "`Path` does not make a valid URL")
                            .with_field("Path")
                    })?
            }
            None => base.clone(),
        };
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            ApiError::bad_request("InvalidField", "invalid `Method`").with_field("Method")
        })?;
        Engine::new(uri, method, self.config.request_timeout)
            .map(Arc::new)
            .map_err(|e| ApiError::new(500, "HttpClientError", e))
    }

    async fn run(&self, users: &[String], request: &LoadRequest) -> Result<Value, ApiError> {
        let mut callers = Vec::new();
        let mut failures = Map::new();
        for user in users {
            let shown = self.names.display(user);
            match self.sign_ins.token(user).await {
                Ok(token) => callers.push(Caller::new(&shown, Some(token.expose_secret()))),
                Err(error) => {
                    tracing::warn!(user = shown.as_str(), reason = %error, "sign-in failed");
                    // Two names can share a mask: keep both entries.
                    let mut key = shown.clone();
                    for n in 2.. {
                        if !failures.contains_key(&key) {
                            break;
                        }
                        key = format!("{shown} ({n})");
                    }
                    failures.insert(key, json!(error.to_string()));
                }
            }
        }
        let sign_in = self.sign_ins.summary().await;
        if callers.is_empty() {
            return Err(ApiError::new(502, "SignInFailed", "no user could sign in")
                .with_extra("signInErrors", Value::Object(failures)));
        }
        let engine = self.engine_for(request)?;
        let plan = Plan {
            schedule: request.schedule,
            concurrency: request.concurrency,
            slice: request.slice,
            limits: request.limits,
            log_calls: self.config.log_calls,
        };
        tracing::info!(
            users = callers.len(),
            model = model_name(&request.schedule),
            concurrency = request.concurrency,
            max_calls = request.limits.calls,
            max_calls_per_second = request.limits.rate,
            "load run starting"
        );
        let (stats, logs) = engine.run(plan, &callers).await;
        for call in &logs {
            match call.outcome {
                Ok(status) => tracing::info!(
                    call = call.index,
                    user = &*call.user,
                    status,
                    latency_ms = call.latency.as_secs_f64() * 1000.0,
                    "{}",
                    call.summary
                ),
                Err(class) => tracing::warn!(
                    call = call.index,
                    user = &*call.user,
                    error = class.name(),
                    latency_ms = call.latency.as_secs_f64() * 1000.0,
                    "call failed"
                ),
            }
        }
        emit_emf(&stats);
        Ok(json!({
            "message": format!("{} calls by {} user(s) against {}", stats.calls(), callers.len(), engine.uri()),
            "model": model_name(&request.schedule),
            "users": callers.iter().map(|c| c.user.to_string()).collect::<Vec<_>>(),
            "result": stats.to_json(),
            "caps": request.limits.to_json(),
            "signIn": sign_in,
            "signInErrors": failures,
        }))
    }

    /// Invokes each worker once, with a signed message, and merges what comes back.
    async fn fan_out(&self, request: &LoadRequest) -> Result<Value, ApiError> {
        let key = self.worker_key().await?;
        let run_id = worker::new_run_id();
        let start_at_ms =
            now_millis().saturating_add(worker::START_DELAY.as_millis().try_into().unwrap_or(0));
        let caps = &self.config.caps;
        let events =
            fanout::worker_events(request, caps, &key, &self.function, &run_id, start_at_ms)
                .ok_or_else(|| {
                    ApiError::new(
                        500,
                        "WorkerSigningFailed",
                        "worker messages could not be signed",
                    )
                })?;
        let timeout =
            fanout::worker_timeout(request, worker::START_DELAY, self.config.request_timeout);
        tracing::info!(
            workers = request.workers,
            run_id = run_id.as_str(),
            timeout_s = timeout.as_secs(),
            "fanning out, each worker invoked once"
        );
        let answers = futures_util::future::join_all(
            events
                .into_iter()
                .map(|event| self.invoker.invoke(event, timeout)),
        )
        .await;
        let merged = fanout::merge(answers, &run_id);
        emit_emf(&merged.stats);
        Ok(json!({
            "message": format!("{} calls by {} workers, histograms merged", merged.stats.calls(), request.workers),
            "model": model_name(&request.schedule),
            "runId": run_id,
            "workers": merged.workers,
            "result": merged.stats.to_json(),
            "caps": caps.limits().to_json(),
            "signIn": {"attempts": merged.sign_in_attempts},
        }))
    }

    pub fn cache_counters(&self) -> CacheCounters {
        self.sign_ins.store().counters()
    }
}

impl<D, I, S, P, V> Function for LoadTest<D, I, S, P, V>
where
    D: Decrypter,
    I: IdentityProvider,
    S: SecretSource,
    P: ParameterSource,
    V: Invoker,
{
    const NAME: &'static str = "loadtest";

    async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
        self.answer(invocation).await
    }

    fn cache_counters(&self) -> Option<CacheCounters> {
        Some(LoadTest::cache_counters(self))
    }
}

fn model_name(schedule: &Schedule) -> &'static str {
    match schedule {
        Schedule::Count { .. } => "closed (calls per user)",
        Schedule::For(_) => "closed (timed)",
        Schedule::Open { .. } => "open (fixed rate, latency from intended send time)",
    }
}

/// One EMF line: calls, errors, p50/p99 and achieved rate.
fn emit_emf(stats: &RunStats) {
    let h = &stats.latency;
    let ms = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let errors: u64 = stats.errors.values().sum();
    let seconds = stats.elapsed.as_secs_f64().max(f64::EPSILON);
    Emf::new(&secure_lambda::telemetry::function_name())
        .metric("LoadCalls", "Count", stats.calls())
        .metric("LoadErrors", "Count", errors)
        .metric("LoadLatencyP50", "Milliseconds", ms(0.5))
        .metric("LoadLatencyP99", "Milliseconds", ms(0.99))
        .metric(
            "LoadAchievedRps",
            "Count/Second",
            stats.calls() as f64 / seconds,
        )
        .emit();
}

#[cfg(test)]
mod tests {
    use super::*;
    // The tests name their function type `Function`; the trait's methods are still wanted.
    use crate::fanout::InvokeFailure;
    use crate::request::Caps;
    use crate::signin::{PasswordSecrets, Session, SignInError};
    use crate::worker::{seal, Claims};
    use secrecy::SecretString;
    use secure_lambda::aws::{AwsFailure, FailureKind, Transient};
    use secure_lambda::kms_env::{DecryptFailure, EncryptionContext};
    use secure_lambda::runtime::Function as _;
    use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
    use secure_lambda::secrets::{CachePolicy, SecretStore};
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

    /// KMS that decrypts anything to a fixed list of user names, counting calls.
    #[derive(Clone, Default)]
    struct FakeKms(Arc<AtomicU32>, &'static str);

    impl Decrypter for FakeKms {
        async fn decrypt(
            &self,
            _ciphertext: Vec<u8>,
            _context: Option<(String, String)>,
        ) -> Result<Vec<u8>, DecryptFailure> {
            self.0.fetch_add(1, Ordering::SeqCst);
            // `!timeout` and `!throttled` stand for KMS failing that way.
            let transient = match self.1 {
                "!timeout" => Some(Transient::Timeout),
                "!throttled" => Some(Transient::Throttled),
                _ => None,
            };
            if let Some(kind) = transient {
                return Err(DecryptFailure::Other(AwsFailure {
                    kind: FailureKind::Transient(kind),
                    code: Some("ThrottlingException".into()),
                    detail: "ThrottlingException: key arn:aws:kms:us-east-1:123456789012:key/x"
                        .into(),
                }));
            }
            Ok(self.1.as_bytes().to_vec())
        }
    }

    #[derive(Clone, Default)]
    struct FakeCognito(Arc<AtomicU32>);

    impl IdentityProvider for FakeCognito {
        async fn sign_in(
            &self,
            user: &str,
            password: &SecretString,
        ) -> Result<crate::signin::Session, SignInError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            match password.expose_secret() {
                "lab_password" => Ok(Session {
                    id_token: SecretString::from(format!("token-of-{user}")),
                    expires: tokio::time::Instant::now() + Duration::from_secs(3600),
                }),
                _ => Err(SignInError::NotAuthorized),
            }
        }
    }

    /// Fails every invocation: for functions that must not fan out.
    struct NoFanOut;

    impl Invoker for NoFanOut {
        async fn invoke(&self, _: Value, _: Duration) -> Result<Value, InvokeFailure> {
            Err(InvokeFailure::Failed("no fan-out here".into()))
        }
    }

    type Function<V> = LoadTest<FakeKms, FakeCognito, MemorySecrets, MemoryParameters, V>;

    /// An orders API that counts the calls it gets.
    async fn target() -> (Uri, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        async {
                            Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from_static(br#"{"orderCount":5,"orders":[]}"#),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{address}/orders").parse().unwrap(), calls)
    }

    struct Fakes {
        kms: FakeKms,
        cognito: FakeCognito,
    }

    /// A loadtest whose `USER_NAME` (variable `variable`, set here) decrypts to `users`.
    fn function<V: Invoker>(
        api: &Uri,
        variable: &str,
        users: &'static str,
        reveal: bool,
        invoker: V,
    ) -> (Function<V>, Fakes) {
        std::env::set_var(variable, "Y2lwaGVydGV4dA==");
        let secrets = MemorySecrets::default();
        secrets.put("student", r#"{"Password":"lab_password"}"#);
        secrets.put("alice", r#"{"Password":"lab_password"}"#);
        secrets.put("mallory", r#"{"Password":"guess"}"#);
        secrets.put("loadtest/worker-key", KEY);
        let fakes = Fakes {
            kms: FakeKms(Arc::default(), users),
            cognito: FakeCognito::default(),
        };
        let config = Config {
            api_url: api.to_string(),
            client_id: "client".into(),
            user_pool_id: "pool".into(),
            user_name_variable: variable.into(),
            password_prefix: String::new(),
            password_key: "Password".into(),
            sign_in_interval: Duration::ZERO,
            request_timeout: Duration::from_secs(5),
            log_calls: 20,
            kms_retry_without_context: false,
            worker_key_secret_id: "loadtest/worker-key".into(),
            log_user_names: reveal,
            caps: Caps::default(),
            cache: CachePolicy::default(),
        };
        let env = EncryptedEnv::new(
            fakes.kms.clone(),
            EncryptionContext {
                key: "LambdaFunctionName".into(),
                value: "loadtest".into(),
            },
        );
        let sign_ins = SignIns::new(
            fakes.cognito.clone(),
            SecretStore::new(secrets, MemoryParameters::default(), CachePolicy::default()),
            PasswordSecrets {
                prefix: String::new(),
                key: "Password".into(),
            },
            Duration::ZERO,
        );
        let engine = Engine::new(api.clone(), Method::GET, Duration::from_secs(5)).unwrap();
        let names = UserNames::default();
        let function = LoadTest::new(env, sign_ins, engine, invoker, config, &names);
        (function, fakes)
    }

    fn body(response: &Value) -> Value {
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
    }

    fn worker_event(key: &str, start_at_ms: u64, run_id: &str) -> Value {
        let claims = Claims {
            function: secure_lambda::telemetry::function_name(),
            run_id: run_id.into(),
            index: 0,
            of: 1,
            start_at_ms,
            max_calls: 1_000_000,
            max_rate: 5000.0,
            run: json!({"NumberOfCallsPerUser": 2, "Concurrency": 1, "Method": "GET"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let key = WorkerKey::new(key.as_bytes().to_vec()).unwrap();
        json!({ "_worker": seal(&key, &claims).unwrap() })
    }

    #[tokio::test]
    async fn forged_stale_or_replayed_worker_messages_make_no_call() {
        let (api, calls) = target().await;
        let (function, fakes) = function(&api, "LOADTEST_TEST_USERS_1", "student", false, NoFanOut);
        let now = now_millis();
        let run = "1".repeat(32);
        let other_key = "x".repeat(40);
        let mut tampered = worker_event(KEY, now, &run);
        tampered["_worker"]["claims"] = json!(tampered["_worker"]["claims"]
            .as_str()
            .unwrap()
            .replace("1000000", "9000000"));
        for (name, event) in [
            (
                "unsigned",
                json!({"_worker": {"index": 0, "of": 1, "startAtMs": now}}),
            ),
            ("another key", worker_event(&other_key, now, &run)),
            ("raised caps", tampered),
            ("far future", worker_event(KEY, now + 3_600_000, &run)),
            ("stale", worker_event(KEY, now - 60_000, &run)),
        ] {
            let response = function.handle(event).await;
            assert_eq!(response["statusCode"], 403, "{name}: {response}");
            let error = &body(&response)["error"];
            assert_eq!(error["code"], "WorkerMessageRejected", "{name}");
            assert_eq!(error["field"], "_worker", "{name}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            fakes.cognito.0.load(Ordering::SeqCst),
            0,
            "nobody signed in"
        );
        assert_eq!(
            fakes.kms.0.load(Ordering::SeqCst),
            0,
            "USER_NAME not even decrypted"
        );

        // The genuine message runs once; the same message again is a replay.
        let genuine = worker_event(KEY, now, &run);
        let response = function.handle(genuine.clone()).await;
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(body(&response)["worker"], json!({"runId": run, "index": 0}));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let response = function.handle(genuine).await;
        assert_eq!(response["statusCode"], 403, "{response}");
        assert!(body(&response)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("replay"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn user_names_are_masked_in_responses_and_errors() {
        let (api, _) = target().await;
        let users = "student, mallory, nobody";
        let (function, _) = function(&api, "LOADTEST_TEST_USERS_2", users, false, NoFanOut);
        let response = function.handle(json!({"NumberOfCallsPerUser": 1})).await;
        assert_eq!(response["statusCode"], 200, "{response}");
        let answer = body(&response);
        assert_eq!(answer["users"], json!(["s*****t"]));
        assert_eq!(
            answer["signInErrors"],
            json!({
                "m*****y": "wrong user name or password",
                "n****y": "the password secret could not be read (SecretNotFound)"
            })
        );
        let text = response.to_string();
        for name in ["student", "mallory", "nobody"] {
            assert!(!text.contains(name), "{name} in {text}");
        }

        // Nobody signs in: the error body is masked the same way.
        let (function, _) = function_only_failing(&api).await;
        let response = function.handle(json!({})).await;
        assert_eq!(response["statusCode"], 502, "{response}");
        assert_eq!(
            body(&response)["signInErrors"],
            json!({"m*****y": "wrong user name or password"})
        );
        assert!(!response.to_string().contains("mallory"));
    }

    async fn function_only_failing(api: &Uri) -> (Function<NoFanOut>, Fakes) {
        function(api, "LOADTEST_TEST_USERS_3", "mallory", false, NoFanOut)
    }

    #[tokio::test]
    async fn names_are_shown_when_the_lab_opts_in() {
        let (api, _) = target().await;
        let (function, _) = function(&api, "LOADTEST_TEST_USERS_4", "student", true, NoFanOut);
        let response = function.handle(json!({"NumberOfCallsPerUser": 1})).await;
        assert_eq!(body(&response)["users"], json!(["student"]));
    }

    /// Invokes a worker function in-process, counting invocations and keeping the events.
    struct Loopback {
        worker: Arc<Function<NoFanOut>>,
        events: std::sync::Mutex<Vec<Value>>,
    }

    impl Invoker for Loopback {
        async fn invoke(&self, payload: Value, _: Duration) -> Result<Value, InvokeFailure> {
            self.events.lock().unwrap().push(payload.clone());
            Ok(self.worker.handle(payload).await)
        }
    }

    #[tokio::test]
    async fn fan_out_invokes_each_worker_once_with_a_signed_message() {
        let (api, calls) = target().await;
        let (worker, _) = function(
            &api,
            "LOADTEST_TEST_USERS_5",
            "student,alice",
            false,
            NoFanOut,
        );
        let loopback = Loopback {
            worker: Arc::new(worker),
            events: std::sync::Mutex::default(),
        };
        let (coordinator, _) = function(
            &api,
            "LOADTEST_TEST_USERS_6",
            "student,alice",
            false,
            loopback,
        );
        let event = json!({"NumberOfCallsPerUser": 3, "Workers": 3, "Concurrency": 3});
        let response = coordinator.handle(event).await;
        assert_eq!(response["statusCode"], 200, "{response}");
        let answer = body(&response);
        assert_eq!(answer["result"]["calls"], 6, "{answer}");
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        let workers = answer["workers"].as_array().unwrap();
        assert_eq!(workers.len(), 3);
        assert!(
            workers.iter().all(|w| w["ok"] == true && w["calls"] == 2),
            "{answer}"
        );
        let events = coordinator.invoker.events.lock().unwrap().clone();
        assert_eq!(events.len(), 3);
        // Each event is a sealed message and nothing else; replaying one is refused.
        for event in &events {
            assert_eq!(event.as_object().unwrap().len(), 1);
        }
        let replay = coordinator.invoker.worker.handle(events[0].clone()).await;
        assert_eq!(replay["statusCode"], 403);
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    /// KMS failing answers as every AWS failure does in the suite: timeout 504, throttling 503,
    /// naming KMS and the AWS error code, never the key's ARN.
    #[tokio::test]
    async fn kms_failures_map_to_one_status_each() {
        let (api, _) = target().await;
        for (users, variable, status, code) in [
            (
                "!timeout",
                "LOADTEST_TEST_USERS_KMS_1",
                504,
                "DependencyTimeout",
            ),
            (
                "!throttled",
                "LOADTEST_TEST_USERS_KMS_2",
                503,
                "DependencyUnavailable",
            ),
        ] {
            let (function, _) = function(&api, variable, users, false, NoFanOut);
            let response = function.handle(json!({"NumberOfCallsPerUser": 1})).await;
            assert_eq!(response["statusCode"], status, "{response}");
            let text = response.to_string();
            assert!(text.contains(code) && text.contains("KMS"), "{text}");
            assert!(!text.contains("123456789012"), "{text}");
        }
    }
}
