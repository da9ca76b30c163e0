//! A small HTTP/1.1 client for the CLI to ask a running daemon (whose address is in
//! `<store path>.addr`) instead of opening the store it holds. It sends the token only to
//! this machine (a loopback address), and gives up on a daemon that does not answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use super::files::addr_file;
use crate::secret::Secret;

/// Longest wait for the daemon to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the answer to a report request.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why asking the daemon failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The address file beside the store could not be read.
    #[error("the store is in use, but the daemon's address file `{path}` cannot be read", path = .0.display())]
    AddrFile(PathBuf, #[source] std::io::Error),
    /// The address file names something else than this machine's loopback.
    #[error("the daemon's address file `{path}` names `{1}`, which is not a loopback address; the CLI sends its token only to this machine", path = .0.display())]
    NotLoopback(PathBuf, String),
    /// No HTTP exchange with the daemon.
    #[error("cannot reach the daemon at {0}")]
    Unreachable(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    /// No answer in time.
    #[error("the daemon at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The daemon answered with an error status; `message` is its `{"error": ...}` text.
    #[error("the daemon answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// What the daemon said.
        message: String,
    },
    /// The daemon's answer is not the JSON expected.
    #[error("bad answer from the daemon")]
    BadAnswer(#[source] serde_json::Error),
}

/// A running daemon's API.
pub struct DaemonClient {
    /// The daemon's HTTP address (loopback).
    pub addr: String,
    /// The API token.
    pub token: Option<Secret>,
}

impl DaemonClient {
    /// The daemon that holds `store_path`, from its address file: a loopback address (an
    /// unspecified one, `0.0.0.0:PORT`, is reached on loopback), nothing else.
    pub fn find(store_path: &Path, token: Option<Secret>) -> Result<Self, DaemonError> {
        let file = addr_file(store_path);
        let text =
            std::fs::read_to_string(&file).map_err(|e| DaemonError::AddrFile(file.clone(), e))?;
        let addr = loopback(text.trim())
            .ok_or_else(|| DaemonError::NotLoopback(file, crate::text::excerpt(text.trim())))?;
        Ok(DaemonClient {
            addr: addr.to_string(),
            token,
        })
    }

    /// Sends a request; returns the body of a successful answer. `answer_within` bounds the
    /// wait for the whole answer (`None`: a check, which takes as long as it takes).
    pub async fn request_within(
        &self,
        method: Method,
        path: &str,
        answer_within: Option<Duration>,
    ) -> Result<Bytes, DaemonError> {
        let exchange = self.exchange(method, path);
        match answer_within {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .map_err(|_| DaemonError::Timeout(self.addr.clone(), limit))?,
            None => exchange.await,
        }
    }

    /// Sends a request and waits up to [`REPORT_TIMEOUT`] for its answer.
    pub async fn request(&self, method: Method, path: &str) -> Result<Bytes, DaemonError> {
        self.request_within(method, path, Some(REPORT_TIMEOUT))
            .await
    }

    /// Sends a request and reads its JSON answer (see [`DaemonClient::request_within`]).
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        answer_within: Option<Duration>,
    ) -> Result<T, DaemonError> {
        let body = self.request_within(method, path, answer_within).await?;
        serde_json::from_slice(&body).map_err(DaemonError::BadAnswer)
    }

    /// Sends a request and writes the body of a successful answer into `out`, as it comes
    /// (memory stays flat however large it is). Returns the bytes written. No limit on the
    /// time the answer takes.
    pub async fn download(
        &self,
        method: Method,
        path: &str,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<u64, DaemonError> {
        use tokio::io::AsyncWriteExt;
        let resp = self.send(method, path).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let body = body
                .collect()
                .await
                .map_err(|e| self.unreachable(e.into()))?
                .to_bytes();
            return Err(DaemonError::Status {
                status,
                message: error_message(&body),
            });
        }
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.unreachable(e.into()))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data)
                    .await
                    .map_err(|e| self.unreachable(e.into()))?;
                written += data.len() as u64;
            }
        }
        out.flush().await.map_err(|e| self.unreachable(e.into()))?;
        Ok(written)
    }

    fn unreachable(&self, e: Box<dyn std::error::Error + Send + Sync>) -> DaemonError {
        DaemonError::Unreachable(self.addr.clone(), e)
    }

    async fn exchange(&self, method: Method, path: &str) -> Result<Bytes, DaemonError> {
        let resp = self.send(method, path).await?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e.into()))?
            .to_bytes();
        if !status.is_success() {
            return Err(DaemonError::Status {
                status,
                message: error_message(&body),
            });
        }
        Ok(body)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>, DaemonError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| DaemonError::Timeout(self.addr.clone(), CONNECT_TIMEOUT))?
            .map_err(|e| self.unreachable(e.into()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| self.unreachable(e.into()))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {}", t.expose()));
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| self.unreachable(e.into()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| self.unreachable(e.into()))
    }
}

/// The loopback address to reach a daemon bound to `text`, if that is this machine.
fn loopback(text: &str) -> Option<SocketAddr> {
    let addr: SocketAddr = text.parse().ok()?;
    if addr.ip().is_loopback() {
        return Some(addr);
    }
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => return None,
    };
    Some(SocketAddr::new(ip, addr.port()))
}

/// The text of an `{"error": "..."}` answer, or the body as it came.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_this_machine() {
        assert_eq!(
            loopback("127.0.0.1:9898").unwrap().to_string(),
            "127.0.0.1:9898"
        );
        assert_eq!(
            loopback("0.0.0.0:9898").unwrap().to_string(),
            "127.0.0.1:9898"
        );
        assert_eq!(loopback("[::]:9898").unwrap().to_string(), "[::1]:9898");
        assert!(loopback("192.0.2.1:9898").is_none());
        assert!(loopback("evil.example:9898").is_none());
    }
}
