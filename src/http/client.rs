//! A small HTTP/1.1 client for the CLI to ask a running daemon (whose address is in
//! `<store path>.addr`) instead of opening the store it holds.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::secret::Secret;

/// The file beside the store that holds the daemon's bound HTTP address.
pub fn addr_file(store_path: &Path) -> PathBuf {
    let mut name = store_path.as_os_str().to_owned();
    name.push(".addr");
    PathBuf::from(name)
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
    pub fn find(store_path: &Path, token: Option<Secret>) -> Result<Self, String> {
        let file = addr_file(store_path);
        let addr = std::fs::read_to_string(&file).map_err(|e| {
            format!(
                "the store is in use, but the daemon's address file `{}` cannot be read: {e}",
                file.display()
            )
        })?;
        Ok(DaemonClient {
            addr: addr.trim().to_string(),
            token,
        })
    }

    /// Sends a request; returns the status and body.
    pub async fn request(&self, method: Method, path: &str) -> Result<(StatusCode, Bytes), String> {
        let fail =
            |e: &dyn std::fmt::Display| format!("cannot reach the daemon at {}: {e}", self.addr);
        let tcp = TcpStream::connect(&self.addr).await.map_err(|e| fail(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| fail(&e))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {}", t.expose()));
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|e| fail(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| fail(&e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(&e))?
            .to_bytes();
        Ok((status, body))
    }
}
