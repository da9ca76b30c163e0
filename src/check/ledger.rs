//! The check's durable bookkeeping: what is already held under each listed key, which
//! deletes are owed, and the records a check makes on its way (keys seen, deletes done, the
//! mailbox's epoch, the outcome). The actors' `StoreLedger` keeps them in the store; the
//! unit tests keep them in memory.

use async_trait::async_trait;

use crate::error::CheckError;

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

/// What a check leaves on the server, shown in the account's report until the next check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Messages larger than `max_message_size`.
    pub oversize: u64,
    /// Messages whose body was not of the listed size.
    pub size_mismatch: u64,
    /// Why the server refused deletes, if it did.
    pub delete_error: Option<String>,
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
    /// A check planned: `seen` are keys deliberately not ingested (`backfill = "new"`).
    /// Marks the backfill done.
    async fn planned(&self, account: &str, seen: Vec<(String, u64)>) -> Result<(), CheckError>;
    /// What a check leaves on the server, for the account's report (lazily: the check's
    /// outcome, recorded after it, makes it durable).
    async fn note_leftovers(&self, account: &str, leftovers: Leftovers) -> Result<(), CheckError>;
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
