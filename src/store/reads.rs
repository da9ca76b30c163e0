//! Reading the store: dedup lookups, owed deletes, account state, the Inbox report's pages,
//! one message's record and exact bytes, a feed's next page, subscriber cursors.
//! Each read is one read transaction: it sees the last commit, never a half of one.

use redb::{ReadTransaction, ReadableTableMetadata};

use super::Store;
use super::error::{Result, db_err};
use super::handle::Guarded;
use super::records::{AccountState, Found, StoredRecord, decode, get_record, read_state};
use super::schema::*;
use crate::model::MessageMeta;

impl Store {
    pub(super) fn begin_read(&self) -> Result<Guarded<'_, ReadTransaction>> {
        self.db.begin_read()
    }

    /// For each server key: the stored id and listed size, when the store knows it (id
    /// [`SEEN_NOT_INGESTED`] for a key seen but deliberately not ingested).
    pub fn lookup_keys(
        &self,
        account: &str,
        server_keys: &[String],
    ) -> Result<Vec<Option<(u64, u64)>>> {
        let txn = self.begin_read()?;
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

    /// The deletes owed for an account: (server key, id).
    pub fn pending_deletes(&self, account: &str) -> Result<Vec<(String, u64)>> {
        let txn = self.begin_read()?;
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

    /// An account's persistent state (defaults before its first check).
    pub fn account_state(&self, account: &str) -> Result<AccountState> {
        let txn = self.begin_read()?;
        let states = txn
            .open_table(ACCOUNT_STATE)
            .map_err(db_err("open account state"))?;
        read_state(&states, account)
    }

    /// An account's messages, newest first, with ids below `before` when given.
    pub fn list_messages(
        &self,
        account: &str,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<MessageMeta>> {
        Ok(self
            .find_messages(account, limit, before, usize::MAX, |_| true)?
            .found)
    }

    /// Up to `limit` of an account's messages that `wanted` accepts, newest first, with ids
    /// below `before` when given, looking at no more than `scan` messages.
    pub fn find_messages(
        &self,
        account: &str,
        limit: usize,
        before: Option<u64>,
        scan: usize,
        wanted: impl Fn(&MessageMeta) -> bool,
    ) -> Result<Found> {
        let txn = self.begin_read()?;
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
        let mut found = Vec::new();
        let mut last_looked_at = None;
        let mut more = false;
        for (looked, entry) in range.rev().enumerate() {
            let (k, _) = entry.map_err(db_err("read the inbox index"))?;
            if found.len() >= limit || looked >= scan {
                more = true;
                break;
            }
            let id = k.value().1;
            last_looked_at = Some(id);
            if let Some(rec) = get_record(&metas, id)?
                && wanted(&rec.meta)
            {
                found.push(rec.meta);
            }
        }
        Ok(Found {
            found,
            next_before: if more { last_looked_at } else { None },
        })
    }

    /// One message's record.
    pub fn record(&self, id: u64) -> Result<Option<StoredRecord>> {
        let txn = self.begin_read()?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        get_record(&metas, id)
    }

    /// One message's exact raw bytes.
    pub fn raw(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
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
        let txn = self.begin_read()?;
        let cursors = txn.open_table(CURSORS).map_err(db_err("open cursors"))?;
        Ok(cursors
            .get(name)
            .map_err(db_err("read a cursor"))?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    /// How many messages the store holds in all.
    pub fn message_count(&self) -> Result<u64> {
        let txn = self.begin_read()?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        metas.len().map_err(db_err("count messages"))
    }
}
