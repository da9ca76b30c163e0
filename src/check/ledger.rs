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

/// What a complete listing settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Keys held that the listing no longer has: their messages are gone from the server.
    pub gone: usize,
    /// Of those, the ones whose delete was owed (the server did it already).
    pub owed_done: usize,
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
    /// A complete listing came with these keys: every key held for the account and not
    /// among them names a message gone from the server (its owed delete is done, its key
    /// released).
    async fn settle_listing(
        &self,
        account: &str,
        listed: Vec<String>,
    ) -> Result<Settled, CheckError>;
    /// The highest handle settled in `epoch` (every message up to it is stored or left
    /// for good), when one is recorded.
    async fn listed_up_to(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError>;
    /// Records the highest handle settled in `epoch` (lazily).
    async fn note_listed_up_to(
        &self,
        account: &str,
        epoch: u32,
        handle: u32,
    ) -> Result<(), CheckError>;
    /// The handle the account's next new message was expected at when its last session
    /// ended (see [`crate::protocol::Ahead`]), when one is recorded.
    async fn new_from(&self, account: &str) -> Result<Option<u32>, CheckError>;
    /// Records where the next session expects new mail (lazily).
    async fn note_new_from(&self, account: &str, handle: u32) -> Result<(), CheckError>;
    /// A check that asked ahead failed; `for_good` when the server ended the session over
    /// what was asked ahead. For good, or on the second failure in a row (a successful
    /// check's [`Ledger::note_new_from`] ends a row), [`Ledger::new_from`] says nothing from
    /// then on, so nothing is asked ahead (lazily).
    async fn refuse_ahead(&self, account: &str, for_good: bool) -> Result<(), CheckError>;
    /// These messages are gone from the server: their deletes are no longer owed.
    async fn deleted(&self, account: &str, keys: Vec<String>) -> Result<(), CheckError>;
    /// Records the mailbox's epoch (IMAP UIDVALIDITY); returns the one recorded before.
    async fn note_epoch(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError>;
    /// Records a check's end (its error, if it failed, and whether its credential needs new
    /// consent), durably; returns how many deletes are owed now.
    async fn record_check(
        &self,
        account: &str,
        error: Option<String>,
        needs_consent: bool,
    ) -> Result<u64, CheckError>;
}
