//! The New and Edit account form: the seed page's fields in its order and words, read from
//! an account's config, turned into the changes of its `[accounts.NAME]` table, and the
//! validator's problems put beside the field each belongs to.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::edit::Change;
use crate::config::{AccountConfig, Issue, Protocol, TlsMode, default_port};

/// The form as posted (and as shown). Checkboxes are present when ticked.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AccountForm {
    /// "Account name" (fixed when editing).
    #[serde(default)]
    pub name: String,
    /// "Keep copy in server".
    pub keep_copy: Option<String>,
    /// "Automatic check".
    pub automatic_check: Option<String>,
    /// "Enabled".
    pub enabled: Option<String>,
    /// "Address".
    #[serde(default)]
    pub address: String,
    /// "Port": empty for the protocol's default.
    #[serde(default)]
    pub port: String,
    /// "Protocol": imap | pop3.
    #[serde(default)]
    pub protocol: String,
    /// "Use Network Connector".
    pub use_connector: Option<String>,
    /// Which connector.
    #[serde(default)]
    pub connector: String,
    /// "Credential for authentication".
    #[serde(default)]
    pub credential: String,
    /// "Skip certificate".
    pub skip_certificate: Option<String>,
    /// "Use safe connection".
    pub safe: Option<String>,
    /// "Secure connection type": ssl (implicit TLS) | tls (STARTTLS).
    #[serde(default)]
    pub security: String,
    /// `new` or `edit`.
    #[serde(default)]
    pub mode: String,
    /// The config file's version when the form was loaded.
    #[serde(default)]
    pub version: String,
    /// Which button sent it: `save` or `test`.
    #[serde(default)]
    pub action: String,
}

/// The problems of a posted form: by field, and those that belong to none.
#[derive(Clone, Debug, Default)]
pub struct FieldErrors {
    /// Field name -> what is wrong with it.
    pub by_field: BTreeMap<String, String>,
    /// Problems of the config as a whole.
    pub general: Vec<String>,
}

impl FieldErrors {
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }

    /// The problem of `field`, or empty.
    pub fn of(&self, field: &str) -> &str {
        self.by_field.get(field).map(String::as_str).unwrap_or("")
    }

    /// Puts each validator problem of account `name` beside its field.
    pub fn from_issues(name: &str, issues: &[Issue]) -> Self {
        let mut errors = FieldErrors::default();
        let prefixes = [format!("accounts.\"{name}\""), format!("accounts.{name}")];
        for issue in issues
            .iter()
            .filter(|i| i.severity == crate::config::Severity::Error)
        {
            let key = prefixes
                .iter()
                .find_map(|p| issue.path.strip_prefix(p.as_str()))
                .filter(|rest| rest.is_empty() || rest.starts_with('.'))
                .map(|rest| rest.trim_start_matches('.'));
            match key.map(field_of_key) {
                Some(Some(field)) => {
                    errors
                        .by_field
                        .entry(field.into())
                        .or_insert_with(|| issue.message.clone());
                }
                _ => errors.general.push(issue.to_string()),
            }
        }
        errors
    }
}

/// The form field a key of `[accounts.NAME]` is set by.
fn field_of_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "" => "name",
        "keep_copy" => "keep_copy",
        "automatic_check" => "automatic_check",
        "enabled" => "enabled",
        "address" => "address",
        "port" => "port",
        "protocol" => "protocol",
        "connector" => "connector",
        "credential" => "credential",
        "skip_certificate" => "skip_certificate",
        "tls" => "security",
        _ => return None,
    })
}

impl AccountForm {
    /// A new account's form: DESIGN.md's defaults.
    pub fn new_account() -> Self {
        AccountForm {
            keep_copy: Some("on".into()),
            automatic_check: Some("on".into()),
            enabled: Some("on".into()),
            protocol: "imap".into(),
            safe: Some("on".into()),
            security: "ssl".into(),
            mode: "new".into(),
            ..AccountForm::default()
        }
    }

    /// The form of an account as configured.
    pub fn of(a: &AccountConfig) -> Self {
        let tick = |b: bool| b.then(|| "on".to_string());
        let protocol = match a.protocol {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        };
        AccountForm {
            name: a.name.clone(),
            keep_copy: tick(a.keep_copy),
            automatic_check: tick(a.automatic_check),
            enabled: tick(a.enabled),
            address: a.address.clone(),
            port: if a.port == default_port(a.protocol, a.tls) {
                String::new()
            } else {
                a.port.to_string()
            },
            protocol: protocol.into(),
            use_connector: tick(a.connector.is_some()),
            connector: a.connector.clone().unwrap_or_default(),
            credential: a.credential.clone(),
            skip_certificate: tick(a.skip_certificate),
            safe: tick(a.tls != TlsMode::None),
            security: if a.tls == TlsMode::Starttls {
                "tls"
            } else {
                "ssl"
            }
            .into(),
            mode: "edit".into(),
            version: String::new(),
            action: String::new(),
        }
    }

    /// True when this form makes a new account.
    pub fn is_new(&self) -> bool {
        self.mode != "edit"
    }

    /// The account's name, trimmed.
    pub fn account_name(&self) -> String {
        self.name.trim().to_string()
    }

    /// The changes this form makes to `[accounts.NAME]`, or the problems the validator
    /// cannot see (a port that is not a number, a missing name).
    pub fn changes(&self) -> Result<Vec<Change>, FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.account_name().is_empty() {
            errors.by_field.insert(
                "name".into(),
                "is required: the account's name in reports and metrics".into(),
            );
        }
        let ticked = |b: &Option<String>| b.is_some();
        let text = |s: &str| toml_edit::Value::from(s.trim());
        let mut changes = vec![
            Change::Set("enabled".into(), ticked(&self.enabled).into()),
            Change::Set("protocol".into(), text(&self.protocol)),
            Change::Set("address".into(), text(&self.address)),
            Change::Set("credential".into(), text(&self.credential)),
            Change::Set("keep_copy".into(), ticked(&self.keep_copy).into()),
            Change::Set(
                "automatic_check".into(),
                ticked(&self.automatic_check).into(),
            ),
            Change::Set(
                "skip_certificate".into(),
                ticked(&self.skip_certificate).into(),
            ),
        ];
        let tls = match (ticked(&self.safe), self.security.as_str()) {
            (false, _) => "none",
            (true, "tls") => "starttls",
            (true, _) => "implicit",
        };
        changes.push(Change::Set("tls".into(), tls.into()));
        let port = self.port.trim();
        if port.is_empty() {
            changes.push(Change::Remove("port".into()));
        } else {
            match port.parse::<i64>() {
                Ok(p) => changes.push(Change::Set("port".into(), p.into())),
                Err(_) => {
                    errors.by_field.insert(
                        "port".into(),
                        format!(
                            "`{}` is not a number; use 1-65535, or leave it empty for the protocol's default",
                            crate::text::excerpt(port)
                        ),
                    );
                }
            }
        }
        let connector = self.connector.trim();
        if ticked(&self.use_connector) && !connector.is_empty() {
            changes.push(Change::Set("connector".into(), connector.into()));
        } else if ticked(&self.use_connector) {
            errors.by_field.insert(
                "connector".into(),
                "choose the connector to use, or untick Use Network Connector".into(),
            );
        } else {
            changes.push(Change::Remove("connector".into()));
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_round_trips_through_its_changes() {
        let mut a = AccountConfig::new("a", Protocol::Pop3, "pop.example.com", "c");
        a.tls = TlsMode::Starttls;
        a.port = 1110;
        a.keep_copy = false;
        a.connector = Some("dmz".into());
        let form = AccountForm::of(&a);
        assert_eq!(
            (form.port.as_str(), form.security.as_str()),
            ("1110", "tls")
        );
        let changes = form.changes().unwrap();
        let find = |k: &str| {
            changes.iter().find_map(|c| match c {
                Change::Set(key, v) if key == k => Some(v.to_string().trim().to_string()),
                _ => None,
            })
        };
        assert_eq!(find("tls").as_deref(), Some("\"starttls\""));
        assert_eq!(find("port").as_deref(), Some("1110"));
        assert_eq!(find("keep_copy").as_deref(), Some("false"));
        assert_eq!(find("connector").as_deref(), Some("\"dmz\""));
    }

    #[test]
    fn problems_go_beside_their_fields() {
        let mut form = AccountForm::new_account();
        form.port = "99x".into();
        let errors = form.changes().unwrap_err();
        assert!(errors.of("port").contains("not a number"), "{errors:?}");
        assert!(errors.of("name").contains("required"), "{errors:?}");
        let issues = [
            Issue::error("accounts.n.tls", "bad"),
            Issue::error("store.path", "elsewhere"),
        ];
        let errors = FieldErrors::from_issues("n", &issues);
        assert_eq!(errors.of("security"), "bad");
        assert_eq!(errors.general, ["error: store.path: elsewhere"]);
        let quoted = [Issue::error("accounts.\"x y\"", "rename it")];
        assert_eq!(
            FieldErrors::from_issues("x y", &quoted).of("name"),
            "rename it"
        );
        let other = [Issue::error("accounts.nx.port", "bad")];
        assert!(
            FieldErrors::from_issues("n", &other).of("port").is_empty(),
            "not n's"
        );
    }
}
