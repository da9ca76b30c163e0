//! Retention: an account's oldest messages leave the store once they are older than its
//! `keep_for` or past its `keep_max`, a few at a time so commits of new mail never wait
//! long; never one that a Feed subscriber has not acknowledged, never one whose delete on
//! the server is still owed. A removed message that stays on the server keeps its key
//! (marked seen, not held), so it is not downloaded again; and its content entry stays, so
//! listed under another key (a rebuilt mailbox) it is recognised and not stored again.

use std::time::{Duration, SystemTime};

use redb::ReadableTable;

use super::Store;
use super::error::{Result, db_err};
use super::records::{Retained, Subscriber, encode, get_record, read_state};
use super::schema::*;
use super::tables::Tables;

/// Most messages one retention transaction removes.
const STEP_MESSAGES: usize = 256;
/// Most raw bytes one retention transaction removes.
const STEP_BYTES: u64 = 32 << 20;

impl Store {
    /// The messages of `account` that retention would remove now, oldest first: those
    /// received before `now - keep_for`, then the oldest until the rest fit in `keep_max`
    /// bytes. Returns them with the account's size in bytes.
    pub fn retention_due(
        &self,
        account: &str,
        keep_for: Option<Duration>,
        keep_max: Option<u64>,
        now: SystemTime,
    ) -> Result<(Vec<u64>, u64)> {
        let cutoff = keep_for.and_then(|d| now.checked_sub(d));
        let txn = self.begin_read()?;
        let index = txn
            .open_table(BY_ACCOUNT)
            .map_err(db_err("open the inbox index"))?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        let mut held = Vec::new();
        let mut total = 0u64;
        for entry in index
            .range((account, 0)..=(account, u64::MAX))
            .map_err(db_err("read the inbox index"))?
        {
            let id = entry.map_err(db_err("read the inbox index"))?.0.value().1;
            if let Some(rec) = get_record(&metas, id)? {
                let received = humantime::parse_rfc3339(&rec.meta.received_at).ok();
                total += rec.meta.size;
                held.push((id, rec.meta.size, received));
            }
        }
        let mut due = Vec::new();
        let mut left = total;
        for (id, size, received) in held {
            let old = matches!((cutoff, received), (Some(c), Some(r)) if r < c);
            let over = keep_max.is_some_and(|max| left > max);
            if !(old || over) {
                break;
            }
            due.push(id);
            left -= size;
        }
        Ok((due, total))
    }

    /// Removes what it may of `due` (ids of `account`, oldest first) in one transaction of
    /// at most a few hundred messages or tens of MiB. Returns what it did; `rest` is the
    /// part of `due` it did not reach.
    pub fn retention_step(&self, account: &str, due: &[u64]) -> Result<Retained> {
        self.write(|| {
            let txn = self.begin_write()?;
            let done = {
                let mut t = Tables::open(&txn)?;
                let acknowledged = lowest_cursor(&t)?;
                let mut done = Retained::default();
                for (n, &id) in due.iter().enumerate() {
                    if done.removed as usize >= STEP_MESSAGES || done.bytes >= STEP_BYTES {
                        break;
                    }
                    if acknowledged.is_some_and(|a| id > a) {
                        // Ids grow in store order: every later one is held back too.
                        done.held_by_subscriber = (due.len() - n) as u64;
                        done.looked = due.len() as u64;
                        break;
                    }
                    done.looked += 1;
                    match remove(&mut t, account, id)? {
                        Removal::Removed(bytes) => {
                            done.removed += 1;
                            done.bytes += bytes;
                        }
                        Removal::DeleteOwed => done.held_by_delete += 1,
                        Removal::Gone => {}
                    }
                }
                if done.removed > 0 {
                    let mut state = read_state(&t.states, account)?;
                    state.messages_stored = state.messages_stored.saturating_sub(done.removed);
                    t.states
                        .insert(account, encode(&state).as_slice())
                        .map_err(db_err("write account state"))?;
                }
                done
            };
            txn.commit().map_err(db_err("commit a retention step"))?;
            Ok(done)
        })
    }

    /// Every Feed subscriber by name: the last id it acknowledged and how many stored
    /// messages come after it (which retention keeps for it).
    pub fn subscribers(&self) -> Result<Vec<Subscriber>> {
        let txn = self.begin_read()?;
        let cursors = txn.open_table(CURSORS).map_err(db_err("open cursors"))?;
        let metas = txn
            .open_table(MESSAGE_META)
            .map_err(db_err("open messages"))?;
        let mut out = Vec::new();
        for entry in cursors.iter().map_err(db_err("read cursors"))? {
            let (k, v) = entry.map_err(db_err("read cursors"))?;
            let acknowledged = v.value();
            let behind = metas
                .range(acknowledged.saturating_add(1)..)
                .map_err(db_err("read messages"))?
                .count() as u64;
            out.push(Subscriber {
                name: k.value().to_string(),
                acknowledged,
                behind,
            });
        }
        Ok(out)
    }

    /// Forgets subscriber `name` (it holds nothing back any more). True when it was known.
    pub fn remove_subscriber(&self, name: &str) -> Result<bool> {
        self.write(|| {
            let txn = self.begin_write()?;
            let known = {
                let mut t = Tables::open(&txn)?;
                t.cursors
                    .remove(name)
                    .map_err(db_err("remove a cursor"))?
                    .is_some()
            };
            txn.commit().map_err(db_err("commit a cursor"))?;
            Ok(known)
        })
    }

    /// Makes `name` a subscriber from the start (cursor 0) unless it is one: from then on
    /// retention keeps what it has not acknowledged.
    pub fn register_subscriber(&self, name: &str) -> Result<()> {
        if self.cursor_of(name)?.is_some() {
            return Ok(());
        }
        self.write(|| {
            let txn = self.begin_write()?;
            {
                let mut t = Tables::open(&txn)?;
                if t.cursors
                    .get(name)
                    .map_err(db_err("read a cursor"))?
                    .is_none()
                {
                    t.cursors
                        .insert(name, 0)
                        .map_err(db_err("write a cursor"))?;
                }
            }
            txn.commit().map_err(db_err("commit a cursor"))?;
            Ok(())
        })
    }

    fn cursor_of(&self, name: &str) -> Result<Option<u64>> {
        let txn = self.begin_read()?;
        let cursors = txn.open_table(CURSORS).map_err(db_err("open cursors"))?;
        Ok(cursors
            .get(name)
            .map_err(db_err("read a cursor"))?
            .map(|v| v.value()))
    }
}

/// The lowest id every subscriber has acknowledged; `None` without subscribers.
fn lowest_cursor(t: &Tables) -> Result<Option<u64>> {
    let mut lowest: Option<u64> = None;
    for entry in t.cursors.iter().map_err(db_err("read cursors"))? {
        let v = entry.map_err(db_err("read cursors"))?.1.value();
        lowest = Some(lowest.map_or(v, |l| l.min(v)));
    }
    Ok(lowest)
}

enum Removal {
    Removed(u64),
    DeleteOwed,
    Gone,
}

/// Removes message `id` of `account`: its record, bytes and inbox entry; a key that still
/// names it is kept as seen-not-held, its content entry as the mark of a removed message.
fn remove(t: &mut Tables, account: &str, id: u64) -> Result<Removal> {
    let Some(record) = get_record(&t.metas, id)? else {
        return Ok(Removal::Gone);
    };
    let key = (account, record.server_key.as_str());
    if t.pending
        .get(key)
        .map_err(db_err("read pending deletes"))?
        .is_some()
    {
        return Ok(Removal::DeleteOwed);
    }
    let mut pieces = Vec::new();
    for piece in t
        .raws
        .range((id, 0)..=(id, u32::MAX))
        .map_err(db_err("read a message"))?
    {
        pieces.push(piece.map_err(db_err("read a message"))?.0.value().1);
    }
    for n in pieces {
        t.raws.remove((id, n)).map_err(db_err("remove a message"))?;
    }
    t.by_account
        .remove((account, id))
        .map_err(db_err("remove from the inbox index"))?;
    let listed = t
        .keys
        .get(key)
        .map_err(db_err("read keys"))?
        .map(|v| v.value());
    if let Some((held, size)) = listed
        && held == id
    {
        t.keys
            .insert(key, (SEEN_NOT_INGESTED, size))
            .map_err(db_err("write keys"))?;
    }
    t.metas.remove(id).map_err(db_err("remove a message"))?;
    Ok(Removal::Removed(record.meta.size))
}
