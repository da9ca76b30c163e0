//! A small HTTP/1.1 client for the CLI to ask a running daemon (whose address is in
//! `<store path>.addr`) instead of opening the store it holds.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use crate::secret::Secret;

/// The file beside the store that holds the daemon's bound HTTP address.
pub fn addr_file(store_path: &Path) -> PathBuf {
    let mut name = store_path.as_os_str().to_owned();
    name.push(".addr");
    PathBuf::from(name)
}

/// Why asking the daemon failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The address file beside the store could not be read.
    #[error("the store is in use, but the daemon's address file `{path}` cannot be read", path = .0.display())]
    AddrFile(PathBuf, #[source] std::io::Error),
    /// No HTTP exchange with the daemon.
    #[error("cannot reach the daemon at {0}")]
    Unreachable(String, #[source] Box<dyn std::error::Error + Send + Sync>),
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
    /// The daemon's HTTP address.
    pub addr: String,
    /// The API token, when the config sets one.
    pub token: Option<Secret>,
}

impl DaemonClient {
    /// The daemon that holds `store_path`, from its address file.
    pub fn find(store_path: &Path, token: Option<Secret>) -> Result<Self, DaemonError> {
        let file = addr_file(store_path);
        let addr = std::fs::read_to_string(&file).map_err(|e| DaemonError::AddrFile(file, e))?;
        Ok(DaemonClient {
            addr: addr.trim().to_string(),
            token,
        })
    }

    /// Sends a request; returns the body of a successful answer.
    pub async fn request(&self, method: Method, path: &str) -> Result<Bytes, DaemonError> {
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| {
            DaemonError::Unreachable(self.addr.clone(), e)
        };
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| unreachable(e.into()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| unreachable(e.into()))?;
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
            .map_err(|e| unreachable(e.into()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.into()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.into()))?
            .to_bytes();
        if !status.is_success() {
            return Err(DaemonError::Status {
                status,
                message: error_message(&body),
            });
        }
        Ok(body)
    }

    /// Sends a request and reads its JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, DaemonError> {
        let body = self.request(method, path).await?;
        serde_json::from_slice(&body).map_err(DaemonError::BadAnswer)
    }
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
