//! Why the store failed. Each variant names what could not be done; the cause is its source.

use std::path::PathBuf;

use super::schema::SCHEMA_VERSION;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the store.
    #[error("store `{path}` is in use by another mail-ingest process (stop it, or use its API)", path = .0.display())]
    InUse(PathBuf),
    /// The file could not be opened or created.
    #[error("cannot open store `{path}`", path = .0.display())]
    Open(PathBuf, #[source] Box<dyn std::error::Error + Send + Sync>),
    /// The file was written by an older schema version that cannot be upgraded.
    #[error("store `{path}` has schema version {found}, which this mail-ingest cannot upgrade (it reads version {SCHEMA_VERSION}); use the mail-ingest that wrote it, or move the file aside to start a new store (messages still on the server are fetched again)", path = .0.display(), found = .1)]
    Schema(PathBuf, u64),
    /// The file was written by a newer mail-ingest.
    #[error("store `{path}` has schema version {found}, written by a newer mail-ingest (this one reads version {SCHEMA_VERSION}); run that newer version, or restore a backup made before it upgraded the store", path = .0.display(), found = .1)]
    Newer(PathBuf, u64),
    /// A redb operation failed.
    #[error("cannot {0} in the store")]
    Db(&'static str, #[source] redb::Error),
    /// The database is closed after a failed write and could not be opened again yet.
    #[error("store `{path}` cannot be opened again after a failed write ({1}); it is retried at the next use", path = .0.display())]
    Unavailable(PathBuf, String),
    /// A record could not be decoded.
    #[error("store record {0} is corrupt")]
    Corrupt(u64, #[source] serde_json::Error),
    /// A backup or compaction could not be made.
    #[error("{0}")]
    Maintenance(String),
}

/// A store result.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Maps a redb error to [`StoreError::Db`] saying what was being done.
pub(super) fn db_err<E: Into<redb::Error>>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Db(what, e.into())
}
