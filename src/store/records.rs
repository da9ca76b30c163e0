//! What the store keeps and hands out: the message going in, the outcome of storing it, the
//! metadata record kept per message, the per-account state that outlives the process, and a
//! credential's kept refresh token; with their JSON encoding.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError, db_err};
use crate::model::{MessageMeta, Summary};

/// What a message carries into the store. The parser makes it: the summary and the content
/// hash are the CPU work of ingest that runs in parallel, before the single writer.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The account it belongs to.
    pub account: String,
    /// The dedup key (see [`crate::protocol::keys`]).
    pub server_key: String,
    /// The size the server listed for it (RFC822.SIZE or LIST), to notice UID reuse.
    pub listed_size: u64,
    /// The exact bytes as downloaded.
    pub raw: Vec<u8>,
    /// Its summary for the reports.
    pub summary: Summary,
    /// Record an owed delete in the same transaction (`keep_copy = false`).
    pub delete_after: bool,
    /// BLAKE3 of `raw`, the content dedup key.
    pub content_hash: [u8; 32],
}

/// What the store did with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Newly committed under this id.
    Stored(u64),
    /// Already held (same key, or same content from an earlier UIDVALIDITY) under this id.
    Duplicate(u64),
}

impl StoreOutcome {
    /// The id the message is stored under.
    pub fn id(self) -> u64 {
        match self {
            StoreOutcome::Stored(id) | StoreOutcome::Duplicate(id) => id,
        }
    }
}

/// The metadata record kept per message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Report metadata.
    pub meta: MessageMeta,
    /// The dedup key it was stored under.
    pub server_key: String,
    /// Addressees from `To:`.
    pub to: Vec<String>,
    /// Addressees from `Cc:`.
    pub cc: Vec<String>,
}

/// Per-account state that outlives the process. Fields added later read as their default
/// from records written before them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountState {
    /// IMAP: the UIDVALIDITY of the last check.
    pub uidvalidity: Option<u32>,
    /// How often UIDVALIDITY changed.
    pub uidvalidity_changes: u64,
    /// When the last check ended.
    pub last_check: Option<String>,
    /// When the last successful check ended.
    pub last_success: Option<String>,
    /// The last check's error.
    pub last_error: Option<String>,
    /// Messages stored for the account in all.
    pub messages_stored: u64,
    /// Messages left on the server because they exceed `max_message_size` (last check).
    pub oversize: u64,
    /// Messages left on the server because their body did not match the size the server
    /// listed (last check).
    pub size_mismatch: u64,
    /// Why the server refused the last delete, while it refuses.
    pub delete_error: Option<String>,
    /// IMAP: (UIDVALIDITY, UID) up to which every message is settled, for listing a large
    /// mailbox above it.
    pub listed_up_to: Option<(u32, u32)>,
    /// The handle the next new message was expected at when the last session ended (IMAP
    /// UIDNEXT, POP3 the number after what stayed): where the next check asks ahead.
    pub new_from: Option<u32>,
    /// The server ended a session over what was asked ahead: nothing is asked ahead again.
    pub ahead_refused: bool,
    /// Checks in a row that asked ahead and failed while fetching.
    pub ahead_failures: u32,
    /// True once the first check has run (what `backfill = "new"` waits for).
    pub backfilled: bool,
    /// The last check failed because the account's OAuth2 credential needs new consent.
    pub needs_consent: bool,
}

/// A kept refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptRefreshToken {
    /// What it grew from (a digest of the token endpoint, the client id and the seed), hex.
    pub basis: String,
    /// The refresh token.
    pub refresh_token: String,
}

/// Decodes the JSON record `id` (0 for records that are not messages).
pub(super) fn decode<T: for<'de> Deserialize<'de>>(id: u64, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(id, e))
}

/// The JSON of a record (records are plain data: serializing cannot fail).
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

/// Message `id`'s record, if stored.
pub(super) fn get_record(
    metas: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
) -> Result<Option<StoredRecord>> {
    match metas.get(id).map_err(db_err("read a message"))? {
        Some(v) => Ok(Some(decode(id, v.value())?)),
        None => Ok(None),
    }
}

/// An account's state, or the defaults before its first check.
pub(super) fn read_state(
    states: &impl ReadableTable<&'static str, &'static [u8]>,
    account: &str,
) -> Result<AccountState> {
    match states.get(account).map_err(db_err("read account state"))? {
        Some(v) => decode(0, v.value()),
        None => Ok(AccountState::default()),
    }
}

/// What a complete listing settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Keys held that the listing no longer has (their messages are gone from the server).
    pub gone: usize,
    /// Of those, the ones whose delete was owed (done by the server already).
    pub owed_done: usize,
}

/// A page of a search through an account's messages.
#[derive(Debug)]
pub struct Found {
    /// The messages found, newest first.
    pub found: Vec<MessageMeta>,
    /// Where the next page starts (its `before`), when older messages are left to look at.
    pub next_before: Option<u64>,
}

/// What a backup made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    /// The copy's path.
    pub to: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The messages it holds.
    pub messages: u64,
}

/// What a compaction did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compacted {
    /// The file's size before, in bytes.
    pub before: u64,
    /// And after.
    pub after: u64,
}

/// What one retention step did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retained {
    /// Of the ids it was given, how many it went through.
    pub looked: u64,
    /// Messages removed.
    pub removed: u64,
    /// Their raw bytes.
    pub bytes: u64,
    /// Due, but kept: a Feed subscriber has not acknowledged them.
    pub held_by_subscriber: u64,
    /// Due, but kept: their delete on the server is still owed.
    pub held_by_delete: u64,
}

/// A Feed subscriber and how far it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subscriber {
    /// Its name.
    pub name: String,
    /// The last id it acknowledged (0 before its first).
    pub acknowledged: u64,
    /// Stored messages after that id: retention keeps them for it.
    pub behind: u64,
}
