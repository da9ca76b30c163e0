//! Where the report and check commands get their answers: the store file itself, or, when
//! a running daemon holds it, that daemon's API (found through `<store path>.addr`).

use anyhow::Context;
use mail_ingest::config::Config;
use mail_ingest::http::client::DaemonClient;
use mail_ingest::http::files::{read_token, token_file};
use mail_ingest::store::{Store, StoreError};

/// The store, opened for this command, or the daemon that holds it.
pub enum Source {
    /// The store file (`None` when nothing was stored yet).
    Store(Option<Store>),
    /// The running daemon.
    Daemon(DaemonClient),
}

impl Source {
    /// Opens the store, or finds the daemon when the store is in use.
    pub async fn open(config: &Config) -> anyhow::Result<Source> {
        match open_store(config) {
            Ok(store) => Ok(Source::Store(store)),
            Err(StoreError::InUse(_)) => daemon(config).await.map(Source::Daemon),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens the store for reading when it exists; `Ok(None)` when nothing was stored yet.
pub fn open_store(config: &Config) -> Result<Option<Store>, StoreError> {
    if !config.store.path.exists() {
        return Ok(None);
    }
    Store::open(&config.store.path).map(Some)
}

/// The client for the daemon that holds the store, with the API token: the configured
/// one, or the one the daemon made beside the store.
pub async fn daemon(config: &Config) -> anyhow::Result<DaemonClient> {
    let token = match &config.http.token {
        Some(src) => Some(src.resolve().await.context("http.token")?),
        None => {
            let file = token_file(&config.store.path);
            read_token(&file)
                .with_context(|| format!("cannot read the API token file `{}`", file.display()))?
        }
    };
    Ok(DaemonClient::find(&config.store.path, token)?)
}
