//! Loading (file + environment) and validation of the configuration.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::secret::resolve_credential_path;
use super::{read_secret_env, read_secret_file, Config, StateBackend, TenantConfig};
use crate::auth::{AssertionAlg, ClientCertificate, Credential};

/// Prefix of environment overrides: `ATP_FORWARDER__COLLECTOR__POLL_INTERVAL=30s`.
const ENV_PREFIX: &str = "ATP_FORWARDER";

/// One validation problem: the key it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `tenants[0].tenant_id`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why the configuration could not be used. The binary exits with code 2 on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("config file {path}: key `{key}`: {message}")]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("config file {path} is invalid:\n{}", list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("  - {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// === impl Config ===

impl Config {
    /// Reads `path`, applies `ATP_FORWARDER__…` environment overrides, deserializes and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                message: "not found or not a file; pass --config FILE".to_string(),
            });
        }
        let builder = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        Self::from_builder(builder, path)
    }

    /// Parses a configuration held in memory (used by `demo` and tests); `origin` names it in messages.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let builder = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml));
        Self::from_builder(builder, origin)
    }

    fn from_builder(
        builder: config::ConfigBuilder<config::builder::DefaultState>,
        path: &Path,
    ) -> Result<Config, ConfigError> {
        let raw = builder.build().map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        let mut config: Config =
            serde_path_to_error::deserialize(raw).map_err(|error| ConfigError::Parse {
                path: path.to_path_buf(),
                key: error.path().to_string(),
                message: error.inner().to_string(),
            })?;
        config.source = path.to_path_buf();
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Checks every rule and resolves secrets; returns every problem found.
    pub fn validate(&mut self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: String, message: String| problems.push(Problem { key, message });

        if self.tenants.is_empty() {
            problem(
                "tenants".into(),
                "no tenant configured; add at least one [[tenants]] table".into(),
            );
        }
        let mut names = HashSet::new();
        for (index, tenant) in self.tenants.iter_mut().enumerate() {
            let key = |field: &str| format!("tenants[{index}].{field}");
            if tenant.name.trim().is_empty() {
                problem(key("name"), "must not be empty".into());
            } else if !names.insert(tenant.name.clone()) {
                problem(key("name"), format!("`{}` is used twice", tenant.name));
            }
            for (field, value) in [
                ("tenant_id", &tenant.tenant_id),
                ("client_id", &tenant.client_id),
            ] {
                if uuid::Uuid::parse_str(value).is_err() {
                    problem(key(field), format!("`{value}` is not a GUID"));
                }
            }
            if let Some(publisher) = &tenant.publisher_id {
                if uuid::Uuid::parse_str(publisher).is_err() {
                    problem(key("publisher_id"), format!("`{publisher}` is not a GUID"));
                }
            }
            if let Err((field, message)) = resolve_credentials(tenant) {
                problem(key(field), message);
            }
            if tenant.content_types.is_empty() {
                problem(
                    key("content_types"),
                    "must list at least one content type".into(),
                );
            }
            for content_type in &tenant.content_types {
                if !crate::api::CONTENT_TYPES.contains(&content_type.as_str()) {
                    problem(
                        key("content_types"),
                        format!(
                            "`{content_type}` is not a content type; use one of {}",
                            crate::api::CONTENT_TYPES.join(", ")
                        ),
                    );
                }
            }
            if tenant.requests_per_minute == 0 {
                problem(key("requests_per_minute"), "must be at least 1".into());
            }
            for (field, value) in [
                ("login_url", &tenant.login_url),
                ("api_url", &tenant.api_url),
            ] {
                if let Some(value) = value {
                    match url::Url::parse(value) {
                        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                        _ => problem(key(field), format!("`{value}` is not an http(s) URL")),
                    }
                }
            }
        }

        if self.sinks.is_empty() {
            problem(
                "sinks".into(),
                "no sink configured; add at least one [[sinks]] table".into(),
            );
        }
        let mut sink_names = HashSet::new();
        for (index, sink) in self.sinks.iter_mut().enumerate() {
            if !sink_names.insert(sink.name().to_string()) {
                problem(
                    format!("sinks[{index}].name"),
                    format!("`{}` is used twice", sink.name()),
                );
            }
            for (field, message) in sink.validate() {
                problem(format!("sinks[{index}].{field}"), message);
            }
        }

        let collector = &self.collector;
        if collector.poll_interval.is_zero() {
            problem(
                "collector.poll_interval".into(),
                "must be greater than 0".into(),
            );
        }
        if collector.max_concurrent_fetches == 0 {
            problem(
                "collector.max_concurrent_fetches".into(),
                "must be at least 1".into(),
            );
        }
        if collector.batch_events == 0 {
            problem("collector.batch_events".into(), "must be at least 1".into());
        }
        if collector.record_types.is_empty() {
            problem(
                "collector.record_types".into(),
                "must list at least one record type".into(),
            );
        }
        let listen = self.telemetry.listen.trim();
        if !listen.is_empty() && listen.parse::<std::net::SocketAddr>().is_err() {
            problem(
                "telemetry.listen".into(),
                format!("`{listen}` is not an address like 127.0.0.1:9464; use \"\" to disable the endpoints"),
            );
        }
        for (key, message) in self.state.validate() {
            problem(key, message);
        }
        for (key, message) in self.limits.validate() {
            problem(key, message);
        }
        problems
    }
}

// === impl StateConfig (validation) ===

impl super::StateConfig {
    /// Problems with `[state]` (key, message); resolves the PostgreSQL password.
    fn validate(&mut self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| problems.push((key.to_string(), message));
        if self.lease < std::time::Duration::from_secs(1) {
            problem("state.lease", "must be at least 1s".into());
        }
        if self
            .replica_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty())
        {
            problem(
                "state.replica_id",
                "must not be empty (leave it out for <hostname>-<pid>)".into(),
            );
        }
        if self.backend != StateBackend::Postgres {
            return problems;
        }
        match self.url.as_deref().map(url::Url::parse) {
            None => problem(
                "state.url",
                "required when state.backend = \"postgres\", e.g. postgres://atpf@db:5432/atpf"
                    .into(),
            ),
            Some(Err(error)) => problem("state.url", format!("not a URL: {error}")),
            Some(Ok(url)) if !matches!(url.scheme(), "postgres" | "postgresql") => problem(
                "state.url",
                format!(
                    "scheme `{}` is not postgres:// or postgresql://",
                    url.scheme()
                ),
            ),
            Some(Ok(url)) if url.password().is_some() => problem(
                "state.url",
                "contains a password; remove it and use state.password_file or state.password_env"
                    .into(),
            ),
            Some(Ok(_)) => {}
        }
        match (&self.password_file, &self.password_env) {
            (Some(file), None) => match read_secret_file(file) {
                Ok(secret) => self.password = Some(secret),
                Err(error) => problem("state.password_file", error.to_string()),
            },
            (None, Some(name)) => match read_secret_env(name) {
                Ok(secret) => self.password = Some(secret),
                Err(error) => problem("state.password_env", error.to_string()),
            },
            (Some(_), Some(_)) => problem(
                "state.password_file",
                "set either password_file or password_env, not both".into(),
            ),
            (None, None) => {}
        }
        problems
    }
}

/// Resolves a tenant's credential: exactly one of a client secret (`client_secret_file` or
/// `client_secret_env`) or a certificate (`certificate_file` + `private_key_file`); else the problem as
/// (key, message).
fn resolve_credentials(tenant: &mut TenantConfig) -> Result<(), (&'static str, String)> {
    let keys = CredentialKeys {
        client_secret_file: tenant.client_secret_file.as_deref(),
        client_secret_env: tenant.client_secret_env.as_deref(),
        certificate_file: tenant.certificate_file.as_deref(),
        private_key_file: tenant.private_key_file.as_deref(),
        assertion: tenant.assertion,
    };
    tenant.credential = Some(resolve_credential(&keys)?);
    Ok(())
}

/// The keys that name an app registration's credential, in a tenant or in the `sentinel` sink.
pub(crate) struct CredentialKeys<'a> {
    /// `client_secret_file`.
    pub client_secret_file: Option<&'a Path>,
    /// `client_secret_env`.
    pub client_secret_env: Option<&'a str>,
    /// `certificate_file`.
    pub certificate_file: Option<&'a Path>,
    /// `private_key_file`.
    pub private_key_file: Option<&'a Path>,
    /// `assertion`.
    pub assertion: AssertionAlg,
}

/// Reads exactly one of a client secret (`client_secret_file` or `client_secret_env`) or a certificate
/// (`certificate_file` + `private_key_file`, relative names looked up in `$CREDENTIALS_DIRECTORY` first);
/// else the problem as (key, message).
pub(crate) fn resolve_credential(
    keys: &CredentialKeys<'_>,
) -> Result<Credential, (&'static str, String)> {
    let uses_secret = keys.client_secret_file.is_some() || keys.client_secret_env.is_some();
    let uses_certificate = keys.certificate_file.is_some() || keys.private_key_file.is_some();
    let problem = |key: &'static str, message: String| Err((key, message));
    if uses_secret && uses_certificate {
        return problem(
            "certificate_file",
            "set either a client secret (client_secret_file / client_secret_env) or a certificate \
             (certificate_file + private_key_file), not both"
                .into(),
        );
    }
    if uses_certificate {
        return match (keys.certificate_file, keys.private_key_file) {
            (Some(certificate), Some(key)) => {
                let certificate = resolve_credential_path(certificate);
                let key = resolve_credential_path(key);
                match ClientCertificate::load(&certificate, &key, keys.assertion) {
                    Ok(loaded) => Ok(Credential::Certificate(Arc::new(loaded))),
                    Err(error) => problem("certificate_file", error.to_string()),
                }
            }
            (Some(_), None) => problem(
                "private_key_file",
                "missing: certificate_file needs the PEM private key of the certificate".into(),
            ),
            _ => problem(
                "certificate_file",
                "missing: private_key_file needs the PEM certificate registered for the app".into(),
            ),
        };
    }
    match (keys.client_secret_file, keys.client_secret_env) {
        (Some(file), None) => read_secret_file(file)
            .map(Credential::Secret)
            .or_else(|error| problem("client_secret_file", error.to_string())),
        (None, Some(name)) => read_secret_env(name)
            .map(Credential::Secret)
            .or_else(|error| problem("client_secret_env", error.to_string())),
        (Some(_), Some(_)) => problem(
            "client_secret_file",
            "set either client_secret_file or client_secret_env, not both".into(),
        ),
        (None, None) => problem(
            "client_secret_file",
            "missing secret: set client_secret_file (or client_secret_env), or certificate_file + \
             private_key_file"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [state]
        path = "/tmp/x.db"
        [[tenants]]
        name = "contoso"
        tenant_id = "11111111-2222-3333-4444-555555555555"
        client_id = "11111111-2222-3333-4444-666666666666"
        client_secret_env = "ATPF_TEST_SECRET_GOOD"
        [[sinks]]
        name = "out"
        type = "stdout"
    "#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    #[test]
    fn a_complete_config_loads_with_defaults() {
        std::env::set_var("ATPF_TEST_SECRET_GOOD", "s3cret");
        let config = parse(GOOD).unwrap();
        assert_eq!(config.collector.poll_interval.as_secs(), 60);
        assert_eq!(config.collector.record_types, vec![28, 41, 47, 64]);
        let Some(Credential::Secret(secret)) = &config.tenants[0].credential else {
            panic!("a client secret: {:?}", config.tenants[0].credential);
        };
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(config.tenants[0].content_types, vec!["Audit.General"]);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let text = GOOD.replace("[state]", "[state]\npaht = 1");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("paht"), "{error}");
        assert!(error.contains("test.toml"), "{error}");
    }

    #[test]
    fn a_bad_duration_names_the_key() {
        let text = format!("[collector]\npoll_interval = \"sixty\"\n{GOOD}");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("collector.poll_interval"), "{error}");
    }

    #[test]
    fn a_bad_guid_and_a_missing_secret_are_both_reported() {
        let text = GOOD
            .replace("11111111-2222-3333-4444-555555555555", "not-a-guid")
            .replace("ATPF_TEST_SECRET_GOOD", "ATPF_TEST_SECRET_UNSET");
        let error = parse(&text).unwrap_err().to_string();
        assert!(
            error.contains("tenants[0].tenant_id: `not-a-guid` is not a GUID"),
            "{error}"
        );
        assert!(error.contains("tenants[0].client_secret_env"), "{error}");
    }

    #[test]
    fn a_secret_and_a_certificate_together_or_half_a_certificate_are_refused() {
        let both = GOOD.replace(
            "client_secret_env = \"ATPF_TEST_SECRET_GOOD\"",
            "client_secret_env = \"ATPF_TEST_SECRET_GOOD\"\ncertificate_file = \"c.pem\"",
        );
        let error = parse(&both).unwrap_err().to_string();
        assert!(
            error.contains("tenants[0].certificate_file: set either a client secret"),
            "{error}"
        );
        let half = GOOD.replace(
            "client_secret_env = \"ATPF_TEST_SECRET_GOOD\"",
            "certificate_file = \"c.pem\"",
        );
        let error = parse(&half).unwrap_err().to_string();
        assert!(
            error.contains("tenants[0].private_key_file: missing"),
            "{error}"
        );
    }

    #[test]
    fn an_unusable_telemetry_address_is_named() {
        let text = format!("[telemetry]\nlisten = \"localhost\"\n{GOOD}");
        std::env::set_var("ATPF_TEST_SECRET_GOOD", "s3cret");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("telemetry.listen: `localhost`"), "{error}");
    }

    #[test]
    fn a_postgres_url_with_a_password_is_refused_without_printing_it() {
        std::env::set_var("ATPF_TEST_SECRET_GOOD", "s3cret");
        let text = GOOD.replace(
            "[state]",
            "[state]\nbackend = \"postgres\"\nurl = \"postgres://atpf:Hunter2Secret@db/atpf\"\nlease = \"500ms\"",
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("state.url: contains a password"), "{error}");
        assert!(
            error.contains("state.lease: must be at least 1s"),
            "{error}"
        );
        assert!(!error.contains("Hunter2Secret"), "{error}");
    }

    #[test]
    fn cluster_keys_have_documented_defaults() {
        std::env::set_var("ATPF_TEST_SECRET_GOOD", "s3cret");
        let config = parse(GOOD).unwrap();
        assert_eq!(config.state.lease.as_secs(), 30);
        assert!(config
            .state
            .replica_id()
            .ends_with(&format!("-{}", std::process::id())));
    }

    #[test]
    fn an_empty_tenant_list_is_refused() {
        let text = "[[sinks]]\nname = \"out\"\ntype = \"stdout\"\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("tenants: no tenant configured"), "{error}");
    }
}
