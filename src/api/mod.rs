//! Office 365 Management Activity API client: subscriptions, content listing with paging, blob fetch.
//!
//! Every call goes through one retry loop (`client.rs`) that paces requests with the tenant's budget
//! (`budget.rs`), attaches the bearer token and `PublisherIdentifier`, and does what [`classify`] says with
//! each answer: wait out `Retry-After`, back off with jitter, refresh the token once after a 401, or give up
//! with a typed [`ApiError`] that tells the operator what to do.

mod answer;
mod budget;
mod client;
mod error;
mod link;
mod retry;
mod wire;

pub use answer::excerpt;
pub use budget::RequestBudget;
pub use client::ApiClient;
pub use error::{advice, classify, retry_after, server_date, ApiError, Verdict};
pub use link::{follow_link, LinkError};
pub use retry::RetryPolicy;
pub use wire::{format_api_time, parse_api_time, ContentBlob, ErrorBody, Subscription};

/// The content types the API knows.
pub const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// An error and its causes on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The HTTP client for API and token calls: rustls, no redirects (a token must never follow one).
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(timeout)
        .gzip(true)
        .user_agent(concat!("atp-forwarder/", env!("CARGO_PKG_VERSION")))
        .build()
}
