//! The TOML reader: each table read key by key into the domain types, every problem
//! recorded with its path (unknown keys included), defaults filled in as DESIGN.md says.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;

use toml::Table;

use super::domain::*;
use super::fields::Fields;
use super::fingerprint::Fingerprint;
use super::issues::{Issue, Issues};
use super::oauth2::read_oauth2;
use super::secrets::read_secret;
use super::validate::check_name;

/// Reads the whole file's table into a config, recording every problem.
pub(super) fn read_config(table: &Table, base: &Path, issues: &mut Issues) -> Config {
    let mut top = Fields::new(table, "", issues);
    let store_t = top.table("store");
    let http_t = top.table("http");
    let cred_t = top.table("credentials");
    let conn_t = top.table("connectors");
    let acct_t = top.table("accounts");
    top.finish();

    let store = read_store(store_t, base, issues);
    let http = read_http(http_t, base, issues);
    let credentials = read_named(cred_t, "credentials", issues, |f, name| {
        read_credential(f, name, base)
    });
    let connectors = read_named(conn_t, "connectors", issues, read_connector);
    let accounts = read_named(acct_t, "accounts", issues, |f, name| {
        read_account(f, name, base)
    });
    Config {
        store,
        http,
        credentials,
        connectors,
        accounts,
    }
}

fn read_store(table: Option<&Table>, base: &Path, issues: &mut Issues) -> StoreConfig {
    let empty = Table::new();
    let mut f = Fields::new(table.unwrap_or(&empty), "store", issues);
    let path = f
        .string("path")
        .unwrap_or_else(|| "data/mail-ingest.redb".into());
    f.finish();
    StoreConfig {
        path: base.join(path),
    }
}

fn read_http(table: Option<&Table>, base: &Path, issues: &mut Issues) -> HttpConfig {
    let empty = Table::new();
    let mut f = Fields::new(table.unwrap_or(&empty), "http", issues);
    let listen = match f.string("listen") {
        None => default_listen(),
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                f.error(
                    "listen",
                    format!("`{text}` is not an IP address and port like \"127.0.0.1:9898\""),
                );
                default_listen()
            }
        },
    };
    let token = read_secret(&mut f, "token", base);
    if token.is_none() && !listen.ip().is_loopback() {
        f.error(
            "listen",
            format!("`{listen}` is not a loopback address; set [http] token = {{ env = \"MAIL_INGEST_TOKEN\" }} to serve it, or listen on 127.0.0.1"),
        );
    }
    let allowed_hosts = f
        .strings("allowed_hosts")
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    f.finish();
    HttpConfig {
        listen,
        token,
        allowed_hosts,
    }
}

/// Reads `[section.NAME]` tables, checking each name.
fn read_named<T>(
    table: Option<&Table>,
    section: &str,
    issues: &mut Issues,
    read: impl Fn(&mut Fields, &str) -> Option<T>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let Some(table) = table else { return out };
    let mut lower_seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in table {
        let path = format!("{section}.{name}");
        check_name(name, section, issues);
        if let Some(other) = lower_seen.insert(name.to_lowercase(), name.clone()) {
            issues.push(Issue::error(
                &path,
                format!("duplicate of `{other}` (names differ only in case); rename one"),
            ));
        }
        let Some(sub) = value.as_table() else {
            issues.push(Issue::error(
                &path,
                format!("expected a table [{path}], found {}", value.type_str()),
            ));
            continue;
        };
        let mut f = Fields::new(sub, path, issues);
        let item = read(&mut f, name);
        f.finish();
        if let Some(item) = item {
            out.insert(name.clone(), item);
        }
    }
    out
}

fn read_credential(f: &mut Fields, _name: &str, base: &Path) -> Option<Credential> {
    let username = f.required_string("username", "set the login name");
    let password = read_secret(f, "password", base);
    let oauth2_path = f.path_of("oauth2");
    let oauth2 = f.table("oauth2");
    let auth = match (password, oauth2) {
        (Some(_), Some(_)) => {
            f.error(
                "oauth2",
                "a credential has either a password or an [oauth2] table, not both; remove one",
            );
            return None;
        }
        (Some(password), None) => CredentialAuth::Password(password),
        (None, Some(table)) => {
            CredentialAuth::OAuth2(Box::new(read_oauth2(table, oauth2_path, base, f.issues())?))
        }
        (None, None) => {
            if f.raw("password").is_none() {
                f.error(
                    "password",
                    "is required (or an [oauth2] table); e.g. password = { env = \"MY_PASSWORD\" }",
                );
            }
            return None;
        }
    };
    Some(Credential {
        username: username?,
        auth,
    })
}

fn read_connector(f: &mut Fields, name: &str) -> Option<ConnectorConfig> {
    let target = f.required_string("socks5", "e.g. socks5 = \"proxy.example.com:1080\"");
    let credential = f.string("credential");
    let max = f.integer("max_connections").unwrap_or(64);
    let max_connections = match usize::try_from(max).ok().and_then(NonZeroUsize::new) {
        Some(m) => m,
        None => {
            f.error(
                "max_connections",
                format!("{max} is not a positive number of connections"),
            );
            NonZeroUsize::new(64).unwrap()
        }
    };
    let (host, port) = match target.as_deref().map(split_host_port) {
        Some(Ok(hp)) => hp,
        Some(Err(e)) => {
            f.error("socks5", e);
            return None;
        }
        None => return None,
    };
    Some(ConnectorConfig {
        name: name.into(),
        host,
        port,
        credential,
        max_connections,
    })
}

fn split_host_port(text: &str) -> Result<(String, u16), String> {
    let bad = || format!("`{text}` is not host:port, e.g. \"proxy.example.com:1080\"");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

fn read_account(f: &mut Fields, name: &str, base: &Path) -> Option<AccountConfig> {
    let protocol = match f.choice("protocol", &["imap", "pop3"], "imap") {
        "pop3" => Protocol::Pop3,
        _ => Protocol::Imap,
    };
    if f.raw("protocol").is_none() {
        f.error(
            "protocol",
            "is required; set protocol = \"imap\" or \"pop3\"",
        );
    }
    let mut a = AccountConfig::new(name, protocol, "", "");
    read_server(f, &mut a, base);
    read_behaviour(f, &mut a);
    Some(a)
}

/// Where and how the account connects: address, port, TLS, connector, credential, timeouts.
fn read_server(f: &mut Fields, a: &mut AccountConfig, base: &Path) {
    a.tls = match f.choice("tls", &["implicit", "starttls", "none"], "implicit") {
        "starttls" => TlsMode::Starttls,
        "none" => TlsMode::None,
        _ => TlsMode::Implicit,
    };
    a.port = default_port(a.protocol, a.tls);
    a.address = f
        .required_string(
            "address",
            "set the server's host name, e.g. address = \"imap.example.com\"",
        )
        .unwrap_or_default();
    if a.address.len() > 253 {
        f.error(
            "address",
            format!(
                "is {} characters long; a host name has at most 253",
                a.address.len()
            ),
        );
    } else if a
        .address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        f.error("address", "holds a space or a control character; give the server's host name or IP address alone, e.g. \"imap.example.com\"");
    }
    a.credential = f
        .required_string("credential", "name a [credentials.NAME] table")
        .unwrap_or_default();
    if let Some(p) = f.integer("port") {
        match u16::try_from(p) {
            Ok(p) if p > 0 => a.port = p,
            _ => f.error(
                "port",
                format!(
                    "{p} is not a port; use 1-65535 (or leave it out for {})",
                    a.port
                ),
            ),
        }
    }
    a.connector = f.string("connector");
    a.skip_certificate = f.boolean("skip_certificate", false);
    a.ca_file = f.string("ca_file").map(|p| base.join(p));
    a.tls_fingerprint =
        f.string("tls_fingerprint")
            .and_then(|text| match Fingerprint::parse(&text) {
                Ok(pin) => Some(pin),
                Err(e) => {
                    f.error("tls_fingerprint", e);
                    None
                }
            });
    a.client_certificate = f.string("client_certificate").map(|p| base.join(p));
    a.client_key = f.string("client_key").map(|p| base.join(p));
    a.connect_timeout = f.duration("connect_timeout", a.connect_timeout);
    a.io_timeout = f.duration("io_timeout", a.io_timeout);
    a.check_timeout = f.duration("check_timeout", a.check_timeout);
}

/// What the account does: when it checks, what it ingests, what it leaves on the server.
fn read_behaviour(f: &mut Fields, a: &mut AccountConfig) {
    a.enabled = f.boolean("enabled", a.enabled);
    a.keep_copy = f.boolean("keep_copy", a.keep_copy);
    a.automatic_check = f.boolean("automatic_check", a.automatic_check);
    a.check_interval = f.duration("check_interval", a.check_interval);
    a.idle = f.boolean("idle", a.idle);
    if let Some(mailbox) = f.string("mailbox") {
        if a.protocol == Protocol::Pop3 {
            f.error(
                "mailbox",
                "POP3 has only one mailbox; remove `mailbox` or use protocol = \"imap\"",
            );
        } else if mailbox.is_empty() {
            f.error("mailbox", "must not be empty; e.g. \"INBOX\"");
        }
        a.mailbox = mailbox;
    }
    a.max_message_size = f.size("max_message_size", a.max_message_size);
    if f.has("keep_for") {
        a.keep_for = Some(f.duration("keep_for", std::time::Duration::from_secs(86_400)));
    }
    if f.has("keep_max") {
        a.keep_max = Some(f.size("keep_max", u64::MAX));
    }
    if let Some(n) = f.integer("max_listed") {
        match usize::try_from(n) {
            Ok(n) if n > 0 => a.max_listed = n,
            _ => f.error(
                "max_listed",
                format!("{n} is not a positive number of messages, e.g. 250000"),
            ),
        }
    }
    a.backfill = match f.choice("backfill", &["all", "new"], "all") {
        "new" => Backfill::New,
        _ => Backfill::All,
    };
}
