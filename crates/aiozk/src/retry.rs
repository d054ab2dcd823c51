//! Retry policies: how often, and how patiently, a failed request is sent again.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Decides whether a failed request is tried again and how long to wait first.
///
/// A policy bounds the number of attempts, the time since the first attempt, or both, and
/// chooses a delay before each retry. [`RetryPolicy::run`] applies it to an operation; only
/// errors for which [`Error::is_retryable`] is true (a lost connection, a timeout, a throttled
/// or moved request) are retried. Every other error, including the session-terminal ones such
/// as [`Error::SessionExpired`], is returned at once.
///
/// The constructors mirror aiozk's `RetryPolicy` class methods, with two fixes noted on
/// [`RetryPolicy::n_times`] and [`RetryPolicy::until_elapsed`].
///
/// # Notable behaviour
///
/// A write that failed with [`Error::ConnectionLoss`] may or may not have been applied. Sent
/// again, a create may fail with [`Error::NodeExists`], a sequential create may leave a
/// duplicate node, and a versioned write may fail with [`Error::BadVersion`]. The policy does
/// not know what it is retrying; whoever runs a non-idempotent operation under it must be
/// ready for these outcomes (or use [`RetryPolicy::once`]).
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// use aiozk::RetryPolicy;
///
/// let policy = RetryPolicy::n_times(3).with_backoff(Duration::from_millis(100), Duration::from_secs(1));
/// let started = Instant::now();
/// // The second attempt waits 100 ms; after the third there is no fourth.
/// assert_eq!(
///     policy.delay_before_attempt(2, started, started),
///     Some(Duration::from_millis(100))
/// );
/// assert_eq!(policy.delay_before_attempt(4, started, started), None);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts allowed, the first included; `None` for no limit.
    max_attempts: Option<u32>,
    /// No retry starts once this much time has passed since the first attempt.
    max_elapsed: Option<Duration>,
    /// The delay before each retry.
    backoff: Backoff,
}

/// How long to wait before attempt `k` (k ≥ 2).
#[derive(Clone, Debug, PartialEq)]
enum Backoff {
    /// Retry immediately.
    None,
    /// aiozk's exponential backoff: `base^k` seconds, at most `max`.
    Power { base: f64, max: Option<Duration> },
    /// `initial` before the first retry, doubling after each one, at most `max`.
    Doubling { initial: Duration, max: Duration },
}

impl RetryPolicy {
    /// A single attempt: the error, if any, is returned as is.
    pub fn once() -> Self {
        Self::n_times(1)
    }

    /// Alias of [`RetryPolicy::once`]: no retry at all.
    pub fn none() -> Self {
        Self::once()
    }

    /// Exactly `n` attempts in total (`n_times(3)` is the first attempt and two retries),
    /// without delay between them. `n_times(0)` is treated as `n_times(1)`: the first attempt
    /// is always made.
    ///
    /// # Notable behaviour
    ///
    /// aiozk's `n_times(n)` allows `max(1, n - 1)` attempts (it counts the current attempt
    /// against the limit before comparing), so its `n_times(2)` and `n_times(1)` both make a
    /// single attempt and its `n_times(3)` makes two. This policy makes `n`.
    pub fn n_times(n: u32) -> Self {
        Self {
            max_attempts: Some(n.max(1)),
            max_elapsed: None,
            backoff: Backoff::None,
        }
    }

    /// Unlimited attempts, no delay between them (aiozk's default policy).
    ///
    /// Without a delay, an operation that fails immediately (say, with no server reachable)
    /// is retried in a tight loop; add [`RetryPolicy::with_backoff`] to avoid that.
    pub fn forever() -> Self {
        Self {
            max_attempts: None,
            max_elapsed: None,
            backoff: Backoff::None,
        }
    }

    /// Unlimited attempts; before attempt `k` (k ≥ 2) it waits `base^k` seconds, at most
    /// `maximum`. This is aiozk's `exponential_backoff(base, maximum)`: with base 2 the waits
    /// are 4 s, 8 s, 16 s, … (the first retry already waits `base²`).
    ///
    /// A `base` below 1.0 (or NaN) is treated as 1.0, so the wait never shrinks. Without a
    /// `maximum` the wait grows without bound, saturating at [`Duration::MAX`].
    pub fn exponential_backoff(base: f64, maximum: Option<Duration>) -> Self {
        Self {
            max_attempts: None,
            max_elapsed: None,
            // `f64::max` returns the other operand when one is NaN, so NaN becomes 1.0.
            backoff: Backoff::Power {
                base: base.max(1.0),
                max: maximum,
            },
        }
    }

    /// Retries, without delay, as long as less than `timeout` has passed since the first
    /// attempt.
    ///
    /// # Notable behaviour
    ///
    /// aiozk's `until_elapsed` sleeps until the deadline before its only retry. This policy
    /// retries at once and keeps retrying until the deadline; combine it with
    /// [`RetryPolicy::with_backoff`] to space the retries out. A delay never pushes a retry
    /// past the deadline: it is shortened so the last attempt starts at the deadline at the
    /// latest.
    pub fn until_elapsed(timeout: Duration) -> Self {
        Self {
            max_attempts: None,
            max_elapsed: Some(timeout),
            backoff: Backoff::None,
        }
    }

    /// Replaces the delay between attempts: `initial` before the first retry, doubling after
    /// each retry, never more than `max`.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff::Doubling { initial, max };
        self
    }

    /// Also limits the attempts to `n` in total (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// Also stops retrying once `timeout` has passed since the first attempt.
    pub fn with_max_elapsed(mut self, timeout: Duration) -> Self {
        self.max_elapsed = Some(timeout);
        self
    }

    /// The total number of attempts allowed, or `None` for no limit.
    pub fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The time after the first attempt from which no retry starts, or `None` for no limit.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// Whether attempt number `attempt` (the first attempt is 1) may be made, and after what
    /// delay.
    ///
    /// `first_attempt_at` is when attempt 1 started and `now` is when the decision is taken.
    /// Returns `None` when the policy allows no such attempt (too many attempts, or the time
    /// is up), otherwise the time to wait before making it. The first attempt is always
    /// allowed, without delay. The result depends only on the arguments; no clock is read.
    pub fn delay_before_attempt(
        &self,
        attempt: u32,
        first_attempt_at: Instant,
        now: Instant,
    ) -> Option<Duration> {
        if attempt <= 1 {
            return Some(Duration::ZERO);
        }
        if self.max_attempts.is_some_and(|max| attempt > max) {
            return None;
        }
        let delay = self.backoff.delay(attempt);
        match self.max_elapsed {
            None => Some(delay),
            Some(limit) => {
                let elapsed = now.saturating_duration_since(first_attempt_at);
                let remaining = limit.checked_sub(elapsed).filter(|r| !r.is_zero())?;
                Some(delay.min(remaining))
            }
        }
    }

    /// Runs `op` until it succeeds, fails with an error that is not retryable, or the policy
    /// gives up; between attempts it sleeps as the policy says.
    ///
    /// # Errors
    ///
    /// * An error that is not [retryable](Error::is_retryable) is returned as is, whatever the
    ///   attempt.
    /// * When the policy allows no further attempt after a retryable error: that error as is
    ///   if only one attempt was made, otherwise [`Error::RetriesExhausted`] with the number
    ///   of attempts and the last error.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future stops retrying; an attempt already in flight is dropped with it.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        // tokio's clock, so that tests with a paused clock see the time they advance.
        let first_attempt_at = tokio::time::Instant::now().into_std();
        let mut attempt = 1;
        loop {
            let err = match op().await {
                Ok(value) => return Ok(value),
                Err(err) if !err.is_retryable() => return Err(err),
                Err(err) => err,
            };
            let now = tokio::time::Instant::now().into_std();
            let Some(delay) = self.delay_before_attempt(attempt + 1, first_attempt_at, now) else {
                return Err(if attempt == 1 {
                    err
                } else {
                    Error::RetriesExhausted {
                        attempts: attempt,
                        last: Box::new(err),
                    }
                });
            };
            tracing::debug!(attempt, ?delay, error = %err, "retrying after a retryable error");
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            attempt += 1;
        }
    }
}

impl Default for RetryPolicy {
    /// Retries for up to 30 seconds after the first attempt, waiting 10 ms before the first
    /// retry and doubling the wait up to 1 s:
    /// `until_elapsed(30 s).with_backoff(10 ms, 1 s)`.
    ///
    /// aiozk's default is `forever()`. A bounded default keeps a caller from hanging
    /// indefinitely through a long outage, and the backoff keeps an immediately failing
    /// connection from becoming a busy loop. A session that expires meanwhile ends the
    /// retries early with [`Error::SessionExpired`], which is not retryable.
    fn default() -> Self {
        Self::until_elapsed(Duration::from_secs(30))
            .with_backoff(Duration::from_millis(10), Duration::from_secs(1))
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (≥ 2).
    fn delay(&self, attempt: u32) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Power { base, max } => {
                let cap = max.unwrap_or(Duration::MAX);
                // `base` is at least 1.0, so the power is finite and ≥ 1 or +inf; a value too
                // large for a Duration saturates at the cap.
                Duration::try_from_secs_f64(base.powf(f64::from(attempt)))
                    .map_or(cap, |d| d.min(cap))
            }
            Self::Doubling { initial, max } => {
                let factor = 2u32.saturating_pow(attempt.saturating_sub(2));
                initial.saturating_mul(factor).min(max)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    /// The delays of attempts 1..=n taken at `first` (no time passing).
    fn delays(policy: &RetryPolicy, n: u32) -> Vec<Option<Duration>> {
        let t = Instant::now();
        (1..=n)
            .map(|a| policy.delay_before_attempt(a, t, t))
            .collect()
    }

    #[test]
    fn once_allows_a_single_attempt() {
        assert_eq!(
            delays(&RetryPolicy::once(), 3),
            [Some(Duration::ZERO), None, None]
        );
        assert_eq!(RetryPolicy::none(), RetryPolicy::once());
        assert_eq!(RetryPolicy::once().max_attempts(), Some(1));
    }

    #[test]
    fn n_times_counts_all_attempts() {
        let z = Some(Duration::ZERO);
        assert_eq!(delays(&RetryPolicy::n_times(3), 4), [z, z, z, None]);
        assert_eq!(RetryPolicy::n_times(0), RetryPolicy::once());
    }

    #[test]
    fn forever_never_gives_up() {
        let p = RetryPolicy::forever();
        let t = Instant::now();
        let later = t + Duration::from_secs(1_000_000);
        assert_eq!(
            p.delay_before_attempt(u32::MAX, t, later),
            Some(Duration::ZERO)
        );
        assert_eq!(p.max_attempts(), None);
        assert_eq!(p.max_elapsed(), None);
    }

    #[test]
    fn exponential_backoff_follows_aiozk_and_caps() {
        let p = RetryPolicy::exponential_backoff(2.0, Some(60 * S));
        let got = delays(&p, 8);
        let want = [0, 4, 8, 16, 32, 60, 60, 60].map(|s| Some(s * S));
        assert_eq!(got, want);
        assert_eq!(
            p.delay_before_attempt(u32::MAX, Instant::now(), Instant::now()),
            Some(60 * S)
        );

        let uncapped = RetryPolicy::exponential_backoff(2.0, None);
        assert_eq!(delays(&uncapped, 3)[2], Some(8 * S));
        assert_eq!(
            uncapped.delay_before_attempt(5000, Instant::now(), Instant::now()),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn exponential_backoff_sanitises_the_base() {
        for base in [0.5, 0.0, -3.0, f64::NAN] {
            let p = RetryPolicy::exponential_backoff(base, None);
            assert_eq!(
                delays(&p, 3),
                [Some(Duration::ZERO), Some(S), Some(S)],
                "{base}"
            );
        }
        let inf = RetryPolicy::exponential_backoff(f64::INFINITY, Some(5 * S));
        assert_eq!(delays(&inf, 2)[1], Some(5 * S));
    }

    #[test]
    fn until_elapsed_stops_at_the_deadline() {
        let p = RetryPolicy::until_elapsed(10 * S);
        let t = Instant::now();
        assert_eq!(
            p.delay_before_attempt(1, t, t + 20 * S),
            Some(Duration::ZERO)
        );
        assert_eq!(
            p.delay_before_attempt(2, t, t + 3 * S),
            Some(Duration::ZERO)
        );
        assert_eq!(
            p.delay_before_attempt(50, t, t + 9 * S),
            Some(Duration::ZERO)
        );
        assert_eq!(p.delay_before_attempt(2, t, t + 10 * S), None);
        assert_eq!(p.delay_before_attempt(2, t, t + 11 * S), None);
        // A clock reading before the first attempt counts as no time elapsed.
        assert_eq!(p.delay_before_attempt(2, t + S, t), Some(Duration::ZERO));
    }

    #[test]
    fn default_doubles_from_10ms_to_1s_within_30s() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_elapsed(), Some(30 * S));
        assert_eq!(p.max_attempts(), None);
        let got = delays(&p, 11);
        let want = [0, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000].map(|ms| Some(ms * MS));
        assert_eq!(got, want);
        let t = Instant::now();
        // The wait is cut short so the last attempt starts at the deadline.
        assert_eq!(p.delay_before_attempt(20, t, t + 29_995 * MS), Some(5 * MS));
        assert_eq!(p.delay_before_attempt(20, t, t + 30 * S), None);
    }

    #[test]
    fn builders_combine() {
        let p = RetryPolicy::forever()
            .with_backoff(100 * MS, 250 * MS)
            .with_max_attempts(4)
            .with_max_elapsed(S);
        let got = delays(&p, 5);
        assert_eq!(
            got,
            [
                Some(Duration::ZERO),
                Some(100 * MS),
                Some(200 * MS),
                Some(250 * MS),
                None
            ]
        );
        assert_eq!(p.max_elapsed(), Some(S));
    }

    /// Runs `policy` over an operation that fails with `err` `fail_times` times, then
    /// succeeds; returns the result and the (tokio) times of every attempt.
    async fn run_failing(
        policy: &RetryPolicy,
        err: Error,
        fail_times: u32,
    ) -> (Result<u32>, Vec<tokio::time::Instant>) {
        let calls = AtomicU32::new(0);
        let times = Mutex::new(Vec::new());
        let result = policy
            .run(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                times.lock().unwrap().push(tokio::time::Instant::now());
                let err = err.clone();
                async move {
                    if n <= fail_times {
                        Err(err)
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        (result, times.into_inner().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn n_times_makes_exactly_n_attempts() {
        let (result, times) =
            run_failing(&RetryPolicy::n_times(3), Error::ConnectionLoss, 10).await;
        assert_eq!(times.len(), 3);
        assert_eq!(
            result,
            Err(Error::RetriesExhausted {
                attempts: 3,
                last: Box::new(Error::ConnectionLoss)
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn once_returns_the_error_as_is() {
        let (result, times) = run_failing(&RetryPolicy::once(), Error::ConnectionLoss, 10).await;
        assert_eq!(times.len(), 1);
        assert_eq!(result, Err(Error::ConnectionLoss));
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_retries() {
        let (result, times) = run_failing(&RetryPolicy::forever(), Error::Throttled, 2).await;
        assert_eq!(result, Ok(3));
        assert_eq!(times.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_errors_stop_at_once() {
        for err in [
            Error::NoNode,
            Error::SessionExpired,
            Error::AuthFailed,
            Error::Closed,
        ] {
            let (result, times) = run_failing(&RetryPolicy::forever(), err.clone(), 10).await;
            assert_eq!(times.len(), 1, "{err:?}");
            assert_eq!(result, Err(err));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_error_after_retries_is_returned_as_is() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = RetryPolicy::forever()
            .run(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    Err(if n < 2 {
                        Error::ConnectionLoss
                    } else {
                        Error::SessionExpired
                    })
                }
            })
            .await;
        assert_eq!(result, Err(Error::SessionExpired));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn until_elapsed_stops_after_the_time() {
        let policy = RetryPolicy::until_elapsed(S).with_backoff(100 * MS, 100 * MS);
        let start = tokio::time::Instant::now();
        let (result, times) = run_failing(&policy, Error::ConnectionLoss, u32::MAX).await;
        // Attempts at 0, 100, …, 1000 ms: the last one starts at the deadline.
        assert_eq!(times.len(), 11);
        assert_eq!(*times.last().unwrap() - start, S);
        assert!(matches!(
            result,
            Err(Error::RetriesExhausted { attempts: 11, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn until_elapsed_without_backoff_keeps_retrying_until_the_deadline() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::until_elapsed(S);
        let start = tokio::time::Instant::now();
        let result: Result<()> = policy
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                // Each attempt takes 300 ms before failing.
                async {
                    tokio::time::sleep(300 * MS).await;
                    Err(Error::Timeout)
                }
            })
            .await;
        // Attempts start at 0, 300, 600, 900 ms; the fourth fails at 1200 ms, past the limit.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(start.elapsed(), 1200 * MS);
        assert!(matches!(
            result,
            Err(Error::RetriesExhausted { attempts: 4, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn exponential_delays_grow_and_cap() {
        let policy = RetryPolicy::exponential_backoff(2.0, Some(20 * S)).with_max_attempts(6);
        let (result, times) = run_failing(&policy, Error::ConnectionLoss, u32::MAX).await;
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, [4 * S, 8 * S, 16 * S, 20 * S, 20 * S]);
        assert!(matches!(
            result,
            Err(Error::RetriesExhausted { attempts: 6, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn default_backoff_grows_and_caps() {
        let policy = RetryPolicy::default().with_max_attempts(10);
        let (_, times) = run_failing(&policy, Error::ConnectionLoss, u32::MAX).await;
        let gaps: Vec<u64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis() as u64)
            .collect();
        assert_eq!(gaps, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    }
}
