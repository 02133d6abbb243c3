//! The Management Activity API client of one tenant: every call goes through one retry loop that paces
//! requests with the tenant's budget, attaches the token and `PublisherIdentifier`, and obeys [`classify`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::Mutex;
use url::Url;

use super::answer::{excerpt, headers_within, read_limited};
use super::budget::RequestBudget;
use super::error::{classify, server_date, ApiError, Verdict};
use super::link::{follow_link, next_page};
use super::retry::RetryPolicy;
use super::wire::{format_api_time, ContentBlob, ErrorBody, Subscription};
use crate::auth::{TokenError, TokenSource};
use crate::config::{InputLimits, TenantConfig};
use crate::telemetry::{ApiLabels, Metrics};

/// Microsoft asks for at least this long between two `subscriptions/start` calls.
const START_SPACING: Duration = Duration::from_secs(15 * 60);
/// Most times a window is listed again after AF20031 (invalid next page).
const MAX_RELISTS: u32 = 3;
/// A server clock this far from ours (the `Date` header has whole seconds) is taken as skew.
const SKEW_THRESHOLD_MS: i64 = 5_000;
/// Largest error or listing body read into memory.
const MAX_SMALL_BODY: usize = 64 * 1024 * 1024;

/// The API client of one tenant.
pub struct ApiClient {
    tenant: String,
    feed: Url,
    publisher_id: String,
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
    budget: RequestBudget,
    retry: RetryPolicy,
    last_start: Mutex<HashMap<String, Instant>>,
    /// The server's clock minus ours, in milliseconds, from the latest `Date` header (0 when within the
    /// threshold).
    clock_offset_ms: AtomicI64,
    /// Request counters and the tenant's health, when the pipeline observes this client.
    metrics: Option<Arc<Metrics>>,
    /// Bounds on the API's answers.
    limits: InputLimits,
}

// === impl ApiClient ===

impl ApiClient {
    /// A client for `tenant`; `http` must not follow redirects (the token must not leave the API host).
    pub fn new(
        tenant: &TenantConfig,
        http: reqwest::Client,
        tokens: Arc<TokenSource>,
        retry: RetryPolicy,
    ) -> Result<ApiClient, ApiError> {
        let endpoints = tenant.endpoints();
        let feed_text = format!(
            "{}/api/v1.0/{}/activity/feed/",
            endpoints.api, tenant.tenant_id
        );
        let feed = Url::parse(&feed_text).map_err(|error| ApiError::Decode {
            tenant: tenant.name.clone(),
            operation: "configure",
            message: format!("api_url gives an invalid URL {feed_text}: {error}"),
        })?;
        Ok(ApiClient {
            tenant: tenant.name.clone(),
            feed,
            publisher_id: tenant.publisher_id().to_string(),
            http,
            tokens,
            budget: RequestBudget::per_window(tenant.requests_per_minute, tenant.budget_window),
            retry,
            last_start: Mutex::new(HashMap::new()),
            clock_offset_ms: AtomicI64::new(0),
            metrics: None,
            limits: InputLimits::default(),
        })
    }

    /// Bounds the API's answers by `limits` (the defaults otherwise).
    pub fn with_limits(mut self, limits: InputLimits) -> ApiClient {
        self.limits = limits;
        self
    }

    /// The bounds on the API's answers (blob readers apply the blob, record and nesting limits).
    pub fn limits(&self) -> &InputLimits {
        &self.limits
    }

    /// Counts requests by outcome in `metrics` and reports the tenant's state to its health.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> ApiClient {
        self.metrics = Some(metrics);
        self
    }

    /// The tenant's configured name.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Now by the API's clock: ours corrected by the skew seen in its `Date` headers. Windows are computed
    /// from this, so a skewed machine clock does not make the API refuse them (AF20055).
    pub fn server_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    fn observe_clock(&self, headers: &reqwest::header::HeaderMap) {
        let Some(server) = server_date(headers) else {
            return;
        };
        let offset = (server - Utc::now()).num_milliseconds();
        let offset = if offset.abs() < SKEW_THRESHOLD_MS {
            0
        } else {
            offset
        };
        let previous = self.clock_offset_ms.swap(offset, Ordering::Relaxed);
        if offset != 0 && (offset - previous).abs() >= SKEW_THRESHOLD_MS {
            tracing::warn!(tenant = %self.tenant, skew_s = offset / 1000, "the API's clock differs from this machine's; windows follow the API's clock (check NTP)");
        }
    }

    /// The token source (for readiness and `check`).
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    /// `GET subscriptions/list`.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ApiError> {
        let url = self.feed_url("subscriptions/list", &[]);
        let response = self.execute("list subscriptions", Method::GET, url).await?;
        self.json(response, "list subscriptions").await
    }

    /// `POST subscriptions/start`: at most once per 15 minutes per content type; AF20024 counts as success.
    pub async fn start_subscription(&self, content_type: &str) -> Result<(), ApiError> {
        {
            let mut last = self.last_start.lock().await;
            if let Some(at) = last.get(content_type) {
                if at.elapsed() < START_SPACING {
                    return Err(ApiError::Af {
                        tenant: self.tenant.clone(),
                        operation: "start subscription",
                        status: 0,
                        code: "AF20022".into(),
                        message: format!(
                            "a start for {content_type} was sent {}s ago; Microsoft asks for 15 minutes between starts",
                            at.elapsed().as_secs()
                        ),
                    });
                }
            }
            last.insert(content_type.to_string(), Instant::now());
        }
        let url = self.feed_url("subscriptions/start", &[("contentType", content_type)]);
        match self.execute("start subscription", Method::POST, url).await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("AF20024") => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `POST subscriptions/stop`. Content produced while stopped is lost for good.
    pub async fn stop_subscription(&self, content_type: &str) -> Result<(), ApiError> {
        let url = self.feed_url("subscriptions/stop", &[("contentType", content_type)]);
        self.execute("stop subscription", Method::POST, url)
            .await
            .map(|_| ())
    }

    /// Every blob of `[start, end)` (span ≤ 24 h), following `NextPageUri` / `NextPageUrl` to the end.
    pub async fn list_content(
        &self,
        content_type: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<ContentBlob>, ApiError> {
        debug_assert!(end > start && end - start <= chrono::Duration::hours(24));
        let (start_text, end_text) = (format_api_time(start), format_api_time(end));
        let first = self.feed_url(
            "subscriptions/content",
            &[
                ("contentType", content_type),
                ("startTime", &start_text),
                ("endTime", &end_text),
            ],
        );
        let mut relists = 0;
        'window: loop {
            let mut url = first.clone();
            let mut blobs = Vec::new();
            for _page in 0..self.limits.max_pages_per_window {
                let response = match self.execute("list content", Method::GET, url.clone()).await {
                    Ok(response) => response,
                    Err(error) if error.code() == Some("AF20031") && relists < MAX_RELISTS => {
                        relists += 1;
                        tracing::warn!(tenant = %self.tenant, content_type, "next page link refused (AF20031); listing the window again");
                        continue 'window;
                    }
                    Err(error) => return Err(error),
                };
                let next = next_page(&response);
                let page: Vec<ContentBlob> = self.json(response, "list content").await?;
                blobs.extend(page);
                match next {
                    None => return Ok(blobs),
                    Some(next) => url = self.checked_url(&next, "list content")?,
                }
            }
            return Err(ApiError::LimitExceeded {
                tenant: self.tenant.clone(),
                operation: "list content",
                message: format!(
                    "more than limits.max_pages_per_window = {} pages for the {content_type} window {start_text} to {end_text} (a link loop?)",
                    self.limits.max_pages_per_window
                ),
            });
        }
    }

    /// `GET {contentUri}`: the streaming response of a blob (status already checked).
    pub async fn fetch_blob(&self, content_uri: &str) -> Result<Response, ApiError> {
        let mut url = self.checked_url(content_uri, "fetch blob")?;
        self.add_publisher(&mut url);
        self.execute("fetch blob", Method::GET, url).await
    }

    fn feed_url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.feed.join(path).unwrap_or_else(|_| self.feed.clone());
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        self.add_publisher(&mut url);
        url
    }

    fn add_publisher(&self, url: &mut Url) {
        let present = url
            .query_pairs()
            .any(|(key, _)| key.eq_ignore_ascii_case("PublisherIdentifier"));
        if !present {
            url.query_pairs_mut()
                .append_pair("PublisherIdentifier", &self.publisher_id);
        }
    }

    /// A URL from the API (next page, content URI) is followed only on the configured API host and scheme,
    /// so a hostile answer cannot send the bearer token elsewhere (see [`follow_link`]).
    fn checked_url(&self, text: &str, operation: &'static str) -> Result<Url, ApiError> {
        follow_link(&self.feed, text).map_err(|_| ApiError::ForeignHost {
            tenant: self.tenant.clone(),
            operation,
            url: excerpt(text.as_bytes()),
            host: self.feed.host_str().unwrap_or_default().to_string(),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: Response,
        operation: &'static str,
    ) -> Result<T, ApiError> {
        let body = read_limited(response, MAX_SMALL_BODY)
            .await
            .map_err(|message| ApiError::Transport {
                tenant: self.tenant.clone(),
                operation,
                message,
            })?;
        serde_json::from_slice(&body).map_err(|error| ApiError::Decode {
            tenant: self.tenant.clone(),
            operation,
            message: error.to_string(),
        })
    }

    /// The retry loop, observed: the tenant is healthy after an answer, failing after an error that needs
    /// the operator (see [`breaks_tenant`]).
    async fn execute(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
    ) -> Result<Response, ApiError> {
        let result = self.execute_with_retries(operation, method, url).await;
        if let Some(metrics) = &self.metrics {
            match &result {
                Ok(_) => metrics.health.tenant_ok(&self.tenant),
                Err(error) if breaks_tenant(error) => metrics
                    .health
                    .tenant_failed(&self.tenant, &error.to_string()),
                Err(_) => {}
            }
        }
        result
    }

    /// Counts one attempt's outcome; tells health the tenant's client is active.
    fn observe(&self, operation: &'static str, outcome: &'static str) {
        let Some(metrics) = &self.metrics else { return };
        metrics.health.tenant_activity(&self.tenant);
        let labels = ApiLabels {
            tenant: self.tenant.clone(),
            operation: operation.to_string(),
            outcome: outcome.to_string(),
        };
        metrics.api_requests.get_or_create(&labels).inc();
        if outcome == "throttled" {
            metrics
                .api_throttled
                .get_or_create(&Metrics::tenant(&self.tenant))
                .inc();
        }
    }

    /// The retry loop: token, budget, send, classify.
    async fn execute_with_retries(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
    ) -> Result<Response, ApiError> {
        let mut refreshed = false;
        let mut last_error = None;
        for attempt in 0..self.retry.max_attempts {
            // The token first: a refresh can take a while, and the budget's grant should be taken just
            // before the request goes out (the API counts requests when they arrive).
            let token = match self.tokens.token().await {
                Ok(token) => token,
                Err(error @ TokenError::Unreachable { .. }) => {
                    self.observe(operation, "token_error");
                    tracing::warn!(tenant = %self.tenant, operation, %error, "token endpoint unreachable; retrying");
                    last_error = Some(ApiError::Token(error));
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    continue;
                }
                Err(error) => {
                    self.observe(operation, "token_error");
                    return Err(ApiError::Token(error));
                }
            };
            let waited = self.budget.acquire().await;
            if let Some(metrics) = &self.metrics {
                metrics
                    .api_budget_wait_seconds
                    .get_or_create(&Metrics::tenant(&self.tenant))
                    .inc_by(waited.as_secs_f64());
            }
            let sent = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header(reqwest::header::CONTENT_LENGTH, "0")
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    self.observe(operation, "transport_error");
                    let message = crate::api::error_chain(&error);
                    tracing::warn!(tenant = %self.tenant, operation, attempt, error = %message, "request failed; retrying");
                    last_error = Some(ApiError::Transport {
                        tenant: self.tenant.clone(),
                        operation,
                        message,
                    });
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    continue;
                }
            };
            if let Err(message) = headers_within(response.headers(), &self.limits) {
                self.observe(operation, "refused");
                return Err(ApiError::LimitExceeded {
                    tenant: self.tenant.clone(),
                    operation,
                    message,
                });
            }
            self.observe_clock(response.headers());
            let status = response.status();
            if status.is_success() {
                self.budget.succeeded();
                self.observe(operation, "ok");
                return Ok(response);
            }
            let headers = response.headers().clone();
            let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
            let error_body: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let code = Some(error_body.error.code.as_str()).filter(|code| !code.is_empty());
            let error = self.error(operation, status, code, &error_body, &body);
            let verdict = classify(status, code, &headers);
            self.observe(operation, answer_outcome(status, code, &verdict));
            match verdict {
                Verdict::Done => return Err(error),
                Verdict::RefreshToken if !refreshed => {
                    refreshed = true;
                    tracing::info!(tenant = %self.tenant, operation, "API answered 401; refreshing the token once");
                    self.tokens.refresh().await?;
                }
                Verdict::RefreshToken | Verdict::GiveUp | Verdict::StartSubscription => {
                    return Err(error)
                }
                Verdict::RetryAfter(wait) if throttled(status, code) => {
                    let pause = self
                        .budget
                        .throttled(Some(wait.min(self.retry.max_retry_after)));
                    tracing::warn!(tenant = %self.tenant, operation, status = status.as_u16(), code = code.unwrap_or(""), pause_s = pause.as_secs_f64(), "throttled; the tenant pauses at least as long as Retry-After says");
                    last_error = Some(error);
                }
                Verdict::RetryAfter(wait) => {
                    let wait = wait.min(self.retry.max_retry_after);
                    tracing::warn!(tenant = %self.tenant, operation, status = status.as_u16(), code = code.unwrap_or(""), wait_s = wait.as_secs_f64(), "unavailable; waiting as told by Retry-After");
                    last_error = Some(error);
                    tokio::time::sleep(wait).await;
                }
                Verdict::Backoff if throttled(status, code) => {
                    let pause = self.budget.throttled(None);
                    tracing::warn!(tenant = %self.tenant, operation, status = status.as_u16(), code = code.unwrap_or(""), pause_s = pause.as_secs_f64(), "throttled without Retry-After; the tenant pauses");
                    last_error = Some(error);
                }
                Verdict::Backoff => {
                    let wait = self.retry.backoff(attempt);
                    tracing::warn!(tenant = %self.tenant, operation, status = status.as_u16(), code = code.unwrap_or(""), wait_s = wait.as_secs_f64(), "transient failure; backing off");
                    last_error = Some(error);
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let last = last_error.unwrap_or_else(|| ApiError::Transport {
            tenant: self.tenant.clone(),
            operation,
            message: "no attempt made".into(),
        });
        Err(ApiError::Exhausted {
            tenant: self.tenant.clone(),
            operation,
            attempts: self.retry.max_attempts,
            last: Box::new(last),
        })
    }

    fn error(
        &self,
        operation: &'static str,
        status: StatusCode,
        code: Option<&str>,
        error_body: &ErrorBody,
        body: &[u8],
    ) -> ApiError {
        match code {
            Some(code) => ApiError::Af {
                tenant: self.tenant.clone(),
                operation,
                status: status.as_u16(),
                code: code.to_string(),
                message: error_body.error.message.clone(),
            },
            None => ApiError::Http {
                tenant: self.tenant.clone(),
                operation,
                status: status.as_u16(),
                body: excerpt(body),
            },
        }
    }
}

/// A throttling answer: 429, or AF429 (sent with 403 by the Management Activity API).
fn throttled(status: StatusCode, code: Option<&str>) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || code == Some("AF429")
}

/// The `outcome` label of an error answer.
fn answer_outcome(status: StatusCode, code: Option<&str>, verdict: &Verdict) -> &'static str {
    if throttled(status, code) {
        return "throttled";
    }
    match verdict {
        Verdict::RetryAfter(_) | Verdict::Backoff => "server_error",
        Verdict::RefreshToken => "unauthorized",
        Verdict::Done | Verdict::GiveUp | Verdict::StartSubscription => "refused",
    }
}

/// Errors that stop a tenant until an operator acts or the service recovers (credentials, permissions,
/// audit log, unreachable or failing service) — not those about one blob or a subscription being started.
fn breaks_tenant(error: &ApiError) -> bool {
    match error {
        ApiError::Token(_) | ApiError::Transport { .. } | ApiError::Http { .. } => true,
        ApiError::Exhausted { .. } => true,
        ApiError::Af { code, .. } => matches!(
            code.as_str(),
            "AF10001" | "AF20010" | "AF20011" | "AF20012" | "AF20013" | "AF20023"
        ),
        ApiError::Decode { .. } | ApiError::ForeignHost { .. } | ApiError::LimitExceeded { .. } => {
            false
        }
    }
}
