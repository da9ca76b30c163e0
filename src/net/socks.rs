//! Network connectors: the SOCKS5 tunnel and the per-connector connection limit.
//!
//! The target host name is passed to the proxy unresolved (the proxy's DNS decides).
//! Handshake and request run under one `connect_timeout`.

use std::sync::Arc;
use std::time::Duration;

use fast_socks5::client::{Config as SocksConfig, Socks5Stream};
use fast_socks5::util::target_addr::TargetAddr;
use fast_socks5::{AuthenticationMethod, Socks5Command, SocksError};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Config, ConnectorConfig, Credential, Login};
use crate::error::{CheckError, Stage, chain};

/// Where a connector's proxy is and how to log in to it.
#[derive(Clone, Debug)]
pub struct SocksTarget {
    /// The connector's name.
    pub name: String,
    /// The proxy's host.
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// The credential for SOCKS5 username/password authentication (its name and where its
    /// password comes from, read at every connection), when the connector has one.
    pub credential: Option<(String, Credential)>,
}

impl SocksTarget {
    /// The SOCKS5 login, its password read now.
    async fn login(&self) -> Result<Option<Login>, CheckError> {
        let Some((name, credential)) = &self.credential else {
            return Ok(None);
        };
        credential
            .password_login(name)
            .await
            .map(Some)
            .map_err(|e| {
                CheckError::new(
                    Stage::Proxy,
                    format!("connector `{}`: {}", self.name, chain(&e)),
                )
            })
    }
}

/// A cloneable handle on one connector: its proxy and its connection limit.
#[derive(Clone, Debug)]
pub struct ConnectorHandle {
    /// Where the proxy is.
    pub target: Arc<SocksTarget>,
    limit: Arc<Semaphore>,
}

impl ConnectorHandle {
    /// A handle for `config`, logging in with `credential` (name and settings) when given.
    pub fn new(config: &ConnectorConfig, credential: Option<(String, Credential)>) -> Self {
        ConnectorHandle {
            target: Arc::new(SocksTarget {
                name: config.name.clone(),
                host: config.host.clone(),
                port: config.port,
                credential,
            }),
            limit: Arc::new(Semaphore::new(config.max_connections.get())),
        }
    }

    /// A handle for connector `c` of `config`, with its credential.
    pub fn of(config: &Config, c: &ConnectorConfig) -> Self {
        let credential = c.credential.as_ref().and_then(|name| {
            config
                .credentials
                .get(name)
                .map(|cred| (name.clone(), cred.clone()))
        });
        ConnectorHandle::new(c, credential)
    }

    /// True when both handles count against the same `max_connections`.
    pub fn same_limit(&self, other: &ConnectorHandle) -> bool {
        Arc::ptr_eq(&self.limit, &other.limit)
    }

    /// Opens a tunnel to `host:port`, waiting for a free place under `max_connections`.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        limit: Duration,
    ) -> Result<(TcpStream, Option<OwnedSemaphorePermit>), CheckError> {
        let permit = tokio::time::timeout(limit, self.limit.clone().acquire_owned())
            .await
            .map_err(|_| {
                CheckError::new(
                    Stage::Proxy,
                    format!(
                        "connector `{}` is at max_connections; no place within {}",
                        self.target.name,
                        humantime::format_duration(limit)
                    ),
                )
            })?
            .map_err(|_| {
                CheckError::new(
                    Stage::Proxy,
                    format!("connector `{}` is closed", self.target.name),
                )
            })?;
        let result = tunnel(&self.target, host, port, limit).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!(crate::metrics::CONNECTOR_CONNECTIONS, "connector" => self.target.name.clone(), "outcome" => outcome).increment(1);
        Ok((result?, Some(permit)))
    }
}

async fn tunnel(
    proxy: &SocksTarget,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, CheckError> {
    let name = &proxy.name;
    let work = async {
        let tcp = TcpStream::connect((proxy.host.as_str(), proxy.port))
            .await
            .map_err(|e| {
                CheckError::new(
                    Stage::Proxy,
                    format!(
                        "cannot reach connector `{name}` at {}:{}: {}",
                        proxy.host,
                        proxy.port,
                        crate::error::describe_io(&e)
                    ),
                )
            })?;
        let _ = tcp.set_nodelay(true);
        let auth = proxy
            .login()
            .await?
            .map(|login| AuthenticationMethod::Password {
                username: login.username,
                password: login.password.expose().to_string(),
            });
        let mut socks = Socks5Stream::use_stream(tcp, auth, SocksConfig::default())
            .await
            .map_err(|e| socks_error(name, e))?;
        socks
            .request(
                Socks5Command::TCPConnect,
                TargetAddr::Domain(host.to_string(), port),
            )
            .await
            .map_err(|e| socks_error(name, e))?;
        Ok(socks.get_socket())
    };
    tokio::time::timeout(limit, work).await.map_err(|_| {
        CheckError::new(
            Stage::Proxy,
            format!(
                "connector `{name}`: no tunnel to {host}:{port} within {}",
                humantime::format_duration(limit)
            ),
        )
    })?
}

/// Words for a SOCKS failure; never the credentials.
fn socks_error(name: &str, e: SocksError) -> CheckError {
    let what = match e {
        SocksError::AuthenticationRejected(_) => {
            "the proxy rejected the username/password (check the connector's credential)"
                .to_string()
        }
        SocksError::AuthMethodUnacceptable(_) => {
            "the proxy accepts none of our authentication methods (does it need a credential?)"
                .to_string()
        }
        SocksError::Io(io) => crate::error::describe_io(&io),
        other => other.to_string(),
    };
    CheckError::new(Stage::Proxy, format!("connector `{name}`: {what}"))
}
