//! Keys every HTTP sink shares (batching, timeouts, concurrency, TLS) and the checks on them.
//!
//! Each sink's config struct is declared with [`http_sink_config!`], which appends the shared keys (serde's
//! `flatten` cannot be combined with `deny_unknown_fields`) and a `common()` accessor returning [`Common`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{read_secret_env, read_secret_file, Secret};

/// Validation problems as (key, message) pairs.
pub(crate) type Problems = Vec<(String, String)>;

/// Defaults of the shared keys.
pub(crate) mod defaults {
    use std::time::Duration;

    pub fn batch_max_events() -> usize {
        500
    }
    pub fn batch_timeout() -> Duration {
        Duration::from_secs(1)
    }
    pub fn timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn max_in_flight() -> usize {
        4
    }
    pub fn tls_verify() -> bool {
        true
    }
    /// Default `batch_max_bytes` of the `http`, `splunk_hec` and `elasticsearch` sinks.
    pub const BATCH_MAX_BYTES: usize = 5_000_000;
}

/// Declares an HTTP sink config struct: the given fields plus the shared keys, with `deny_unknown_fields`.
macro_rules! http_sink_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$fmeta:meta])* $vis:vis $field:ident : $ty:ty,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* $vis $field: $ty,)*
            /// Most events in one request (default 500).
            #[serde(default = "crate::sink::http::config::defaults::batch_max_events")]
            pub batch_max_events: usize,
            /// Most body bytes (before compression) in one request (default 5 MB; `sentinel`: 1 MB, the API's
            /// limit). A single larger event is sent alone (`sentinel`: rejected).
            #[serde(default)]
            pub batch_max_bytes: Option<usize>,
            /// How long the pipeline may wait to fill a batch before handing over a smaller one (default 1s).
            #[serde(with = "humantime_serde", default = "crate::sink::http::config::defaults::batch_timeout")]
            pub batch_timeout: std::time::Duration,
            /// Timeout of one HTTP request, connect to last byte (default 30s).
            #[serde(with = "humantime_serde", default = "crate::sink::http::config::defaults::timeout")]
            pub timeout: std::time::Duration,
            /// Requests of one batch sent at the same time (default 4).
            #[serde(default = "crate::sink::http::config::defaults::max_in_flight")]
            pub max_in_flight: usize,
            /// Compress request bodies with gzip (`Content-Encoding: gzip`); default false (`sentinel`: true).
            #[serde(default)]
            pub gzip: Option<bool>,
            /// PEM file with the CA certificate(s) to trust besides the built-in web PKI roots.
            #[serde(default)]
            pub ca_file: Option<std::path::PathBuf>,
            /// Verify the server's TLS certificate (default true); `false` logs a warning at start.
            #[serde(default = "crate::sink::http::config::defaults::tls_verify")]
            pub tls_verify: bool,
        }

        impl $name {
            /// The shared keys, with this sink's defaults applied.
            pub(crate) fn common(&self, default_max_bytes: usize, default_gzip: bool) -> crate::sink::http::config::Common {
                crate::sink::http::config::Common {
                    name: self.name.clone(),
                    max_events: self.batch_max_events,
                    max_bytes: self.batch_max_bytes.unwrap_or(default_max_bytes),
                    timeout: self.timeout,
                    max_in_flight: self.max_in_flight,
                    gzip: self.gzip.unwrap_or(default_gzip),
                    ca_file: self.ca_file.clone(),
                    tls_verify: self.tls_verify,
                }
            }

            /// How the pipeline groups batches for this sink: up to `batch_max_events`, waiting at most
            /// `batch_timeout`; one batch at a time when the timeout is zero or a request holds one event.
            pub fn grouping(&self) -> crate::sink::Grouping {
                if self.batch_timeout.is_zero() || self.batch_max_events <= 1 {
                    return crate::sink::Grouping::Each;
                }
                crate::sink::Grouping::Gather(crate::sink::Gathering {
                    max_events: self.batch_max_events,
                    timeout: self.batch_timeout,
                })
            }
        }
    };
}
pub(crate) use http_sink_config;

/// The shared keys of one sink, defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub name: String,
    pub max_events: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub gzip: bool,
    pub ca_file: Option<PathBuf>,
    pub tls_verify: bool,
}

// === impl Common ===

impl Common {
    /// Checks the shared keys; `max_bytes_cap` is the protocol's own request limit, if any.
    pub(crate) fn validate(&self, max_bytes_cap: Option<usize>, problems: &mut Problems) {
        if self.name.trim().is_empty() {
            problem(problems, "name", "must not be empty");
        }
        if self.max_events == 0 {
            problem(problems, "batch_max_events", "must be at least 1");
        }
        if self.max_bytes < 1024 {
            problem(problems, "batch_max_bytes", "must be at least 1024");
        }
        if let Some(cap) = max_bytes_cap.filter(|cap| self.max_bytes > *cap) {
            problem(
                problems,
                "batch_max_bytes",
                &format!("must be at most {cap} (the API refuses larger requests)"),
            );
        }
        if self.timeout.is_zero() {
            problem(problems, "timeout", "must be greater than 0");
        }
        if self.max_in_flight == 0 {
            problem(problems, "max_in_flight", "must be at least 1");
        }
        if let Some(path) = &self.ca_file {
            match std::fs::read(path) {
                Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) if !certs.is_empty() => {}
                    _ => problem(
                        problems,
                        "ca_file",
                        &format!("{} holds no PEM certificate", path.display()),
                    ),
                },
                Err(error) => problem(
                    problems,
                    "ca_file",
                    &format!("cannot read {}: {error}", path.display()),
                ),
            }
        }
    }
}

/// Records a problem with `key`.
pub(crate) fn problem(problems: &mut Problems, key: &str, message: &str) {
    problems.push((key.to_string(), message.to_string()));
}

/// Checks that `url` is an absolute http(s) URL.
pub(crate) fn check_url(problems: &mut Problems, key: &str, url: &str) {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {}
        _ => problem(problems, key, &format!("`{url}` is not an http(s) URL")),
    }
}

/// Reads the secret named `<base>_file` or `<base>_env`; `None` when neither key is set (or on a problem,
/// which is recorded).
pub(crate) fn resolve_secret(
    problems: &mut Problems,
    base: &str,
    file: Option<&Path>,
    env: Option<&str>,
) -> Option<Secret> {
    let result = match (file, env) {
        (Some(file), None) => read_secret_file(file).map_err(|e| (format!("{base}_file"), e)),
        (None, Some(name)) => read_secret_env(name).map_err(|e| (format!("{base}_env"), e)),
        (Some(_), Some(_)) => {
            problem(
                problems,
                &format!("{base}_file"),
                &format!("set either {base}_file or {base}_env, not both"),
            );
            return None;
        }
        (None, None) => return None,
    };
    match result {
        Ok(secret) => Some(secret),
        Err((key, error)) => {
            problem(problems, &key, &error.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> Common {
        Common {
            name: "s".into(),
            max_events: 500,
            max_bytes: 1_000_000,
            timeout: defaults::timeout(),
            max_in_flight: 4,
            gzip: false,
            ca_file: None,
            tls_verify: true,
        }
    }

    #[test]
    fn shared_keys_report_every_problem_with_its_key() {
        let mut bad = common();
        bad.max_events = 0;
        bad.max_in_flight = 0;
        bad.max_bytes = 2_000_000;
        bad.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let mut problems = Vec::new();
        bad.validate(Some(1_000_000), &mut problems);
        let keys: Vec<&str> = problems.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "batch_max_events",
                "batch_max_bytes",
                "max_in_flight",
                "ca_file"
            ]
        );
    }

    #[test]
    fn a_secret_needs_exactly_one_source() {
        let mut problems = Vec::new();
        let both = resolve_secret(
            &mut problems,
            "token",
            Some(Path::new("/x")),
            Some("ATPF_HTTP_TEST_UNSET"),
        );
        assert!(both.is_none());
        assert_eq!(problems[0].0, "token_file");
        let mut problems = Vec::new();
        assert!(resolve_secret(&mut problems, "token", None, None).is_none());
        assert!(problems.is_empty());
        let _ = resolve_secret(&mut problems, "token", None, Some("ATPF_HTTP_TEST_UNSET"));
        assert_eq!(problems[0].0, "token_env");
    }

    #[test]
    fn urls_must_be_http() {
        let mut problems = Vec::new();
        check_url(&mut problems, "url", "https://splunk:8088");
        check_url(&mut problems, "url", "ftp://x");
        check_url(&mut problems, "url", "splunk:8088");
        assert_eq!(problems.len(), 2);
    }
}
