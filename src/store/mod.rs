//! The durable store: one redb file holding every message's exact raw bytes, its metadata,
//! the dedup keys, owed deletes, account state and subscriber cursors.
//!
//! Every method is synchronous and may block on disk (a durable commit fsyncs). The store
//! actor runs commits on a blocking thread, the check's bookkeeping runs on blocking threads
//! too ([`crate::actors::ledger::StoreLedger`]); [`crate::Feed::ack`] blocks its caller for one
//! durable commit. redb allows one writer at a time, and the file lock keeps a second
//! process out: [`StoreError::InUse`].
//!
//! The tables are in [`schema`]; messages go in through [`Store::commit_batch`]
//! (`commit.rs`), the small writes beside them are in `updates.rs`, the reads in `reads.rs`.

mod commit;
mod credentials;
mod error;
mod handle;
pub mod maintain;
mod reads;
mod records;
mod retention;
pub mod schema;
mod tables;
mod updates;
mod upgrade;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use redb::{ReadableTable, WriteTransaction};

use error::db_err;
pub use error::{Result, StoreError};
use handle::{Guarded, Handle, Opener};
pub use records::{
    AccountState, Backup, Compacted, Found, KeptRefreshToken, NewMessage, Retained, Settled,
    StoreOutcome, StoredRecord, Subscriber,
};
use schema::SCHEMA_VERSION;
use tables::Tables;

/// redb's page cache. Reports and dedup lookups touch little; big message values are
/// written once and rarely read, so a large cache would only hold them in memory.
const STORE_CACHE_BYTES: usize = 8 << 20;

/// Most raw bytes one [`Store::commit_batch`] should carry: redb buffers a transaction's
/// dirty pages in half its cache, and pages take more room than the raw bytes they hold; a
/// larger transaction spills pages to the file and reads them back to checksum them at
/// commit (the README's performance section has the figures).
pub const MAX_COMMIT_BYTES: usize = STORE_CACHE_BYTES * 3 / 8;

/// The open store.
pub struct Store {
    db: Handle,
    path: PathBuf,
}

impl Store {
    /// Opens or creates the store at `path` (mode 0600, parent folders created).
    pub fn open(path: &Path) -> Result<Store> {
        let open_err =
            |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Open(path.into(), e);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_err(e.into()))?;
        }
        // Create it ourselves first so the file is never readable by others, even briefly.
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| open_err(e.into()))?;
        let file = path.to_path_buf();
        Self::open_with(
            path,
            Box::new(move || {
                redb::Builder::new()
                    .set_cache_size(STORE_CACHE_BYTES)
                    .create(&file)
            }),
        )
    }

    /// Opens the store through `opener` (the file itself, or a test's storage backend).
    fn open_with(path: &Path, opener: Opener) -> Result<Store> {
        let db = Handle::open(path.into(), opener).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.into()),
            other => StoreError::Open(path.into(), other.into()),
        })?;
        let store = Store {
            db,
            path: path.into(),
        };
        store.init_schema()?;
        metrics::gauge!(crate::metrics::STORE_WRITABLE).set(1.0);
        Ok(store)
    }

    /// Why the store cannot be written now (a full disk), if it cannot: `/health` fails
    /// meanwhile. It is opened again at the next write, and writable once one succeeds.
    pub fn writable(&self) -> std::result::Result<(), String> {
        self.db.writable()
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a write; a failed write or sync marks the store failing (see `handle.rs`).
    fn write<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.db.noted(f())
    }

    fn begin_write(&self) -> Result<Guarded<'_, WriteTransaction>> {
        self.db.begin_write()
    }

    /// Checks the schema version: a new store gets the current one, an older one is
    /// upgraded in place (`upgrade.rs`), a newer one is refused. Creates every table, so
    /// readers never meet a missing one.
    fn init_schema(&self) -> Result<()> {
        let txn = self.begin_write()?;
        let version = {
            let t = Tables::open(&txn)?;
            t.meta
                .get("schema_version")
                .map_err(db_err("read the schema"))?
                .map(|v| v.value())
        };
        match version {
            Some(SCHEMA_VERSION) => {}
            Some(newer) if newer > SCHEMA_VERSION => {
                return Err(StoreError::Newer(self.path.clone(), newer));
            }
            Some(older) => {
                tracing::info!(store = %self.path.display(), from = older, to = SCHEMA_VERSION, "upgrading the store's schema");
                if !upgrade::upgrade(&txn, older)? {
                    return Err(StoreError::Schema(self.path.clone(), older));
                }
            }
            None => {}
        }
        {
            let mut t = Tables::open(&txn)?;
            t.meta
                .insert("schema_version", SCHEMA_VERSION)
                .map_err(db_err("write the schema"))?;
            if version.is_none() {
                t.meta
                    .insert("next_id", 1)
                    .map_err(db_err("write the schema"))?;
            }
        }
        txn.commit().map_err(db_err("commit the schema"))
    }
}

#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod tests;
