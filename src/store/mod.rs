//! The durable store: one redb file holding every message's exact raw bytes, its metadata,
//! the dedup keys, owed deletes, account state and subscriber cursors.
//!
//! Every method is synchronous and may block on disk (a commit fsyncs); async callers run
//! them on a blocking thread (the store actor does). redb allows one writer at a time, and
//! the file lock keeps a second process out: [`StoreError::InUse`].

pub mod schema;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::model::{MessageMeta, OnServer, now_rfc3339};
use schema::*;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the store.
    #[error("store `{0}` is in use by another mail-ingest process (stop it, or use its API)")]
    InUse(PathBuf),
    /// The file could not be opened or created.
    #[error("cannot open store `{path}`: {1}", path = .0.display())]
    Open(PathBuf, #[source] Box<dyn std::error::Error + Send + Sync>),
    /// The file was written by another schema version.
    #[error("store `{path}` has schema version {found}, this mail-ingest reads version {SCHEMA_VERSION}; use the mail-ingest that wrote it, or move the file aside to start a new store (messages still on the server are fetched again)", path = .0.display(), found = .1)]
    Schema(PathBuf, u64),
    /// A redb operation failed.
    #[error("cannot {0} in the store: {1}")]
    Db(&'static str, #[source] redb::Error),
    /// A record could not be decoded.
    #[error("store record {0} is corrupt: {1}")]
    Corrupt(u64, String),
}

type Result<T> = std::result::Result<T, StoreError>;

fn db_err<E: Into<redb::Error>>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Db(what, e.into())
}

/// redb's page cache. Reports and dedup lookups touch little; big message values are
/// written once and rarely read, so a large cache would only hold them in memory.
const STORE_CACHE_BYTES: usize = 8 << 20;

/// Most raw bytes one [`Store::commit_batch`] should carry. redb buffers a transaction's
/// dirty pages in half its cache (4 MiB here) and pages take about 1.3x the raw bytes; a
/// larger transaction spills pages to the file and reads them back to checksum them at
/// commit (measured: 2.3x the bytes written, 1.5x read back, at 8 MiB transactions).
pub const MAX_COMMIT_BYTES: usize = STORE_CACHE_BYTES * 3 / 8;

/// What a message carries into the store.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The account it belongs to.
    pub account: String,
    /// The dedup key: [`schema::imap_key`] or [`schema::pop3_key`].
    pub server_key: String,
    /// The size the server listed for it (RFC822.SIZE or LIST), to notice UID reuse.
    pub listed_size: u64,
    /// The exact bytes as downloaded.
    pub raw: Vec<u8>,
    /// Its summary for the reports.
    pub summary: crate::parse::Summary,
    /// Record an owed delete in the same transaction (`keep_copy = false`).
    pub delete_after: bool,
    /// BLAKE3 of `raw`, the content dedup key (computed by the parser, off the store's
    /// one writer thread).
    pub content_hash: [u8; 32],
}

impl NewMessage {
    /// A message ready for the store: summarised and hashed (the CPU work of ingest that
    /// can run in parallel, before the single writer).
    pub fn new(
        account: String,
        server_key: String,
        listed_size: u64,
        raw: Vec<u8>,
        delete_after: bool,
    ) -> Self {
        NewMessage {
            summary: crate::parse::Summary::of(&raw),
            content_hash: *blake3::hash(&raw).as_bytes(),
            account,
            server_key,
            listed_size,
            raw,
            delete_after,
        }
    }
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

/// Per-account state that outlives the process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// True once the first check has run (what `backfill = "new"` waits for).
    pub backfilled: bool,
}

/// The open store.
pub struct Store {
    db: Database,
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
        let db = redb::Builder::new()
            .set_cache_size(STORE_CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.into()),
                other => open_err(other.into()),
            })?;
        let store = Store {
            db,
            path: path.into(),
        };
        store.init_schema()?;
        Ok(store)
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_schema(&self) -> Result<()> {
        let txn = self
            .db
            .begin_write()
            .map_err(db_err("begin a transaction"))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(db_err("open the meta table"))?;
            let version = meta
                .get("schema_version")
                .map_err(db_err("read the schema"))?
                .map(|v| v.value());
            match version {
                Some(SCHEMA_VERSION) => {}
                Some(other) => return Err(StoreError::Schema(self.path.clone(), other)),
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)
                        .map_err(db_err("write the schema"))?;
                    meta.insert("next_id", 1)
                        .map_err(db_err("write the schema"))?;
                }
            }
            // Create every table so readers never meet a missing one.
            txn.open_table(MESSAGE_META)
                .map_err(db_err("create tables"))?;
            txn.open_table(MESSAGE_RAW)
                .map_err(db_err("create tables"))?;
            txn.open_table(BY_SERVER_KEY)
                .map_err(db_err("create tables"))?;
            txn.open_table(BY_HASH).map_err(db_err("create tables"))?;
            txn.open_table(BY_ACCOUNT)
                .map_err(db_err("create tables"))?;
            txn.open_table(PENDING_DELETE)
                .map_err(db_err("create tables"))?;
            txn.open_table(ACCOUNT_STATE)
                .map_err(db_err("create tables"))?;
            txn.open_table(CURSORS).map_err(db_err("create tables"))?;
        }
        txn.commit().map_err(db_err("commit the schema"))
    }

    /// Commits many messages in one transaction (one fsync) and says what happened to each.
    /// Nothing of the batch is visible, and no delete is owed, until this returns `Ok`.
    pub fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<StoreOutcome>> {
        let txn = self
            .db
            .begin_write()
            .map_err(db_err("begin a transaction"))?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
            let mut metas = txn
                .open_table(MESSAGE_META)
                .map_err(db_err("open messages"))?;
            let mut raws = txn
                .open_table(MESSAGE_RAW)
                .map_err(db_err("open messages"))?;
            let mut keys = txn.open_table(BY_SERVER_KEY).map_err(db_err("open keys"))?;
            let mut hashes = txn.open_table(BY_HASH).map_err(db_err("open hashes"))?;
            let mut by_account = txn
                .open_table(BY_ACCOUNT)
                .map_err(db_err("open the inbox index"))?;
            let mut pending = txn
                .open_table(PENDING_DELETE)
                .map_err(db_err("open pending deletes"))?;
            let mut states = txn
                .open_table(ACCOUNT_STATE)
                .map_err(db_err("open account state"))?;
            let mut next_id = meta
                .get("next_id")
                .map_err(db_err("read next id"))?
                .map(|v| v.value())
                .unwrap_or(1);
            let mut stored_per_account: HashMap<&str, u64> = HashMap::new();
            let received_at = now_rfc3339();

            for m in batch {
                let hash = &m.content_hash;
                let existing = keys
                    .get((m.account.as_str(), m.server_key.as_str()))
                    .map_err(db_err("read keys"))?
                    .map(|v| v.value());
                let by_hash = hashes
                    .get((m.account.as_str(), hash.as_slice()))
                    .map_err(db_err("read hashes"))?
                    .map(|v| v.value());
                let duplicate_of = match (existing, by_hash) {
                    // Same key, same size: already stored (a retry after a lost acknowledgement).
                    (Some((id, size)), _) if id != SEEN_NOT_INGESTED && size == m.listed_size => {
                        Some(id)
                    }
                    // Same key reused for other bytes: store it anew unless the content is known.
                    (_, Some(hid)) if is_same_message_elsewhere(&metas, hid, &m.server_key)? => {
                        Some(hid)
                    }
                    _ => None,
                };
                let id = match duplicate_of {
                    Some(id) => {
                        outcomes.push(StoreOutcome::Duplicate(id));
                        id
                    }
                    None => {
                        let id = next_id;
                        next_id += 1;
                        let record = StoredRecord {
                            meta: m.summary.to_meta(
                                id,
                                &m.account,
                                &received_at,
                                m.raw.len() as u64,
                                if m.delete_after {
                                    OnServer::DeletePending
                                } else {
                                    OnServer::Kept
                                },
                            ),
                            server_key: m.server_key.clone(),
                            to: m.summary.to.clone(),
                            cc: m.summary.cc.clone(),
                        };
                        let json = serde_json::to_vec(&record).expect("records serialize");
                        metas
                            .insert(id, json.as_slice())
                            .map_err(db_err("write a message"))?;
                        for (n, piece) in m.raw.chunks(RAW_CHUNK_BYTES).enumerate() {
                            raws.insert((id, n as u32), piece)
                                .map_err(db_err("write a message"))?;
                        }
                        hashes
                            .insert((m.account.as_str(), hash.as_slice()), id)
                            .map_err(db_err("write hashes"))?;
                        by_account
                            .insert((m.account.as_str(), id), ())
                            .map_err(db_err("write the inbox index"))?;
                        *stored_per_account.entry(m.account.as_str()).or_default() += 1;
                        outcomes.push(StoreOutcome::Stored(id));
                        id
                    }
                };
                keys.insert(
                    (m.account.as_str(), m.server_key.as_str()),
                    (id, m.listed_size),
                )
                .map_err(db_err("write keys"))?;
                if m.delete_after {
                    pending
                        .insert((m.account.as_str(), m.server_key.as_str()), id)
                        .map_err(db_err("write pending deletes"))?;
                }
            }
            meta.insert("next_id", next_id)
                .map_err(db_err("write next id"))?;
            for (account, n) in stored_per_account {
                let mut state = read_state(&states, account)?;
                state.messages_stored += n;
                let json = serde_json::to_vec(&state).expect("state serializes");
                states
                    .insert(account, json.as_slice())
                    .map_err(db_err("write account state"))?;
            }
        }
        txn.commit().map_err(db_err("commit messages"))?;
        Ok(outcomes)
    }

    /// For each server key: the stored id and listed size, when the store knows it.
    pub fn lookup_keys(
        &self,
        account: &str,
        server_keys: &[String],
    ) -> Result<Vec<Option<(u64, u64)>>> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let keys = txn.open_table(BY_SERVER_KEY).map_err(db_err("open keys"))?;
        server_keys
            .iter()
            .map(|k| {
                Ok(keys
                    .get((account, k.as_str()))
                    .map_err(db_err("read keys"))?
                    .map(|v| v.value()))
            })
            .collect()
    }

    /// Remembers server keys as seen without ingesting them (`backfill = "new"`). Lazy (see
    /// `begin_lazy`): a lost record is made again by the next check's first listing.
    pub fn mark_seen(&self, account: &str, server_keys: &[(String, u64)]) -> Result<()> {
        if server_keys.is_empty() {
            return Ok(());
        }
        let txn = self.begin_lazy()?;
        {
            let mut keys = txn.open_table(BY_SERVER_KEY).map_err(db_err("open keys"))?;
            for (k, size) in server_keys {
                if keys
                    .get((account, k.as_str()))
                    .map_err(db_err("read keys"))?
                    .is_none()
                {
                    keys.insert((account, k.as_str()), (SEEN_NOT_INGESTED, *size))
                        .map_err(db_err("write keys"))?;
                }
            }
        }
        txn.commit().map_err(db_err("commit seen keys"))
    }

    /// The deletes owed for an account: (server key, id).
    pub fn pending_deletes(&self, account: &str) -> Result<Vec<(String, u64)>> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let pending = txn
            .open_table(PENDING_DELETE)
            .map_err(db_err("open pending deletes"))?;
        let range = pending
            .range((account, "")..)
            .map_err(db_err("read pending deletes"))?;
        let mut out = Vec::new();
        for entry in range {
            let (k, v) = entry.map_err(db_err("read pending deletes"))?;
            let (acc, key) = k.value();
            if acc != account {
                break;
            }
            out.push((key.to_string(), v.value()));
        }
        Ok(out)
    }

    /// How many deletes are owed for an account.
    pub fn pending_delete_count(&self, account: &str) -> Result<u64> {
        Ok(self.pending_deletes(account)?.len() as u64)
    }

    /// A write transaction whose commit is not synced by itself: the next durable commit
    /// carries it (every message commit, and the account state written after every check).
    /// For records a crash may lose because the next check makes them again.
    fn begin_lazy(&self) -> Result<redb::WriteTransaction> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(db_err("begin a transaction"))?;
        txn.set_durability(redb::Durability::None)
            .map_err(db_err("make the transaction lazy"))?;
        Ok(txn)
    }

    /// Records that these server keys are gone from the server: no delete is owed any more,
    /// and their messages show `on_server = deleted`.
    ///
    /// Lazy (see `begin_lazy`): a check deletes in many small steps, and a lost record is
    /// made again by the next check, which finds the messages gone from the server.
    pub fn mark_deleted(&self, account: &str, server_keys: &[String]) -> Result<()> {
        if server_keys.is_empty() {
            return Ok(());
        }
        let txn = self.begin_lazy()?;
        {
            let mut pending = txn
                .open_table(PENDING_DELETE)
                .map_err(db_err("open pending deletes"))?;
            let mut metas = txn
                .open_table(MESSAGE_META)
                .map_err(db_err("open messages"))?;
            for key in server_keys {
                let Some(id) = pending
                    .remove((account, key.as_str()))
                    .map_err(db_err("remove pending deletes"))?
                    .map(|v| v.value())
                else {
                    continue;
                };
                let record = metas
                    .get(id)
                    .map_err(db_err("read a message"))?
                    .map(|v| v.value().to_vec());
                if let Some(bytes) = record {
                    let mut rec: StoredRecord = decode(id, &bytes)?;
                    if rec.server_key == *key {
                        rec.meta.on_server = OnServer::Deleted;
                        let json = serde_json::to_vec(&rec).expect("records serialize");
                        metas
                            .insert(id, json.as_slice())
                            .map_err(db_err("write a message"))?;
                    }
                }
            }
        }
        txn.commit().map_err(db_err("commit deletes"))
    }

    /// An account's persistent state (defaults before its first check).
    pub fn account_state(&self, account: &str) -> Result<AccountState> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let states = txn
            .open_table(ACCOUNT_STATE)
            .map_err(db_err("open account state"))?;
        read_state(&states, account)
    }

    /// Changes an account's state in one durable transaction.
    pub fn update_account_state(
        &self,
        account: &str,
        change: impl FnOnce(&mut AccountState),
    ) -> Result<AccountState> {
        let txn = self
            .db
            .begin_write()
            .map_err(db_err("begin a transaction"))?;
        change_state(txn, account, change)
    }

    /// Changes an account's state lazily (see `begin_lazy`): for what a check notes on its
    /// way (UIDVALIDITY, backfill done), which the state written at its end makes durable.
    pub fn update_account_state_lazily(
        &self,
        account: &str,
        change: impl FnOnce(&mut AccountState),
    ) -> Result<AccountState> {
        let txn = self.begin_lazy()?;
        change_state(txn, account, change)
    }

    /// An account's messages, newest first, with ids below `before` when given.
    pub fn list_messages(
        &self,
        account: &str,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<MessageMeta>> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let index = txn
            .open_table(BY_ACCOUNT)
            .map_err(db_err("open the inbox index"))?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        let end = before.unwrap_or(u64::MAX);
        let range = index
            .range((account, 0)..(account, end))
            .map_err(db_err("read the inbox index"))?;
        let mut out = Vec::new();
        for entry in range.rev().take(limit) {
            let (k, _) = entry.map_err(db_err("read the inbox index"))?;
            let id = k.value().1;
            if let Some(rec) = get_record(&metas, id)? {
                out.push(rec.meta);
            }
        }
        Ok(out)
    }

    /// One message's record.
    pub fn record(&self, id: u64) -> Result<Option<StoredRecord>> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        get_record(&metas, id)
    }

    /// One message's exact raw bytes.
    pub fn raw(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let raws = txn
            .open_table(MESSAGE_RAW)
            .map_err(db_err("open messages"))?;
        let mut raw = Vec::new();
        for piece in raws
            .range((id, 0)..=(id, u32::MAX))
            .map_err(db_err("read a message"))?
        {
            let (_, piece) = piece.map_err(db_err("read a message"))?;
            raw.extend_from_slice(piece.value());
        }
        if raw.is_empty() && self.record(id)?.is_none() {
            return Ok(None);
        }
        Ok(Some(raw))
    }

    /// Up to `limit` messages after `after`, in store order (ids increasing): a feed's next page.
    pub fn messages_after(&self, after: u64, limit: usize) -> Result<Vec<StoredRecord>> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        let range = metas
            .range(after.saturating_add(1)..)
            .map_err(db_err("read messages"))?;
        let mut out = Vec::new();
        for entry in range.take(limit) {
            let (k, v) = entry.map_err(db_err("read messages"))?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// A subscriber's last acknowledged id (0 before its first ack).
    pub fn cursor(&self, name: &str) -> Result<u64> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let cursors = txn.open_table(CURSORS).map_err(db_err("open cursors"))?;
        Ok(cursors
            .get(name)
            .map_err(db_err("read a cursor"))?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    /// Moves a subscriber's cursor forward to `id` (never back).
    pub fn set_cursor(&self, name: &str, id: u64) -> Result<u64> {
        let txn = self
            .db
            .begin_write()
            .map_err(db_err("begin a transaction"))?;
        let now = {
            let mut cursors = txn.open_table(CURSORS).map_err(db_err("open cursors"))?;
            let old = cursors
                .get(name)
                .map_err(db_err("read a cursor"))?
                .map(|v| v.value())
                .unwrap_or(0);
            let now = old.max(id);
            cursors
                .insert(name, now)
                .map_err(db_err("write a cursor"))?;
            now
        };
        txn.commit().map_err(db_err("commit a cursor"))?;
        Ok(now)
    }

    /// How many messages the store holds in all.
    pub fn message_count(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(db_err("begin a read"))?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        metas.len().map_err(db_err("count messages"))
    }
}

fn decode<T: for<'de> Deserialize<'de>>(id: u64, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(id, e.to_string()))
}

fn get_record(
    metas: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
) -> Result<Option<StoredRecord>> {
    match metas.get(id).map_err(db_err("read a message"))? {
        Some(v) => Ok(Some(decode(id, v.value())?)),
        None => Ok(None),
    }
}

/// Reads an account's state, applies `change`, writes it back and commits `txn`.
fn change_state(
    txn: redb::WriteTransaction,
    account: &str,
    change: impl FnOnce(&mut AccountState),
) -> Result<AccountState> {
    let state = {
        let mut states = txn
            .open_table(ACCOUNT_STATE)
            .map_err(db_err("open account state"))?;
        let mut state = read_state(&states, account)?;
        change(&mut state);
        let json = serde_json::to_vec(&state).expect("state serializes");
        states
            .insert(account, json.as_slice())
            .map_err(db_err("write account state"))?;
        state
    };
    txn.commit().map_err(db_err("commit account state"))?;
    Ok(state)
}

fn read_state(
    states: &impl ReadableTable<&'static str, &'static [u8]>,
    account: &str,
) -> Result<AccountState> {
    match states.get(account).map_err(db_err("read account state"))? {
        Some(v) => decode(0, v.value()),
        None => Ok(AccountState::default()),
    }
}

/// True when message `id` is the same content stored under an IMAP key of another
/// UIDVALIDITY: the mailbox was renumbered, the message is not new.
fn is_same_message_elsewhere(
    metas: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
    new_key: &str,
) -> Result<bool> {
    let Some(rec) = get_record(metas, id)? else {
        return Ok(false);
    };
    Ok(
        match (
            imap_key_uidvalidity(&rec.server_key),
            imap_key_uidvalidity(new_key),
        ) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        },
    )
}

#[cfg(test)]
mod tests;
