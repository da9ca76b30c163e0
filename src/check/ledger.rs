//! The check's durable bookkeeping: what is already held under each listed key, which
//! deletes are owed, and the records a check makes on its way (keys seen, deletes done, the
//! mailbox's epoch, the outcome). [`StoreLedger`] keeps them in the store; the unit tests
//! keep them in memory.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{CheckError, Stage, chain};
use crate::model::now_rfc3339;
use crate::store::schema::SEEN_NOT_INGESTED;
use crate::store::{Store, StoreError};

/// What the ledger holds under a listed key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Stored as message `id`, listed with `size` then.
    Stored {
        /// The stored message.
        id: u64,
        /// The size the server listed when it was stored.
        size: u64,
    },
    /// Seen by the first check of a `backfill = "new"` account and deliberately not ingested.
    Seen,
}

/// The durable bookkeeping a check reads and writes (see the module documentation).
#[async_trait]
pub trait Ledger: Send + Sync {
    /// For each key, what is held under it.
    async fn known(
        &self,
        account: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Known>>, CheckError>;
    /// True once the account's first check has planned (what `backfill = "new"` waits for).
    async fn backfilled(&self, account: &str) -> Result<bool, CheckError>;
    /// A check planned: `seen` are keys deliberately not ingested (`backfill = "new"`),
    /// `oversize` messages stay on the server for their size. Marks the backfill done.
    async fn planned(
        &self,
        account: &str,
        seen: Vec<(String, u64)>,
        oversize: u64,
    ) -> Result<(), CheckError>;
    /// The keys of the messages whose delete on the server is owed.
    async fn owed_deletes(&self, account: &str) -> Result<Vec<String>, CheckError>;
    /// These messages are gone from the server: their deletes are no longer owed.
    async fn deleted(&self, account: &str, keys: Vec<String>) -> Result<(), CheckError>;
    /// Records the mailbox's epoch (IMAP UIDVALIDITY); returns the one recorded before.
    async fn note_epoch(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError>;
    /// Records a check's end (and its error, if it failed), durably; returns how many
    /// deletes are owed now.
    async fn record_check(&self, account: &str, error: Option<String>) -> Result<u64, CheckError>;
}

/// The ledger kept in the store, each step on a blocking thread.
#[derive(Clone)]
pub struct StoreLedger(pub Arc<Store>);

impl StoreLedger {
    /// Runs a blocking store read or write off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CheckError> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| CheckError::new(Stage::Store, format!("store task failed: {e}")))?
            .map_err(|e| CheckError::new(Stage::Store, chain(&e)))
    }
}

#[async_trait]
impl Ledger for StoreLedger {
    async fn known(
        &self,
        account: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Known>>, CheckError> {
        let account = account.to_string();
        let found = self
            .blocking(move |s| s.lookup_keys(&account, &keys))
            .await?;
        Ok(found
            .into_iter()
            .map(|k| {
                k.map(|(id, size)| match id {
                    SEEN_NOT_INGESTED => Known::Seen,
                    id => Known::Stored { id, size },
                })
            })
            .collect())
    }

    async fn backfilled(&self, account: &str) -> Result<bool, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| Ok(s.account_state(&account)?.backfilled))
            .await
    }

    async fn planned(
        &self,
        account: &str,
        seen: Vec<(String, u64)>,
        oversize: u64,
    ) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.mark_seen(&account, &seen)?;
            s.update_account_state_lazily(&account, |st| {
                st.backfilled = true;
                st.oversize = oversize;
            })
            .map(|_| ())
        })
        .await
    }

    async fn owed_deletes(&self, account: &str) -> Result<Vec<String>, CheckError> {
        let account = account.to_string();
        let owed = self.blocking(move |s| s.pending_deletes(&account)).await?;
        Ok(owed.into_iter().map(|(key, _)| key).collect())
    }

    async fn deleted(&self, account: &str, keys: Vec<String>) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| s.mark_deleted(&account, &keys))
            .await
    }

    async fn note_epoch(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            let mut previous = None;
            s.update_account_state_lazily(&account, |st| {
                previous = st.uidvalidity;
                if st.uidvalidity.is_some_and(|v| v != epoch) {
                    st.uidvalidity_changes += 1;
                }
                st.uidvalidity = Some(epoch);
            })?;
            Ok(previous)
        })
        .await
    }

    async fn record_check(&self, account: &str, error: Option<String>) -> Result<u64, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.update_account_state(&account, |st| {
                let now = now_rfc3339();
                st.last_check = Some(now.clone());
                if error.is_none() {
                    st.last_success = Some(now);
                }
                st.last_error = error;
            })?;
            s.pending_delete_count(&account)
        })
        .await
    }
}
