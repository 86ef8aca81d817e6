//! The load generator over HTTP/1.1 (rustls): a closed model (N tasks, each with a connection of
//! its own, sending its next call when the previous one answered, spread over one
//! single-threaded runtime per core; latency is each call's exchange) and an open model (a
//! global schedule on a pooled client; latency counted from each call's intended send time, so
//! queueing behind a slow server shows).
//!
//! Whatever the schedule, a run keeps to its [`Limits`]: at most `calls` calls, sent no faster
//! than `rate` (the closed model is paced), and none sent after `duration`.
//!
//! Workers keep their own histograms and merge at the end: recording takes no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, HOST, USER_AGENT};
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::request::{Limits, Schedule, WorkerSlice};
use crate::stats::{ErrorClass, RunStats};

/// Most of a response body read (the rest is dropped with the connection).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The ID-token claim naming the caller's tenant (the user pool's `tenantId` attribute, which
/// multi-tenant-query reads by default).
pub const TENANT_CLAIM: &str = "custom:tenantId";

/// Who a call is made as: a user name (for logs), the `Authorization: Bearer` header, built
/// once (marked sensitive, so HTTP debug output redacts it), and the tenant the token names.
#[derive(Clone)]
pub struct Caller {
    pub user: Arc<str>,
    authorization: Option<HeaderValue>,
    /// The token's tenant: every answer with a `tenantId` must name this one.
    tenant: Option<Arc<str>>,
}

impl Caller {
    pub fn new(user: &str, bearer_token: Option<&str>) -> Self {
        let authorization = bearer_token.and_then(|token| {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Self {
            user: user.into(),
            authorization,
            tenant: bearer_token.and_then(token_tenant).map(Into::into),
        }
    }
}

/// The tenant claim of a JWT's payload, read without verifying it: the token is the caller's
/// own, fresh from its sign-in, and only tells the engine which tenant to expect in answers.
fn token_tenant(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get(TENANT_CLAIM)?.as_str().map(str::to_owned)
}

/// What a successful answer says about tenant isolation: `None` when there was nothing to check
/// (no tenant in the caller's token, not a 200, or no `tenantId` in the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantCheck {
    /// The body's `tenantId` is the caller's.
    Own,
    /// The body's `tenantId` is another tenant's: an isolation failure.
    Other,
    /// A 200 whose body could not be read whole (over [`MAX_BODY_BYTES`], or cut): not checked,
    /// and counted as such rather than passed as clean.
    Unread,
}

fn check_tenant(expected: Option<&str>, status: u16, body: Option<&[u8]>) -> Option<TenantCheck> {
    let expected = expected?;
    if status != 200 {
        return None;
    }
    let Some(body) = body else {
        return Some(TenantCheck::Unread);
    };
    let mut reader = serde_json::Deserializer::from_slice(body);
    let check = serde::de::Deserializer::deserialize_any(&mut reader, TenantOf(expected)).ok()?;
    reader.end().ok()?;
    check
}

/// Reads an answer's top-level `tenantId` members (every one, if the name repeats) against the
/// caller's tenant, skipping the rest of the body without building it: this runs once per call,
/// on the thread that drives the connections.
struct TenantOf<'t>(&'t str);

/// Whether a member name is `tenantId` (as decoded: `"tenant\u0049d"` is too).
struct IsTenantKey;

impl<'de> serde::de::DeserializeSeed<'de> for IsTenantKey {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, names: D) -> Result<bool, D::Error> {
        names.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for IsTenantKey {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<bool, E> {
        Ok(name == "tenantId")
    }
}

impl<'de> serde::de::Visitor<'de> for TenantOf<'_> {
    type Value = Option<TenantCheck>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut members: A,
    ) -> Result<Self::Value, A::Error> {
        let mut check = None;
        while let Some(is_tenant) = members.next_key_seed(IsTenantKey)? {
            if !is_tenant {
                members.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            // A tenantId that is not the caller's string, in any form, is another tenant's; a
            // name given twice is checked each time (a reader keeping either would be misled).
            // Taken as its text, which is only skipped over (a number JSON readers refuse,
            // `1e400`, or nesting past serde_json's limit is still a value that is not ours).
            let value: Box<serde_json::value::RawValue> = members.next_value()?;
            let text: Option<String> = serde_json::from_str(value.get()).ok();
            let this = if text.as_deref() == Some(self.0) {
                TenantCheck::Own
            } else {
                TenantCheck::Other
            };
            if check != Some(TenantCheck::Other) {
                check = Some(this);
            }
        }
        Ok(check)
    }

    // Not an object: nothing to check, once the value is read whole.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> Result<Self::Value, A::Error> {
        while items.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One call's answer: its status (or why there was none), the tenant check, a one-line summary
/// of the body when asked for, and when the exchange began and ended.
pub struct Answer {
    pub outcome: Result<u16, ErrorClass>,
    pub tenant: Option<TenantCheck>,
    pub summary: String,
    /// When the request was handed to the connection (after it was built).
    pub began: Instant,
    /// When its body was read, it failed or it timed out: before the tenant check and the
    /// summary, which are the engine's own work, not the target's time (oha also stops its clock
    /// at the last body frame).
    pub ended: Instant,
}

impl Answer {
    /// The exchange's time: request handed over to body read.
    pub fn exchange_time(&self) -> Duration {
        self.ended.saturating_duration_since(self.began)
    }
}

/// One call's result, for per-call log lines.
pub struct CallLog {
    pub index: u64,
    pub user: Arc<str>,
    pub outcome: Result<u16, ErrorClass>,
    pub latency: Duration,
    pub summary: String,
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
type HttpClient = Client<Connector, Empty<Bytes>>;

/// What to call and how.
pub struct Engine {
    client: HttpClient,
    connector: Connector,
    uri: Uri,
    /// The URI's path and query, and its authority as the `Host` header: a request on a
    /// connection of its own is sent in origin form, as the pooled client sends it.
    origin: Uri,
    host: HeaderValue,
    method: Method,
    timeout: Duration,
}

/// A closed-loop task's own connection, opened on its first call and again after a failed one.
/// The task waits only for its own answers, as oha drives hyper, instead of checking a
/// connection out of the shared pool and back in on every call (measured: engine 0.85x oha's
/// requests per second through the pool).
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Empty<Bytes>>>,
}

/// How a run is shaped.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub schedule: Schedule,
    pub concurrency: u32,
    pub slice: Option<WorkerSlice>,
    /// This invocation's caps.
    pub limits: Limits,
    /// Log every call when the run has at most this many; otherwise about this many samples.
    pub log_calls: u64,
}

impl Plan {
    /// A worker's last moment to send a call: the shared start plus the run's bound, however
    /// late the worker arrived or long its sign-ins took, so that it ends within the time its
    /// coordinator waits for it ([`crate::fanout::worker_timeout`]). `None` for a run of its own.
    fn worker_end(&self) -> Option<Instant> {
        let slice = self.slice?;
        let end_ms = slice.start_at_ms.saturating_add(
            u64::try_from(self.schedule.bound(&self.limits).as_millis()).unwrap_or(u64::MAX),
        );
        Some(instant_at(end_ms))
    }
}

/// The `Instant` of a wall-clock time in epoch milliseconds, past or future: a worker that
/// starts late keeps the shared schedule rather than shifting it by its delay.
fn instant_at(epoch_ms: u64) -> Instant {
    let now_ms = secure_lambda::telemetry::now_millis();
    let now = Instant::now();
    if epoch_ms >= now_ms {
        now.checked_add(Duration::from_millis(epoch_ms - now_ms))
    } else {
        now.checked_sub(Duration::from_millis(now_ms - epoch_ms))
    }
    .unwrap_or(now)
}

/// When the `k`-th call of a run paced at `rate` calls per second may be sent at the earliest.
fn not_before(start: Instant, rate: f64, k: u64) -> Instant {
    let offset = Duration::try_from_secs_f64(k as f64 / rate).unwrap_or(Duration::MAX);
    start
        .checked_add(offset)
        .unwrap_or(start + Duration::from_secs(86_400 * 365))
}

impl Engine {
    pub fn new(uri: Uri, method: Method, timeout: Duration) -> Result<Self, String> {
        let connector = secure_lambda::http::https_connector()?;
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector.clone());
        let authority = uri.authority().ok_or("the target URL has no host")?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| "the target URL's host is not a header value")?;
        let origin = Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|e| format!("the target URL's path: {e}"))?;
        Ok(Self {
            client,
            connector,
            uri,
            origin,
            host,
            method,
            timeout,
        })
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// One call through the pooled client: the status, or why there was none; the tenant check
    /// of a 200's body against the caller's token; and a one-line summary of the body if
    /// `want_summary`.
    pub async fn call(&self, caller: &Caller, want_summary: bool) -> Answer {
        let Some(request) = self.request(caller, false) else {
            return unbuildable();
        };
        let exchange = async {
            self.client
                .request(request)
                .await
                .map_err(|e| classify(&e, e.is_connect()))
        };
        self.answer(caller, want_summary, exchange).await
    }

    /// [`Engine::call`] on `connection`, opened first if it is not; a call that fails in any
    /// way closes it (its answer may still be on the way).
    pub async fn call_on(
        &self,
        connection: &mut Connection,
        caller: &Caller,
        want_summary: bool,
    ) -> Answer {
        let Some(request) = self.request(caller, true) else {
            return unbuildable();
        };
        let sender = &mut connection.sender;
        let exchange = async {
            if sender.as_ref().is_none_or(SendRequest::is_closed) {
                *sender = Some(self.connect().await?);
            }
            let Some(open) = sender.as_mut() else {
                return Err(ErrorClass::Connect);
            };
            open.ready().await.map_err(|e| classify(&e, false))?;
            open.send_request(request)
                .await
                .map_err(|e| classify(&e, false))
        };
        let answer = self.answer(caller, want_summary, exchange).await;
        if answer.outcome.is_err() {
            connection.sender = None;
        }
        answer
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, ErrorClass> {
        use tower_service::Service;

        let mut connector = self.connector.clone();
        let io = connector
            .call(self.uri.clone())
            .await
            .map_err(|e| classify(e.as_ref(), true))?;
        let (sender, connection) = http1::handshake(io).await.map_err(|e| classify(&e, true))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The request for `caller`: in absolute form for the pooled client, in origin form with
    /// `Host` for a connection of its own.
    fn request(&self, caller: &Caller, origin_form: bool) -> Option<Request<Empty<Bytes>>> {
        let mut builder = Request::builder().method(self.method.clone()).header(
            USER_AGENT,
            HeaderValue::from_static("secure-lambda-suite-loadtest"),
        );
        builder = if origin_form {
            builder
                .uri(self.origin.clone())
                .header(HOST, self.host.clone())
        } else {
            builder.uri(self.uri.clone())
        };
        if let Some(authorization) = &caller.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        builder.body(Empty::new()).ok()
    }

    /// The answer to a sent request: its body read (up to [`MAX_BODY_BYTES`]) within the
    /// timeout, checked and summarised.
    async fn answer(
        &self,
        caller: &Caller,
        want_summary: bool,
        exchange: impl std::future::Future<Output = Result<Response<Incoming>, ErrorClass>>,
    ) -> Answer {
        let began = Instant::now();
        let failed = |outcome, summary: String, ended| Answer {
            outcome,
            tenant: None,
            summary,
            began,
            ended,
        };
        let exchange = async {
            let response = exchange.await?;
            let status = response.status().as_u16();
            // `None` when it is over the limit or cut: a 200 whose tenant cannot be checked.
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .ok();
            Ok::<_, ErrorClass>((status, body))
        };
        let result = tokio::time::timeout(self.timeout, exchange).await;
        let ended = Instant::now();
        match result {
            Err(_) => failed(
                Err(ErrorClass::Timeout),
                format!("no answer in {} ms", self.timeout.as_millis()),
                ended,
            ),
            Ok(Err(class)) => failed(Err(class), format!("failed: {}", class.name()), ended),
            Ok(Ok((status, body))) => Answer {
                outcome: Ok(status),
                tenant: check_tenant(caller.tenant.as_deref(), status, body.as_deref()),
                summary: if want_summary {
                    summarize(&caller.user, status, body.as_deref().unwrap_or_default())
                } else {
                    String::new()
                },
                began,
                ended,
            },
        }
    }

    /// Runs `plan` for `callers` (calls go round-robin over them); returns the merged stats and
    /// the per-call log lines chosen by `plan.log_calls`.
    pub async fn run(self: &Arc<Self>, plan: Plan, callers: &[Caller]) -> (RunStats, Vec<CallLog>) {
        if callers.is_empty() {
            return (RunStats::default(), Vec::new());
        }
        match plan.schedule {
            Schedule::Open { rate, duration } => self.run_open(plan, rate, duration, callers).await,
            Schedule::Count { calls_per_user } => {
                let total = calls_per_user.saturating_mul(callers.len() as u64);
                self.run_closed(plan, Some(total), plan.limits.duration, callers)
                    .await
            }
            Schedule::For(duration) => {
                let duration = duration.min(plan.limits.duration);
                self.run_closed(plan, None, duration, callers).await
            }
        }
    }

    /// The closed model: `concurrency` loops, each sending its next call when the previous one
    /// answered, until this worker's share of `total` (or of the call cap) is sent or `duration`
    /// is over; no faster than the rate cap.
    async fn run_closed(
        self: &Arc<Self>,
        plan: Plan,
        total: Option<u64>,
        duration: Duration,
        callers: &[Caller],
    ) -> (RunStats, Vec<CallLog>) {
        let (slice_index, slice_of) = plan
            .slice
            .map_or((0, 1), |s| (u64::from(s.index), u64::from(s.of)));
        // This worker's calls: every `slice_of`-th index of the global sequence, at most its
        // share of the call cap.
        let mine = total
            .map_or(plan.limits.calls, |t| {
                (t + slice_of - slice_index - 1) / slice_of
            })
            .min(plan.limits.calls);
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let deadline = (start + duration).min(plan.worker_end().unwrap_or(start + duration));
        let rate = plan.limits.rate;
        // A timed run has no known count, unless its call cap is small enough to log whole.
        let known = total.is_some() || mine <= plan.log_calls;
        let sample_every = sample_interval(known.then_some(mine), plan.log_calls);
        let callers: Arc<[Caller]> = callers.into();
        let closed_loop = {
            let engine = Arc::clone(self);
            move || {
                let (engine, next, callers) =
                    (Arc::clone(&engine), Arc::clone(&next), Arc::clone(&callers));
                async move {
                    let mut stats = RunStats::default();
                    let mut logs = Vec::new();
                    let mut connection = Connection::default();
                    loop {
                        let local = next.fetch_add(1, Ordering::Relaxed);
                        if local >= mine {
                            break;
                        }
                        let due = not_before(start, rate, local);
                        if due >= deadline {
                            break;
                        }
                        if due > Instant::now() {
                            tokio::time::sleep_until(due).await;
                        }
                        if Instant::now() >= deadline {
                            break;
                        }
                        let index = local * slice_of + slice_index;
                        let caller =
                            &callers[usize::try_from(index % callers.len() as u64).unwrap_or(0)];
                        let logged = index % sample_every == 0;
                        let answer = engine.call_on(&mut connection, caller, logged).await;
                        let latency = answer.exchange_time();
                        let Answer {
                            outcome,
                            tenant,
                            summary,
                            ..
                        } = answer;
                        stats.record(latency, outcome);
                        stats.record_tenant(tenant);
                        if logged || (outcome.is_err() && logs.len() < 20) {
                            logs.push(CallLog {
                                index,
                                user: Arc::clone(&caller.user),
                                outcome,
                                latency,
                                summary,
                            });
                        }
                    }
                    (stats, logs)
                }
            }
        };
        let (mut stats, mut logs) = spread_over_threads(plan.concurrency, closed_loop).await;
        stats.elapsed = start.elapsed();
        logs.sort_by_key(|l| l.index);
        (stats, logs)
    }

    async fn run_open(
        self: &Arc<Self>,
        plan: Plan,
        rate: f64,
        duration: Duration,
        callers: &[Caller],
    ) -> (RunStats, Vec<CallLog>) {
        let (slice_index, slice_of) = plan
            .slice
            .map_or((0, 1), |s| (u64::from(s.index), u64::from(s.of)));
        // The request was validated against the caps; these keep to them even if it was not.
        let rate = rate.min(plan.limits.rate * slice_of as f64);
        let duration = duration.min(plan.limits.duration);
        let total = (rate * duration.as_secs_f64()).floor() as u64;
        // A fanned-out run shares one schedule: call i of the global sequence is due at
        // start + i / rate, and this worker sends the calls i with i mod workers = its index.
        let start = match plan.slice {
            Some(slice) => instant_at(slice.start_at_ms),
            None => Instant::now(),
        };
        // A worker that arrived late keeps the shared schedule: the calls already due go out at
        // once, their latency counted from when they were due (the delay is the target's to
        // answer for no more than a slow answer is, but it is in the figures), and none after
        // the shared end.
        let end = plan.worker_end();
        let mine = ((total + slice_of - slice_index - 1) / slice_of).min(plan.limits.calls);
        let sample_every = sample_interval(Some(mine), plan.log_calls);
        let permits = Arc::new(Semaphore::new(
            usize::try_from(plan.concurrency).unwrap_or(1),
        ));
        let (sender, mut receiver) = mpsc::unbounded_channel::<(u64, Arc<str>, Answer, Duration)>();
        let callers: Arc<[Caller]> = callers.into();
        let engine = Arc::clone(self);
        let dispatcher = tokio::spawn(async move {
            for local in 0..mine {
                let index = local * slice_of + slice_index;
                let due = not_before(start, rate, index);
                if end.is_some_and(|end| due >= end) {
                    break;
                }
                tokio::time::sleep_until(due).await;
                // Waiting for a free slot delays the send but not the clock: the wait is latency.
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                // Due before the end is not enough: a late worker's backlog, or one waiting for
                // a slot, must not spill past the shared end its coordinator waits for.
                if end.is_some_and(|end| Instant::now() >= end) {
                    break;
                }
                let (engine, sender) = (Arc::clone(&engine), sender.clone());
                let caller =
                    callers[usize::try_from(index % callers.len() as u64).unwrap_or(0)].clone();
                tokio::spawn(async move {
                    let logged = index % sample_every == 0;
                    let answer = engine.call(&caller, logged).await;
                    // From when it was due: a call that waited for its slot or its connection
                    // counts the wait (no coordinated omission).
                    let latency = answer.ended.saturating_duration_since(due);
                    drop(permit);
                    let _ = sender.send((index, caller.user, answer, latency));
                });
            }
        });
        let mut stats = RunStats::default();
        let mut logs = Vec::new();
        let mut errors_logged = 0;
        while let Some((index, user, answer, latency)) = receiver.recv().await {
            let Answer {
                outcome,
                tenant,
                summary,
                ..
            } = answer;
            stats.record(latency, outcome);
            stats.record_tenant(tenant);
            let logged = index % sample_every == 0;
            if logged || (outcome.is_err() && errors_logged < 20) {
                errors_logged += usize::from(outcome.is_err());
                logs.push(CallLog {
                    index,
                    user,
                    outcome,
                    latency,
                    summary,
                });
            }
        }
        let _ = dispatcher.await;
        stats.elapsed = start.elapsed();
        stats.intended_rate = Some(rate / slice_of as f64);
        logs.sort_by_key(|l| l.index);
        (stats, logs)
    }
}

type LoopResult = (RunStats, Vec<CallLog>);

/// Runs `count` closed loops made by `make_loop`, spread evenly over [`io_runtimes`]; their
/// merged results. A loop, its connection's I/O and its timers stay on one thread, as oha runs
/// its connections: no task moves between threads and no answer wakes a task on another core.
async fn spread_over_threads<F>(count: u32, make_loop: impl Fn() -> F) -> LoopResult
where
    F: std::future::Future<Output = LoopResult> + Send + 'static,
{
    let current;
    let runtimes = match io_runtimes() {
        [] => match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                current = handle;
                std::slice::from_ref(&current)
            }
            Err(_) => return LoopResult::default(),
        },
        runtimes => runtimes,
    };
    // Loop `i` on runtime `i mod n`: shares differ by one at most.
    let mut loops = Loops(
        (0..count as usize)
            .map(|i| runtimes[i % runtimes.len()].spawn(make_loop()))
            .collect(),
    );
    let mut merged = LoopResult::default();
    for task in &mut loops.0 {
        if let Ok((stats, logs)) = task.await {
            merged.0.merge(&stats);
            merged.1.extend(logs);
        }
    }
    merged
}

/// A run's loops on the kept runtimes: stopped if the run is dropped before they end (its caller
/// gave up on it), so that none keeps calling into the next run.
struct Loops(Vec<tokio::task::JoinHandle<LoopResult>>);

impl Drop for Loops {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// One single-threaded runtime per core, each driven by a thread of its own for the life of the
/// process: made at the first closed run and kept, so that later runs (warm invocations) reuse
/// the threads and their memory instead of making new ones. Empty if none could be made; the
/// loops then run on the caller's runtime.
fn io_runtimes() -> &'static [tokio::runtime::Handle] {
    static RUNTIMES: std::sync::OnceLock<Vec<tokio::runtime::Handle>> = std::sync::OnceLock::new();
    RUNTIMES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        (0..cores)
            .filter_map(|core| {
                let (sender, receiver) = std::sync::mpsc::sync_channel(1);
                std::thread::Builder::new()
                    .name(format!("loadtest-io-{core}"))
                    .spawn(move || {
                        // Made on its own thread: a runtime may not be dropped inside another,
                        // as it would be if this thread could not start.
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(runtime) => {
                                let _ = sender.send(Some(runtime.handle().clone()));
                                runtime.block_on(std::future::pending::<()>());
                            }
                            Err(_) => {
                                let _ = sender.send(None);
                            }
                        }
                    })
                    .ok()?;
                receiver.recv().ok().flatten()
            })
            .collect()
    })
}

/// Log every call of small runs; about `target` evenly spread calls of big ones.
fn sample_interval(total: Option<u64>, target: u64) -> u64 {
    match total {
        Some(total) if total <= target => 1,
        Some(total) => (total / target.max(1)).max(1),
        None => 1000,
    }
}

fn unbuildable() -> Answer {
    let now = Instant::now();
    Answer {
        outcome: Err(ErrorClass::Other),
        tenant: None,
        summary: "the request could not be built".into(),
        began: now,
        ended: now,
    }
}

/// The class of a failed call from its error chain; `connecting` when it failed before a
/// connection was open.
fn classify(error: &(dyn std::error::Error + 'static), connecting: bool) -> ErrorClass {
    let text = secure_lambda::http::error_chain_text(error).to_ascii_lowercase();
    if text.contains("tls") || text.contains("certificate") || text.contains("handshake") {
        ErrorClass::Tls
    } else if text.contains("timed out") || text.contains("timeout") {
        ErrorClass::Timeout
    } else if connecting {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    }
}

/// `# of orders available for 'student': 5` for the suite's orders API; otherwise the status
/// and the start of the body.
fn summarize(user: &str, status: u16, body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(count) = json.get("orderCount").and_then(serde_json::Value::as_u64) {
            return format!("# of orders available for '{user}': {count}");
        }
        if let Some(code) = json
            .pointer("/error/code")
            .and_then(serde_json::Value::as_str)
        {
            return format!("HTTP {status} {code}");
        }
    }
    let text = String::from_utf8_lossy(body);
    let short: String = text.chars().take(80).collect();
    format!("HTTP {status} {short}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Caps;
    use std::convert::Infallible;

    fn token_with(claims: &serde_json::Value) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn the_tenant_comes_from_the_token_and_answers_are_checked_against_it() {
        let token = token_with(&serde_json::json!({"custom:tenantId": "tenant-a", "sub": "s"}));
        let caller = Caller::new("u", Some(&token));
        let tenant = caller.tenant.as_deref();
        let check = |expected, status, body: &[u8]| check_tenant(expected, status, Some(body));
        assert_eq!(tenant, Some("tenant-a"));
        let own = br#"{"tenantId":"tenant-a","orders":[]}"#;
        let other = br#"{"tenantId":"tenant-b","orders":[{"orderId":"x"}]}"#;
        assert_eq!(check(tenant, 200, own), Some(TenantCheck::Own));
        assert_eq!(check(tenant, 200, other), Some(TenantCheck::Other));
        // A tenantId that is not the caller's string, in any form, is another tenant.
        assert_eq!(
            check(tenant, 200, br#"{"tenantId":null}"#),
            Some(TenantCheck::Other)
        );
        assert_eq!(
            check(tenant, 200, br#"{"tenantId":"TENANT-A"}"#),
            Some(TenantCheck::Other)
        );
        // Nothing to check: an error answer, a body without tenantId, a caller without a tenant.
        assert_eq!(check(tenant, 401, other), None);
        assert_eq!(check(tenant, 200, b"not json"), None);
        assert_eq!(check(tenant, 200, br#"{"orders":[]}"#), None);
        assert_eq!(check(None, 200, other), None);
        for not_an_object in [
            &b"[1,{\"tenantId\":\"tenant-b\"}]"[..],
            b"\"x\"",
            b"1",
            b"null",
            b"true",
        ] {
            assert_eq!(check(tenant, 200, not_an_object), None);
        }
        // Malformed or cut answers have nothing to check, as before.
        for broken in [
            &br#"{"tenantId":"tenant-b""#[..],
            br#"{"tenantId":"tenant-a"} x"#,
        ] {
            assert_eq!(check(tenant, 200, broken), None);
        }
        // A name given twice, or escaped, is checked like any other.
        for twice in [
            &br#"{"tenantId":"tenant-a","orders":[],"tenantId":"tenant-b"}"#[..],
            br#"{"tenantId":"tenant-b","tenantId":"tenant-a"}"#,
            br#"{"tenant\u0049d":"tenant-b","orders":[]}"#,
        ] {
            assert_eq!(check(tenant, 200, twice), Some(TenantCheck::Other));
        }
        assert_eq!(
            check(
                tenant,
                200,
                br#"{"tenantId":"tenant-a","tenantId":"tenant-a"}"#
            ),
            Some(TenantCheck::Own)
        );
        // A tenantId JSON readers refuse is still not the caller's.
        let deep = format!(r#"{{"tenantId":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        for refused in [
            &br#"{"tenantId":1e400}"#[..],
            br#"{"tenantId":"\ud800"}"#,
            deep.as_bytes(),
        ] {
            assert_eq!(check(tenant, 200, refused), Some(TenantCheck::Other));
        }
        // A 200 whose body could not be read whole is counted as not checked.
        assert_eq!(check_tenant(tenant, 200, None), Some(TenantCheck::Unread));
        assert_eq!(check_tenant(tenant, 404, None), None);
        for token in [
            "",
            "x",
            "a.b.c",
            "a.!!!.c",
            &token_with(&serde_json::json!({"custom:tenantId": 7})),
        ] {
            assert_eq!(Caller::new("u", Some(token)).tenant, None, "{token}");
        }
    }

    #[test]
    fn tenant_checks_are_counted_and_survive_a_worker_report() {
        let mut stats = RunStats::default();
        for check in [
            Some(TenantCheck::Own),
            None,
            Some(TenantCheck::Other),
            Some(TenantCheck::Unread),
            Some(TenantCheck::Own),
        ] {
            stats.record_tenant(check);
        }
        let counts = |s: &RunStats| (s.tenant_checked, s.other_tenant, s.tenant_unread);
        assert_eq!(counts(&stats), (3, 1, 1));
        let again = RunStats::from_json(&stats.to_json()).unwrap();
        assert_eq!(counts(&again), (3, 1, 1));
        let mut merged = RunStats::default();
        merged.merge(&stats);
        merged.merge(&again);
        assert_eq!(counts(&merged), (6, 2, 2));
    }

    #[test]
    fn summaries_follow_the_lab() {
        assert_eq!(
            summarize("s*****t", 200, br#"{"orderCount":5,"orders":[]}"#),
            "# of orders available for 's*****t': 5"
        );
        assert_eq!(
            summarize("student", 401, br#"{"error":{"code":"Unauthorized"}}"#),
            "HTTP 401 Unauthorized"
        );
        assert_eq!(summarize("x", 502, b"Bad Gateway"), "HTTP 502 Bad Gateway");
    }

    #[test]
    fn sampling_logs_small_runs_fully() {
        assert_eq!(sample_interval(Some(3), 20), 1);
        assert_eq!(sample_interval(Some(2000), 20), 100);
    }

    #[test]
    fn pacing_spaces_calls_by_the_rate() {
        let start = Instant::now();
        assert_eq!(not_before(start, 20.0, 0), start);
        assert_eq!(
            not_before(start, 20.0, 10),
            start + Duration::from_millis(500)
        );
        // A rate too small to compute with never panics; the call is simply never due.
        assert!(not_before(start, 1e-300, 5) > start + Duration::from_secs(86_000));
    }

    /// An HTTP/1.1 server answering like the orders API, on this test's runtime.
    async fn orders_server() -> Uri {
        counting_orders_server(Arc::default()).await
    }

    /// An orders API that counts the requests it answers in `served`.
    async fn counting_orders_server(served: Arc<AtomicU64>) -> Uri {
        orders_server_taking(served, Duration::ZERO).await
    }

    /// An orders API that takes `delay` to answer each request.
    async fn slow_orders_server(delay: Duration) -> Uri {
        orders_server_taking(Arc::default(), delay).await
    }

    async fn orders_server_taking(served: Arc<AtomicU64>, delay: Duration) -> Uri {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_request| {
                        served.fetch_add(1, Ordering::Relaxed);
                        async move {
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                                Bytes::from_static(br#"{"orderCount":5,"orders":[]}"#),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{address}/orders").parse().unwrap()
    }

    async fn run(schedule: Schedule, concurrency: u32, limits: Limits) -> RunStats {
        run_slice(schedule, concurrency, limits, None).await
    }

    async fn run_slice(
        schedule: Schedule,
        concurrency: u32,
        limits: Limits,
        slice: Option<WorkerSlice>,
    ) -> RunStats {
        let engine = Arc::new(
            Engine::new(orders_server().await, Method::GET, Duration::from_secs(5)).unwrap(),
        );
        let plan = Plan {
            schedule,
            concurrency,
            slice,
            limits,
            log_calls: 20,
        };
        let (stats, _) = engine.run(plan, &[Caller::new("s*****t", None)]).await;
        stats
    }

    /// A worker that starts its run late (a slow cold start, long sign-ins) still ends at the
    /// shared start plus the run's bound, inside the time its coordinator waits for it.
    #[tokio::test]
    async fn a_late_worker_ends_with_the_shared_schedule() {
        // Read the clock for each run: each starts 4 s after its own shared start.
        let started_4s_ago = |of| {
            Some(WorkerSlice {
                index: 0,
                of,
                start_at_ms: secure_lambda::telemetry::now_millis() - 4_000,
            })
        };
        let limits = Caps::default().limits();
        for schedule in [
            Schedule::For(Duration::from_secs(5)),
            Schedule::Open {
                rate: 40.0,
                duration: Duration::from_secs(5),
            },
        ] {
            let began = Instant::now();
            let stats = run_slice(schedule, 2, limits, started_4s_ago(2)).await;
            let took = began.elapsed();
            assert!(
                took < Duration::from_millis(2_500),
                "{schedule:?} ran {took:?}, past the shared end"
            );
            assert!(
                stats.calls() > 0,
                "{schedule:?} sent nothing in its last second"
            );
        }
        // Already past its end: no call at all.
        let stats = run_slice(
            Schedule::For(Duration::from_secs(3)),
            2,
            limits,
            started_4s_ago(1),
        )
        .await;
        assert_eq!(stats.calls(), 0);
    }

    /// A fixed-rate worker that starts late sends every call of its share that is due before
    /// the shared end: the calls it is late for go out at once, counted from when they were due.
    #[tokio::test]
    async fn a_late_open_worker_keeps_the_shared_schedule() {
        let now_ms = secure_lambda::telemetry::now_millis();
        let slice = WorkerSlice {
            index: 1,
            of: 2,
            start_at_ms: now_ms - 1_000,
        };
        let schedule = Schedule::Open {
            rate: 20.0,
            duration: Duration::from_secs(2),
        };
        let began = Instant::now();
        let stats = run_slice(schedule, 4, Caps::default().limits(), Some(slice)).await;
        let took = began.elapsed();
        // 40 calls in the shared schedule, every other one this worker's.
        assert_eq!(stats.calls(), 20);
        assert!(took < Duration::from_millis(1_900), "ran {took:?}");
        // Its first call was due a second before the worker began.
        assert!(stats.latency.max() >= 900_000, "{}", stats.latency.max());
    }

    /// A fixed-rate worker that arrives after the shared end sends nothing, though every call of
    /// its share was due before that end.
    #[tokio::test]
    async fn an_open_worker_past_the_shared_end_sends_nothing() {
        let slice = WorkerSlice {
            index: 0,
            of: 1,
            start_at_ms: secure_lambda::telemetry::now_millis() - 4_000,
        };
        let schedule = Schedule::Open {
            rate: 20.0,
            duration: Duration::from_secs(3),
        };
        let stats = run_slice(schedule, 2, Caps::default().limits(), Some(slice)).await;
        assert_eq!(stats.calls(), 0);
    }

    /// A late worker's backlog stops at the shared end even when a slow target and one slot
    /// leave most of it unsent.
    #[tokio::test]
    async fn a_late_open_workers_backlog_stops_at_the_shared_end() {
        let engine = Arc::new(
            Engine::new(
                slow_orders_server(Duration::from_millis(30)).await,
                Method::GET,
                Duration::from_secs(5),
            )
            .unwrap(),
        );
        let plan = Plan {
            schedule: Schedule::Open {
                rate: 20.0,
                duration: Duration::from_secs(2),
            },
            concurrency: 1,
            slice: Some(WorkerSlice {
                index: 0,
                of: 1,
                start_at_ms: secure_lambda::telemetry::now_millis() - 1_800,
            }),
            limits: Caps::default().limits(),
            log_calls: 20,
        };
        let began = Instant::now();
        let (stats, _) = engine.run(plan, &[Caller::new("s*****t", None)]).await;
        let took = began.elapsed();
        // The end was 200 ms away; the last call sent before it may take its 30 ms.
        assert!(
            took < Duration::from_millis(500),
            "ran {took:?} ({} calls)",
            stats.calls()
        );
        assert!(stats.calls() > 0);
    }

    #[tokio::test]
    async fn a_dropped_run_stops_its_loops() {
        let served = Arc::new(AtomicU64::new(0));
        let uri = counting_orders_server(Arc::clone(&served)).await;
        let engine = Arc::new(Engine::new(uri, Method::GET, Duration::from_secs(5)).unwrap());
        let plan = Plan {
            schedule: Schedule::For(Duration::from_secs(20)),
            concurrency: 4,
            slice: None,
            limits: Limits {
                rate: 200.0,
                ..Caps::default().limits()
            },
            log_calls: 0,
        };
        let callers = [Caller::new("u", None)];
        let run = engine.run(plan, &callers);
        // The caller gives up on the run (as a timeout around it would).
        assert!(tokio::time::timeout(Duration::from_millis(300), run)
            .await
            .is_err());
        // Calls already sent may still be answered.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = served.load(Ordering::Relaxed);
        assert!(after > 0, "the run sent nothing before it was dropped");
        // Paced at 200/s, loops still running would send about 100 more.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            served.load(Ordering::Relaxed),
            after,
            "loops kept calling after their run was dropped"
        );
    }

    #[tokio::test]
    async fn a_timed_closed_run_stops_at_the_call_cap() {
        let limits = Limits {
            calls: 25,
            ..Caps::default().limits()
        };
        let stats = run(Schedule::For(Duration::from_secs(30)), 4, limits).await;
        assert_eq!(stats.calls(), 25);
        assert!(
            stats.elapsed < Duration::from_secs(10),
            "{:?}",
            stats.elapsed
        );
    }

    #[tokio::test]
    async fn the_closed_model_is_paced_to_the_rate_cap() {
        let limits = Limits {
            rate: 20.0,
            ..Caps::default().limits()
        };
        let schedule = Schedule::Count { calls_per_user: 10 };
        let stats = run(schedule, 8, limits).await;
        assert_eq!(stats.calls(), 10);
        // Ten calls at 20/s: the last is due 450 ms after the first, whatever the concurrency.
        assert!(
            stats.elapsed >= Duration::from_millis(450),
            "{:?}",
            stats.elapsed
        );
    }

    #[tokio::test]
    async fn a_count_stops_at_the_duration_cap() {
        let limits = Limits {
            rate: 50.0,
            duration: Duration::from_millis(300),
            ..Caps::default().limits()
        };
        let schedule = Schedule::Count {
            calls_per_user: 1_000_000,
        };
        let stats = run(schedule, 2, limits).await;
        assert!((1..=15).contains(&stats.calls()), "{}", stats.calls());
        assert!(
            stats.elapsed < Duration::from_secs(5),
            "{:?}",
            stats.elapsed
        );
    }

    #[tokio::test]
    async fn the_open_model_keeps_to_the_call_cap_of_its_slice() {
        let limits = Limits {
            calls: 3,
            ..Caps::default().limits()
        };
        let schedule = Schedule::Open {
            rate: 100.0,
            duration: Duration::from_secs(1),
        };
        let stats = run(schedule, 4, limits).await;
        assert_eq!(stats.calls(), 3);
    }
}
