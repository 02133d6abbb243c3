//! Per-tenant request budget: at most `requests_per_minute` requests in any rolling minute, and a
//! tenant-wide pause after throttling so that a throttled tenant slows down as a whole.
//!
//! The budget is a log of the last grants (a sliding-window log), the exact form of the API's limit: a
//! request goes out at once while fewer than the limit went out in the last window, and otherwise waits
//! until the oldest of them leaves the window. A backlog therefore drains in bursts, the whole budget at
//! the start of each minute, and the daemon sleeps through the rest of the minute instead of waking for
//! every request. (The token bucket this replaced, governor's GCRA, has no such form: it paced every
//! request after a small burst, and held part of the budget back as that burst's margin.) In the
//! benchmark's time-scaled 7-day backfill this cut the daemon's CPU by 30 % (4.65 → 3.26 CPU-s), and the
//! end-to-end run's wall time by a fifth; see BENCHMARKS.md, step 43.
//!
//! The window is counted a little longer than the API's ([`margin`]), so that a request granted early and
//! delayed on its way (a slow connection) cannot land in the same API window as one granted a full window
//! later.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The pause after the first throttled answer without `Retry-After`; doubled for each further one in a row.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause.
const MAX_PAUSE: Duration = Duration::from_secs(120);

/// How much longer than the API's window the log counts: 1 s per minute (the slack for a request's way
/// from its grant to the API, which the API counts by arrival).
fn margin(window: Duration) -> Duration {
    window / 60
}

#[derive(Default)]
struct Throttle {
    paused_until: Option<Instant>,
    in_a_row: u32,
}

/// The times of the grants inside the last window, oldest first.
#[derive(Debug)]
struct GrantLog {
    times: VecDeque<Instant>,
    limit: usize,
    window: Duration,
}

// === impl GrantLog ===

impl GrantLog {
    fn new(limit: u32, window: Duration) -> GrantLog {
        GrantLog {
            times: VecDeque::new(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX).max(1),
            window,
        }
    }

    /// Grants a request at `now`, or says when the next grant is free (the oldest grant leaves the window).
    fn grant(&mut self, now: Instant) -> Result<(), Instant> {
        while let Some(&oldest) = self.times.front() {
            if now.saturating_duration_since(oldest) < self.window {
                break;
            }
            self.times.pop_front();
        }
        debug_assert!(
            self.times.len() <= self.limit,
            "the log never holds more than the limit"
        );
        match self.times.front() {
            Some(&oldest) if self.times.len() >= self.limit => Err(oldest + self.window),
            _ => {
                self.times.push_back(now);
                Ok(())
            }
        }
    }
}

/// Keeps every rolling window of a tenant's requests under the configured number, and stops all of the
/// tenant's requests for a while after the API throttled one of them.
pub struct RequestBudget {
    /// The grants; the lock also queues waiting requests, in order.
    log: tokio::sync::Mutex<GrantLog>,
    throttle: Mutex<Throttle>,
}

impl RequestBudget {
    /// A budget of `per_minute` requests in any rolling minute.
    pub fn per_minute(per_minute: u32) -> RequestBudget {
        Self::per_window(per_minute, Duration::from_secs(60))
    }

    /// A budget of `limit` requests in any rolling `window`; the window is 60 s for the service and
    /// shorter only in time-scaled benchmarks.
    pub fn per_window(limit: u32, window: Duration) -> RequestBudget {
        let window = window.max(Duration::from_millis(1));
        RequestBudget {
            log: tokio::sync::Mutex::new(GrantLog::new(limit, window + margin(window))),
            throttle: Mutex::new(Throttle::default()),
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the tenant is not paused and one more request fits the budget, and takes the grant.
    /// Returns how long this request slept for a free grant (the log was full): requests queued behind it
    /// get theirs as the log frees, so summed over a tenant's requests this is the time the budget held the
    /// tenant back. Waits in the queue and pauses after throttling are not in it.
    ///
    /// Requests wait in order on one lock, and the pause is checked again after every wait: a request that
    /// queued before the API throttled another one does not go out during the pause.
    pub async fn acquire(&self) -> Duration {
        let mut log = self.log.lock().await;
        let mut held_back = Duration::ZERO;
        loop {
            let paused_until = self.throttle().paused_until;
            if let Some(until) = paused_until.filter(|until| *until > Instant::now()) {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match log.grant(Instant::now()) {
                Ok(()) => return held_back,
                Err(free_at) => {
                    let slept_from = Instant::now();
                    tokio::time::sleep_until(free_at).await;
                    held_back += slept_from.elapsed();
                }
            }
        }
    }

    /// The API throttled a request: pause every request of the tenant for at least `retry_after`, and for
    /// longer (doubling) while throttling goes on, so that retries do not keep the API's window full.
    /// Returns the pause.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        let mut throttle = self.throttle();
        let doubling = FIRST_PAUSE
            .saturating_mul(1u32 << throttle.in_a_row.min(10))
            .min(MAX_PAUSE);
        let pause = retry_after.unwrap_or_default().max(doubling);
        throttle.in_a_row = throttle.in_a_row.saturating_add(1);
        let until = Instant::now() + pause;
        if throttle.paused_until.is_none_or(|current| current < until) {
            throttle.paused_until = Some(until);
        }
        pause
    }

    /// A request went through: throttling is over.
    pub fn succeeded(&self) {
        let mut throttle = self.throttle();
        throttle.in_a_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn throttling_pauses_the_whole_tenant_longer_each_time_in_a_row() {
        let budget = RequestBudget::per_minute(1800);
        assert_eq!(
            budget.throttled(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(budget.throttled(None), Duration::from_secs(2));
        assert_eq!(budget.throttled(None), Duration::from_secs(4));
        let paused_until = budget.throttle().paused_until.unwrap();
        assert!(paused_until >= Instant::now() + Duration::from_millis(3900));
        budget.succeeded();
        assert_eq!(budget.throttled(None), Duration::from_secs(1));
    }

    /// Grants (with their times) of `requests` requests from `tasks` concurrent callers.
    async fn grant_times(
        budget: Arc<RequestBudget>,
        tasks: usize,
        requests: usize,
    ) -> Vec<Instant> {
        let each = requests / tasks;
        let callers = (0..tasks).map(|_| {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(each);
                for _ in 0..each {
                    budget.acquire().await;
                    times.push(Instant::now());
                }
                times
            })
        });
        let mut times = Vec::new();
        for caller in futures::future::join_all(callers).await {
            times.extend(caller.expect("caller task"));
        }
        times.sort();
        times
    }

    /// The most grants inside any window of length `window`.
    fn busiest_window(times: &[Instant], window: Duration) -> usize {
        let mut busiest = 0;
        let mut start = 0;
        for (end, at) in times.iter().enumerate() {
            while *at - times[start] >= window {
                start += 1;
            }
            busiest = busiest.max(end + 1 - start);
        }
        busiest
    }

    /// Time-scaled like the benchmark: 600 requests in any 500 ms.
    #[tokio::test]
    async fn grants_keep_every_window_within_the_limit_and_use_the_whole_budget_in_bursts() {
        let (limit, window) = (600, Duration::from_millis(500));
        let budget = Arc::new(RequestBudget::per_window(limit, window));
        let started = Instant::now();
        let times = grant_times(Arc::clone(&budget), 16, 3200).await;
        let elapsed = started.elapsed();
        assert_eq!(times.len(), 3200);
        let busiest = busiest_window(&times, window);
        assert!(busiest <= limit as usize, "{busiest} grants in one window");
        // 3,200 grants are five full windows and a part: the sixth burst starts after five windows (and
        // their margins), about 2.54 s. Less would break the limit; much more means the budget was not
        // used (the upper bound leaves room for a loaded machine).
        assert!(
            elapsed >= 5 * window,
            "the budget let more through than allowed: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "the budget was not used: {elapsed:?}"
        );
        // Whole windows of grants at once: the callers waited five times, not once per grant.
        let waits = times
            .windows(2)
            .filter(|pair| pair[1] - pair[0] > window / 5)
            .count();
        assert_eq!(waits, 5, "grants did not come in bursts");
    }

    #[test]
    fn the_log_grants_up_to_the_limit_per_window_and_names_the_next_free_grant() {
        let window = Duration::from_secs(10);
        let mut log = GrantLog::new(3, window);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(log.grant(at(0)), Ok(()));
        assert_eq!(log.grant(at(1000)), Ok(()));
        assert_eq!(log.grant(at(2000)), Ok(()));
        // Full: the next grant is free when the first leaves the window.
        assert_eq!(log.grant(at(3000)), Err(at(10_000)));
        assert_eq!(log.grant(at(9999)), Err(at(10_000)));
        assert_eq!(log.grant(at(10_000)), Ok(()));
        assert_eq!(log.grant(at(10_500)), Err(at(11_000)));
        // After a quiet window the whole limit is there again.
        for ms in [30_000, 30_001, 30_002] {
            assert_eq!(log.grant(at(ms)), Ok(()));
        }
        assert_eq!(log.times.len(), 3);
    }

    #[tokio::test]
    async fn the_window_is_counted_with_its_margin_and_the_wait_is_reported() {
        let window = Duration::from_millis(300);
        let budget = RequestBudget::per_window(2, window);
        let started = Instant::now();
        assert!(budget.acquire().await < Duration::from_millis(50));
        assert!(budget.acquire().await < Duration::from_millis(50));
        // The third grant waits for the first to leave the window and its margin (5 ms).
        let waited = budget.acquire().await;
        assert!(started.elapsed() >= window + margin(window));
        assert!(
            waited >= window - Duration::from_millis(20),
            "reported wait {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_pause_after_throttling_is_not_reported_as_a_budget_wait() {
        let budget = RequestBudget::per_minute(1800);
        budget.throttled(Some(Duration::from_millis(300)));
        let started = Instant::now();
        let waited = budget.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(
            waited < Duration::from_millis(100),
            "reported wait {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_request_queued_before_a_throttle_waits_out_the_pause() {
        let budget = Arc::new(RequestBudget::per_minute(1800));
        budget.acquire().await;
        let held = budget.log.lock().await;
        let queued = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move {
                budget.acquire().await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await; // the request waits for the lock
        let throttled_at = Instant::now();
        let pause = budget.throttled(Some(Duration::from_millis(300)));
        drop(held);
        let sent_at = queued.await.expect("queued request");
        assert!(sent_at >= throttled_at + pause, "went out during the pause");
    }

    #[tokio::test]
    async fn an_unthrottled_budget_lets_the_whole_minute_through_at_once() {
        let budget = RequestBudget::per_minute(1800);
        let started = Instant::now();
        for _ in 0..1800 {
            budget.acquire().await;
        }
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
