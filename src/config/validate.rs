//! The checks beyond single keys: names, references between sections (credentials,
//! connectors), files the config names, and the per-account warnings.

use super::domain::{AccountConfig, Config, TlsMode};
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
    } else if name.chars().all(|c| c == '.') {
        issues.push(Issue::error(
            path,
            "name must hold a letter or digit (`.` and `..` name folders in a path); rename it",
        ));
    } else if name.len() > MAX_NAME {
        issues.push(Issue::error(
            path,
            format!(
                "name is {} characters long; use at most {MAX_NAME}",
                name.len()
            ),
        ));
    }
}

/// The longest name of an account, credential or connector.
const MAX_NAME: usize = 64;

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
        match c.credential.as_ref().map(|cred| (cred, config.credentials.get(cred))) {
            Some((cred, None)) => issues.push(Issue::error(
                format!("connectors.{}.credential", c.name),
                unknown("credential", cred, &creds),
            )),
            Some((cred, Some(found))) if found.oauth2().is_some() => issues.push(Issue::error(
                format!("connectors.{}.credential", c.name),
                format!("credentials.{cred} uses oauth2, but a SOCKS5 proxy takes a username and password; name a credential with a password"),
            )),
            _ => {}
        }
    }
    for (name, credential) in &config.credentials {
        let Some(endpoint) = credential.oauth2().and_then(|o| o.grant.endpoint()) else {
            continue;
        };
        let path = |key: &str| format!("credentials.{name}.oauth2.{key}");
        if let Some(conn) = &endpoint.connector
            && !config.connectors.contains_key(conn)
        {
            issues.push(Issue::error(
                path("connector"),
                unknown("connector", conn, &conns),
            ));
        }
        if let Some(ca) = &endpoint.ca_file
            && !ca.is_file()
        {
            issues.push(Issue::error(path("ca_file"), format!("file `{}` does not exist; give the PEM file of the CA that signed the token endpoint's certificate", ca.display())));
        }
    }
    for a in config.accounts.values() {
        let path = |key: &str| format!("accounts.{}.{key}", a.name);
        if let Some(d) = a.keep_for
            && d < std::time::Duration::from_secs(86_400)
        {
            issues.push(Issue::warning(
                path("keep_for"),
                format!(
                    "keeps messages for only {} (`m` is minutes; for months write e.g. \"180d\")",
                    humantime::format_duration(d)
                ),
            ));
        }
        if let Some(max) = a.keep_max
            && max < 1 << 20
        {
            issues.push(Issue::warning(
                path("keep_max"),
                format!(
                    "keeps at most {max} bytes of mail: almost nothing stays (write e.g. \"10GiB\")"
                ),
            ));
        }
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
        check_tls_keys(a, issues);
        if a.tls == TlsMode::None && !is_loopback_host(&a.address) {
            issues.push(Issue::warning(path("tls"), format!("tls = \"none\" sends the password to `{}` unencrypted; use \"implicit\" or \"starttls\"", a.address)));
        }
        if a.skip_certificate && a.tls != TlsMode::None {
            issues.push(Issue::warning(path("skip_certificate"), "certificates are not verified: anyone on the path can read the password; prefer ca_file"));
        }
    }
}

/// The TLS keys of one account that go together or exclude each other.
fn check_tls_keys(a: &AccountConfig, issues: &mut Issues) {
    let path = |key: &str| format!("accounts.{}.{key}", a.name);
    if a.tls_fingerprint.is_some() && a.skip_certificate {
        issues.push(Issue::error(
            path("tls_fingerprint"),
            "tls_fingerprint pins the certificate, skip_certificate accepts any: remove one",
        ));
    }
    if a.tls == TlsMode::None {
        for (key, set) in [
            ("tls_fingerprint", a.tls_fingerprint.is_some()),
            ("client_certificate", a.client_certificate.is_some()),
        ] {
            if set {
                issues.push(Issue::error(path(key), format!("{key} needs TLS, but tls = \"none\"; use tls = \"implicit\" or \"starttls\"")));
            }
        }
    }
    match (&a.client_certificate, &a.client_key) {
        (Some(_), None) => issues.push(Issue::error(
            path("client_key"),
            "is required with client_certificate: the PEM file of its private key",
        )),
        (None, Some(_)) => issues.push(Issue::error(
            path("client_certificate"),
            "is required with client_key: the PEM file of the certificate",
        )),
        _ => {}
    }
    for (key, file) in [
        ("client_certificate", &a.client_certificate),
        ("client_key", &a.client_key),
    ] {
        if let Some(file) = file
            && !file.is_file()
        {
            issues.push(Issue::error(
                path(key),
                format!("file `{}` does not exist", file.display()),
            ));
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
