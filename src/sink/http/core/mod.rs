//! The HTTP machinery every HTTP sink shares.
//!
//! - [`body`]: each item's wire fragment in one buffer, and the split into requests that respect
//!   `batch_max_events` / `batch_max_bytes`;
//! - [`service`]: the reqwest client (rustls, connection reuse, timeouts, optional gzip, no redirects), one
//!   request → [`Answer`](super::retry::Answer) or a retry verdict, and several requests in flight at once;
//! - [`outcome`]: per-item results of all requests merged into one [`SendOutcome`](crate::sink::SendOutcome).

pub(crate) mod body;
pub(crate) mod outcome;
pub(crate) mod service;
