//! Liveness and readiness: what `/healthz`, `/readyz`, the systemd watchdog and `STATUS=` report.
//!
//! **Liveness** — every stream and sink task registers a loop and ticks it as it works. A loop is stalled
//! when it has not ticked for `stall_after` (several poll intervals) while it was not in a known wait (a
//! stream waiting for a full sink queue, or between polls; a sink waiting for work) and its tenant's API
//! client did nothing either (a long `Retry-After` is activity). A loop that ended while the daemon was not
//! stopping (a panicked task) is dead at once. `/healthz` fails and the watchdog keep-alive stops on either.
//!
//! **Readiness** — the configuration is loaded, at least one tenant obtained a token, and every sink is
//! reachable (its probe at start and the result of its last send). Each tenant's last error is shown, so a
//! broken tenant is visible while the others deliver.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// Default time without a tick after which a loop counts as stalled.
const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(10 * 60);

/// A cloneable handle on the daemon's health.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    started: Instant,
    stall_after_ms: AtomicU64,
    config_loaded: AtomicBool,
    stopping: AtomicBool,
    first_token: watch::Sender<bool>,
    loops: Mutex<Vec<Arc<LoopCell>>>,
    tenants: Mutex<BTreeMap<String, TenantState>>,
    sinks: Mutex<BTreeMap<String, SinkState>>,
}

/// One registered loop.
struct LoopCell {
    kind: &'static str,
    name: String,
    tenant: Option<String>,
    /// Milliseconds since `started` of the last tick.
    last_tick_ms: AtomicU64,
    /// Waits in progress (see [`LoopHandle::waiting`]).
    waiting: AtomicU32,
    ended: AtomicBool,
}

#[derive(Default)]
struct TenantState {
    token_obtained: bool,
    last_error: Option<String>,
    last_activity_ms: u64,
}

#[derive(Default)]
struct SinkState {
    last_error: Option<String>,
}

/// `/healthz`: alive, and why not.
#[derive(Debug, Clone, Serialize)]
pub struct Liveness {
    /// No loop is stalled or dead.
    pub healthy: bool,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Registered loops.
    pub loops: usize,
    /// One line per stalled or dead loop.
    pub problems: Vec<String>,
}

/// `/readyz`: ready, and the state of each tenant and sink.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// Config loaded, a token obtained, every sink reachable.
    pub ready: bool,
    /// The configuration was loaded and validated.
    pub config_loaded: bool,
    /// Per tenant: token obtained, `ok` or `failing`, and the last error.
    pub tenants: Vec<TenantReport>,
    /// Per sink: reachable and the last error.
    pub sinks: Vec<SinkReport>,
}

/// One tenant in [`Readiness`].
#[derive(Debug, Clone, Serialize)]
pub struct TenantReport {
    /// Configured name.
    pub name: String,
    /// A token was obtained at least once.
    pub token_obtained: bool,
    /// `ok`, `failing`, or `starting` before the first answer.
    pub status: &'static str,
    /// The last failure (AADSTS / AF code, description and what to do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One sink in [`Readiness`].
#[derive(Debug, Clone, Serialize)]
pub struct SinkReport {
    /// Configured name.
    pub name: String,
    /// The last probe or send succeeded.
    pub reachable: bool,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

// === impl Health ===

impl Health {
    /// Nothing registered, nothing obtained, not stopping.
    pub fn new() -> Health {
        Health {
            inner: Arc::new(Inner {
                started: Instant::now(),
                stall_after_ms: AtomicU64::new(DEFAULT_STALL_AFTER.as_millis() as u64),
                config_loaded: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
                first_token: watch::Sender::new(false),
                loops: Mutex::new(Vec::new()),
                tenants: Mutex::new(BTreeMap::new()),
                sinks: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// How long a loop may go without a tick before it counts as stalled.
    pub fn set_stall_after(&self, stall_after: Duration) {
        self.inner
            .stall_after_ms
            .store(stall_after.as_millis() as u64, Ordering::Relaxed);
    }

    /// The configuration is loaded and valid; lists the tenants and sinks readiness reports on.
    pub fn config_loaded<'a>(
        &self,
        tenants: impl IntoIterator<Item = &'a str>,
        sinks: impl IntoIterator<Item = &'a str>,
    ) {
        {
            let mut known = lock(&self.inner.tenants);
            for tenant in tenants {
                known.entry(tenant.to_string()).or_default();
            }
        }
        {
            let mut known = lock(&self.inner.sinks);
            for sink in sinks {
                known.entry(sink.to_string()).or_default();
            }
        }
        self.inner.config_loaded.store(true, Ordering::Relaxed);
    }

    /// The daemon is shutting down: loops that end now ended on purpose.
    pub fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
    }

    /// Registers a loop (`kind` is `stream` or `sink`); ticks once. Dropping the handle ends the loop; a loop
    /// registered again under the same name (a restarted task) replaces the ended one.
    pub fn register_loop(
        &self,
        kind: &'static str,
        name: &str,
        tenant: Option<&str>,
    ) -> LoopHandle {
        let cell = Arc::new(LoopCell {
            kind,
            name: name.to_string(),
            tenant: tenant.map(str::to_string),
            last_tick_ms: AtomicU64::new(self.now_ms()),
            waiting: AtomicU32::new(0),
            ended: AtomicBool::new(false),
        });
        {
            let mut loops = lock(&self.inner.loops);
            loops.retain(|old| !(old.kind == kind && old.name == name));
            loops.push(cell.clone());
        }
        LoopHandle {
            health: self.clone(),
            cell,
        }
    }

    /// Ticks the live loop registered as `kind` `name` (for code that has no [`LoopHandle`] at hand).
    pub fn tick(&self, kind: &str, name: &str) {
        if let Some(cell) = self.find_loop(kind, name) {
            cell.last_tick_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Starts a known wait of the live loop registered as `kind` `name`; it ticks when the guard drops.
    pub fn waiting(&self, kind: &str, name: &str) -> Option<WaitGuard> {
        self.find_loop(kind, name).map(|cell| {
            cell.waiting.fetch_add(1, Ordering::Relaxed);
            WaitGuard {
                health: self.clone(),
                cell,
            }
        })
    }

    fn find_loop(&self, kind: &str, name: &str) -> Option<Arc<LoopCell>> {
        lock(&self.inner.loops)
            .iter()
            .rev()
            .find(|cell| {
                cell.kind == kind && cell.name == name && !cell.ended.load(Ordering::Relaxed)
            })
            .cloned()
    }

    /// A token was obtained for `tenant`.
    pub fn token_obtained(&self, tenant: &str) {
        lock(&self.inner.tenants)
            .entry(tenant.to_string())
            .or_default()
            .token_obtained = true;
        self.inner.first_token.send_replace(true);
    }

    /// The tenant's API client is working (a request is being made or waited for).
    pub fn tenant_activity(&self, tenant: &str) {
        let now = self.now_ms();
        lock(&self.inner.tenants)
            .entry(tenant.to_string())
            .or_default()
            .last_activity_ms = now;
    }

    /// The tenant's last API call succeeded.
    pub fn tenant_ok(&self, tenant: &str) {
        let mut tenants = lock(&self.inner.tenants);
        let state = tenants.entry(tenant.to_string()).or_default();
        if let Some(previous) = state.last_error.take() {
            tracing::info!(tenant, previous_error = %previous, "tenant recovered");
        }
    }

    /// The tenant's last API call (or token request) failed for good; `error` says why and what to do.
    pub fn tenant_failed(&self, tenant: &str, error: &str) {
        lock(&self.inner.tenants)
            .entry(tenant.to_string())
            .or_default()
            .last_error = Some(error.to_string());
    }

    /// The result of a sink's probe or send.
    pub fn sink_result(&self, sink: &str, result: Result<(), String>) {
        lock(&self.inner.sinks)
            .entry(sink.to_string())
            .or_default()
            .last_error = result.err();
    }

    /// Resolves once a first token has been obtained by any tenant.
    pub async fn first_token(&self) {
        let mut receiver = self.inner.first_token.subscribe();
        // Fails only if the sender is gone, which cannot happen while `self` holds it.
        let _ = receiver.wait_for(|obtained| *obtained).await;
    }

    /// Whether each loop is ticking.
    pub fn liveness(&self) -> Liveness {
        let now = self.now_ms();
        let stall_after = self.inner.stall_after_ms.load(Ordering::Relaxed);
        let stopping = self.inner.stopping.load(Ordering::Relaxed);
        let activity: BTreeMap<String, u64> = lock(&self.inner.tenants)
            .iter()
            .map(|(name, state)| (name.clone(), state.last_activity_ms))
            .collect();
        let loops = lock(&self.inner.loops);
        let mut problems = Vec::new();
        for cell in loops.iter() {
            if cell.ended.load(Ordering::Relaxed) {
                if !stopping {
                    problems.push(format!(
                        "{} {} stopped unexpectedly (see the error log)",
                        cell.kind, cell.name
                    ));
                }
                continue;
            }
            let tenant_active = cell
                .tenant
                .as_ref()
                .and_then(|tenant| activity.get(tenant))
                .is_some_and(|at| now.saturating_sub(*at) < stall_after);
            let quiet = now.saturating_sub(cell.last_tick_ms.load(Ordering::Relaxed));
            if cell.waiting.load(Ordering::Relaxed) == 0 && !tenant_active && quiet >= stall_after {
                problems.push(format!(
                    "{} {} made no progress for {}s",
                    cell.kind,
                    cell.name,
                    quiet / 1000
                ));
            }
        }
        Liveness {
            healthy: problems.is_empty(),
            uptime_s: now / 1000,
            loops: loops.len(),
            problems,
        }
    }

    /// Whether the daemon does its job, per tenant and sink.
    pub fn readiness(&self) -> Readiness {
        let config_loaded = self.inner.config_loaded.load(Ordering::Relaxed);
        let tenants: Vec<TenantReport> = lock(&self.inner.tenants)
            .iter()
            .map(|(name, state)| TenantReport {
                name: name.clone(),
                token_obtained: state.token_obtained,
                status: match (&state.last_error, state.token_obtained) {
                    (Some(_), _) => "failing",
                    (None, true) => "ok",
                    (None, false) => "starting",
                },
                error: state.last_error.clone(),
            })
            .collect();
        let sinks: Vec<SinkReport> = lock(&self.inner.sinks)
            .iter()
            .map(|(name, state)| SinkReport {
                name: name.clone(),
                reachable: state.last_error.is_none(),
                error: state.last_error.clone(),
            })
            .collect();
        let ready = config_loaded
            && tenants.iter().any(|tenant| tenant.token_obtained)
            && sinks.iter().all(|sink| sink.reachable);
        Readiness {
            ready,
            config_loaded,
            tenants,
            sinks,
        }
    }

    /// Tenants whose last call failed, with the reason (for `STATUS=` and logs).
    pub fn failing_tenants(&self) -> Vec<String> {
        lock(&self.inner.tenants)
            .iter()
            .filter(|(_, state)| state.last_error.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `(tenant, ok)` per tenant that answered at least once: `ok` is false while it is failing.
    pub fn tenant_states(&self) -> Vec<(String, bool)> {
        lock(&self.inner.tenants)
            .iter()
            .filter(|(_, state)| state.token_obtained || state.last_error.is_some())
            .map(|(name, state)| (name.clone(), state.last_error.is_none()))
            .collect()
    }

    /// `(sink, reachable)` per known sink.
    pub fn sink_states(&self) -> Vec<(String, bool)> {
        lock(&self.inner.sinks)
            .iter()
            .map(|(name, state)| (name.clone(), state.last_error.is_none()))
            .collect()
    }

    fn now_ms(&self) -> u64 {
        self.inner.started.elapsed().as_millis() as u64
    }
}

/// A registered loop: tick it as it works; hold [`LoopHandle::waiting`] across known waits.
pub struct LoopHandle {
    health: Health,
    cell: Arc<LoopCell>,
}

/// Held while a loop waits for something that is watched elsewhere (a sink, the next poll).
pub struct WaitGuard {
    health: Health,
    cell: Arc<LoopCell>,
}

// === impl LoopHandle ===

impl LoopHandle {
    /// The loop made progress.
    pub fn tick(&self) {
        self.cell
            .last_tick_ms
            .store(self.health.now_ms(), Ordering::Relaxed);
    }

    /// The loop starts a known wait; it ticks again when the guard is dropped.
    pub fn waiting(&self) -> WaitGuard {
        self.cell.waiting.fetch_add(1, Ordering::Relaxed);
        WaitGuard {
            health: self.health.clone(),
            cell: self.cell.clone(),
        }
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        self.cell.ended.store(true, Ordering::Relaxed);
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.cell.waiting.fetch_sub(1, Ordering::Relaxed);
        self.cell
            .last_tick_ms
            .store(self.health.now_ms(), Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
