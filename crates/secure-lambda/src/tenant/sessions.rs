//! Per-scope sessions (assumed-role credentials, typically) kept in a bounded LRU.
//!
//! STS has no published rate and AWS asks callers to cache sessions, so a warm sandbox should
//! call `AssumeRole` once per scope (a user, or a tenant) per session length, however many scopes
//! it serves:
//!
//! - **bounded, one eviction at a time**: past `capacity` scopes the least recently used one is
//!   dropped, never the whole cache (emptying it whole makes every request pay a round trip as
//!   soon as more scopes are active than it holds);
//! - **refreshed before expiry**: a session with less than `refresh_before` left is replaced, so
//!   no request starts with credentials that may expire while it runs;
//! - **single flight**: concurrent first requests for one scope wait for one fetch and share its
//!   result; requests for other scopes are not held up by it.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use lru::LruCache;

/// A value valid until `expires`.
#[derive(Debug, Clone)]
pub struct Session<V> {
    pub value: V,
    pub expires: SystemTime,
}

/// One scope's session. Its lock is held across the fetch, which is what makes the flight single;
/// `fetches` counts the fetches that ended, so that a caller that waited for one learns whether
/// it failed.
struct Slot<V, E> {
    state: tokio::sync::Mutex<SlotState<V, E>>,
    fetches: AtomicU64,
}

struct SlotState<V, E> {
    session: Option<Session<V>>,
    /// The last fetch's error, when it failed.
    failure: Option<E>,
}

impl<V, E> Default for Slot<V, E> {
    fn default() -> Self {
        Self {
            state: tokio::sync::Mutex::new(SlotState {
                session: None,
                failure: None,
            }),
            fetches: AtomicU64::new(0),
        }
    }
}

/// Sessions by scope, least recently used evicted first; `E` is the fetch's error.
pub struct SessionCache<K: Hash + Eq, V, E> {
    // A std mutex: it is never held across an await, only to find or insert a slot.
    slots: Mutex<LruCache<K, Arc<Slot<V, E>>>>,
    refresh_before: Duration,
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> SessionCache<K, V, E> {
    pub fn new(capacity: NonZeroUsize, refresh_before: Duration) -> Self {
        Self {
            slots: Mutex::new(LruCache::new(capacity)),
            refresh_before,
        }
    }

    /// Bytes one cached scope costs besides what its key and value hold on the heap: the LRU's
    /// node (key, slot pointer, two links), its hash-table bucket (a pointer, a pointer to the
    /// node, a control byte), and the slot's allocation (reference counts, the lock, the state).
    pub fn entry_overhead_bytes() -> usize {
        let word = std::mem::size_of::<usize>();
        let node = std::mem::size_of::<K>() + std::mem::size_of::<Arc<Slot<V, E>>>() + 2 * word;
        let bucket = 2 * word + 1;
        let slot = 2 * word + std::mem::size_of::<Slot<V, E>>();
        node + bucket + slot
    }

    /// Scopes currently held (fresh, expired or being fetched).
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cap()
            .get()
    }

    /// The session of `key`, from the cache while it has more than `refresh_before` left at
    /// `now`, otherwise from `fetch` (called once however many callers wait for the same key).
    ///
    /// A failed fetch is shared with the callers that waited for it (fifty requests of one scope
    /// while STS throttles make one call, not fifty in a row) and not kept: the next caller for
    /// the key tries again. A slot evicted while its fetch runs (more scopes in flight at once
    /// than the capacity) only costs a later request one more fetch.
    pub async fn get_or_fetch<F, Fut>(&self, key: &K, now: SystemTime, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Session<V>, E>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.get(key) {
                Some(slot) => Arc::clone(slot),
                None => {
                    let slot = Arc::new(Slot::default());
                    // `push` evicts the least recently used scope when full: one, not all.
                    slots.push(key.clone(), Arc::clone(&slot));
                    slot
                }
            }
        };
        let fetches_before = slot.fetches.load(Ordering::SeqCst);
        let mut state = slot.state.lock().await;
        if let Some(current) = state.session.as_ref() {
            if current.expires > now + self.refresh_before {
                return Ok(current.value.clone());
            }
        }
        if slot.fetches.load(Ordering::SeqCst) != fetches_before {
            if let Some(failure) = state.failure.as_ref() {
                return Err(failure.clone());
            }
        }
        let fetched = fetch().await;
        slot.fetches.fetch_add(1, Ordering::SeqCst);
        match fetched {
            Ok(fresh) => {
                let value = fresh.value.clone();
                state.session = Some(fresh);
                state.failure = None;
                Ok(value)
            }
            Err(error) => {
                state.failure = Some(error.clone());
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const HOUR: Duration = Duration::from_secs(3600);
    const REFRESH: Duration = Duration::from_secs(120);

    fn cache(capacity: usize) -> SessionCache<String, u64, String> {
        SessionCache::new(
            NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            REFRESH,
        )
    }

    /// A fake STS: counts calls, hands out sessions of `length` from `now`.
    struct FakeSts {
        calls: AtomicUsize,
        length: Duration,
    }

    impl FakeSts {
        fn new(length: Duration) -> Self {
            Self {
                calls: AtomicUsize::new(0),
                length,
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        async fn assume(&self, now: SystemTime) -> Result<Session<u64>, String> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(Session {
                value: n as u64,
                expires: now + self.length,
            })
        }
    }

    async fn replay(cache: &SessionCache<String, u64, String>, sts: &FakeSts, stream: &[String]) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for key in stream {
            cache
                .get_or_fetch(key, now, || sts.assume(now))
                .await
                .unwrap();
        }
    }

    /// The misses an LRU of `capacity` makes on `stream`: the reference the cache must match.
    fn lru_model_misses(capacity: usize, stream: &[String]) -> usize {
        let mut order: Vec<&String> = Vec::new(); // most recent last
        let mut misses = 0;
        for key in stream {
            if let Some(at) = order.iter().position(|k| *k == key) {
                order.remove(at);
            } else {
                misses += 1;
                if order.len() == capacity {
                    order.remove(0);
                }
            }
            order.push(key);
        }
        misses
    }

    /// `requests` keys drawn from `users` with Zipf(s) popularity, from a fixed seed.
    fn zipf_stream(users: usize, s: f64, requests: usize, seed: u64) -> Vec<String> {
        let weights: Vec<f64> = (1..=users)
            .map(|rank| 1.0 / (rank as f64).powf(s))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = Vec::with_capacity(users);
        let mut sum = 0.0;
        for w in &weights {
            sum += w / total;
            cumulative.push(sum);
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..requests)
            .map(|_| {
                let draw = rng.f64();
                let rank = cumulative.partition_point(|c| *c < draw).min(users - 1);
                format!("user-{rank}")
            })
            .collect()
    }

    /// The case: 300 users round-robin, 3 rounds. With room for all of them, one call each;
    /// the old cache (256, emptied whole when full) made one call per request, 900.
    #[tokio::test]
    async fn round_robin_past_the_old_bound_calls_once_per_user() {
        let users: Vec<String> = (0..300).map(|i| format!("user-{i:03}")).collect();
        let stream: Vec<String> = users.iter().cycle().take(900).cloned().collect();
        let sts = FakeSts::new(HOUR);
        let cache = cache(300);
        replay(&cache, &sts, &stream).await;
        assert_eq!(sts.calls(), 300);
        assert_eq!(cache.len(), 300);

        // Below the working set, round-robin is an LRU's worst case, and it evicts one at a time:
        // the count is what the LRU model predicts, not more.
        let sts = FakeSts::new(HOUR);
        let small = self::cache(256);
        replay(&small, &sts, &stream).await;
        assert_eq!(sts.calls(), lru_model_misses(256, &stream));
        assert_eq!(small.len(), 256);
    }

    /// On Zipf streams the cache makes exactly the calls an LRU of its size would.
    #[tokio::test]
    async fn zipf_replays_match_an_lru_model() {
        for (users, s, seed) in [(1_000, 1.0, 7), (5_000, 0.8, 11), (2_000, 1.2, 13)] {
            let stream = zipf_stream(users, s, 20_000, seed);
            let sts = FakeSts::new(HOUR);
            let cache = cache(256);
            replay(&cache, &sts, &stream).await;
            let expected = lru_model_misses(256, &stream);
            assert_eq!(sts.calls(), expected, "{users} users, s = {s}");
            // The bound matters on these streams (more distinct users than 256), and the LRU
            // still serves part of them from the cache.
            assert!(expected > 256 && expected < stream.len(), "{expected}");
        }
    }

    /// Fifty first requests for one scope at once: one fetch, one value for all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_requests_make_one_call() {
        let sts = Arc::new(FakeSts::new(HOUR));
        let cache = Arc::new(cache(16));
        let now = SystemTime::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (sts, cache) = (Arc::clone(&sts), Arc::clone(&cache));
            tasks.spawn(async move {
                cache
                    .get_or_fetch(&"tenant-a/user-001".to_owned(), now, || async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        sts.assume(now).await
                    })
                    .await
            });
        }
        let mut values = Vec::new();
        while let Some(result) = tasks.join_next().await {
            values.push(result.unwrap().unwrap());
        }
        assert_eq!(sts.calls(), 1);
        assert_eq!(values, vec![0; 50]);
    }

    /// A slow fetch for one scope does not hold up another scope.
    #[tokio::test(start_paused = true)]
    async fn one_scope_fetching_does_not_block_another() {
        let cache = Arc::new(cache(16));
        let now = SystemTime::now();
        let slow = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_fetch(&"slow".to_owned(), now, || async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok(Session {
                            value: 1,
                            expires: now + HOUR,
                        })
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        let fast = cache
            .get_or_fetch(&"fast".to_owned(), now, || async {
                Ok(Session {
                    value: 2,
                    expires: now + HOUR,
                })
            })
            .await;
        assert_eq!(fast, Ok(2));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(slow.await.unwrap(), Ok(1));
    }

    /// A session is used until `refresh_before` ahead of its expiry, then replaced.
    #[tokio::test]
    async fn sessions_are_refreshed_before_they_expire() {
        let sts = FakeSts::new(Duration::from_secs(900));
        let cache = cache(4);
        let key = "tenant-a".to_owned();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |secs: u64| start + Duration::from_secs(secs);
        let sts = &sts;
        let get = |now: SystemTime| cache.get_or_fetch(&key, now, move || sts.assume(start));
        assert_eq!(get(at(0)).await, Ok(0));
        // 900 s session, refreshed 120 s early: served from the cache up to 779 s.
        assert_eq!(get(at(779)).await, Ok(0));
        assert_eq!(sts.calls(), 1);
        assert_eq!(get(at(780)).await, Ok(1));
        assert_eq!(sts.calls(), 2);
    }

    /// A failed fetch is not cached: the next request tries again, and the error is the caller's.
    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = cache(4);
        let key = "tenant-a".to_owned();
        let now = SystemTime::now();
        let failed = cache
            .get_or_fetch(&key, now, || async { Err("throttled".to_owned()) })
            .await;
        assert_eq!(failed, Err("throttled".to_owned()));
        let ok = cache
            .get_or_fetch(&key, now, || async {
                Ok(Session {
                    value: 9,
                    expires: now + HOUR,
                })
            })
            .await;
        assert_eq!(ok, Ok(9));
    }

    /// Fifty first requests while STS fails: one call, its failure shared by all fifty; the
    /// next request (after they have all been answered) calls again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fetch_is_shared_by_its_waiters() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = Arc::new(cache(16));
        let now = SystemTime::now();
        let key = "tenant-a/user-001".to_owned();
        let failing = |calls: Arc<AtomicUsize>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<Session<u64>, _>("throttled".to_owned())
        };
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (calls, cache, key) = (Arc::clone(&calls), Arc::clone(&cache), key.clone());
            tasks.spawn(async move { cache.get_or_fetch(&key, now, || failing(calls)).await });
        }
        let mut errors = 0;
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), Err("throttled".to_owned()));
            errors += 1;
        }
        assert_eq!((errors, calls.load(Ordering::SeqCst)), (50, 1));
        let again = cache
            .get_or_fetch(&key, now, || failing(Arc::clone(&calls)))
            .await;
        assert!(again.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// Eviction takes the least recently used scope only.
    #[tokio::test]
    async fn eviction_takes_the_least_recently_used_one() {
        let sts = FakeSts::new(HOUR);
        let cache = cache(2);
        let keys = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        replay(&cache, &sts, &keys(&["a", "b", "a", "c"])).await;
        assert_eq!(sts.calls(), 3);
        // `a` was used after `b`, so `b` went: `a` is still cached, `b` is fetched again.
        replay(&cache, &sts, &keys(&["a"])).await;
        assert_eq!(sts.calls(), 3);
        replay(&cache, &sts, &keys(&["b"])).await;
        assert_eq!(sts.calls(), 4);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.capacity(), 2);
    }
}
