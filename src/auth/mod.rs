//! Token sources: OAuth2 client credentials against the Microsoft identity platform (v2 endpoint).
//!
//! One [`TokenSource`] per tenant (and per Sentinel sink). Tokens are cached and refreshed a few minutes
//! before they expire; [`TokenSource::refresh`] forces a new one (after a 401 from the API). Refusals carry
//! the AADSTS code and Microsoft's description. The client secret is held in a [`Secret`] and is only exposed
//! to the `oauth2` crate when a token is requested; with certificate credentials ([`certificate`]) a fresh
//! client assertion is signed for every request instead.

mod certificate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use tokio::sync::Mutex;

use crate::config::{Endpoints, Secret, TenantConfig};
use crate::telemetry::Metrics;

pub use certificate::{AssertionAlg, CertificateError, ClientCertificate, ASSERTION_LIFETIME_SECS};

/// Refresh a cached token when less than this is left of its life.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a client proves its identity.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret.
    Secret(Secret),
    /// A certificate whose private key signs a client assertion for every token request.
    Certificate(Arc<ClientCertificate>),
}

/// Everything needed to ask for a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Who the token is for, in messages (tenant name or sink name).
    pub label: String,
    /// Full token URL, e.g. `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// The app registration's client id.
    pub client_id: String,
    /// A client secret or a certificate.
    pub credential: Credential,
    /// v2 scope, e.g. `https://manage.office.com/.default`.
    pub scope: String,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{label}: the identity platform refused the client credentials ({code}: {description}); {hint}")]
    Rejected {
        label: String,
        code: String,
        description: String,
        hint: &'static str,
    },
    #[error("{label}: token endpoint {url} unreachable: {message}")]
    Unreachable {
        label: String,
        url: String,
        message: String,
    },
    #[error(
        "{label}: token endpoint {url} answered something that is not a token response: {message}"
    )]
    Malformed {
        label: String,
        url: String,
        message: String,
    },
    #[error("{label}: invalid token URL {url}: {message}")]
    BadUrl {
        label: String,
        url: String,
        message: String,
    },
    #[error("{label}: {source}")]
    Assertion {
        label: String,
        #[source]
        source: CertificateError,
    },
}

impl TokenError {
    /// The AADSTS code when the identity platform refused, e.g. `AADSTS7000215`.
    pub fn aadsts_code(&self) -> Option<&str> {
        match self {
            TokenError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A short, low-cardinality reason for metrics: the AADSTS code, or the kind of failure.
    pub fn reason(&self) -> &str {
        match self {
            TokenError::Rejected { code, .. } => code,
            TokenError::Unreachable { .. } => "unreachable",
            TokenError::Malformed { .. } => "malformed",
            TokenError::BadUrl { .. } => "bad_url",
            TokenError::Assertion { .. } => "assertion",
        }
    }
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

/// Where a tenant's token source reports: token counters and readiness ("a token was obtained").
struct Observer {
    metrics: Arc<Metrics>,
    tenant: String,
}

/// A cached, self-refreshing bearer token for one client.
pub struct TokenSource {
    request: TokenRequest,
    http: reqwest::Client,
    cached: Mutex<Option<CachedToken>>,
    refreshes: std::sync::atomic::AtomicU64,
    observer: Option<Observer>,
}

// === impl TokenSource ===

impl TokenSource {
    /// A token source; no request is made until the first [`TokenSource::token`].
    pub fn new(request: TokenRequest, http: reqwest::Client) -> TokenSource {
        TokenSource {
            request,
            http,
            cached: Mutex::new(None),
            refreshes: std::sync::atomic::AtomicU64::new(0),
            observer: None,
        }
    }

    /// Counts tokens and failures in `metrics` under `tenant`, and tells readiness when a token is obtained.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>, tenant: &str) -> TokenSource {
        self.observer = Some(Observer {
            metrics,
            tenant: tenant.to_string(),
        });
        self
    }

    /// The token source of a tenant for the Management Activity API: its certificate when one is
    /// configured, its client secret otherwise.
    pub fn for_tenant(tenant: &TenantConfig, http: reqwest::Client) -> TokenSource {
        let endpoints = tenant.endpoints();
        let credential = tenant
            .credential
            .clone()
            .unwrap_or_else(|| Credential::Secret(Secret::new("")));
        TokenSource::new(
            TokenRequest {
                label: format!("tenant {}", tenant.name),
                token_url: token_url(&endpoints, &tenant.tenant_id),
                client_id: tenant.client_id.clone(),
                credential,
                scope: format!("{}/.default", endpoints.resource),
            },
            http,
        )
    }

    /// A valid token, from the cache when it has more than a few minutes left.
    pub async fn token(&self) -> Result<Secret, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref() {
            if Instant::now() < current.refresh_at {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.request_token().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token and asks for a new one (after the API answered 401).
    pub async fn refresh(&self) -> Result<Secret, TokenError> {
        let mut cached = self.cached.lock().await;
        let fresh = self.request_token().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// How many tokens were obtained so far.
    pub fn tokens_obtained(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn request_token(&self) -> Result<CachedToken, TokenError> {
        let result = self.exchange().await;
        if let Some(observer) = &self.observer {
            let labels = Metrics::tenant(&observer.tenant);
            match &result {
                Ok(_) => {
                    observer
                        .metrics
                        .token_refreshes
                        .get_or_create(&labels)
                        .inc();
                    observer.metrics.health.token_obtained(&observer.tenant);
                }
                Err(error) => {
                    let labels = crate::telemetry::TokenFailureLabels {
                        tenant: observer.tenant.clone(),
                        reason: error.reason().to_string(),
                    };
                    observer.metrics.token_failures.get_or_create(&labels).inc();
                }
            }
        }
        result
    }

    async fn exchange(&self) -> Result<CachedToken, TokenError> {
        let request = &self.request;
        let token_url =
            TokenUrl::new(request.token_url.clone()).map_err(|error| TokenError::BadUrl {
                label: request.label.clone(),
                url: request.token_url.clone(),
                message: error.to_string(),
            })?;
        let mut client = BasicClient::new(ClientId::new(request.client_id.clone()));
        if let Credential::Secret(secret) = &request.credential {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        // Without a client secret, `RequestBody` puts only `client_id` in the form; the assertion is added.
        let client = client
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        let started = Instant::now();
        let mut exchange = client
            .exchange_client_credentials()
            .add_scope(Scope::new(request.scope.clone()));
        if let Credential::Certificate(certificate) = &request.credential {
            let assertion = certificate
                .assertion(&request.client_id, &request.token_url, chrono::Utc::now())
                .map_err(|source| TokenError::Assertion {
                    label: request.label.clone(),
                    source,
                })?;
            exchange = exchange
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion.expose().to_string());
        }
        let response = exchange
            .request_async(&self.http)
            .await
            .map_err(|error| self.classify(error))?;
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3599));
        let refresh_in = lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2);
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(label = %request.label, lifetime_s = lifetime.as_secs(), "token obtained");
        Ok(CachedToken {
            token: Secret::new(response.access_token().secret().as_str()),
            refresh_at: started + refresh_in,
        })
    }

    fn classify<E: std::error::Error + 'static>(
        &self,
        error: RequestTokenError<E, BasicErrorResponse>,
    ) -> TokenError {
        let label = self.request.label.clone();
        let url = self.request.token_url.clone();
        match error {
            RequestTokenError::ServerResponse(response) => {
                let description = response
                    .error_description()
                    .cloned()
                    .unwrap_or_else(|| response.error().to_string());
                let code =
                    aadsts_code(&description).unwrap_or_else(|| response.error().to_string());
                TokenError::Rejected {
                    label,
                    hint: hint_for(&code),
                    code,
                    description: first_line(&description),
                }
            }
            RequestTokenError::Request(error) => TokenError::Unreachable {
                label,
                url,
                message: crate::api::error_chain(&error),
            },
            RequestTokenError::Parse(error, _body) => TokenError::Malformed {
                label,
                url,
                message: error.to_string(),
            },
            RequestTokenError::Other(message) => TokenError::Malformed {
                label,
                url,
                message,
            },
        }
    }
}

/// The v2 token URL of a tenant.
pub fn token_url(endpoints: &Endpoints, tenant_id: &str) -> String {
    format!("{}/{}/oauth2/v2.0/token", endpoints.login, tenant_id)
}

/// `AADSTS7000215` from "AADSTS7000215: Invalid client secret provided. …".
fn aadsts_code(description: &str) -> Option<String> {
    let start = description.find("AADSTS")?;
    let code: String = description[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(code)
}

/// What to do about the common refusals.
fn hint_for(code: &str) -> &'static str {
    match code {
        "AADSTS7000215" => "the client secret is wrong: copy the secret's Value (not its ID) from the app registration",
        "AADSTS7000222" => "the client secret has expired: create a new one in the app registration",
        "AADSTS700016" => "the application (client_id) is not found in this tenant: check client_id and tenant_id, and that the app is consented in the tenant",
        "AADSTS90002" => "the tenant is not found: check tenant_id and cloud",
        "AADSTS70011" => "the scope is invalid: check cloud / api_url",
        "AADSTS700027" => "the certificate is not registered for the app (or the signature does not match it): upload certificate_file to the app registration's Certificates & secrets, or check private_key_file belongs to it",
        "AADSTS700024" => "the client assertion is not within its valid time range: check the machine's clock (NTP)",
        "AADSTS700023" => "the client assertion's audience is not this tenant's token endpoint: check tenant_id, cloud and login_url",
        "AADSTS700021" => "the client assertion names another application: check client_id",
        "AADSTS50027" => "the client assertion was refused as malformed: check assertion (rs256 or ps256) and the certificate files",
        "AADSTS7000218" => "no credential was sent: set client_secret_file, client_secret_env, or certificate_file + private_key_file",
        _ => "check client_id and the secret or certificate registered for the app",
    }
}

fn first_line(text: &str) -> String {
    // Microsoft appends "\r\nTrace ID: …" lines; the first line is the message.
    text.lines().next().unwrap_or(text).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aadsts_code_is_read_from_the_description() {
        let description = "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x";
        assert_eq!(aadsts_code(description).as_deref(), Some("AADSTS7000215"));
        assert_eq!(
            first_line(description),
            "AADSTS7000215: Invalid client secret provided."
        );
        assert!(hint_for("AADSTS7000215").contains("secret is wrong"));
    }

    #[test]
    fn cloud_presets_give_the_documented_token_urls() {
        let endpoints = crate::config::Cloud::GccHigh.endpoints();
        assert_eq!(
            token_url(&endpoints, "t"),
            "https://login.microsoftonline.us/t/oauth2/v2.0/token"
        );
        assert_eq!(endpoints.resource, "https://manage.office365.us");
    }
}
