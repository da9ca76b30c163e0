//! Config problems: each with its severity, the path of its key and what to do about it;
//! and the error a config that cannot be used fails with, carrying all of them.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How bad a config problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// The config works, but something needs attention (or fails later for one account).
    Warning,
}

/// One config problem: the key's path and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// The key's path, e.g. `accounts.helpdesk.port` (empty for the whole file).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Issue {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
        }
    }
    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.path.is_empty() {
            write!(f, "{label}: {}", self.message)
        } else {
            write!(f, "{label}: {}: {}", self.path, self.message)
        }
    }
}

/// All problems found in one config.
pub type Issues = Vec<Issue>;

/// A config that could not be used, with every problem found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`", path = .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    /// The file was read; these are all its problems.
    #[error("config is invalid:\n{}", render(.0))]
    Invalid(Issues),
}

impl ConfigError {
    /// Every issue (errors and warnings) when the config was read but is invalid.
    pub fn issues(&self) -> &[Issue] {
        match self {
            ConfigError::Invalid(issues) => issues,
            ConfigError::Read(..) => &[],
        }
    }
}

fn render(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
