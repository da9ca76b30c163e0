//! The checks beyond single keys: names, references between sections (credentials,
//! connectors), files the config names, and the per-account warnings.

use super::domain::{Config, TlsMode};
use super::fields::closest;
use super::issues::{Issue, Issues};

/// Checks a table name: letters, digits, `-`, `_` and `.` only.
pub(super) fn check_name(name: &str, section: &str, issues: &mut Issues) {
    let path = if section.is_empty() {
        name.to_string()
    } else {
        format!("{section}.\"{name}\"")
    };
    if name.trim().is_empty() {
        issues.push(Issue::error(
            path,
            "name must not be empty; use letters, digits, '-', '_' or '.'",
        ));
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        issues.push(Issue::error(
            path,
            "name may use only letters, digits, '-', '_' and '.'; rename it",
        ));
    }
}

/// Checks references between sections and the per-account warnings.
pub(super) fn cross_check(config: &Config, issues: &mut Issues) {
    let creds: Vec<&str> = config.credentials.keys().map(String::as_str).collect();
    let conns: Vec<&str> = config.connectors.keys().map(String::as_str).collect();
    let unknown = |what: &str, name: &str, known: &[&str]| {
        let mut msg = format!(
            "unknown {what} `{name}` (known: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
        if let Some(c) = closest(name, known) {
            msg.push_str(&format!("; did you mean `{c}`?"));
        }
        msg
    };
    for c in config.connectors.values() {
        if let Some(cred) = &c.credential
            && !config.credentials.contains_key(cred)
        {
            issues.push(Issue::error(
                format!("connectors.{}.credential", c.name),
                unknown("credential", cred, &creds),
            ));
        }
    }
    for a in config.accounts.values() {
        let path = |key: &str| format!("accounts.{}.{key}", a.name);
        if !a.credential.is_empty() && !config.credentials.contains_key(&a.credential) {
            issues.push(Issue::error(
                path("credential"),
                unknown("credential", &a.credential, &creds),
            ));
        }
        if let Some(conn) = &a.connector
            && !config.connectors.contains_key(conn)
        {
            issues.push(Issue::error(
                path("connector"),
                unknown("connector", conn, &conns),
            ));
        }
        if let Some(ca) = &a.ca_file
            && !ca.is_file()
        {
            issues.push(Issue::error(path("ca_file"), format!("file `{}` does not exist; give the PEM file of the CA that signed the server's certificate", ca.display())));
        }
        if a.tls == TlsMode::None && !is_loopback_host(&a.address) {
            issues.push(Issue::warning(path("tls"), format!("tls = \"none\" sends the password to `{}` unencrypted; use \"implicit\" or \"starttls\"", a.address)));
        }
        if a.skip_certificate && a.tls != TlsMode::None {
            issues.push(Issue::warning(path("skip_certificate"), "certificates are not verified: anyone on the path can read the password; prefer ca_file"));
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
