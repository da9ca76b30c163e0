//! The configuration: the TOML file of DESIGN.md read into checked domain types.
//!
//! Loading never stops at the first problem: [`Config::parse`] returns every error and
//! warning with the path of the key and how to fix it. Validation does no network I/O; it
//! only looks at files the config names (password files, CA files).

mod fields;
pub mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use toml::{Table, Value};

use crate::secret::{Secret, SecretSource};
use fields::{Fields, closest};

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
    #[error("cannot read config file `{path}`: {1}", path = .0.display())]
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

/// IMAP or POP3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IMAP4rev1.
    Imap,
    /// POP3.
    Pop3,
}

impl Protocol {
    /// The config spelling: `imap` or `pop3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }
}

/// "Use safe connection" and "Secure connection type".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// SSL: TLS from the first byte (993, 995).
    Implicit,
    /// TLS: plain greeting, then STARTTLS / STLS (143, 110).
    Starttls,
    /// No encryption at all.
    None,
}

impl TlsMode {
    /// The config spelling: `implicit`, `starttls` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Implicit => "implicit",
            TlsMode::Starttls => "starttls",
            TlsMode::None => "none",
        }
    }
}

/// What the first check of an account ingests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backfill {
    /// Everything already on the server.
    All,
    /// Only mail that arrives after the first check.
    New,
}

/// `[store]`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// The redb file (absolute: resolved against the config file's folder).
    pub path: PathBuf,
}

/// `[http]`.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/health` and `/api/`.
    pub listen: SocketAddr,
    /// Bearer token required on `/api/` when set.
    pub token: Option<SecretSource>,
}

/// `[credentials.NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    /// The login name.
    pub username: String,
    /// Where the password comes from.
    pub password: SecretSource,
}

/// `[connectors.NAME]`: a SOCKS5 proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorConfig {
    /// The table's name: the identity used in reports, metrics and the API.
    pub name: String,
    /// The proxy's host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Name of the credential for SOCKS5 username/password authentication.
    pub credential: Option<String>,
    /// Most connections through the proxy at once.
    pub max_connections: NonZeroUsize,
}

/// `[accounts.NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountConfig {
    /// The table's name: the identity used in reports, metrics and the API.
    pub name: String,
    /// "Enabled": false keeps the account in the reports but never connects.
    pub enabled: bool,
    /// "Protocol": IMAP or POP3.
    pub protocol: Protocol,
    /// "Address": the server's host name (also the TLS server name).
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Name of the `[credentials.NAME]` to log in with.
    pub credential: String,
    /// Name of the `[connectors.NAME]` to route through; direct when `None`.
    pub connector: Option<String>,
    /// "Use safe connection" and "Secure connection type".
    pub tls: TlsMode,
    /// "Skip certificate": accept any server certificate (warned and exported as a metric).
    pub skip_certificate: bool,
    /// A PEM file of extra trusted CAs.
    pub ca_file: Option<PathBuf>,
    /// "Keep copy in server": false deletes each message after it is durably stored.
    pub keep_copy: bool,
    /// "Automatic check": checked every `check_interval` (else only on demand).
    pub automatic_check: bool,
    /// Time between automatic checks (with IDLE: the resync period).
    pub check_interval: Duration,
    /// IMAP: wait in IDLE between checks when the server offers it.
    pub idle: bool,
    /// IMAP mailbox to ingest.
    pub mailbox: String,
    /// Larger messages stay on the server, counted as oversize.
    pub max_message_size: u64,
    /// What the first check ingests.
    pub backfill: Backfill,
    /// Bound on TCP connect, proxy handshake, TLS handshake and greeting.
    pub connect_timeout: Duration,
    /// No byte from the server for this long means the connection is dead.
    pub io_timeout: Duration,
}

impl AccountConfig {
    /// An account with every default of DESIGN.md; `port` follows protocol and TLS.
    pub fn new(name: &str, protocol: Protocol, address: &str, credential: &str) -> Self {
        AccountConfig {
            name: name.into(),
            enabled: true,
            protocol,
            address: address.into(),
            port: default_port(protocol, TlsMode::Implicit),
            credential: credential.into(),
            connector: None,
            tls: TlsMode::Implicit,
            skip_certificate: false,
            ca_file: None,
            keep_copy: true,
            automatic_check: true,
            check_interval: Duration::from_secs(60),
            idle: true,
            mailbox: "INBOX".into(),
            max_message_size: 50 << 20,
            backfill: Backfill::All,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(120),
        }
    }

    /// True when the connection is not protected by a verified TLS certificate.
    pub fn insecure(&self) -> bool {
        self.skip_certificate || self.tls == TlsMode::None
    }
}

/// The default port for a protocol and TLS mode: 993/143, 995/110.
pub fn default_port(protocol: Protocol, tls: TlsMode) -> u16 {
    match (protocol, tls) {
        (Protocol::Imap, TlsMode::Implicit) => 993,
        (Protocol::Imap, _) => 143,
        (Protocol::Pop3, TlsMode::Implicit) => 995,
        (Protocol::Pop3, _) => 110,
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `[store]`.
    pub store: StoreConfig,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[credentials.*]` by name.
    pub credentials: BTreeMap<String, Credential>,
    /// `[connectors.*]` by name.
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// `[accounts.*]` by name.
    pub accounts: BTreeMap<String, AccountConfig>,
}

/// A config that loaded, with the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The checked config.
    pub config: Config,
    /// Problems that do not stop the config from loading.
    pub warnings: Issues,
}

impl Config {
    /// An empty config storing at `store_path`: add credentials, connectors and accounts
    /// in code, then [`Config::validate`].
    pub fn new(store_path: impl Into<PathBuf>) -> Self {
        Config {
            store: StoreConfig {
                path: store_path.into(),
            },
            http: HttpConfig {
                listen: default_listen(),
                token: None,
            },
            credentials: BTreeMap::new(),
            connectors: BTreeMap::new(),
            accounts: BTreeMap::new(),
        }
    }

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

    /// Adds a credential (builder style, for configs made in code).
    pub fn with_credential(mut self, name: &str, username: &str, password: SecretSource) -> Self {
        self.credentials.insert(
            name.into(),
            Credential {
                username: username.into(),
                password,
            },
        );
        self
    }

    /// Adds a SOCKS5 connector.
    pub fn with_connector(mut self, connector: ConnectorConfig) -> Self {
        self.connectors.insert(connector.name.clone(), connector);
        self
    }

    /// Adds an account.
    pub fn with_account(mut self, account: AccountConfig) -> Self {
        self.accounts.insert(account.name.clone(), account);
        self
    }

    /// "unknown account `NAME` (known: a, b)": the one wording for a name that is not configured.
    pub fn unknown_account(&self, name: &str) -> String {
        let known: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        format!(
            "unknown account `{name}` (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    }

    /// The enabled accounts.
    pub fn enabled_accounts(&self) -> impl Iterator<Item = &AccountConfig> {
        self.accounts.values().filter(|a| a.enabled)
    }

    /// The password of an account's credential, read now.
    pub fn password_of(&self, credential: &str) -> Result<(String, Secret), String> {
        let cred = self
            .credentials
            .get(credential)
            .ok_or_else(|| format!("unknown credential `{credential}`"))?;
        let secret = cred
            .password
            .resolve()
            .map_err(|e| format!("credentials.{credential}.password: {e}"))?;
        Ok((cred.username.clone(), secret))
    }
}

fn line_of(text: &str, offset: usize) -> String {
    let line = text[..offset.min(text.len())].matches('\n').count() + 1;
    format!("line {line}")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9898))
}

fn read_config(table: &Table, base: &Path, issues: &mut Issues) -> Config {
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
    f.finish();
    HttpConfig { listen, token }
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

fn check_name(name: &str, section: &str, issues: &mut Issues) {
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

fn read_secret(f: &mut Fields, key: &'static str, base: &Path) -> Option<SecretSource> {
    let value = f.raw(key)?;
    let Some(t) = value.as_table() else {
        f.error(
            key,
            "expected { env = \"VAR\" }, { file = \"path\" } or { value = \"...\" }",
        );
        return None;
    };
    let pairs: Vec<(&String, &Value)> = t.iter().collect();
    let source = match pairs.as_slice() {
        [(k, Value::String(v))] if k.as_str() == "env" => SecretSource::Env(v.clone()),
        [(k, Value::String(v))] if k.as_str() == "file" => SecretSource::File(base.join(v)),
        [(k, Value::String(v))] if k.as_str() == "value" => {
            SecretSource::Value(Secret::new(v.clone()))
        }
        _ => {
            f.error(key, "expected exactly one of { env = \"VAR\" }, { file = \"path\" } or { value = \"...\" }");
            return None;
        }
    };
    check_secret_source(f, key, &source);
    Some(source)
}

fn check_secret_source(f: &mut Fields, key: &str, source: &SecretSource) {
    match source {
        SecretSource::Env(var) if std::env::var_os(var).is_none() => {
            f.warning(key, format!("environment variable `{var}` is not set; accounts using it will fail until it is"));
        }
        SecretSource::File(path) => match std::fs::metadata(path) {
            Err(_) => f.warning(
                key,
                format!(
                    "file `{}` does not exist; accounts using it will fail until it does",
                    path.display()
                ),
            ),
            Ok(meta) => {
                use std::os::unix::fs::PermissionsExt;
                if meta.permissions().mode() & 0o077 != 0 {
                    f.warning(
                        key,
                        format!(
                            "file `{}` is readable by others; chmod 600 it",
                            path.display()
                        ),
                    );
                }
            }
        },
        _ => {}
    }
}

fn read_credential(f: &mut Fields, _name: &str, base: &Path) -> Option<Credential> {
    let username = f.required_string("username", "set the login name");
    let password = read_secret(f, "password", base);
    if password.is_none() && f.raw("password").is_none() {
        f.error(
            "password",
            "is required; e.g. password = { env = \"MY_PASSWORD\" }",
        );
    }
    Some(Credential {
        username: username?,
        password: password?,
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
    let tls = match f.choice("tls", &["implicit", "starttls", "none"], "implicit") {
        "starttls" => TlsMode::Starttls,
        "none" => TlsMode::None,
        _ => TlsMode::Implicit,
    };
    let mut a = AccountConfig::new(name, protocol, "", "");
    a.tls = tls;
    a.port = default_port(protocol, tls);
    a.address = f
        .required_string(
            "address",
            "set the server's host name, e.g. address = \"imap.example.com\"",
        )
        .unwrap_or_default();
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
    a.enabled = f.boolean("enabled", a.enabled);
    a.connector = f.string("connector");
    a.skip_certificate = f.boolean("skip_certificate", false);
    a.ca_file = f.string("ca_file").map(|p| base.join(p));
    a.keep_copy = f.boolean("keep_copy", a.keep_copy);
    a.automatic_check = f.boolean("automatic_check", a.automatic_check);
    a.check_interval = f.duration("check_interval", a.check_interval);
    a.idle = f.boolean("idle", a.idle);
    if let Some(mailbox) = f.string("mailbox") {
        if protocol == Protocol::Pop3 {
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
    a.backfill = match f.choice("backfill", &["all", "new"], "all") {
        "new" => Backfill::New,
        _ => Backfill::All,
    };
    a.connect_timeout = f.duration("connect_timeout", a.connect_timeout);
    a.io_timeout = f.duration("io_timeout", a.io_timeout);
    Some(a)
}

/// Checks references between sections and the per-account warnings.
fn cross_check(config: &Config, issues: &mut Issues) {
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

#[cfg(test)]
mod tests;
