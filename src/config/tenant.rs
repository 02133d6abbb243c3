//! `[[tenants]]`: one Microsoft 365 tenant, its app registration and its cloud.

use std::path::PathBuf;

use serde::Deserialize;

use super::defaults;
use crate::auth::{AssertionAlg, Credential};

/// The Microsoft cloud a tenant lives in; selects the API, the token authority and the token resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Worldwide commercial cloud.
    #[default]
    Commercial,
    /// US Government Community Cloud.
    Gcc,
    /// US Government Community Cloud High.
    GccHigh,
    /// US Department of Defense.
    Dod,
}

/// Where a tenant's token and API requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Token authority, e.g. `https://login.microsoftonline.com` (no trailing slash).
    pub login: String,
    /// API base, e.g. `https://manage.office.com` (no trailing slash).
    pub api: String,
    /// The token resource; the v2 scope is `{resource}/.default`.
    pub resource: String,
}

// === impl Cloud ===

impl Cloud {
    /// The documented endpoints of this cloud.
    pub fn endpoints(self) -> Endpoints {
        let (api, login) = match self {
            Cloud::Commercial => (
                "https://manage.office.com",
                "https://login.microsoftonline.com",
            ),
            Cloud::Gcc => (
                "https://manage-gcc.office.com",
                "https://login.microsoftonline.com",
            ),
            Cloud::GccHigh => (
                "https://manage.office365.us",
                "https://login.microsoftonline.us",
            ),
            Cloud::Dod => (
                "https://manage.protection.apps.mil",
                "https://login.microsoftonline.us",
            ),
        };
        Endpoints {
            login: login.to_string(),
            api: api.to_string(),
            resource: api.to_string(),
        }
    }
}

/// `[[tenants]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// A short name used in logs, metrics and state (unique).
    pub name: String,
    /// The tenant's directory id (GUID).
    pub tenant_id: String,
    /// The app registration's application (client) id (GUID).
    pub client_id: String,
    /// File holding the client secret (a relative name is looked up in `$CREDENTIALS_DIRECTORY` first).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// PEM certificate registered for the app (certificate credentials instead of a secret); a relative
    /// name is looked up in `$CREDENTIALS_DIRECTORY` first.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// PEM private key of `certificate_file` (RSA, PKCS#8 or PKCS#1, unencrypted); a relative name is looked
    /// up in `$CREDENTIALS_DIRECTORY` first.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// How the client assertion is signed: `rs256` (default; `x5t` SHA-1 thumbprint) or `ps256`
    /// (`x5t#S256` SHA-256 thumbprint).
    #[serde(default)]
    pub assertion: AssertionAlg,
    /// `commercial` (default), `gcc`, `gcc-high` or `dod`.
    #[serde(default)]
    pub cloud: Cloud,
    /// Content types to collect; ATP records arrive in `Audit.General` (the default).
    #[serde(default = "defaults::content_types")]
    pub content_types: Vec<String>,
    /// `PublisherIdentifier` sent on every call (selects the throttling quota); defaults to `tenant_id`.
    #[serde(default)]
    pub publisher_id: Option<String>,
    /// Request budget for this tenant (Microsoft allows about 2,000 per minute).
    #[serde(default = "defaults::requests_per_minute")]
    pub requests_per_minute: u32,
    /// The window `requests_per_minute` applies to: 60 s like the service; shorter only to time-scale the
    /// benchmark against the emulator's matching `budget_window`.
    #[serde(with = "humantime_serde", default = "defaults::budget_window")]
    pub budget_window: std::time::Duration,
    /// Token authority override (wins over `cloud`), e.g. a proxy or the emulator.
    #[serde(default)]
    pub login_url: Option<String>,
    /// API base override (wins over `cloud`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// The resolved client secret, or the loaded certificate and key (filled by validation).
    #[serde(skip)]
    pub credential: Option<Credential>,
}

// === impl TenantConfig ===

impl TenantConfig {
    /// The endpoints this tenant uses: the cloud's, with `login_url` / `api_url` overrides applied.
    pub fn endpoints(&self) -> Endpoints {
        let mut endpoints = self.cloud.endpoints();
        if let Some(login) = &self.login_url {
            endpoints.login = login.trim_end_matches('/').to_string();
        }
        if let Some(api) = &self.api_url {
            endpoints.api = api.trim_end_matches('/').to_string();
        }
        endpoints
    }

    /// The `PublisherIdentifier` to send.
    pub fn publisher_id(&self) -> &str {
        self.publisher_id.as_deref().unwrap_or(&self.tenant_id)
    }
}
