//! Per-tenant request budget: a token bucket that keeps every rolling minute under `requests_per_minute`,
//! and a tenant-wide pause after throttling so that a throttled tenant slows down as a whole.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// The pause after the first throttled answer without `Retry-After`; doubled for each further one in a row.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause.
const MAX_PAUSE: Duration = Duration::from_secs(120);

/// The limiter on `std`'s monotonic clock. (governor's default clock, quanta's, calibrates the CPU's time
/// stamp counter at start-up: 20 ms of CPU in every process, for a limiter that is asked a few times a second.)
type Limiter =
    RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<std::time::Instant>>;

#[derive(Default)]
struct Throttle {
    paused_until: Option<Instant>,
    in_a_row: u32,
}

/// Paces a tenant's requests so that no 60-second window holds more than the configured number, and
/// stops all of the tenant's requests for a while after the API throttled one of them.
pub struct RequestBudget {
    limiter: Limiter,
    throttle: Mutex<Throttle>,
}

impl RequestBudget {
    /// A budget of `per_minute` requests in any rolling minute (burst included).
    pub fn per_minute(per_minute: u32) -> RequestBudget {
        Self::per_window(per_minute, Duration::from_secs(60))
    }

    /// A budget of `limit` requests in any rolling `window` (burst included); the window is 60 s for the
    /// service and shorter only in time-scaled benchmarks.
    pub fn per_window(limit: u32, window: Duration) -> RequestBudget {
        let limit = limit.max(1);
        let window = window.max(Duration::from_millis(1));
        // Burst b plus a steady rate r: the most any window w can hold is b + w·r; keep that ≤ limit.
        let burst = (limit / 30).max(1);
        let steady = limit.saturating_sub(burst).max(1);
        let period = window / steady;
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        RequestBudget {
            limiter: RateLimiter::direct_with_clock(quota, MonotonicClock),
            throttle: Mutex::new(Throttle::default()),
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the tenant is not paused and one more request fits the budget.
    pub async fn acquire(&self) {
        loop {
            let paused_until = self.throttle().paused_until;
            match paused_until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
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

    #[tokio::test]
    async fn an_unthrottled_budget_lets_a_burst_through_at_once() {
        let budget = RequestBudget::per_minute(1800);
        let started = Instant::now();
        for _ in 0..10 {
            budget.acquire().await;
        }
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
