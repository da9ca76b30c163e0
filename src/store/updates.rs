//! The small writes beside message commits: keys seen but not ingested, deletes done on the
//! server and keys released when their messages are gone from it, account state,
//! subscriber cursors.
//!
//! Some are lazy: committed without their own fsync, made durable by the next durable
//! commit (every message commit, and the account state written after every check). They
//! are the records a check makes on its way, which a crash may lose because the next check
//! makes them again.

use redb::{ReadableTable, WriteTransaction};

use super::Store;
use super::error::{Result, db_err};
use super::handle::Guarded;
use super::records::{AccountState, Settled, StoredRecord, decode, encode, read_state};
use super::schema::SEEN_NOT_INGESTED;
use super::tables::Tables;
use crate::model::OnServer;

impl Store {
    /// A write transaction whose commit is not synced by itself (see the module docs).
    fn begin_lazy(&self) -> Result<Guarded<'_, WriteTransaction>> {
        let mut txn = self.begin_write()?;
        txn.set_durability(redb::Durability::None)
            .map_err(db_err("make the transaction lazy"))?;
        Ok(txn)
    }

    /// Remembers server keys as seen without ingesting them (`backfill = "new"`). Lazy: a
    /// lost record is made again by the next check's first listing.
    pub fn mark_seen(&self, account: &str, server_keys: &[(String, u64)]) -> Result<()> {
        self.write(|| {
            if server_keys.is_empty() {
                return Ok(());
            }
            let txn = self.begin_lazy()?;
            {
                let mut t = Tables::open(&txn)?;
                for (k, size) in server_keys {
                    let key = (account, k.as_str());
                    if t.keys.get(key).map_err(db_err("read keys"))?.is_none() {
                        t.keys
                            .insert(key, (SEEN_NOT_INGESTED, *size))
                            .map_err(db_err("write keys"))?;
                    }
                }
            }
            txn.commit().map_err(db_err("commit seen keys"))
        })
    }

    /// Records that these server keys are gone from the server: no delete is owed any more,
    /// and their messages show `on_server = deleted`.
    ///
    /// Lazy: a check deletes in many small steps, and a lost record is made again by the
    /// next check, which finds the messages gone from the server.
    pub fn mark_deleted(&self, account: &str, server_keys: &[String]) -> Result<()> {
        self.write(|| {
            if server_keys.is_empty() {
                return Ok(());
            }
            let txn = self.begin_lazy()?;
            {
                let mut t = Tables::open(&txn)?;
                for key in server_keys {
                    mark_one_deleted(&mut t, account, key)?;
                }
            }
            txn.commit().map_err(db_err("commit deletes"))
        })
    }

    /// A complete listing of the account's mailbox came: every key held for the account
    /// that is not in `listed` names a message gone from the server. Its key is released
    /// (listed again, it is new mail, matched by content), a delete it owed is done, and its
    /// message shows `on_server = deleted`. Lazy, like [`Store::mark_deleted`].
    pub fn settle_listing(&self, account: &str, listed: &[String]) -> Result<Settled> {
        self.write(|| {
            let listed: std::collections::HashSet<&str> =
                listed.iter().map(String::as_str).collect();
            let txn = self.begin_lazy()?;
            let settled = {
                let mut t = Tables::open(&txn)?;
                let mut gone = Vec::new();
                for entry in t.keys.range((account, "")..).map_err(db_err("read keys"))? {
                    let (k, _) = entry.map_err(db_err("read keys"))?;
                    let (acc, key) = k.value();
                    if acc != account {
                        break;
                    }
                    if !listed.contains(key) {
                        gone.push(key.to_string());
                    }
                }
                let mut settled = Settled::default();
                for key in &gone {
                    settled.owed_done += usize::from(mark_one_deleted(&mut t, account, key)?);
                    release_key(&mut t, account, key)?;
                }
                settled.gone = gone.len();
                settled
            };
            txn.commit().map_err(db_err("commit a listing"))?;
            Ok(settled)
        })
    }

    /// Changes an account's state in one durable transaction.
    pub fn update_account_state(
        &self,
        account: &str,
        change: impl FnOnce(&mut AccountState),
    ) -> Result<AccountState> {
        self.write(|| change_state(self.begin_write()?, account, change))
    }

    /// Changes an account's state lazily: for what a check notes on its way (UIDVALIDITY,
    /// backfill done), which the state written at its end makes durable.
    pub fn update_account_state_lazily(
        &self,
        account: &str,
        change: impl FnOnce(&mut AccountState),
    ) -> Result<AccountState> {
        self.write(|| change_state(self.begin_lazy()?, account, change))
    }

    /// Moves a subscriber's cursor forward to `id` (never back); durable when it returns.
    pub fn set_cursor(&self, name: &str, id: u64) -> Result<u64> {
        self.write(|| {
            let txn = self.begin_write()?;
            let now = {
                let mut t = Tables::open(&txn)?;
                let old = t
                    .cursors
                    .get(name)
                    .map_err(db_err("read a cursor"))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                let now = old.max(id);
                t.cursors
                    .insert(name, now)
                    .map_err(db_err("write a cursor"))?;
                now
            };
            txn.commit().map_err(db_err("commit a cursor"))?;
            Ok(now)
        })
    }
}

/// Clears the delete owed under `key`, marks its message deleted on the server, and
/// releases the key. False when no delete was owed under it.
fn mark_one_deleted(t: &mut Tables, account: &str, key: &str) -> Result<bool> {
    let Some(id) = t
        .pending
        .remove((account, key))
        .map_err(db_err("remove pending deletes"))?
        .map(|v| v.value())
    else {
        return Ok(false);
    };
    mark_gone(t, id, key)?;
    release_key(t, account, key)?;
    Ok(true)
}

/// Marks message `id` deleted on the server when it is still the one stored under `key`.
fn mark_gone(t: &mut Tables, id: u64, key: &str) -> Result<()> {
    let record = t
        .metas
        .get(id)
        .map_err(db_err("read a message"))?
        .map(|v| v.value().to_vec());
    if let Some(bytes) = record {
        let mut rec: StoredRecord = decode(id, &bytes)?;
        if rec.server_key == key && rec.meta.on_server != OnServer::Deleted {
            rec.meta.on_server = OnServer::Deleted;
            t.metas
                .insert(id, encode(&rec).as_slice())
                .map_err(db_err("write a message"))?;
        }
    }
    Ok(())
}

/// Forgets `key`: it names nothing on the server any more. A message stored under it that
/// the account kept shows `on_server = deleted` now (it is gone from the server).
fn release_key(t: &mut Tables, account: &str, key: &str) -> Result<()> {
    let Some((id, _)) = t
        .keys
        .remove((account, key))
        .map_err(db_err("release a key"))?
        .map(|v| v.value())
    else {
        return Ok(());
    };
    if id == SEEN_NOT_INGESTED {
        return Ok(());
    }
    mark_gone(t, id, key)
}

/// Reads an account's state, applies `change`, writes it back and commits `txn`.
fn change_state(
    txn: Guarded<'_, WriteTransaction>,
    account: &str,
    change: impl FnOnce(&mut AccountState),
) -> Result<AccountState> {
    let state = {
        let mut t = Tables::open(&txn)?;
        let mut state = read_state(&t.states, account)?;
        change(&mut state);
        t.states
            .insert(account, encode(&state).as_slice())
            .map_err(db_err("write account state"))?;
        state
    };
    txn.commit().map_err(db_err("commit account state"))?;
    Ok(state)
}
