//! The open database behind the store, and how it recovers from a failed write.
//!
//! When the disk is full (or any write or sync fails), redb refuses every later write until
//! the database is opened again. The handle remembers why writes fail and says so
//! ([`Handle::writable`]: `/health`, the metric) until messages commit again; at the next
//! write it closes the database and opens it again (redb repairs it on open). Every
//! transaction holds a read guard on the database, so it is never closed under one.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

use super::error::{Result, StoreError, db_err};

/// Opens the database (again).
pub(super) type Opener =
    Box<dyn Fn() -> std::result::Result<Database, redb::DatabaseError> + Send + Sync>;

/// The database and its state (see the module documentation).
pub(super) struct Handle {
    db: RwLock<Option<Database>>,
    opener: Opener,
    path: PathBuf,
    /// Why writes fail, until messages commit again.
    failing: Mutex<Option<String>>,
    /// True after a failed write or sync: redb refuses writes until it is opened again.
    broken: std::sync::atomic::AtomicBool,
}

/// A transaction, with the guard that keeps its database open until it ends.
pub(super) struct Guarded<'a, T> {
    txn: T,
    handle: &'a Handle,
    _db: RwLockReadGuard<'a, Option<Database>>,
}

impl<T> Deref for Guarded<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.txn
    }
}

impl<T> DerefMut for Guarded<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.txn
    }
}

impl Guarded<'_, WriteTransaction> {
    /// Commits; a failed write or sync marks the store failing.
    pub fn commit(self) -> std::result::Result<(), redb::CommitError> {
        let result = self.txn.commit();
        if let Err(redb::CommitError::Storage(e)) = &result {
            self.handle.failed(e);
        }
        result
    }
}

impl Handle {
    /// Opens the database with `opener`.
    pub fn open(path: PathBuf, opener: Opener) -> std::result::Result<Self, redb::DatabaseError> {
        let db = opener()?;
        Ok(Handle {
            db: RwLock::new(Some(db)),
            opener,
            path,
            failing: Mutex::new(None),
            broken: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Why writes fail, while they do.
    pub fn writable(&self) -> std::result::Result<(), String> {
        match &*self.failing.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// Notes `result` of a write: a failed write or sync (after which redb refuses
    /// writes) marks the store failing; other errors change nothing.
    pub fn noted<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(StoreError::Db(_, e @ (redb::Error::Io(_) | redb::Error::PreviousIo))) = &result
        {
            self.mark_failing(e.to_string());
        }
        result
    }

    /// Records a failed write or sync (after which redb refuses writes); other storage
    /// errors change nothing.
    fn failed(&self, e: &redb::StorageError) {
        if matches!(
            e,
            redb::StorageError::Io(_) | redb::StorageError::PreviousIo
        ) {
            self.mark_failing(e.to_string());
        }
    }

    fn mark_failing(&self, why: String) {
        self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        // redb's "previous I/O error" only says an earlier write failed: the failed write's
        // own error (a full disk) says why, whichever is noted first.
        let previous = redb::StorageError::PreviousIo.to_string();
        if failing.as_ref().is_some_and(|f| *f == previous) && why != previous {
            *failing = Some(why);
        } else if failing.is_none() {
            tracing::error!(store = %self.path.display(), error = %why, "the store cannot be written; checks fail until it can (it is opened again at the next write)");
            metrics::gauge!(crate::metrics::STORE_WRITABLE).set(0.0);
            *failing = Some(why);
        }
    }

    /// The open database (opened again first when an earlier attempt left it closed).
    fn db(&self) -> Result<RwLockReadGuard<'_, Option<Database>>> {
        {
            let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
            if guard.is_some() {
                return Ok(guard);
            }
        }
        let _ = self.reopen();
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let why = self.writable().err().unwrap_or_default();
            return Err(StoreError::Unavailable(self.path.clone(), why));
        }
        Ok(guard)
    }

    /// A read transaction; after a failed write (which redb answers every later
    /// transaction with `PreviousIo` for), the database is opened again first.
    pub fn begin_read(&self) -> Result<Guarded<'_, ReadTransaction>> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = self.reopen();
        }
        let db = self.db()?;
        let txn = db
            .as_ref()
            .expect("checked")
            .begin_read()
            .map_err(db_err("begin a read"))?;
        Ok(Guarded {
            txn,
            handle: self,
            _db: db,
        })
    }

    /// Messages committed: the store is writable.
    pub fn healed(&self) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if failing.take().is_some() {
            metrics::gauge!(crate::metrics::STORE_WRITABLE).set(1.0);
            tracing::info!(store = %self.path.display(), "the store can be written again");
        }
    }

    /// A write transaction; after a failed write, the database is opened again first.
    pub fn begin_write(&self) -> Result<Guarded<'_, WriteTransaction>> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            self.reopen()?;
        }
        let db = self.db()?;
        match db.as_ref().expect("checked").begin_write() {
            Ok(txn) => Ok(Guarded {
                txn,
                handle: self,
                _db: db,
            }),
            Err(e) => {
                if let redb::TransactionError::Storage(storage) = &e {
                    self.failed(storage);
                }
                Err(StoreError::Db("begin a transaction", e.into()))
            }
        }
    }

    /// Closes the database and opens it again (redb repairs it on open).
    /// Runs `f` while the database is closed: every transaction has ended and none begins
    /// until `f` returns, so the file is complete and still (it can be copied). Opened again
    /// afterwards, whatever `f` returned.
    pub fn while_closed<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        drop(db.take());
        let out = f();
        let opened = (self.opener)().map_err(|e| StoreError::Open(self.path.clone(), e.into()))?;
        *db = Some(opened);
        self.broken
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(out)
    }

    /// Runs `f` on the database alone: every transaction has ended, none begins meanwhile.
    pub fn alone<T>(&self, f: impl FnOnce(&mut Database) -> T) -> Result<T> {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        if db.is_none() {
            let opened =
                (self.opener)().map_err(|e| StoreError::Open(self.path.clone(), e.into()))?;
            *db = Some(opened);
        }
        Ok(f(db.as_mut().expect("opened")))
    }

    fn reopen(&self) -> Result<()> {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        drop(db.take());
        let opened = (self.opener)().map_err(|e| StoreError::Open(self.path.clone(), e.into()))?;
        *db = Some(opened);
        self.broken
            .store(false, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(store = %self.path.display(), "the store was opened again after a failed write");
        Ok(())
    }
}
