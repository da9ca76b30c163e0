//! Reaching a server: TCP directly or through a SOCKS5 connector, then TLS.
//!
//! Every step up to the greeting is bounded by `connect_timeout`; after that each wait for
//! the server is bounded by `io_timeout` (see [`timed`]). STARTTLS happens later, in the
//! protocol code, with [`starttls`].

pub mod readahead;
pub mod socks;
pub mod timed;
pub mod tls;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::{AccountConfig, TlsMode};
use crate::error::{CheckError, Stage, describe_io};
pub use readahead::ReadAhead;
pub use socks::{ConnectorHandle, SocksTarget};
pub use timed::{ANSWER_BUDGET, Timed};
pub use tls::{CertificateAsked, Trust};

/// Any byte stream a mail session runs over (plain or TLS, direct or tunnelled).
pub trait MailStream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> MailStream for T {}

/// A boxed [`MailStream`].
pub type BoxStream = Box<dyn MailStream>;

/// Opens the account's connection: TCP (direct or via `connector`), then TLS when the
/// account uses implicit TLS. Waits are bounded by `connect_timeout` until the caller
/// switches to `io_timeout` with [`Timed::set_limit`] after the greeting.
pub async fn open(
    account: &AccountConfig,
    connector: Option<&ConnectorHandle>,
) -> Result<Timed<BoxStream>, CheckError> {
    let limit = account.connect_timeout;
    let (tcp, permit) = match connector {
        Some(c) => c.connect(&account.address, account.port, limit).await?,
        None => (direct(&account.address, account.port, limit).await?, None),
    };
    if account.tls != TlsMode::Implicit {
        return Ok(Timed::new(Box::new(tcp), limit, permit));
    }
    let (tls, asked) = handshake(Box::new(tcp), account).await?;
    let mut stream = Timed::new(Box::new(tls) as BoxStream, limit, permit);
    stream.note_tls(asked);
    Ok(stream)
}

/// STARTTLS / STLS: runs the TLS handshake over a connection that has just agreed to it.
pub async fn starttls(
    stream: Timed<BoxStream>,
    account: &AccountConfig,
) -> Result<Timed<BoxStream>, CheckError> {
    let (plain, permit) = stream.into_parts();
    let (tls, asked) = handshake(plain, account).await?;
    let mut stream = Timed::new(Box::new(tls) as BoxStream, account.connect_timeout, permit);
    stream.note_tls(asked);
    Ok(stream)
}

/// Connects TCP directly, within `limit`, with Nagle off.
pub async fn direct(host: &str, port: u16, limit: Duration) -> Result<TcpStream, CheckError> {
    let target = format!("{host}:{port}");
    let tcp = tokio::time::timeout(limit, TcpStream::connect(&target))
        .await
        .map_err(|_| {
            CheckError::new(
                Stage::Connect,
                format!(
                    "cannot connect to {target}: timed out after {}",
                    humantime::format_duration(limit)
                ),
            )
        })?
        .map_err(|e| {
            CheckError::new(
                Stage::Connect,
                format!("cannot connect to {target}: {}", describe_io(&e)),
            )
        })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Runs the TLS handshake with the account's server on `stream`, within `connect_timeout`.
async fn handshake(
    stream: BoxStream,
    account: &AccountConfig,
) -> Result<(TlsStream<BoxStream>, Arc<CertificateAsked>), CheckError> {
    if account.skip_certificate {
        tracing::warn!(account = %account.name, "skip_certificate = true: the server's certificate is not verified");
    }
    tls_handshake(
        stream,
        &Trust::of(account),
        &account.address,
        account.connect_timeout,
    )
    .await
    .map_err(|e| CheckError::new(Stage::Tls, e))
}

/// Runs a TLS handshake with `host` on `stream` as `trust` says, within `limit`; with what
/// it noted about client certificates. The error in words (what to change, when it is a
/// certificate problem).
pub async fn tls_handshake(
    stream: BoxStream,
    trust: &Trust,
    host: &str,
    limit: Duration,
) -> Result<(TlsStream<BoxStream>, Arc<CertificateAsked>), String> {
    let (connector, asked) = trust.connector()?;
    let name = tls::server_name(host)?;
    // rustls reads the socket 4 KiB at a time; read ahead in larger pieces below it.
    let stream: BoxStream = Box::new(ReadAhead::new(stream));
    tokio::time::timeout(limit, connector.connect(name, stream))
        .await
        .map_err(|_| format!("TLS handshake with {host} timed out"))?
        .map_err(|e| format!("TLS handshake with {host} failed: {}", tls_cause(&e, trust)))
        .map(|tls| (tls, asked))
}

fn tls_cause(e: &std::io::Error, trust: &Trust) -> String {
    let text = e
        .get_ref()
        .map(|inner| inner.to_string())
        .unwrap_or_else(|| describe_io(e));
    let unknown = text.contains("UnknownIssuer") || text.contains("invalid peer certificate");
    if unknown && trust.fingerprint.is_none() {
        format!(
            "{text} (trust its CA with ca_file, pin it with tls_fingerprint, or set skip_certificate = true)"
        )
    } else if text.contains("CertificateRequired") || text.contains("certificate required") {
        format!(
            "{text} (the server wants a client certificate: set client_certificate and client_key)"
        )
    } else {
        text
    }
}
