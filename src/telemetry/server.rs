//! The telemetry endpoints on `[telemetry] listen` (default `127.0.0.1:9464`; `""` disables them):
//!
//! - `GET /metrics` — Prometheus text format 0.0.4 ([`Metrics::render`]).
//! - `GET /healthz` — 200 while every loop ticks, 503 with the stalled or dead loops otherwise (JSON).
//! - `GET /readyz` — 200 once the config is loaded, a token was obtained and every sink is reachable, 503
//!   otherwise; the JSON body shows each tenant (`ok`, `failing` with the error, `starting`) and each sink.
//!
//! Nothing here carries a secret: the bodies are built from names, counters and error messages, which never
//! hold one.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Metrics;

/// Content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the telemetry endpoints could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.listen = \"{listen}\" is not an address like 127.0.0.1:9464 (use \"\" to disable the endpoints)")]
    Address { listen: String },
    #[error("telemetry.listen = \"{listen}\": cannot listen: {source}; is another instance running? Pick another port or set listen = \"\"")]
    Bind {
        listen: String,
        #[source]
        source: std::io::Error,
    },
}

/// The running endpoints; they stop when [`TelemetryServer::stop`] is called or the handle is dropped.
pub struct TelemetryServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

// === impl TelemetryServer ===

impl TelemetryServer {
    /// Binds `listen` and serves; `Ok(None)` when `listen` is empty (disabled).
    pub async fn start(
        listen: &str,
        metrics: Arc<Metrics>,
    ) -> Result<Option<TelemetryServer>, TelemetryError> {
        if listen.trim().is_empty() {
            tracing::info!("telemetry endpoints disabled (telemetry.listen = \"\")");
            return Ok(None);
        }
        let addr: SocketAddr = listen.parse().map_err(|_| TelemetryError::Address {
            listen: listen.to_string(),
        })?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| TelemetryError::Bind {
                listen: listen.to_string(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| TelemetryError::Bind {
                listen: listen.to_string(),
                source,
            })?;
        let app = Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(metrics);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "telemetry endpoints stopped");
            }
        });
        tracing::info!(%addr, "telemetry: serving /metrics, /healthz and /readyz");
        Ok(Some(TelemetryServer {
            addr,
            stop,
            task: Some(task),
        }))
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving; in-flight scrapes finish first.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TelemetryServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> Response {
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], metrics.render()).into_response()
}

async fn healthz(State(metrics): State<Arc<Metrics>>) -> Response {
    let liveness = metrics.health.liveness();
    let status = if liveness.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(liveness)).into_response()
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> Response {
    let readiness = metrics.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}
