//! Cluster mode: the lease keeper of one replica.
//!
//! Every third of a lease the keeper
//! 1. records this replica's heartbeat and learns how many replicas are alive;
//! 2. renews the lease of every stream it runs (a refused renewal stops that stream at once);
//! 3. balances: it holds at most ceil(streams / live replicas) streams — over that it hands streams back
//!    (each stops, lets its delivered blobs commit, then the lease is released); under it, it takes streams
//!    whose lease is free, released or expired.
//!
//! It acquires nothing until it has seen the same number of live replicas on two ticks in a row (or one
//! lease has passed), so that replicas started together see each other before they take streams. With
//! `once` it takes every stream no live replica holds, runs each to the end and keeps the leases until the
//! committer is done. Leases are released, and the heartbeat removed, only after the last commit — when the
//! pipeline cancels the keeper — so the others take over without waiting for expiry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::held::{supervise, HeldLease, Loss, StreamEnd};
use super::progress::StreamProgress;
use super::stream::StreamTask;
use crate::state::{quota, Acquired, StateStore, StreamKey};
use crate::telemetry::Metrics;

/// Cluster mode settings of a run.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// This replica's identity (lease owner).
    pub replica: String,
    /// Lease duration; renewals every third of it.
    pub lease: Duration,
}

struct Owned {
    held: Arc<HeldLease>,
    /// The stream task's own shutdown token (a child of the run's).
    stop: CancellationToken,
    /// Being handed back for balancing.
    releasing: bool,
}

/// The lease keeper (see the module docs).
pub(crate) struct Keeper {
    pub store: Arc<dyn StateStore>,
    pub metrics: Arc<Metrics>,
    pub cluster: ClusterOptions,
    pub shutdown: CancellationToken,
    pub once: bool,
    /// One task per configured stream, cloned for each lease; dropped when the streams are over.
    pub templates: Vec<Arc<StreamTask>>,
    owned: BTreeMap<StreamKey, Owned>,
    tasks: JoinSet<(StreamKey, StreamEnd)>,
    task_streams: BTreeMap<Id, StreamKey>,
    failed: Vec<String>,
    started_once: bool,
    /// Live replicas seen at the previous tick, and ticks so far, until membership has settled.
    settling: Option<(Option<usize>, u32)>,
}

// === impl Keeper ===

impl Keeper {
    pub(crate) fn new(
        store: Arc<dyn StateStore>,
        metrics: Arc<Metrics>,
        cluster: ClusterOptions,
        shutdown: CancellationToken,
        once: bool,
        templates: Vec<Arc<StreamTask>>,
    ) -> Keeper {
        Keeper {
            store,
            metrics,
            cluster,
            shutdown,
            once,
            templates,
            owned: BTreeMap::new(),
            tasks: JoinSet::new(),
            task_streams: BTreeMap::new(),
            failed: Vec::new(),
            started_once: false,
            settling: Some((None, 0)),
        }
    }

    /// Keeps leases until `stop`; sends the failed streams to `streams_over` once no stream runs any more
    /// (after shutdown, or after the `once` catch-up) — the pipeline then drains sinks and the committer.
    pub(crate) async fn run(
        mut self,
        streams_over: oneshot::Sender<Vec<String>>,
        stop: CancellationToken,
    ) {
        let mut streams_over = Some(streams_over);
        let mut ticks =
            tokio::time::interval((self.cluster.lease / 3).max(Duration::from_millis(50)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(replica = %self.cluster.replica, streams = self.templates.len(), lease_s = self.cluster.lease.as_secs_f64(), "cluster mode: keeping stream leases");
        // The shutdown wakes the loop once (to see whether the streams are over); a branch that stayed
        // ready would spin on the thread the ending streams need.
        let mut shutdown_seen = false;
        loop {
            tokio::select! {
                _ = ticks.tick() => self.tick().await,
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.ended(joined).await;
                }
                () = self.shutdown.cancelled(), if !shutdown_seen => shutdown_seen = true,
                () = stop.cancelled() => break,
            }
            if streams_over.is_some() && self.streams_over() {
                self.templates.clear();
                if let Some(sender) = streams_over.take() {
                    let _ = sender.send(std::mem::take(&mut self.failed));
                }
            }
        }
        self.release_all().await;
    }

    fn streams_over(&self) -> bool {
        let done = self.shutdown.is_cancelled() || (self.once && self.started_once);
        done && self.tasks.is_empty()
    }

    async fn tick(&mut self) {
        let live = match self
            .store
            .heartbeat(&self.cluster.replica, self.cluster.lease)
            .await
        {
            Ok(live) => {
                self.metrics.replicas_live.set(live as i64);
                Some(live)
            }
            Err(error) => {
                tracing::warn!(replica = %self.cluster.replica, %error, "heartbeat failed; not balancing this time");
                None
            }
        };
        self.renew().await;
        if self.shutdown.is_cancelled() || self.templates.is_empty() {
            return;
        }
        match (self.once, live) {
            (true, _) if !self.started_once => {
                self.take_free(usize::MAX).await;
                self.started_once = true;
            }
            (false, Some(live)) if self.settled(live) => self.balance(live).await,
            _ => {}
        }
    }

    /// True once the number of live replicas was the same on two ticks in a row, or after a lease.
    fn settled(&mut self, live: usize) -> bool {
        let Some((previous, ticks)) = self.settling else {
            return true;
        };
        if previous == Some(live) || ticks >= 3 {
            tracing::debug!(replica = %self.cluster.replica, live, "membership settled; taking streams");
            self.settling = None;
            return true;
        }
        self.settling = Some((Some(live), ticks + 1));
        false
    }

    async fn renew(&mut self) {
        for (stream, owned) in &self.owned {
            if owned.held.is_lost() {
                continue;
            }
            let sent = Instant::now();
            match self
                .store
                .renew_lease(&owned.held.lease, self.cluster.lease)
                .await
            {
                Ok(true) => owned.held.extend(sent + self.cluster.lease),
                Ok(false) => owned.held.lose(Loss::TakenOver),
                Err(error) => {
                    tracing::warn!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, %error, "cannot renew the lease; the stream stops if it expires")
                }
            }
        }
    }

    async fn balance(&mut self, live: usize) {
        let quota = quota(self.templates.len(), live);
        let active: Vec<StreamKey> = self
            .owned
            .iter()
            .filter(|(_, owned)| !owned.releasing && !owned.held.is_lost())
            .map(|(stream, _)| stream.clone())
            .collect();
        if active.len() > quota {
            for stream in active.iter().rev().take(active.len() - quota) {
                if let Some(owned) = self.owned.get_mut(stream) {
                    tracing::info!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, quota, live, "over quota; handing the stream back");
                    owned.releasing = true;
                    owned.stop.cancel();
                }
            }
        } else if active.len() < quota {
            self.take_free(quota - active.len()).await;
        }
    }

    /// Takes up to `wanted` streams whose lease no live replica holds.
    async fn take_free(&mut self, wanted: usize) {
        let leases = match self.store.leases().await {
            Ok(leases) => leases,
            Err(error) => {
                tracing::warn!(replica = %self.cluster.replica, %error, "cannot read the leases");
                return;
            }
        };
        let held_elsewhere: BTreeMap<StreamKey, String> = leases
            .into_iter()
            .filter_map(|info| {
                let owner = info.live_owner()?.to_string();
                (owner != self.cluster.replica).then_some((info.stream, owner))
            })
            .collect();
        // Start at a replica-specific offset so that replicas do not all race for the same stream.
        let count = self.templates.len();
        let offset = self.cluster.replica.bytes().fold(0usize, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(byte as usize)
        });
        let mut taken = 0;
        for index in 0..count {
            if taken >= wanted {
                break;
            }
            let template = self.templates[(offset + index) % count].clone();
            let stream = &template.stream;
            if self.owned.contains_key(stream) {
                continue;
            }
            if let Some(owner) = held_elsewhere.get(stream) {
                if self.once {
                    tracing::info!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, owner = %owner, "stream is held by a live replica; skipped");
                }
                continue;
            }
            let sent = Instant::now();
            match self
                .store
                .acquire_lease(stream, &self.cluster.replica, self.cluster.lease)
                .await
            {
                Ok(Some(acquired)) => {
                    self.start(&template, acquired, sent + self.cluster.lease);
                    taken += 1;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, %error, "cannot acquire the lease")
                }
            }
        }
    }

    fn start(&mut self, template: &Arc<StreamTask>, acquired: Acquired, deadline: Instant) {
        let stream = template.stream.clone();
        debug_assert!(
            !self.owned.contains_key(&stream),
            "a stream runs once per replica"
        );
        let labels = Metrics::stream(&stream.tenant, &stream.content_type);
        let stop = self.shutdown.child_token();
        let task = Arc::new(StreamTask {
            shutdown: stop.clone(),
            ..(**template).clone()
        });
        let held = HeldLease::new(acquired.lease, deadline);
        let progress = StreamProgress::leased(stream.clone(), held.clone());
        tracing::info!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, epoch = held.lease.epoch, taken_from = acquired.taken_from.as_deref().unwrap_or("-"), "lease acquired; stream starts");
        if acquired.taken_from.is_some() {
            self.metrics.lease_takeovers.get_or_create(&labels).inc();
        }
        self.metrics.stream_owned.get_or_create(&labels).set(1);
        let run = supervise(
            task,
            progress,
            held.clone(),
            self.shutdown.clone(),
            self.cluster.lease,
        );
        let key = stream.clone();
        let handle = self.tasks.spawn(async move { (key, run.await) });
        self.task_streams.insert(handle.id(), stream.clone());
        self.owned.insert(
            stream,
            Owned {
                held,
                stop,
                releasing: false,
            },
        );
    }

    async fn ended(
        &mut self,
        joined: Result<(Id, (StreamKey, StreamEnd)), tokio::task::JoinError>,
    ) {
        let (stream, end) = match joined {
            Ok((id, (stream, end))) => {
                self.task_streams.remove(&id);
                (stream, end)
            }
            Err(error) => {
                let Some(stream) = self.task_streams.remove(&error.id()) else {
                    return;
                };
                self.failed.push(format!(
                    "{stream}: the stream task ended abnormally: {error}"
                ));
                self.forget(&stream, "the stream task ended abnormally")
                    .await;
                return;
            }
        };
        match end {
            StreamEnd::Lost(loss) => {
                let labels = Metrics::stream(&stream.tenant, &stream.content_type);
                self.metrics.lease_losses.get_or_create(&labels).inc();
                tracing::warn!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, reason = loss.as_str(), "lease lost; stream stopped");
                self.forget(&stream, loss.as_str()).await;
            }
            StreamEnd::Drained => self.forget(&stream, "handed back for balancing").await,
            StreamEnd::Finished(result) => {
                if let Err(error) = result {
                    self.failed.push(format!("{stream}: {error}"));
                }
                // After shutdown or a `once` catch-up the lease is kept until the committer is done.
                if !self.shutdown.is_cancelled() && !self.once {
                    tracing::error!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, "stream task returned while following; releasing its lease");
                    self.forget(&stream, "the stream task returned").await;
                }
            }
        }
    }

    /// Stops running the stream and releases its lease (a no-op in the store when it moved on already).
    async fn forget(&mut self, stream: &StreamKey, why: &str) {
        let Some(owned) = self.owned.remove(stream) else {
            return;
        };
        owned.stop.cancel();
        self.metrics
            .stream_owned
            .get_or_create(&Metrics::stream(&stream.tenant, &stream.content_type))
            .set(0);
        match self.store.release_lease(&owned.held.lease).await {
            Ok(()) => {
                tracing::info!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, epoch = owned.held.lease.epoch, reason = why, "lease released")
            }
            Err(error) => {
                tracing::warn!(replica = %self.cluster.replica, tenant = %stream.tenant, content_type = %stream.content_type, %error, "cannot release the lease; it expires on its own")
            }
        }
    }

    /// After the last commit: releases every lease and removes the heartbeat.
    async fn release_all(&mut self) {
        self.tasks.abort_all();
        let streams: Vec<StreamKey> = self.owned.keys().cloned().collect();
        for stream in streams {
            self.forget(&stream, "shutting down").await;
        }
        if let Err(error) = self.store.leave(&self.cluster.replica).await {
            tracing::warn!(replica = %self.cluster.replica, %error, "cannot remove the heartbeat; it expires on its own");
        }
    }
}
