//! Storing downloaded messages: one transaction (one fsync) per batch, each message either
//! found to be held already or inserted with its raw bytes, its keys, its inbox entry and,
//! when the account deletes after storing, the delete it now owes.

use std::collections::HashMap;

use redb::ReadableTable;

use super::Store;
use super::error::{Result, db_err};
use super::records::{NewMessage, StoreOutcome, StoredRecord, encode, get_record, read_state};
use super::schema::{RAW_CHUNK_BYTES, SEEN_NOT_INGESTED};
use super::tables::Tables;
use crate::model::{OnServer, now_rfc3339};
use crate::protocol::keys::imap_key_uidvalidity;

impl Store {
    /// Commits many messages in one transaction (one fsync) and says what happened to each.
    /// Nothing of the batch is visible, and no delete is owed, until this returns `Ok`.
    pub fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<StoreOutcome>> {
        let txn = self.begin_write()?;
        let outcomes = {
            let mut t = Tables::open(&txn)?;
            let mut next_id = t.next_id()?;
            let mut stored_per_account: HashMap<&str, u64> = HashMap::new();
            let received_at = now_rfc3339();
            let mut outcomes = Vec::with_capacity(batch.len());
            for m in batch {
                let id = match find_duplicate(&t, m)? {
                    Some(id) => {
                        outcomes.push(StoreOutcome::Duplicate(id));
                        id
                    }
                    None => {
                        let id = next_id;
                        next_id += 1;
                        insert_message(&mut t, id, m, &received_at)?;
                        *stored_per_account.entry(m.account.as_str()).or_default() += 1;
                        outcomes.push(StoreOutcome::Stored(id));
                        id
                    }
                };
                record_keys(&mut t, id, m)?;
            }
            t.meta
                .insert("next_id", next_id)
                .map_err(db_err("write the next id"))?;
            count_stored(&mut t, stored_per_account)?;
            outcomes
        };
        txn.commit().map_err(db_err("commit messages"))?;
        Ok(outcomes)
    }
}

/// The id of a stored message `m` repeats, if any: the same key with the same size (a
/// retry after a lost acknowledgement), or the same content stored under an IMAP key of
/// another UIDVALIDITY (the mailbox was renumbered). A key reused for other bytes is new.
fn find_duplicate(t: &Tables, m: &NewMessage) -> Result<Option<u64>> {
    let by_key = t
        .keys
        .get((m.account.as_str(), m.server_key.as_str()))
        .map_err(db_err("read keys"))?
        .map(|v| v.value());
    if let Some((id, size)) = by_key
        && id != SEEN_NOT_INGESTED
        && size == m.listed_size
    {
        return Ok(Some(id));
    }
    let by_hash = t
        .hashes
        .get((m.account.as_str(), m.content_hash.as_slice()))
        .map_err(db_err("read hashes"))?
        .map(|v| v.value());
    match by_hash {
        Some(id) if stored_in_another_epoch(&t.metas, id, &m.server_key)? => Ok(Some(id)),
        _ => Ok(None),
    }
}

/// True when message `id` was stored under an IMAP key of another UIDVALIDITY than
/// `new_key`'s.
fn stored_in_another_epoch(
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

/// Writes a new message under `id`: its record, its raw bytes in pieces, its content hash
/// and its inbox entry.
fn insert_message(t: &mut Tables, id: u64, m: &NewMessage, received_at: &str) -> Result<()> {
    let on_server = if m.delete_after {
        OnServer::DeletePending
    } else {
        OnServer::Kept
    };
    let record = StoredRecord {
        meta: m
            .summary
            .to_meta(id, &m.account, received_at, m.raw.len() as u64, on_server),
        server_key: m.server_key.clone(),
        to: m.summary.to.clone(),
        cc: m.summary.cc.clone(),
    };
    t.metas
        .insert(id, encode(&record).as_slice())
        .map_err(db_err("write a message"))?;
    for (n, piece) in m.raw.chunks(RAW_CHUNK_BYTES).enumerate() {
        t.raws
            .insert((id, n as u32), piece)
            .map_err(db_err("write a message"))?;
    }
    t.hashes
        .insert((m.account.as_str(), m.content_hash.as_slice()), id)
        .map_err(db_err("write hashes"))?;
    t.by_account
        .insert((m.account.as_str(), id), ())
        .map_err(db_err("write the inbox index"))?;
    Ok(())
}

/// Points the message's key at `id` (with the size the server listed) and records the
/// delete it owes, both in the message's own transaction.
fn record_keys(t: &mut Tables, id: u64, m: &NewMessage) -> Result<()> {
    let key = (m.account.as_str(), m.server_key.as_str());
    t.keys
        .insert(key, (id, m.listed_size))
        .map_err(db_err("write keys"))?;
    if m.delete_after {
        t.pending
            .insert(key, id)
            .map_err(db_err("write pending deletes"))?;
    }
    Ok(())
}

/// Adds the newly stored messages to each account's count.
fn count_stored(t: &mut Tables, stored: HashMap<&str, u64>) -> Result<()> {
    for (account, n) in stored {
        let mut state = read_state(&t.states, account)?;
        state.messages_stored += n;
        t.states
            .insert(account, encode(&state).as_slice())
            .map_err(db_err("write account state"))?;
    }
    Ok(())
}
