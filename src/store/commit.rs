//! Storing downloaded messages: one transaction (one fsync) per batch, each message either
//! found to be held already (by its key, or by its content among the stored messages no key
//! holds) or inserted with its raw bytes, its keys, its inbox entry and, when the account
//! deletes after storing, the delete it now owes.

use std::collections::HashMap;

use redb::ReadableTable;

use super::Store;
use super::error::{Result, db_err};
use super::records::{NewMessage, StoreOutcome, StoredRecord, encode, get_record, read_state};
use super::schema::{SEEN_NOT_INGESTED, raw_pieces};
use super::tables::Tables;
use crate::model::{OnServer, now_rfc3339};
use crate::protocol::keys::imap_key_uidvalidity;

impl Store {
    /// Commits many messages in one transaction (one fsync) and says what happened to each.
    /// Nothing of the batch is visible, and no delete is owed, until this returns `Ok`.
    pub fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<StoreOutcome>> {
        let outcomes = self.write(|| {
            let txn = self.begin_write()?;
            let outcomes = {
                let mut t = Tables::open(&txn)?;
                let mut next_id = t.next_id()?;
                let mut stored_per_account: HashMap<&str, u64> = HashMap::new();
                let received_at = now_rfc3339();
                let mut outcomes = Vec::with_capacity(batch.len());
                for m in batch {
                    let id = match find_match(&t, m)? {
                        Match::SameKey(id) => {
                            outcomes.push(StoreOutcome::Duplicate(id));
                            id
                        }
                        Match::Absorbs(id) => {
                            take_key(&mut t, id, m)?;
                            outcomes.push(StoreOutcome::Duplicate(id));
                            id
                        }
                        Match::Removed(id) => {
                            outcomes.push(StoreOutcome::Duplicate(id));
                            id
                        }
                        Match::New => {
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
        })?;
        self.db.healed();
        Ok(outcomes)
    }
}

/// What storing a message comes to.
enum Match {
    /// Held already under its key, listed with the same size: a retry.
    SameKey(u64),
    /// The same content as a stored message that no key of the mailbox holds now (a
    /// renumbered or restored mailbox, a reused key): that message takes the new key.
    Absorbs(u64),
    /// The same content as a message retention removed: stored once already, it is not
    /// stored again (its key points at the removed id).
    Removed(u64),
    /// A new message.
    New,
}

/// What storing `m` comes to (see [`Match`]). A key reused for other bytes is new mail;
/// identical copies the mailbox holds under live keys are stored apart, and each stored
/// message absorbs at most one message listed again.
fn find_match(t: &Tables, m: &NewMessage) -> Result<Match> {
    let by_key = t
        .keys
        .get((m.account.as_str(), m.server_key.as_str()))
        .map_err(db_err("read keys"))?
        .map(|v| v.value());
    if let Some((id, size)) = by_key
        && id != SEEN_NOT_INGESTED
        && size == m.listed_size
    {
        return Ok(Match::SameKey(id));
    }
    let hash = m.content_hash.as_slice();
    let account = m.account.as_str();
    let same_content = t
        .contents
        .range((account, hash, 0)..=(account, hash, u64::MAX))
        .map_err(db_err("read contents"))?;
    for entry in same_content {
        let id = entry.map_err(db_err("read contents"))?.0.value().2;
        if get_record(&t.metas, id)?.is_none() {
            return Ok(Match::Removed(id));
        }
        if !is_held(t, account, id, &m.server_key)? {
            return Ok(Match::Absorbs(id));
        }
    }
    Ok(Match::New)
}

/// True when stored message `id` is held by a key of the mailbox now: its key still points
/// at it, and (IMAP) is of the same UIDVALIDITY as `incoming` (another epoch's keys name
/// nothing on the server any more).
fn is_held(t: &Tables, account: &str, id: u64, incoming: &str) -> Result<bool> {
    let Some(rec) = get_record(&t.metas, id)? else {
        return Ok(true);
    };
    if let (Some(old), Some(new)) = (
        imap_key_uidvalidity(&rec.server_key),
        imap_key_uidvalidity(incoming),
    ) && old != new
    {
        return Ok(false);
    }
    let holder = t
        .keys
        .get((account, rec.server_key.as_str()))
        .map_err(db_err("read keys"))?
        .map(|v| v.value().0);
    Ok(holder == Some(id))
}

/// Gives stored message `id` the key of `m`, which it turned out to be.
fn take_key(t: &mut Tables, id: u64, m: &NewMessage) -> Result<()> {
    let Some(mut rec) = get_record(&t.metas, id)? else {
        return Ok(());
    };
    rec.server_key = m.server_key.clone();
    rec.meta.on_server = if m.delete_after {
        OnServer::DeletePending
    } else {
        OnServer::Kept
    };
    t.metas
        .insert(id, encode(&rec).as_slice())
        .map_err(db_err("write a message"))?;
    Ok(())
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
    for (n, piece) in raw_pieces(&m.raw).into_iter().enumerate() {
        t.raws
            .insert((id, n as u32), piece)
            .map_err(db_err("write a message"))?;
    }
    t.contents
        .insert((m.account.as_str(), m.content_hash.as_slice(), id), ())
        .map_err(db_err("write contents"))?;
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
