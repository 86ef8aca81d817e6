//! The `loadtest` handler: decrypt the user names, sign them in, run the load (or fan it out),
//! report.

use std::sync::Arc;

use hyper::{Method, Uri};
use secrecy::ExposeSecret;
use secure_lambda::envelope::{serve, Invocation};
use secure_lambda::kms_env::{split_list, Decrypter, EncryptedEnv};
use secure_lambda::secrets::{CacheCounters, ParameterSource, SecretSource};
use secure_lambda::ApiError;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::engine::{Caller, Engine, Plan};
use crate::fanout::Invoker;
use crate::request::{LoadRequest, Schedule};
use crate::signin::{IdentityProvider, SignIns};
use crate::stats::RunStats;

/// The function: encrypted env, sign-ins, the engine for `API_URL`, the fan-out invoker.
pub struct LoadTest<D, I, S, P, V> {
    env: EncryptedEnv<D>,
    sign_ins: SignIns<I, S, P>,
    engine: Arc<Engine>,
    invoker: V,
    config: Config,
}

impl<D, I, S, P, V> LoadTest<D, I, S, P, V>
where
    D: Decrypter,
    I: IdentityProvider,
    S: SecretSource,
    P: ParameterSource,
    V: Invoker,
{
    pub fn new(
        env: EncryptedEnv<D>,
        sign_ins: SignIns<I, S, P>,
        engine: Engine,
        invoker: V,
        config: Config,
    ) -> Self {
        if std::env::var_os("USER_PASSWORD").is_some() {
            tracing::warn!(
                "USER_PASSWORD is set and ignored: passwords are read from Secrets Manager"
            );
        }
        Self {
            env,
            sign_ins,
            engine: Arc::new(engine),
            invoker,
            config,
        }
    }

    pub async fn handle(&self, event: Value) -> Value {
        serve(event, "loadtest", |invocation| async move {
            self.dispatch(invocation).await
        })
        .await
    }

    async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
        let Invocation::Direct(payload) = invocation else {
            return Err(ApiError::bad_request(
                "DirectInvocationOnly",
                "invoke loadtest directly (aws lambda invoke), not over HTTP",
            ));
        };
        let users = self.users().await?;
        let request = LoadRequest::parse(&payload, &self.config.caps, users.len() as u64)?;
        if request.workers > 1 && request.slice.is_none() {
            return self.fan_out(payload, &request).await;
        }
        self.run(&users, &request).await
    }

    /// The decrypted `USER_NAME` list. Its value is never logged or returned in an error.
    async fn users(&self) -> Result<Vec<String>, ApiError> {
        let value = self
            .env
            .get(&self.config.user_name_variable)
            .await
            .map_err(|e| ApiError::new(500, "EncryptedConfigError", e.to_string()))?;
        let users = split_list(&value);
        if users.is_empty() {
            return Err(ApiError::new(
                500,
                "EncryptedConfigError",
                "USER_NAME decrypts to no user name",
            ));
        }
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
            match self.sign_ins.token(user).await {
                Ok(token) => callers.push(Caller::new(user, Some(token.expose_secret()))),
                Err(error) => {
                    tracing::warn!(user = user.as_str(), reason = %error, "sign-in failed");
                    failures.insert(user.clone(), json!(error.to_string()));
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
            log_calls: self.config.log_calls,
        };
        tracing::info!(
            users = callers.len(),
            model = model_name(&request.schedule),
            concurrency = request.concurrency,
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
            "signIn": sign_in,
            "signInErrors": failures,
        }))
    }

    async fn fan_out(
        &self,
        payload: Map<String, Value>,
        request: &LoadRequest,
    ) -> Result<Value, ApiError> {
        let workers = request.workers;
        // Leave the workers time to start and sign in before the shared schedule begins.
        let start_at_ms = secure_lambda::telemetry::now_millis() + 2_000;
        let calls = (0..workers).map(|index| {
            let mut event = payload.clone();
            event.remove("Workers");
            event.insert(
                "_worker".into(),
                json!({"index": index, "of": workers, "startAtMs": start_at_ms}),
            );
            // Each worker gets its share of the in-flight calls.
            let share = request.concurrency.div_ceil(workers).max(1);
            event.insert("Concurrency".into(), json!(share));
            self.invoker.invoke(Value::Object(event))
        });
        let answers = futures_util::future::join_all(calls).await;
        let mut merged = RunStats::default();
        let mut per_worker = Vec::new();
        let mut sign_in_attempts = 0;
        for (index, answer) in answers.into_iter().enumerate() {
            let body = answer.and_then(|response| {
                let status = response["statusCode"].as_u64().unwrap_or(0);
                let body: Value = response["body"]
                    .as_str()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or(Value::Null);
                if status == 200 {
                    Ok(body)
                } else {
                    Err(format!(
                        "status {status}: {}",
                        body["error"]["message"].as_str().unwrap_or("no message")
                    ))
                }
            });
            match body
                .as_ref()
                .ok()
                .and_then(|b| RunStats::from_json(&b["result"]).map(|s| (b, s)))
            {
                Some((body, stats)) => {
                    merged.merge(&stats);
                    sign_in_attempts += body["signIn"]["attempts"].as_u64().unwrap_or(0);
                    per_worker.push(json!({"worker": index, "calls": stats.calls(), "ok": true}));
                }
                None => {
                    let reason = body
                        .err()
                        .unwrap_or_else(|| "the worker's report is unreadable".into());
                    tracing::warn!(worker = index, reason = reason.as_str(), "worker failed");
                    per_worker.push(json!({"worker": index, "ok": false, "error": reason}));
                }
            }
        }
        emit_emf(&merged);
        Ok(json!({
            "message": format!("{} calls by {workers} workers, histograms merged", merged.calls()),
            "model": model_name(&request.schedule),
            "workers": per_worker,
            "result": merged.to_json(),
            "signIn": {"attempts": sign_in_attempts},
        }))
    }

    pub fn cache_counters(&self) -> CacheCounters {
        self.sign_ins.store().counters()
    }
}

impl<D, I, S, P, V> secure_lambda::runtime::Function for LoadTest<D, I, S, P, V>
where
    D: Decrypter,
    I: IdentityProvider,
    S: SecretSource,
    P: ParameterSource,
    V: Invoker,
{
    async fn handle(&self, event: Value) -> Value {
        LoadTest::handle(self, event).await
    }

    fn cache_counters(&self) -> CacheCounters {
        LoadTest::cache_counters(self)
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
    let function = secure_lambda::telemetry::function_name();
    secure_lambda::telemetry::emit_metrics(&json!({
        "_aws": {
            "Timestamp": secure_lambda::telemetry::now_millis(),
            "CloudWatchMetrics": [{
                "Namespace": secure_lambda::telemetry::METRICS_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "LoadCalls", "Unit": "Count"},
                    {"Name": "LoadErrors", "Unit": "Count"},
                    {"Name": "LoadLatencyP50", "Unit": "Milliseconds"},
                    {"Name": "LoadLatencyP99", "Unit": "Milliseconds"},
                    {"Name": "LoadAchievedRps", "Unit": "Count/Second"}
                ]
            }]
        },
        "FunctionName": function,
        "LoadCalls": stats.calls(),
        "LoadErrors": errors,
        "LoadLatencyP50": ms(0.5),
        "LoadLatencyP99": ms(0.99),
        "LoadAchievedRps": stats.calls() as f64 / seconds,
    }));
}
