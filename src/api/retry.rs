//! Retry policy: exponential backoff with full jitter and a cap.

use std::time::Duration;

use rand::Rng;

/// How often and how long API calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call before it fails (the stream then retries at its next poll).
    pub max_attempts: u32,
    /// First backoff ceiling.
    pub initial_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Largest wait honoured from a `Retry-After` header.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random wait between 0 and min(cap, initial · 2^attempt).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_capped() {
        let policy = RetryPolicy {
            max_backoff: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        for attempt in 0..40 {
            assert!(policy.backoff(attempt) <= Duration::from_secs(5));
        }
        assert!(policy.backoff(0) <= Duration::from_secs(1));
    }
}
