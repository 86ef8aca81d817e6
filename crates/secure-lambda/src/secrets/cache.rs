//! A per-execution-environment cache for values read from AWS.
//!
//! One slot per key, each behind an async mutex: the first caller that finds a slot empty or
//! expired fetches while holding the slot, and concurrent callers for the same key wait for that
//! one call instead of making their own (single flight). Keys never block each other.
//!
//! Failure handling, per slot:
//! - not found: remembered for [`CachePolicy::negative_ttl`], so a missing name is not re-fetched
//!   on every read;
//! - throttling, 5xx, timeouts: the expired value is served for up to [`CachePolicy::max_stale`]
//!   past its TTL, and AWS is retried after a jittered exponential backoff;
//! - access denied: the cached value is dropped, so a revoked permission is not papered over.
//!
//! Time is `tokio::time::Instant`, so tests drive it with a paused clock.

use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;

use tokio::time::Instant;

use super::metrics::CacheMetrics;
use super::SecretError;
use crate::config::{env_seconds, ConfigError};

/// How long values live and how failures are absorbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// A value younger than this is served without calling AWS.
    pub ttl: Duration,
    /// How long past its TTL a value may still be served while AWS is failing transiently.
    pub max_stale: Duration,
    /// How long a "not found" answer is remembered.
    pub negative_ttl: Duration,
    /// First retry delay after a transient failure; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Cap of the retry delay.
    pub backoff_max: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(900),
            negative_ttl: Duration::from_secs(10),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl CachePolicy {
    /// Environment variable overriding [`CachePolicy::ttl`], in seconds.
    pub const TTL_VAR: &'static str = "CACHE_TTL_SECONDS";
    /// Environment variable overriding [`CachePolicy::max_stale`], in seconds.
    pub const MAX_STALE_VAR: &'static str = "CACHE_MAX_STALE_SECONDS";
    /// Environment variable overriding [`CachePolicy::negative_ttl`], in seconds.
    pub const NEGATIVE_TTL_VAR: &'static str = "CACHE_NEGATIVE_TTL_SECONDS";

    /// The defaults, overridden by the `CACHE_*_SECONDS` environment variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            ttl: env_seconds(Self::TTL_VAR, defaults.ttl)?,
            max_stale: env_seconds(Self::MAX_STALE_VAR, defaults.max_stale)?,
            negative_ttl: env_seconds(Self::NEGATIVE_TTL_VAR, defaults.negative_ttl)?,
            ..defaults
        })
    }

    /// Retry delay after `failures` consecutive transient failures: exponential, capped, with
    /// "equal jitter" (half fixed, half random) so that environments do not retry in lockstep.
    fn backoff(&self, failures: u32) -> Duration {
        let exp = self.backoff_base.saturating_mul(
            1u32.checked_shl(failures.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let capped = exp.min(self.backoff_max);
        let half = capped / 2;
        let jitter_ms = fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        half + Duration::from_millis(jitter_ms)
    }
}

/// Per-read options.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Accept a cached value only if younger than this (never longer than the policy TTL).
    pub max_age: Option<Duration>,
    /// Ignore the cached value and call AWS (a stale value is still served if AWS fails).
    pub force_refresh: bool,
}

impl ReadOptions {
    pub fn max_age(max_age: Duration) -> Self {
        Self {
            max_age: Some(max_age),
            force_refresh: false,
        }
    }

    pub fn force_refresh() -> Self {
        Self {
            max_age: None,
            force_refresh: true,
        }
    }
}

/// Where a value came from: for audit lines and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A fresh cached value; no AWS call.
    Cache,
    /// Fetched from AWS by this read.
    Aws,
    /// An expired value, served because AWS failed transiently or is in backoff.
    Stale,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cache => "cache",
            Origin::Aws => "aws",
            Origin::Stale => "stale",
        }
    }
}

/// A value and where it came from.
#[derive(Debug)]
pub struct Cached<V> {
    pub value: Arc<V>,
    pub origin: Origin,
}

/// Values that carry a version, so that a refresh can tell a rotation happened.
pub trait Versioned {
    fn version_tag(&self) -> Option<String>;
}

impl<T> Versioned for Vec<T> {
    fn version_tag(&self) -> Option<String> {
        None
    }
}

enum State<V> {
    Empty,
    Value { value: Arc<V>, fetched_at: Instant },
    Missing { error: SecretError, at: Instant },
}

struct Slot<V> {
    state: State<V>,
    consecutive_failures: u32,
    retry_after: Option<(Instant, SecretError)>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self {
            state: State::Empty,
            consecutive_failures: 0,
            retry_after: None,
        }
    }
}

impl<V> Slot<V> {
    fn fresh(&self, now: Instant, ttl: Duration) -> Option<&Arc<V>> {
        match &self.state {
            State::Value { value, fetched_at } if now.duration_since(*fetched_at) < ttl => {
                Some(value)
            }
            _ => None,
        }
    }

    fn servable_stale(&self, now: Instant, policy: &CachePolicy) -> Option<&Arc<V>> {
        match &self.state {
            State::Value { value, fetched_at }
                if now.duration_since(*fetched_at)
                    <= policy.ttl.saturating_add(policy.max_stale) =>
            {
                Some(value)
            }
            _ => None,
        }
    }
}

/// The cache itself: one per kind of value, sharing one [`CacheMetrics`]. Unbounded, or holding
/// at most a number of keys, the least recently read dropped first.
pub struct Cache<K, V> {
    slots: Mutex<LruCache<K, Arc<tokio::sync::Mutex<Slot<V>>>>>,
    policy: CachePolicy,
    metrics: Arc<CacheMetrics>,
}

impl<K, V> Cache<K, V>
where
    K: Eq + Hash + Clone + std::fmt::Debug,
    V: Versioned,
{
    pub fn new(policy: CachePolicy, metrics: Arc<CacheMetrics>) -> Self {
        Self {
            slots: Mutex::new(LruCache::unbounded()),
            policy,
            metrics,
        }
    }

    /// A cache of at most `capacity` keys: a new key beyond it drops the least recently read.
    /// A read in flight on a dropped key still completes; the next read of it fetches again.
    pub fn with_capacity(
        policy: CachePolicy,
        metrics: Arc<CacheMetrics>,
        capacity: NonZeroUsize,
    ) -> Self {
        Self {
            slots: Mutex::new(LruCache::new(capacity)),
            policy,
            metrics,
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    fn slot(&self, key: &K) -> Arc<tokio::sync::Mutex<Slot<V>>> {
        // A poisoned map only means another thread panicked mid-insert; the map is still valid.
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        let slot = Arc::new(tokio::sync::Mutex::new(Slot::default()));
        slots.push(key.clone(), slot.clone());
        slot
    }

    fn effective_ttl(&self, options: ReadOptions) -> Duration {
        options
            .max_age
            .map_or(self.policy.ttl, |age| age.min(self.policy.ttl))
    }

    /// Drops the cached value of `key`: the next read calls AWS.
    pub fn invalidate(&self, key: &K) {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.pop(key);
    }

    /// The answer the cache can give for `key` without calling AWS, if any: a fresh value, a
    /// remembered "not found", or (inside a backoff window) a stale value or the last error.
    pub async fn cached(
        &self,
        key: &K,
        options: ReadOptions,
    ) -> Option<Result<Cached<V>, SecretError>> {
        let slot = self.slot(key);
        let slot = slot.lock().await;
        self.answer_without_fetch(&slot, Instant::now(), options)
    }

    fn answer_without_fetch(
        &self,
        slot: &Slot<V>,
        now: Instant,
        options: ReadOptions,
    ) -> Option<Result<Cached<V>, SecretError>> {
        if options.force_refresh {
            return None;
        }
        if let Some(value) = slot.fresh(now, self.effective_ttl(options)) {
            self.metrics.hit();
            return Some(Ok(Cached {
                value: value.clone(),
                origin: Origin::Cache,
            }));
        }
        if let State::Missing { error, at } = &slot.state {
            if now.duration_since(*at) < self.policy.negative_ttl {
                self.metrics.negative_hit();
                return Some(Err(error.clone()));
            }
        }
        match &slot.retry_after {
            Some((retry_at, error)) if now < *retry_at => {
                Some(match slot.servable_stale(now, &self.policy) {
                    Some(value) => {
                        self.metrics.stale();
                        Ok(Cached {
                            value: value.clone(),
                            origin: Origin::Stale,
                        })
                    }
                    None => Err(error.clone()),
                })
            }
            _ => None,
        }
    }

    /// The value of `key`, from the cache when fresh, else from `fetch` (one call per key at a
    /// time, whatever the number of concurrent readers).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &K,
        options: ReadOptions,
        fetch: F,
    ) -> Result<Cached<V>, SecretError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, SecretError>>,
    {
        let slot = self.slot(key);
        let mut slot = slot.lock().await;
        let now = Instant::now();

        if let Some(answer) = self.answer_without_fetch(&slot, now, options) {
            return answer;
        }

        self.metrics.miss();
        self.metrics.aws_call();
        let result = fetch().await;
        self.record(key, &mut slot, result)
    }

    /// Stores a value fetched outside [`Cache::get_or_fetch`] (batched reads); the caller has
    /// counted the AWS call.
    pub async fn insert(
        &self,
        key: &K,
        result: Result<V, SecretError>,
    ) -> Result<Cached<V>, SecretError> {
        let slot = self.slot(key);
        let mut slot = slot.lock().await;
        self.record(key, &mut slot, result)
    }

    fn record(
        &self,
        key: &K,
        slot: &mut Slot<V>,
        result: Result<V, SecretError>,
    ) -> Result<Cached<V>, SecretError> {
        let now = Instant::now();
        match result {
            Ok(value) => {
                if let State::Value { value: old, .. } = &slot.state {
                    let (before, after) = (old.version_tag(), value.version_tag());
                    if before.is_some() && after.is_some() && before != after {
                        self.metrics.rotation();
                        tracing::info!(target: "audit", key = ?key, "new version picked up on refresh");
                    }
                }
                let value = Arc::new(value);
                slot.state = State::Value {
                    value: value.clone(),
                    fetched_at: now,
                };
                slot.consecutive_failures = 0;
                slot.retry_after = None;
                Ok(Cached {
                    value,
                    origin: Origin::Aws,
                })
            }
            Err(error) if error.is_not_found() => {
                slot.state = State::Missing {
                    error: error.clone(),
                    at: now,
                };
                slot.retry_after = None;
                Err(error)
            }
            Err(error) if error.transient().is_some() => {
                slot.consecutive_failures = slot.consecutive_failures.saturating_add(1);
                let delay = self.policy.backoff(slot.consecutive_failures);
                slot.retry_after = Some((now + delay, error.clone()));
                match slot.servable_stale(now, &self.policy) {
                    Some(value) => {
                        self.metrics.stale();
                        tracing::warn!(
                            target: "audit",
                            key = ?key,
                            error = %error,
                            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            "serving stale value"
                        );
                        Ok(Cached {
                            value: value.clone(),
                            origin: Origin::Stale,
                        })
                    }
                    None => Err(error),
                }
            }
            Err(error) if error.is_access_denied() => {
                // Fail closed: a revoked permission must not be hidden by a cached value.
                *slot = Slot::default();
                Err(error)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::source::{Resource, Transient};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, PartialEq)]
    struct Val(&'static str, u32);

    impl Versioned for Val {
        fn version_tag(&self) -> Option<String> {
            Some(self.1.to_string())
        }
    }

    fn cache() -> (Cache<String, Val>, Arc<CacheMetrics>) {
        let metrics = Arc::new(CacheMetrics::default());
        (Cache::new(CachePolicy::default(), metrics.clone()), metrics)
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_cache_drops_the_least_recently_read_key() {
        let metrics = Arc::new(CacheMetrics::default());
        let cache: Cache<String, Val> = Cache::with_capacity(
            CachePolicy::default(),
            metrics,
            NonZeroUsize::new(2).unwrap(),
        );
        let calls = AtomicU32::new(0);
        let read = |key: &'static str| {
            let cache = &cache;
            let calls = &calls;
            async move {
                cache
                    .get_or_fetch(&key.to_owned(), ReadOptions::default(), || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Ok(Val(key, 1))
                    })
                    .await
                    .unwrap()
                    .origin
            }
        };
        assert_eq!(read("a").await, Origin::Aws);
        assert_eq!(read("b").await, Origin::Aws);
        assert_eq!(read("a").await, Origin::Cache, "a read last");
        assert_eq!(read("c").await, Origin::Aws);
        assert_eq!(cache.len(), 2);
        assert_eq!(read("a").await, Origin::Cache);
        assert_eq!(read("b").await, Origin::Aws, "b was dropped");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    fn throttled() -> SecretError {
        SecretError::Unavailable {
            what: Resource::Secret,
            name: "k".into(),
            kind: Transient::Throttled,
            detail: "Rate exceeded".into(),
        }
    }

    fn not_found() -> SecretError {
        SecretError::NotFound {
            what: Resource::Secret,
            name: "k".into(),
        }
    }

    fn denied() -> SecretError {
        SecretError::AccessDenied {
            what: Resource::Secret,
            name: "k".into(),
            detail: "not authorized".into(),
        }
    }

    async fn read(
        cache: &Cache<String, Val>,
        result: Result<Val, SecretError>,
        calls: &AtomicU32,
    ) -> Result<Cached<Val>, SecretError> {
        cache
            .get_or_fetch(&"k".to_string(), ReadOptions::default(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                result
            })
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn serves_from_cache_within_ttl_and_refetches_after() {
        let (cache, metrics) = cache();
        let calls = AtomicU32::new(0);
        assert_eq!(
            read(&cache, Ok(Val("a", 1)), &calls).await.unwrap().origin,
            Origin::Aws
        );
        tokio::time::advance(Duration::from_secs(299)).await;
        let hit = read(&cache, Ok(Val("b", 2)), &calls).await.unwrap();
        assert_eq!((hit.origin, &*hit.value), (Origin::Cache, &Val("a", 1)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        let refreshed = read(&cache, Ok(Val("b", 2)), &calls).await.unwrap();
        assert_eq!(
            (refreshed.origin, &*refreshed.value),
            (Origin::Aws, &Val("b", 2))
        );
        let counters = metrics.snapshot();
        assert_eq!(
            (counters.hits, counters.misses, counters.aws_calls),
            (1, 2, 2)
        );
        assert_eq!(counters.rotations_seen, 1, "version 1 -> 2 is a rotation");
    }

    #[tokio::test(start_paused = true)]
    async fn max_age_and_force_refresh() {
        let (cache, _) = cache();
        let calls = AtomicU32::new(0);
        read(&cache, Ok(Val("a", 1)), &calls).await.unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        let key = "k".to_string();
        let within = cache
            .get_or_fetch(
                &key,
                ReadOptions::max_age(Duration::from_secs(60)),
                || async { Ok(Val("b", 2)) },
            )
            .await
            .unwrap();
        assert_eq!(within.origin, Origin::Cache);
        let beyond = cache
            .get_or_fetch(
                &key,
                ReadOptions::max_age(Duration::from_secs(10)),
                || async { Ok(Val("b", 2)) },
            )
            .await
            .unwrap();
        assert_eq!(beyond.origin, Origin::Aws);
        let forced = cache
            .get_or_fetch(&key, ReadOptions::force_refresh(), || async {
                Ok(Val("c", 3))
            })
            .await
            .unwrap();
        assert_eq!((forced.origin, &*forced.value), (Origin::Aws, &Val("c", 3)));
        // A max age longer than the TTL does not extend it.
        tokio::time::advance(Duration::from_secs(301)).await;
        let capped = cache
            .get_or_fetch(
                &key,
                ReadOptions::max_age(Duration::from_secs(3600)),
                || async { Ok(Val("d", 4)) },
            )
            .await
            .unwrap();
        assert_eq!(capped.origin, Origin::Aws);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_make_one_call() {
        let (cache, metrics) = cache();
        let cache = Arc::new(cache);
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&"k".to_string(), ReadOptions::default(), || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Val("a", 1))
                    })
                    .await
                    .map(|c| c.value)
            }));
        }
        for task in tasks {
            assert_eq!(*task.await.unwrap().unwrap(), Val("a", 1));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(metrics.snapshot().aws_calls, 1);
        assert_eq!(metrics.snapshot().hits, 15);
    }

    #[tokio::test(start_paused = true)]
    async fn serves_stale_through_throttling_with_backoff_then_recovers() {
        let (cache, metrics) = cache();
        let calls = AtomicU32::new(0);
        read(&cache, Ok(Val("a", 1)), &calls).await.unwrap();
        tokio::time::advance(Duration::from_secs(301)).await;

        let stale = read(&cache, Err(throttled()), &calls).await.unwrap();
        assert_eq!((stale.origin, &*stale.value), (Origin::Stale, &Val("a", 1)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // Inside the backoff window no call is made at all.
        let again = read(&cache, Ok(Val("never", 9)), &calls).await.unwrap();
        assert_eq!(again.origin, Origin::Stale);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // After the window (at most the base delay for the first failure) AWS is tried again.
        tokio::time::advance(cache.policy().backoff_base).await;
        let recovered = read(&cache, Ok(Val("b", 2)), &calls).await.unwrap();
        assert_eq!(
            (recovered.origin, &*recovered.value),
            (Origin::Aws, &Val("b", 2))
        );
        assert_eq!(metrics.snapshot().stale_served, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_is_bounded() {
        let (cache, _) = cache();
        let calls = AtomicU32::new(0);
        read(&cache, Ok(Val("a", 1)), &calls).await.unwrap();
        let policy = cache.policy().clone();
        tokio::time::advance(policy.ttl + policy.max_stale + Duration::from_secs(1)).await;
        let err = read(&cache, Err(throttled()), &calls).await.unwrap_err();
        assert_eq!(err, throttled());
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failure_without_value_backs_off_exponentially() {
        let (cache, _) = cache();
        let calls = AtomicU32::new(0);
        assert!(read(&cache, Err(throttled()), &calls).await.is_err());
        assert!(read(&cache, Err(throttled()), &calls).await.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "second read is inside the backoff window"
        );
        let policy = cache.policy().clone();
        for failures in 1..=12u32 {
            let delay = policy.backoff(failures);
            let cap = policy
                .backoff_base
                .saturating_mul(1u32 << (failures - 1).min(20))
                .min(policy.backoff_max);
            assert!(
                delay >= cap / 2 && delay <= cap,
                "failure {failures}: {delay:?} vs {cap:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_cached_briefly() {
        let (cache, metrics) = cache();
        let calls = AtomicU32::new(0);
        assert_eq!(
            read(&cache, Err(not_found()), &calls).await.unwrap_err(),
            not_found()
        );
        assert_eq!(
            read(&cache, Ok(Val("a", 1)), &calls).await.unwrap_err(),
            not_found()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(metrics.snapshot().negative_hits, 1);
        tokio::time::advance(cache.policy().negative_ttl).await;
        assert_eq!(
            read(&cache, Ok(Val("a", 1)), &calls).await.unwrap().origin,
            Origin::Aws
        );
    }

    #[tokio::test(start_paused = true)]
    async fn access_denied_drops_the_cached_value() {
        let (cache, _) = cache();
        let calls = AtomicU32::new(0);
        read(&cache, Ok(Val("a", 1)), &calls).await.unwrap();
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(
            read(&cache, Err(denied()), &calls).await.unwrap_err(),
            denied()
        );
        // Nothing stale is left to serve through a later outage.
        assert_eq!(
            read(&cache, Err(throttled()), &calls).await.unwrap_err(),
            throttled()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_forces_the_next_read_to_aws() {
        let (cache, _) = cache();
        let calls = AtomicU32::new(0);
        read(&cache, Ok(Val("a", 1)), &calls).await.unwrap();
        cache.invalidate(&"k".to_string());
        assert_eq!(
            read(&cache, Ok(Val("b", 2)), &calls).await.unwrap().origin,
            Origin::Aws
        );
    }
}
