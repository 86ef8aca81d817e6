//! Spreading one run over several invocations of the function itself (Lambda `Invoke`), and
//! merging their results exactly.
//!
//! Each worker is invoked exactly once. An `Invoke` is not idempotent here: a retried one runs
//! the worker's whole slice a second time, beside the first, past every cap. So the client never
//! retries, and its timeout covers the worker's whole run (the wait for the shared start, the
//! schedule, the last calls' own timeout, and set-up): a worker's result either arrives or is
//! reported lost.

use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_smithy_types::Blob;
use secure_lambda::aws::{classify, FailureKind, CONNECT_TIMEOUT};
use secure_lambda::secrets::Transient;
use serde_json::{json, Value};

use crate::request::{Caps, LoadRequest};
use crate::stats::RunStats;
use crate::worker::{seal, Claims, WorkerKey};

/// Time a worker may need beyond its schedule and its last calls: a cold start, decrypting
/// `USER_NAME`, reading the key and passwords, signing in (spaced sign-ins), reporting.
pub const SET_UP_MARGIN: Duration = Duration::from_secs(15);

/// Why a worker's result did not arrive. None of these is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeFailure {
    #[error(
        "no answer within {0} s; not retried, so its result is lost (the worker may have run)"
    )]
    TimedOut(u64),
    #[error("Lambda throttled the invocation ({0}): the function's reserved concurrency is in use; not retried")]
    Throttled(String),
    #[error("the invocation failed ({0}); not retried")]
    Failed(String),
    #[error("the worker failed ({0})")]
    FunctionError(String),
    #[error("the worker's answer is not JSON")]
    NotJson,
}

/// Invokes one worker synchronously, once, waiting at most `timeout`; returns its response
/// document.
pub trait Invoker: Send + Sync {
    fn invoke(
        &self,
        payload: Value,
        timeout: Duration,
    ) -> impl Future<Output = Result<Value, InvokeFailure>> + Send;
}

/// [`Invoker`] over Lambda `Invoke` of a named function (this one).
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaInvoker {
    /// A Lambda client for fan-out: the suite's SDK set-up, but no retries (the suite's standard
    /// retry re-sends a timed-out `Invoke`).
    pub fn new(sdk_config: &SdkConfig, function_name: String) -> Self {
        let config = aws_sdk_lambda::config::Builder::from(sdk_config)
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_lambda::Client::from_conf(config),
            function_name,
        }
    }
}

impl Invoker for LambdaInvoker {
    async fn invoke(&self, payload: Value, timeout: Duration) -> Result<Value, InvokeFailure> {
        // One attempt, as long as the whole operation. A per-operation timeout config replaces
        // the client's whole, so the connect timeout is set again here.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout)
            .build();
        let output = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .payload(Blob::new(payload.to_string()))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .timeout_config(timeouts)
                    .retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| {
                let failure = classify(&e);
                let code = failure.code.unwrap_or(failure.detail);
                match failure.kind {
                    FailureKind::Transient(Transient::Timeout) => {
                        InvokeFailure::TimedOut(timeout.as_secs())
                    }
                    FailureKind::Transient(Transient::Throttled) => InvokeFailure::Throttled(code),
                    _ => InvokeFailure::Failed(code),
                }
            })?;
        if let Some(error) = output.function_error() {
            return Err(InvokeFailure::FunctionError(error.to_owned()));
        }
        let bytes = output.payload().map(|p| p.as_ref()).unwrap_or_default();
        serde_json::from_slice(bytes).map_err(|_| InvokeFailure::NotJson)
    }
}

/// How long the coordinator waits for one worker: until the shared start, the run's own bound,
/// the last calls' timeout, and [`SET_UP_MARGIN`].
pub fn worker_timeout(
    request: &LoadRequest,
    start_in: Duration,
    call_timeout: Duration,
) -> Duration {
    start_in
        .saturating_add(request.run_bound())
        .saturating_add(call_timeout)
        .saturating_add(SET_UP_MARGIN)
}

/// Splits `total` in-flight calls over `of` workers as evenly as possible, at least one each.
fn concurrency_share(total: u32, index: u32, of: u32) -> u32 {
    let of = of.max(1);
    (total / of + u32::from(index < total % of)).max(1)
}

/// The signed event of each worker of `request`.
pub fn worker_events(
    request: &LoadRequest,
    caps: &Caps,
    key: &WorkerKey,
    function: &str,
    run_id: &str,
    start_at_ms: u64,
) -> Option<Vec<Value>> {
    let of = request.workers;
    (0..of)
        .map(|index| {
            let share = caps.share(index, of);
            let claims = Claims {
                function: function.to_owned(),
                run_id: run_id.to_owned(),
                index,
                of,
                start_at_ms,
                max_calls: share.calls,
                max_rate: share.rate,
                run: request.run_fields(concurrency_share(request.concurrency, index, of)),
            };
            Some(json!({ "_worker": seal(key, &claims)? }))
        })
        .collect()
}

/// The workers' results, merged.
pub struct Merged {
    pub stats: RunStats,
    /// One entry per worker: its calls, or why its result is missing.
    pub workers: Vec<Value>,
    pub sign_in_attempts: u64,
}

/// Merges the answers of workers `0..`, in order, of run `run_id`. An answer that is an error,
/// unreadable, or from another run or worker counts as lost: its calls are not in the totals.
pub fn merge(answers: Vec<Result<Value, InvokeFailure>>, run_id: &str) -> Merged {
    let mut merged = Merged {
        stats: RunStats::default(),
        workers: Vec::new(),
        sign_in_attempts: 0,
    };
    for (index, answer) in answers.into_iter().enumerate() {
        match answer
            .map_err(|e| e.to_string())
            .and_then(|response| worker_report(&response, run_id, index))
        {
            Ok((stats, sign_ins)) => {
                merged.sign_in_attempts = merged.sign_in_attempts.saturating_add(sign_ins);
                merged
                    .workers
                    .push(json!({"worker": index, "ok": true, "calls": stats.calls()}));
                merged.stats.merge(&stats);
            }
            Err(reason) => {
                tracing::warn!(
                    worker = index,
                    reason = reason.as_str(),
                    "worker result lost"
                );
                merged
                    .workers
                    .push(json!({"worker": index, "ok": false, "error": reason}));
            }
        }
    }
    merged
}

/// A worker's statistics and sign-in count, from its direct-invoke response.
fn worker_report(response: &Value, run_id: &str, index: usize) -> Result<(RunStats, u64), String> {
    let status = response["statusCode"].as_u64().unwrap_or(0);
    let body: Value = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    if status != 200 {
        return Err(format!(
            "status {status}: {}",
            body["error"]["message"].as_str().unwrap_or("no message")
        ));
    }
    let worker = &body["worker"];
    if worker["runId"].as_str() != Some(run_id) || worker["index"].as_u64() != Some(index as u64) {
        return Err("the answer is not this worker's".into());
    }
    let stats = RunStats::from_json(&body["result"])
        .ok_or_else(|| "the worker's report is unreadable".to_owned())?;
    Ok((stats, body["signIn"]["attempts"].as_u64().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Limits, Schedule, WorkerSlice};
    use crate::worker::unseal;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn request(event: Value) -> LoadRequest {
        LoadRequest::parse(event.as_object().unwrap(), &Caps::default()).unwrap()
    }

    #[test]
    fn the_timeout_covers_the_whole_worker_run() {
        let open = request(json!({"RequestsPerSecond": 4, "DurationSeconds": 6, "Workers": 4}));
        assert_eq!(
            worker_timeout(&open, Duration::from_secs(2), Duration::from_secs(10)),
            Duration::from_secs(2 + 6 + 10 + 15)
        );
        // A count has no duration of its own: the duration cap bounds it.
        let count = request(json!({"NumberOfCallsPerUser": 5, "Workers": 2}));
        assert_eq!(
            worker_timeout(&count, Duration::from_secs(2), Duration::from_secs(10)),
            Duration::from_secs(2 + 600 + 10 + 15)
        );
    }

    #[test]
    fn concurrency_is_shared_exactly() {
        let shares: Vec<u32> = (0..4).map(|i| concurrency_share(10, i, 4)).collect();
        assert_eq!(shares, [3, 3, 2, 2]);
        assert_eq!(
            (0..10).map(|i| concurrency_share(251, i, 10)).sum::<u32>(),
            251
        );
        assert_eq!(concurrency_share(1, 3, 4), 1);
    }

    #[test]
    fn worker_events_are_signed_and_share_the_caps() {
        let caps = Caps::default();
        let key = WorkerKey::new(vec![9; 32]).unwrap();
        let run = request(
            json!({"RequestsPerSecond": 8, "DurationSeconds": 3, "Workers": 3, "Concurrency": 4, "Path": "/orders"}),
        );
        let events = worker_events(&run, &caps, &key, "loadtest", &"a".repeat(32), 77).unwrap();
        assert_eq!(events.len(), 3);
        let mut calls = 0;
        for (index, event) in events.iter().enumerate() {
            let claims = unseal(event.as_object().unwrap())
                .unwrap()
                .verify(&key)
                .unwrap();
            assert_eq!(
                (claims.index as usize, claims.of, claims.start_at_ms),
                (index, 3, 77)
            );
            calls += claims.max_calls;
            assert!((claims.max_rate - 5000.0 / 3.0).abs() < 1e-9);
            let worker = LoadRequest::for_worker(
                &claims.run,
                claims.slice(),
                Limits {
                    calls: claims.max_calls,
                    rate: claims.max_rate,
                    duration: caps.max_duration,
                },
                &caps,
            )
            .unwrap();
            assert_eq!(
                worker.schedule,
                Schedule::Open {
                    rate: 8.0,
                    duration: Duration::from_secs(3)
                }
            );
            assert_eq!(worker.path.as_deref(), Some("/orders"));
            assert_eq!(worker.concurrency, if index == 0 { 2 } else { 1 });
            assert_eq!(
                worker.slice,
                Some(WorkerSlice {
                    index: index as u32,
                    of: 3,
                    start_at_ms: 77
                })
            );
        }
        assert_eq!(calls, caps.max_calls);
    }

    fn answer(run_id: &str, index: usize, calls: u64) -> Value {
        let mut stats = RunStats::default();
        for _ in 0..calls {
            stats.record(Duration::from_millis(5), Ok(200));
        }
        let body = json!({
            "worker": {"runId": run_id, "index": index},
            "result": stats.to_json(),
            "signIn": {"attempts": 1},
        });
        json!({"statusCode": 200, "body": body.to_string()})
    }

    #[test]
    fn answers_merge_exactly_and_lost_ones_are_reported() {
        let run = "b".repeat(32);
        let merged = merge(
            vec![
                Ok(answer(&run, 0, 3)),
                Err(InvokeFailure::TimedOut(33)),
                Ok(answer(&run, 2, 4)),
                Ok(answer("another run", 3, 100)),
                Ok(answer(&run, 0, 100)),
            ],
            &run,
        );
        assert_eq!(merged.stats.calls(), 7);
        assert_eq!(merged.sign_in_attempts, 2);
        let ok: Vec<bool> = merged
            .workers
            .iter()
            .map(|w| w["ok"].as_bool().unwrap())
            .collect();
        assert_eq!(ok, [true, false, true, false, false]);
        assert!(merged.workers[1]["error"]
            .as_str()
            .unwrap()
            .contains("not retried"));
    }

    /// A server that accepts connections and reads requests but never answers: the shape of a
    /// worker that runs longer than the client waits.
    async fn silent_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buffer = vec![0; 64 * 1024];
                    let mut text = Vec::new();
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        text.extend_from_slice(&buffer[..n]);
                        let requests_in = text
                            .windows(b"POST /".len())
                            .filter(|w| w == b"POST /")
                            .count();
                        if requests_in > 0 {
                            seen.fetch_add(requests_in, Ordering::SeqCst);
                            text.clear();
                        }
                    }
                });
            }
        });
        (format!("http://{address}"), requests)
    }

    #[tokio::test]
    async fn a_timed_out_invoke_is_sent_once() {
        let (endpoint, requests) = silent_server().await;
        let sdk_config = secure_lambda::aws::sdk_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .load()
            .await;
        let invoker = LambdaInvoker::new(&sdk_config, "loadtest".into());
        // Longer than the suite's 3 s attempt timeout, after which the SDK would have retried.
        let started = std::time::Instant::now();
        let result = invoker
            .invoke(json!({"probe": true}), Duration::from_millis(3_500))
            .await;
        assert_eq!(result, Err(InvokeFailure::TimedOut(3)));
        assert!(started.elapsed() >= Duration::from_millis(3_400));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }
}
