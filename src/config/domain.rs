//! The configuration's domain types: what each section of the file means once checked
//! (durations, enums, resolved paths, non-zero limits), and the [`Config`] built from them,
//! in code or by the reader.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::fingerprint::Fingerprint;
pub use super::oauth2::{Grant, Mechanism, OAuth2Config, TokenEndpoint, TokenUrl};
use crate::secret::{Secret, SecretError, SecretSource};

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
    /// The bearer token `/api/` requires; without one the daemon makes one beside the store.
    pub token: Option<SecretSource>,
    /// Host names (besides IP addresses and `localhost`) requests may address it by.
    pub allowed_hosts: Vec<String>,
}

/// `[credentials.NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    /// The login name (with OAuth2: the mailbox, the SASL user).
    pub username: String,
    /// How it proves itself.
    pub auth: CredentialAuth,
}

/// How a credential proves itself: `password`, or an `[credentials.NAME.oauth2]` table.
#[derive(Clone, Debug, PartialEq)]
pub enum CredentialAuth {
    /// A password (IMAP LOGIN, POP3 USER/PASS, SOCKS5 username/password).
    Password(SecretSource),
    /// An OAuth2 access token, sent with SASL XOAUTH2 or OAUTHBEARER.
    OAuth2(Box<OAuth2Config>),
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
    /// A PEM file of extra trusted CAs (besides the system's trust store).
    pub ca_file: Option<PathBuf>,
    /// Trust only the server certificate of this SHA-256 fingerprint (names and chains are
    /// then not checked).
    pub tls_fingerprint: Option<Fingerprint>,
    /// A PEM client certificate (chain) presented to the server, with `client_key`.
    pub client_certificate: Option<PathBuf>,
    /// The PEM private key of `client_certificate`.
    pub client_key: Option<PathBuf>,
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
    /// Longest a whole check may take; what it stored is kept when it is stopped.
    pub check_timeout: Duration,
    /// Most messages one check lists (and so holds in memory); a larger mailbox is taken in
    /// several checks.
    pub max_listed: usize,
    /// Retention: messages received longer ago than this leave the store (kept forever
    /// when `None`).
    pub keep_for: Option<Duration>,
    /// Retention: the oldest messages leave the store while the account holds more raw
    /// bytes than this (no limit when `None`).
    pub keep_max: Option<u64>,
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
            tls_fingerprint: None,
            client_certificate: None,
            client_key: None,
            keep_copy: true,
            automatic_check: true,
            check_interval: Duration::from_secs(60),
            idle: true,
            mailbox: "INBOX".into(),
            max_message_size: 50 << 20,
            backfill: Backfill::All,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(120),
            check_timeout: Duration::from_secs(3600),
            max_listed: crate::protocol::MAX_LISTED,
            keep_for: None,
            keep_max: None,
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
                allowed_hosts: Vec::new(),
            },
            credentials: BTreeMap::new(),
            connectors: BTreeMap::new(),
            accounts: BTreeMap::new(),
        }
    }

    /// Adds a credential (builder style, for configs made in code).
    pub fn with_credential(mut self, name: &str, username: &str, password: SecretSource) -> Self {
        self.credentials.insert(
            name.into(),
            Credential {
                username: username.into(),
                auth: CredentialAuth::Password(password),
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

    /// Adds a credential that logs in with OAuth2 (builder style).
    pub fn with_oauth2_credential(
        mut self,
        name: &str,
        username: &str,
        oauth2: OAuth2Config,
    ) -> Self {
        self.credentials.insert(
            name.into(),
            Credential {
                username: username.into(),
                auth: CredentialAuth::OAuth2(Box::new(oauth2)),
            },
        );
        self
    }
}

/// Everything one account's work depends on: its table, its credential (with the connector
/// its token endpoint is reached through), and its connector with that connector's
/// credential. Equal settings in two configs are the same account; a reload restarts an
/// account only when they differ. Secrets compare by their source (a password in the config
/// by its value): file and environment secrets are read at every connection, so a rotated
/// file needs no restart.
#[derive(Debug, PartialEq)]
pub struct AccountSettings<'a> {
    account: &'a AccountConfig,
    credential: Option<CredentialSettings<'a>>,
    connector: Option<ConnectorSettings<'a>>,
}

/// Everything a connector's tunnels depend on: its table and its credential.
#[derive(Debug, PartialEq)]
pub struct ConnectorSettings<'a> {
    connector: &'a ConnectorConfig,
    credential: Option<&'a Credential>,
}

/// Everything a credential's logins depend on: its table and, for OAuth2, the connector
/// its token endpoint is reached through.
#[derive(Debug, PartialEq)]
pub struct CredentialSettings<'a> {
    credential: &'a Credential,
    endpoint_connector: Option<ConnectorSettings<'a>>,
}

impl Config {
    /// The settings account `name` runs with, if it is configured.
    pub fn account_settings(&self, name: &str) -> Option<AccountSettings<'_>> {
        let account = self.accounts.get(name)?;
        Some(AccountSettings {
            account,
            credential: self.credential_settings(&account.credential),
            connector: account
                .connector
                .as_deref()
                .and_then(|c| self.connector_settings(c)),
        })
    }

    /// The settings connector `name` runs with, if it is configured.
    pub fn connector_settings(&self, name: &str) -> Option<ConnectorSettings<'_>> {
        let connector = self.connectors.get(name)?;
        Some(ConnectorSettings {
            connector,
            credential: connector
                .credential
                .as_ref()
                .and_then(|c| self.credentials.get(c)),
        })
    }

    /// The settings credential `name` logs in with, if it is configured.
    pub fn credential_settings(&self, name: &str) -> Option<CredentialSettings<'_>> {
        let credential = self.credentials.get(name)?;
        Some(CredentialSettings {
            credential,
            endpoint_connector: credential
                .oauth2()
                .and_then(|o| o.grant.endpoint())
                .and_then(|e| e.connector.as_deref())
                .and_then(|c| self.connector_settings(c)),
        })
    }
}

/// A credential with its secret read: what a LOGIN or a SOCKS5 authentication sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The login name.
    pub username: String,
    /// The password (redacted in `Debug`).
    pub password: Secret,
}

impl Credential {
    /// The username and password of credential `name`, its password read now.
    pub async fn password_login(&self, name: &str) -> Result<Login, CredentialError> {
        let CredentialAuth::Password(source) = &self.auth else {
            return Err(CredentialError::NotPassword(name.to_string()));
        };
        Ok(Login {
            username: self.username.clone(),
            password: source
                .resolve()
                .await
                .map_err(|e| CredentialError::Secret(name.to_string(), e))?,
        })
    }

    /// The OAuth2 settings, when the credential uses OAuth2.
    pub fn oauth2(&self) -> Option<&OAuth2Config> {
        match &self.auth {
            CredentialAuth::OAuth2(o) => Some(o),
            CredentialAuth::Password(_) => None,
        }
    }
}

/// Why a credential's login could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// No `[credentials.NAME]` of that name.
    #[error("unknown credential `{0}`")]
    Unknown(String),
    /// Its secret could not be read.
    #[error("cannot read the password of credentials.{0}")]
    Secret(String, #[source] SecretError),
    /// A password was needed (a SOCKS5 proxy) but the credential uses OAuth2.
    #[error("credentials.{0} uses oauth2, but a password is needed here")]
    NotPassword(String),
}

/// The address of `/metrics`, `/health` and `/api/` unless `[http] listen` says otherwise.
pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9898))
}
