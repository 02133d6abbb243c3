//! Per-tenant request budget: a token bucket that keeps every rolling minute under `requests_per_minute`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Paces a tenant's requests so that no 60-second window holds more than the configured number.
pub struct RequestBudget {
    limiter: DefaultDirectRateLimiter,
}

impl RequestBudget {
    /// A budget of `per_minute` requests in any rolling minute (burst included).
    pub fn per_minute(per_minute: u32) -> RequestBudget {
        let per_minute = per_minute.max(1);
        // Burst b plus a steady rate r: the most any 60 s can hold is b + 60·r; keep that ≤ per_minute.
        let burst = (per_minute / 30).max(1);
        let steady = per_minute.saturating_sub(burst).max(1);
        let period = Duration::from_secs(60) / steady;
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        RequestBudget {
            limiter: RateLimiter::direct(quota),
        }
    }

    /// Waits until one more request fits the budget.
    pub async fn acquire(&self) {
        self.limiter.until_ready().await;
    }
}
