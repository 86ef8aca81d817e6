//! Throttled calls retried with jittered backoff for as long as the invocation's budget allows.
//!
//! The SDK's standard retry already makes three attempts within one operation's budget (8 s by
//! default, [`crate::aws::SdkBudget`]). A burst of cold starts can outlast that: many sandboxes
//! start at once and each makes its first Parameter Store read, against a quota shared by the
//! account (40 requests/s by default). After the SDK gives up on a throttled call, [`retry_throttled`]
//! waits a random delay below an exponentially growing ceiling (full jitter, so that the
//! sandboxes of one burst spread out instead of retrying together) and calls again, as long as
//! the wait and one more call fit before the invocation's deadline ([`crate::runtime::budget_end`]).
//! Only throttling is retried here: other failures are the caller's at once.

use std::future::Future;
use std::time::Duration;

/// How throttled calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRetry {
    /// Ceiling of the first wait; doubled per retry, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// Time one more call needs: no wait is started that would leave less than this before the
    /// invocation's deadline.
    pub reserve: Duration,
    /// Retries at most, whatever the budget (and the only bound when there is no deadline).
    pub max_retries: u32,
}

impl Default for ThrottleRetry {
    /// [`ThrottleRetry::after_sdk_backoff`] of the suite's default SDK backoff (1 s).
    fn default() -> Self {
        Self::after_sdk_backoff(crate::aws::RETRY_INITIAL_BACKOFF)
    }
}

impl ThrottleRetry {
    /// Scaled to the SDK's first retry delay `initial` (1 s by default; the fault tests shrink
    /// it): waits below `initial` / 4 doubling to 2 × `initial` (0.25, 0.5, 1, 2 s), at most four,
    /// so past the SDK's own three attempts (about 3 × `initial` of backoff) four more spread
    /// over up to 3.75 × `initial`. `reserve` is what the SDK's own retries of one more
    /// throttled call may wait, 3 × `initial`: a throttled answer comes back fast, its backoff
    /// is the time it takes.
    pub fn after_sdk_backoff(initial: Duration) -> Self {
        Self {
            base: initial / 4,
            cap: initial * 2,
            reserve: initial * 3,
            max_retries: 4,
        }
    }

    /// The ceiling of the wait before retry number `retry` (0 for the first).
    fn ceiling(&self, retry: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.cap)
    }
}

/// `call`, again after a jittered wait each time it fails with an error `is_throttled` accepts,
/// while `retry` and the invocation's budget allow; the last result otherwise.
pub async fn retry_throttled<T, E, Fut>(
    retry: &ThrottleRetry,
    is_throttled: impl Fn(&E) -> bool,
    mut call: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut retries = 0;
    loop {
        let result = call().await;
        match &result {
            Err(error) if is_throttled(error) && retries < retry.max_retries => {}
            _ => return result,
        }
        let wait = retry.ceiling(retries).mul_f64(fastrand::f64());
        if let Some(end) = crate::runtime::budget_end() {
            if tokio::time::Instant::now() + wait + retry.reserve > end {
                return result;
            }
        }
        tracing::info!(
            retry = retries + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "throttled: retrying after a jittered wait"
        );
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, PartialEq)]
    enum Failure {
        Throttled,
        Denied,
    }

    /// Answers `Throttled` `throttled` times, then `Ok` with the number of calls.
    fn flaky(calls: &AtomicU32, throttled: u32) -> impl Future<Output = Result<u32, Failure>> + '_ {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n <= throttled {
                Err(Failure::Throttled)
            } else {
                Ok(n)
            }
        }
    }

    fn throttled(e: &Failure) -> bool {
        *e == Failure::Throttled
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_until_it_passes() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result =
            retry_throttled(&ThrottleRetry::default(), throttled, || flaky(&calls, 3)).await;
        assert_eq!(result, Ok(4));
        // Three waits, each below its ceiling: 0.25 + 0.5 + 1 s.
        assert!(started.elapsed() < Duration::from_millis(1750));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_without_a_deadline() {
        let calls = AtomicU32::new(0);
        let result =
            retry_throttled(&ThrottleRetry::default(), throttled, || flaky(&calls, 100)).await;
        assert_eq!(result, Err(Failure::Throttled));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1 + ThrottleRetry::default().max_retries
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result = retry_throttled(&ThrottleRetry::default(), throttled, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(Failure::Denied) }
        })
        .await;
        assert_eq!(result, Err(Failure::Denied));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// No wait starts that would leave less than `reserve` before the invocation's deadline:
    /// with 3.5 s left (4 s less the runtime's margin) and 3 s reserved, at most 0.5 s is spent
    /// waiting, whatever `max_retries` allows.
    #[tokio::test(start_paused = true)]
    async fn waits_stay_inside_the_invocations_budget() {
        let retry = ThrottleRetry {
            max_retries: 1000,
            ..ThrottleRetry::default()
        };
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result = crate::runtime::with_deadline(
            now_ms() + 4_000,
            retry_throttled(&retry, throttled, || flaky(&calls, u32::MAX)),
        )
        .await;
        assert_eq!(result, Err(Failure::Throttled));
        assert!(
            started.elapsed() <= Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert!(calls.load(Ordering::SeqCst) < 1000);
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let retry = ThrottleRetry::default();
        let ceilings: Vec<u128> = (0..6).map(|n| retry.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(retry.ceiling(u32::MAX), retry.cap);
        // The fault tests' 50 ms SDK backoff: waits of at most 12.5 + 25 + 50 + 100 ms.
        let short = ThrottleRetry::after_sdk_backoff(Duration::from_millis(50));
        let total: Duration = (0..short.max_retries).map(|n| short.ceiling(n)).sum();
        assert_eq!(total, Duration::from_micros(187_500));
        assert_eq!(short.reserve, Duration::from_millis(150));
    }
}
