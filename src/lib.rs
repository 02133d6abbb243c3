//! atp-forwarder: forwards Microsoft Defender for Office 365 (ATP) events from the Office 365 Management
//! Activity API to SIEMs, at least once.
//!
//! The layout follows the flow of an event:
//!
//! - [`config`] — the typed configuration (one TOML file + `ATP_FORWARDER__…` overrides), validated at start;
//!   secrets in a redacting type.
//! - [`auth`] — OAuth2 client-credentials token sources per tenant (client secret or certificate assertion),
//!   cached and refreshed early.
//! - [`api`] — the Management Activity API client: subscriptions, paged content listing, blob fetch; one
//!   retry loop with a per-tenant request budget and AF error classification.
//! - [`source`] — which windows to list, and streaming a blob record by record.
//! - [`event`] / [`encode`] — records, their normalized form, and the payload formats (json, ecs, cef, leef);
//!   `json_bytes` holds the string scanning they share.
//! - [`sink`] — where events go and what "acknowledged" means for each destination.
//! - [`state`] — checkpoints, committed blobs, recent record Ids, dead letters (SQLite by default;
//!   PostgreSQL for cluster mode, with stream leases and fenced commits).
//! - [`pipeline`] — wires it together with bounded queues and acknowledgement accounting; documents shutdown;
//!   in cluster mode a lease keeper runs only the streams this replica owns.
//! - [`telemetry`] — logging, metrics, `/healthz` and `/readyz`, systemd notifications.
//! - [`emulator`] — a faithful emulator of the API and its token endpoint, for tests, benchmark and `demo`.
//! - [`commands`] — the CLI's commands (the only place, with `main.rs`, that uses `anyhow`).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod commands;
pub mod config;
pub mod emulator;
pub mod encode;
pub mod event;
mod json_bytes;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod state;
pub mod telemetry;
