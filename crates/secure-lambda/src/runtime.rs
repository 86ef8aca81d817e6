//! The Lambda runtime loop every function runs, and the one small trait a function implements.
//!
//! A function is a type that says its name and how it dispatches an [`Invocation`]; the loop
//! owns everything around that: the event as raw JSON (so that a payload too deep or malformed
//! for the JSON parser is a 400 like any other bad input, not the runtime's deserialisation
//! error), the envelope (either shape in, the matching shape out, errors included), and the
//! per-invocation metrics (the secret cache's counters and the log redactions, as EMF lines).
//! A function that cannot start reports why through the Runtime API's init-error endpoint, so
//! that `aws lambda invoke` shows the reason at once.

use std::future::Future;

use serde_json::Value;
use tracing::Instrument;

use crate::envelope::{self, Invocation, ResponseStyle};
use crate::error::ApiError;
use crate::mask::RedactionReporter;
pub use crate::runtime_api::Error;
use crate::runtime_api::{NextEvent, RuntimeApi};
use crate::secrets::{CacheCounters, MetricsReporter};
use crate::telemetry::function_name;

/// What the runtime needs of a function.
pub trait Function: Send + Sync {
    /// The function's name in logs.
    const NAME: &'static str;

    /// Answers one invocation, direct or HTTP; an `Err` is answered as its error body.
    fn dispatch(
        &self,
        invocation: Invocation,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// The secret cache's counters, published after each invocation (a function without a
    /// cache reports none).
    fn cache_counters(&self) -> Option<CacheCounters> {
        None
    }

    /// One event to its response: the entry tests call.
    fn handle(&self, event: Value) -> impl Future<Output = Value> + Send {
        envelope::serve(event, Self::NAME, move |invocation| {
            self.dispatch(invocation)
        })
    }

    /// One event's text to its response's text: the entry the runtime calls. By default the
    /// event is parsed and answered by [`Function::handle`]; a function whose requests are large
    /// answers from the text itself (data-masking streams records from it).
    fn handle_text(&self, event: String) -> impl Future<Output = String> + Send
    where
        Self: Sized,
    {
        async move { handle_raw(self, &event).await.to_string() }
    }
}

/// The metrics published after each invocation: the change in the secret cache's counters and
/// in the log redactions since the previous one.
#[derive(Debug, Default)]
pub struct InvocationMetrics {
    function_name: String,
    cache: MetricsReporter,
    redactions: RedactionReporter,
}

impl InvocationMetrics {
    /// For the function named by `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn new() -> Self {
        Self {
            function_name: function_name(),
            ..Self::default()
        }
    }

    pub fn report(&self, cache: Option<CacheCounters>) {
        if let Some(cache) = cache {
            self.cache.report(cache, &self.function_name);
        }
        self.redactions.report(&self.function_name);
    }
}

/// One event as the runtime hands it over (raw JSON text) to its response.
pub async fn handle_raw<F: Function>(function: &F, event: &str) -> Value {
    match envelope::parse_event(event) {
        Ok(event) => function.handle(event).await,
        Err(error) => envelope::respond_error(ResponseStyle::Direct, &error),
    }
}

tokio::task_local! {
    // When the current invocation must have answered by (its deadline less `DEADLINE_MARGIN`).
    static BUDGET_END: tokio::time::Instant;
}

/// Time kept back from the invocation's deadline to write the answer and its log lines.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The end of the current invocation's time budget, when it runs under [`with_deadline`].
pub fn budget_end() -> Option<tokio::time::Instant> {
    BUDGET_END.try_with(|end| *end).ok()
}

/// What a caller sees when the function's own deadline comes before its dependencies answered:
/// a 504, rather than Lambda ending the invocation with a timeout and no body.
pub fn out_of_time() -> ApiError {
    tracing::warn!("the invocation's time budget ran out waiting for a dependency");
    ApiError::new(
        504,
        "DependencyTimeout",
        "AWS did not answer within the function's time budget; retry later",
    )
}

/// Runs `work` with a budget ending [`DEADLINE_MARGIN`] before `deadline_ms` (milliseconds since
/// the Unix epoch, as the Runtime API gives it). Every function's dispatch is cut off there
/// ([`crate::envelope::serve`]), however its AWS calls are configured: no invocation outlives
/// the function's timeout. A deadline that is no point in time after 2001 sets no budget: none
/// given (0), or an emulator's (`cargo lambda watch` sends its timeout, `600000`, not a time).
pub async fn with_deadline<T>(deadline_ms: u64, work: impl Future<Output = T>) -> T {
    const EARLIEST_DEADLINE_MS: u64 = 1_000_000_000_000;
    if deadline_ms < EARLIEST_DEADLINE_MS {
        return work.await;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        .saturating_sub(DEADLINE_MARGIN);
    BUDGET_END
        .scope(tokio::time::Instant::now() + left, work)
        .await
}

/// Serves `function` until the Runtime API stops answering.
pub async fn run<F: Function>(function: F) -> Result<(), Error> {
    serve(&RuntimeApi::from_env()?, &function).await
}

async fn serve<F: Function>(api: &RuntimeApi, function: &F) -> Result<(), Error> {
    let metrics = InvocationMetrics::new();
    loop {
        let event = api.next().await?;
        let span = tracing::info_span!(
            "Lambda runtime invoke",
            requestId = %event.request_id,
            xrayTraceId = tracing::field::Empty,
            tenantId = tracing::field::Empty,
        );
        // The SDK reads the trace header of the current invocation from here.
        match &event.trace_id {
            Some(trace_id) => {
                span.record("xrayTraceId", trace_id.as_str());
                std::env::set_var("_X_AMZN_TRACE_ID", trace_id);
            }
            None => std::env::remove_var("_X_AMZN_TRACE_ID"),
        }
        if let Some(tenant_id) = &event.tenant_id {
            span.record("tenantId", tenant_id.as_str());
        }
        invoke(api, function, &metrics, event)
            .instrument(span)
            .await?;
    }
}

/// One event to its answer (or, should the function panic in a build that unwinds, to the
/// Runtime API's error call; release builds abort, and Lambda reports `Runtime.ExitError`).
async fn invoke<F: Function>(
    api: &RuntimeApi,
    function: &F,
    metrics: &InvocationMetrics,
    event: NextEvent,
) -> Result<(), Error> {
    use futures_util::FutureExt;
    use std::panic::AssertUnwindSafe;

    let NextEvent {
        request_id,
        deadline_ms,
        body,
        ..
    } = event;
    let answer = match String::from_utf8(body) {
        Ok(text) => {
            let work = with_deadline(deadline_ms, function.handle_text(text));
            AssertUnwindSafe(work).catch_unwind().await
        }
        Err(_) => {
            let error = ApiError::bad_request("InvalidEvent", "the event is not UTF-8 text");
            Ok(envelope::respond_error(ResponseStyle::Direct, &error).to_string())
        }
    };
    metrics.report(function.cache_counters());
    let posted = match answer {
        Ok(answer) => api.respond(&request_id, answer).await,
        Err(panic) => {
            // The panic hook logged where it happened (and its message, when fixed text); the
            // caller gets only its kind, since a message may quote what the function was holding.
            drop(panic);
            api.fail(
                &request_id,
                "Runtime.Panic",
                "the function panicked; its log has the details",
            )
            .await
        }
    };
    // Lambda times out an invocation that never got its answer; the next event still comes.
    if let Err(error) = posted {
        tracing::error!(error = %error, "the answer could not be posted");
    }
    Ok(())
}

/// Builds the function with `init` and serves it; if it cannot be built (a missing or malformed
/// variable), reports the reason to the Runtime API's init-error endpoint first, so that the
/// invocation that started this environment fails with that reason instead of hanging.
pub async fn start<F, E>(init: impl Future<Output = Result<F, E>>) -> Result<(), Error>
where
    F: Function,
    E: std::fmt::Display,
{
    match init.await {
        Ok(function) => run(function).await,
        Err(error) => {
            let message = error.to_string();
            tracing::error!(error = %message, "the function could not start");
            let reported = match RuntimeApi::from_env() {
                Ok(api) => api.init_error("Runtime.ConfigError", &message).await,
                Err(error) => Err(error),
            };
            if let Err(report) = reported {
                tracing::error!(error = %report, "the init error could not be reported");
            }
            Err(message.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo;

    impl Function for Echo {
        const NAME: &'static str = "echo";

        async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
            Ok(Value::Object(invocation.json_payload()?))
        }
    }

    fn body(response: &Value) -> Value {
        serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn any_payload_ends_in_a_response() {
        let ok = handle_raw(&Echo, r#"{"a":1}"#).await;
        assert_eq!(
            (ok["statusCode"].clone(), body(&ok)),
            (json!(200), json!({"a": 1}))
        );
        for (event, code) in [
            ("[".repeat(10_000) + &"]".repeat(10_000), "TooDeep"),
            (
                format!("{}1{}", "{\"a\":".repeat(500), "}".repeat(500)),
                "TooDeep",
            ),
            ("{\"a\":".to_owned(), "InvalidEvent"),
            ("not json".to_owned(), "InvalidEvent"),
            ("[1,2]".to_owned(), "InvalidEvent"),
        ] {
            let response = handle_raw(&Echo, &event).await;
            assert_eq!(response["statusCode"], 400, "{response}");
            assert_eq!(body(&response)["error"]["code"], code);
        }
    }

    struct Stuck;

    impl Function for Stuck {
        const NAME: &'static str = "stuck";

        async fn dispatch(&self, _invocation: Invocation) -> Result<Value, ApiError> {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok(json!({}))
        }
    }

    /// A dispatch that waits past the deadline is cut off before it: a 504 body, not a Lambda
    /// timeout. Without a deadline nothing is cut off.
    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_every_invocation() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let started = tokio::time::Instant::now();
        let response = with_deadline(now_ms + 10_000, handle_raw(&Stuck, "{}")).await;
        assert_eq!(response["statusCode"], 504, "{response}");
        assert_eq!(body(&response)["error"]["code"], "DependencyTimeout");
        let waited = started.elapsed();
        assert!(
            waited <= std::time::Duration::from_secs(10) - DEADLINE_MARGIN
                && waited >= std::time::Duration::from_secs(9),
            "{waited:?}"
        );
        for no_time in [0, 600_000] {
            let echo = with_deadline(no_time, handle_raw(&Echo, r#"{"a":1}"#)).await;
            assert_eq!(echo["statusCode"], 200);
        }
    }

    /// A function that answers with the trace header it saw, and panics when asked to.
    struct Traced;

    impl Function for Traced {
        const NAME: &'static str = "traced";

        async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
            let payload = invocation.json_payload()?;
            if payload.contains_key("boom") {
                panic!("asked to panic while holding hunter2");
            }
            Ok(json!({ "trace": std::env::var("_X_AMZN_TRACE_ID").ok() }))
        }
    }

    /// A call the function made to the stub Runtime API: path, error type header, body.
    type Call = (String, Option<String>, bytes::Bytes);
    /// An event the stub hands out: its headers and body.
    type Event = (Vec<(&'static str, &'static str)>, Vec<u8>);

    /// A Runtime API on a free port that hands out `events` (headers and body) one per
    /// `GET /next`, answers 500 once they are gone, and reports every other call.
    async fn stub_runtime_api(
        events: Vec<Event>,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Call>) {
        use http_body_util::{BodyExt, Full};
        use hyper::server::conn::http1;
        use hyper_util::rt::TokioIo;
        use std::sync::{Arc, Mutex};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (calls, received) = tokio::sync::mpsc::unbounded_channel();
        let events = Arc::new(Mutex::new(std::collections::VecDeque::from(events)));
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (events, calls) = (events.clone(), calls.clone());
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let (events, calls) = (events.clone(), calls.clone());
                        async move {
                            let path = request.uri().path().to_owned();
                            if path == "/2018-06-01/runtime/invocation/next" {
                                let next = events.lock().unwrap().pop_front();
                                let mut response = hyper::Response::builder();
                                let Some((headers, body)) = next else {
                                    return hyper::Response::builder()
                                        .status(500)
                                        .body(Full::new(bytes::Bytes::new()));
                                };
                                for (name, value) in headers {
                                    response = match name {
                                        "status" => response.status(value),
                                        _ => response.header(name, value),
                                    };
                                }
                                return response.body(Full::new(bytes::Bytes::from(body)));
                            }
                            let kind = request
                                .headers()
                                .get("Lambda-Runtime-Function-Error-Type")
                                .map(|v| v.to_str().unwrap().to_owned());
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            calls.send((path, kind, body)).unwrap();
                            hyper::Response::builder()
                                .status(202)
                                .body(Full::new(bytes::Bytes::new()))
                        }
                    },
                );
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        (address, received)
    }

    #[tokio::test]
    async fn the_loop_answers_each_event_and_survives_a_panic() {
        let id = |id| ("Lambda-Runtime-Aws-Request-Id", id);
        let (address, mut calls) = stub_runtime_api(vec![
            (
                vec![
                    id("one"),
                    ("Lambda-Runtime-Deadline-Ms", "600000"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-5e1b4151-5ac6c58f"),
                ],
                br#"{"a":1}"#.to_vec(),
            ),
            (vec![id("two")], b"{\"a\":\"\xff\xfe\"}".to_vec()),
            (vec![id("three")], br#"{"boom":true}"#.to_vec()),
            // `cargo lambda watch` with no event: nothing to answer, ask again.
            (vec![("status", "204"), id("none")], Vec::new()),
            (vec![id("four")], br#"{"b":2}"#.to_vec()),
            // An id that would change the answer's path stops the loop rather than post there.
            (vec![id("four/../../init")], b"{}".to_vec()),
        ])
        .await;
        let stopped = serve(&RuntimeApi::new(&address), &Traced).await;
        let stopped = stopped.unwrap_err().to_string();
        assert!(stopped.contains("request id"), "{stopped}");

        let mut next = || calls.try_recv().unwrap();
        let (path, kind, posted) = next();
        assert_eq!(
            (path.as_str(), kind),
            ("/2018-06-01/runtime/invocation/one/response", None)
        );
        let answer: Value = serde_json::from_slice(&posted).unwrap();
        assert_eq!(body(&answer), json!({"trace": "Root=1-5e1b4151-5ac6c58f"}));

        let (path, _, posted) = next();
        assert_eq!(path, "/2018-06-01/runtime/invocation/two/response");
        let answer: Value = serde_json::from_slice(&posted).unwrap();
        assert_eq!(answer["statusCode"], 400, "{answer}");
        assert_eq!(body(&answer)["error"]["code"], "InvalidEvent", "{answer}");

        let (path, kind, posted) = next();
        assert_eq!(path, "/2018-06-01/runtime/invocation/three/error");
        assert_eq!(kind.as_deref(), Some("Runtime.Panic"));
        let error: Value = serde_json::from_slice(&posted).unwrap();
        assert_eq!(error["errorType"], "Runtime.Panic");
        assert!(!posted.windows(7).any(|w| w == b"hunter2"), "{error}");

        // After the panic the loop goes on; a trace header of the past is not kept.
        let (path, _, posted) = next();
        assert_eq!(path, "/2018-06-01/runtime/invocation/four/response");
        let answer: Value = serde_json::from_slice(&posted).unwrap();
        assert_eq!(body(&answer), json!({"trace": null}));
        assert!(calls.try_recv().is_err());
    }

    /// The read buffer is small (16 KB): an event many times its size arrives whole, under the
    /// largest headers Lambda sends (a mobile SDK's client context of up to 3,583 bytes, a
    /// Cognito identity), which must fit in it.
    #[tokio::test]
    async fn an_event_larger_than_the_read_buffer_arrives_whole_under_lambdas_largest_headers() {
        let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
        let client_context = leak("Q".repeat(3_583));
        let identity = leak(format!(
            r#"{{"cognitoIdentityId":"us-east-1:{}","cognitoIdentityPoolId":"us-east-1:{}"}}"#,
            "1".repeat(36),
            "2".repeat(36)
        ));
        let event = format!(r#"{{"records":"{}"}}"#, "x".repeat(1_000_003)).into_bytes();
        let (address, _calls) = stub_runtime_api(vec![(
            vec![
                ("Lambda-Runtime-Aws-Request-Id", "big"),
                ("Lambda-Runtime-Deadline-Ms", "1700000000000"),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:data-masking",
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-5e1b4151-5ac6c58f;Sampled=1",
                ),
                ("Lambda-Runtime-Client-Context", client_context),
                ("Lambda-Runtime-Cognito-Identity", identity),
                ("Lambda-Runtime-Aws-Tenant-Id", "tenant-a"),
            ],
            event.clone(),
        )])
        .await;
        let next = RuntimeApi::new(&address).next().await.unwrap();
        assert_eq!(next.request_id, "big");
        assert_eq!(next.deadline_ms, 1_700_000_000_000);
        assert_eq!(next.tenant_id.as_deref(), Some("tenant-a"));
        assert_eq!(next.body.len(), event.len());
        assert!(next.body == event, "the event's bytes differ");
    }

    /// A head over the read buffer (no Runtime API sends one) stops the loop with an error that
    /// names the call and hyper's cause, not only hyper's step.
    #[tokio::test]
    async fn a_head_over_the_read_buffer_is_an_error_naming_the_call_and_its_cause() {
        let context: &'static str = Box::leak("Q".repeat(17_000).into_boxed_str());
        let (address, _calls) = stub_runtime_api(vec![(
            vec![
                ("Lambda-Runtime-Aws-Request-Id", "big-head"),
                ("Lambda-Runtime-Client-Context", context),
            ],
            b"{}".to_vec(),
        )])
        .await;
        let error = RuntimeApi::new(&address).next().await.unwrap_err();
        let error = error.to_string();
        assert!(
            error.starts_with("GET /invocation/next failed: ")
                && error.contains("message head is too large"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn init_errors_reach_the_runtime_api() {
        use http_body_util::BodyExt;
        use hyper::server::conn::http1;
        use hyper_util::rt::TokioIo;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let sender = std::sync::Mutex::new(Some(sender));
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let sender = sender.lock().unwrap().take();
                    async move {
                        let path = request.uri().path().to_owned();
                        let kind = request.headers()["Lambda-Runtime-Function-Error-Type"]
                            .to_str()
                            .unwrap()
                            .to_owned();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        if let Some(sender) = sender {
                            let _ = sender.send((path, kind, body));
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Empty::<bytes::Bytes>::new(),
                        ))
                    }
                },
            );
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        std::env::set_var("AWS_LAMBDA_RUNTIME_API", address.to_string());
        let result = start::<Echo, _>(async { Err("TENANT_ROLE_ARN is required") }).await;
        assert!(result.is_err());
        let (path, kind, body) = receiver.await.unwrap();
        assert_eq!(path, "/2018-06-01/runtime/init/error");
        assert_eq!(kind, "Runtime.ConfigError");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errorMessage"], "TENANT_ROLE_ARN is required");
    }
}
