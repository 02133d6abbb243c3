//! atp-forwarder: forwards Microsoft Defender for Office 365 (ATP) events from the Office 365 Management
//! Activity API to SIEMs, at least once.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod commands;
pub mod config;
pub mod emulator;
pub mod encode;
pub mod event;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod state;
pub mod telemetry;
