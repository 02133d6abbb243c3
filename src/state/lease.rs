//! Leases: which replica owns which stream, and the rule that shares streams among live replicas.
//!
//! A lease row per stream holds an owner, an expiry and a fencing **epoch**. Taking a lease — free, released,
//! expired, or re-taken by the same replica after a restart — increments the epoch. A commit carries the
//! epoch it was produced under and the store accepts it only while the lease row still names the same owner
//! and epoch (checked inside the commit transaction), so a paused or partitioned replica can never commit
//! stale work: whoever took over has a higher epoch.
//!
//! Both stores implement the same contract; the PostgreSQL store measures expiry on the database clock, so
//! replicas need not agree on time.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::StreamKey;

/// A lease held by a replica: the credential a fenced commit carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The stream it covers.
    pub stream: StreamKey,
    /// The replica that holds it.
    pub owner: String,
    /// Fencing epoch: incremented on every acquisition of the stream.
    pub epoch: i64,
}

/// What [`StateStore::acquire_lease`](super::StateStore::acquire_lease) granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    /// The new lease.
    pub lease: Lease,
    /// The replica whose lease expired and was taken over (`None` when the stream was free or released, or
    /// held by this same replica before).
    pub taken_from: Option<String>,
}

/// One lease row as `state show` and the balancer see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The stream.
    pub stream: StreamKey,
    /// The replica named in the row (`None` once released).
    pub owner: Option<String>,
    /// Current fencing epoch.
    pub epoch: i64,
    /// When the lease runs out unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Owned and not expired, by the store's clock.
    pub live: bool,
}

// === impl LeaseInfo ===

impl LeaseInfo {
    /// The live owner, if any.
    pub fn live_owner(&self) -> Option<&str> {
        self.owner.as_deref().filter(|_| self.live)
    }
}

/// How many streams one replica may hold: ceil(streams / live replicas), at least one replica counted.
pub fn quota(streams: usize, live_replicas: usize) -> usize {
    let replicas = live_replicas.max(1);
    streams.div_ceil(replicas)
}

/// The default replica identity: `<hostname>-<pid>`, unique per process on a host and stable for the
/// process's life (in Kubernetes the hostname is the pod name).
pub fn default_replica_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let host = if host.trim().is_empty() {
        "replica".to_string()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// A lease duration as milliseconds for SQL (at least 1).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_the_ceiling_of_streams_per_live_replica() {
        assert_eq!(quota(12, 3), 4);
        assert_eq!(quota(12, 5), 3);
        assert_eq!(quota(12, 2), 6);
        assert_eq!(quota(1, 3), 1);
        assert_eq!(quota(12, 0), 12, "no heartbeat seen yet counts as alone");
    }

    #[test]
    fn the_default_replica_id_names_host_and_process() {
        let id = default_replica_id();
        assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
    }
}
