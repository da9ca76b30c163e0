//! Loading a config: from a file or TOML text (read, then cross-checked), or checking one
//! built in code. Every problem is reported at once.

use std::path::Path;

use toml::Table;

use super::domain::Config;
use super::issues::{ConfigError, Issue, Issues, Severity};
use super::read::read_config;
use super::validate::{check_name, cross_check};

/// A config that loaded, with the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The checked config.
    pub config: Config,
    /// Problems that do not stop the config from loading.
    pub warnings: Issues,
}

impl Config {
    /// Reads and checks a config file. Relative paths in it are resolved against its folder.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        Self::parse(&text, &base)
    }

    /// Checks TOML text; relative paths are resolved against `base_dir`.
    ///
    /// ```
    /// use mail_ingest::Config;
    /// let text = r#"
    /// [credentials.c]
    /// username = "u"
    /// password = { value = "pw" }
    /// [accounts.helpdesk]
    /// protocol = "imap"
    /// address = "imap.example.com"
    /// credential = "c"
    /// conector = "dmz"
    /// "#;
    /// let err = Config::parse(text, std::path::Path::new("/etc/mail-ingest")).unwrap_err();
    /// let messages: Vec<String> = err.issues().iter().map(|i| i.to_string()).collect();
    /// assert_eq!(messages, ["error: accounts.helpdesk.conector: unknown key; did you mean `connector`?"]);
    /// ```
    pub fn parse(text: &str, base_dir: &Path) -> Result<Loaded, ConfigError> {
        let table: Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("not valid TOML: {}", e.message());
                let at = e.span().map(|s| line_of(text, s.start)).unwrap_or_default();
                return Err(ConfigError::Invalid(vec![Issue::error(at, msg)]));
            }
        };
        let mut issues = Issues::new();
        let config = read_config(&table, base_dir, &mut issues);
        cross_check(&config, &mut issues);
        if issues.iter().any(|i| i.severity == Severity::Error) {
            return Err(ConfigError::Invalid(issues));
        }
        Ok(Loaded {
            config,
            warnings: issues,
        })
    }

    /// Checks a config built in code: references, names and files. Returns the warnings.
    pub fn validate(&self) -> Result<Issues, ConfigError> {
        let mut issues = Issues::new();
        for name in self
            .accounts
            .keys()
            .chain(self.connectors.keys())
            .chain(self.credentials.keys())
        {
            check_name(name, "", &mut issues);
        }
        cross_check(self, &mut issues);
        if issues.iter().any(|i| i.severity == Severity::Error) {
            return Err(ConfigError::Invalid(issues));
        }
        Ok(issues)
    }
}

fn line_of(text: &str, offset: usize) -> String {
    let line = text[..offset.min(text.len())].matches('\n').count() + 1;
    format!("line {line}")
}
