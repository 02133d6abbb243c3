//! Secrets that cannot be printed by accident, and where they are read from.
//!
//! A [`Secret`] writes `***` for `Debug` and `Display`; the only way to the value is [`Secret::expose`], used
//! only where the value is sent. Secrets come from a file (`…_file` keys; systemd credentials are files in
//! `$CREDENTIALS_DIRECTORY`) or from an environment variable named by a `…_env` key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret value (client secret, token, password). Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

// === impl Secret ===

impl Secret {
    /// Wraps a value. Surrounding whitespace (a trailing newline in a secret file) is removed.
    pub fn new(value: impl Into<String>) -> Secret {
        let value: String = value.into();
        Secret(value.trim().to_string())
    }

    /// The secret's value. Call only where the value is sent to its destination.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {path} is empty")]
    EmptyFile { path: PathBuf },
    #[error("environment variable {name} is not set or empty")]
    MissingEnv { name: String },
}

/// Reads a secret from a file. A relative path is looked up in `$CREDENTIALS_DIRECTORY` (systemd's
/// `LoadCredential=`) when that is set and the file exists there.
pub fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    let resolved = resolve_credential_path(path);
    let bytes =
        read_bounded(&resolved, MAX_SECRET_FILE_BYTES).map_err(|source| SecretError::File {
            path: resolved.clone(),
            source,
        })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::File {
        path: resolved.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    let secret = Secret::new(text);
    if secret.expose().is_empty() {
        return Err(SecretError::EmptyFile { path: resolved });
    }
    Ok(secret)
}

/// Largest secret file read (a client secret or password is under 1 KiB).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads at most `limit` bytes of `path`; a longer file (or a device like `/dev/zero`) is an error instead
/// of an unbounded read.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes; is this the right file?"),
        ));
    }
    Ok(bytes)
}

/// Reads a secret from the environment variable `name`.
pub fn read_secret_env(name: &str) -> Result<Secret, SecretError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value)),
        _ => Err(SecretError::MissingEnv {
            name: name.to_string(),
        }),
    }
}

/// A relative `path` inside `$CREDENTIALS_DIRECTORY` when that is set and the file exists there; `path`
/// otherwise.
pub(crate) fn resolve_credential_path(path: &Path) -> PathBuf {
    if path.is_relative() {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let candidate = Path::new(&dir).join(path);
            if candidate.exists() {
                return candidate;
            }
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("hunter2\n");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_secret_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(read_secret_file(&path).unwrap().expose(), "abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            read_secret_file(&path),
            Err(SecretError::EmptyFile { .. })
        ));
    }

    #[test]
    fn a_huge_or_endless_secret_file_is_refused_without_reading_it_all() {
        let error = read_secret_file(Path::new("/dev/zero")).unwrap_err();
        assert!(
            error.to_string().contains("larger than 65536 bytes"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_secret_file(&path)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
    }
}
