//! Secrets: where a password comes from, and a value type that never prints itself.
//!
//! A [`Secret`] has a redacted `Debug` and no `Display`; the only way to the bytes is
//! [`Secret::expose`], which makes every use easy to find in review.

use std::fmt;
use std::path::{Path, PathBuf};

/// A password or token. `Debug` prints `Secret(***)`; there is no `Display`.
///
/// ```
/// let s = mail_ingest::secret::Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment, a file or the config.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the one place that must send it (a LOGIN, a SOCKS5 auth).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret is read from: `{ env = "VAR" }`, `{ file = "path" }` or `{ value = "..." }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable, read when the account starts.
    Env(String),
    /// A file (relative paths are resolved against the config file's folder); one trailing
    /// newline is removed.
    File(PathBuf),
    /// A literal in the config file.
    Value(Secret),
}

/// Why a secret could not be read. The message names the source, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable `{0}` is not set (export it, or use {{ file = \"...\" }})")]
    EnvUnset(String),
    /// The password file could not be read.
    #[error("cannot read password file `{path}`", path = .0.display())]
    File(PathBuf, #[source] std::io::Error),
}

impl SecretSource {
    /// Reads the secret now.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => std::env::var(var)
                .map(Secret)
                .map_err(|_| SecretError::EnvUnset(var.clone())),
            SecretSource::File(path) => read_secret_file(path),
            SecretSource::Value(secret) => Ok(secret.clone()),
        }
    }
}

fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|e| SecretError::File(path.into(), e))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(Secret(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let src = SecretSource::Value(s);
        assert!(!format!("{src:?}").contains("hunter2"));
    }

    #[test]
    fn file_secret_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "pa ss\n").unwrap();
        let s = SecretSource::File(p).resolve().unwrap();
        assert_eq!(s.expose(), "pa ss");
    }

    #[test]
    fn unset_env_names_the_variable() {
        let err = SecretSource::Env("MAIL_INGEST_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("MAIL_INGEST_SURELY_UNSET_VAR"));
    }
}
