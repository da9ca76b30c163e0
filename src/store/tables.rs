//! Every table of a write transaction, opened once: a commit of many messages reads and
//! writes several tables per message, and opening them per message would cost more than
//! the writes. The small writes use the same struct, so the tables are named in one place
//! (opening the ones they do not touch costs a root lookup each, nothing beside an fsync).

use redb::{ReadableTable, Table, WriteTransaction};

use super::error::{Result, db_err};
use super::schema::*;

const OPEN: &str = "open the tables";

/// The tables of one write transaction.
pub(super) struct Tables<'t> {
    pub meta: Table<'t, &'static str, u64>,
    pub metas: Table<'t, u64, &'static [u8]>,
    pub raws: Table<'t, (u64, u32), &'static [u8]>,
    pub keys: Table<'t, (&'static str, &'static str), (u64, u64)>,
    pub contents: Table<'t, (&'static str, &'static [u8], u64), ()>,
    pub by_account: Table<'t, (&'static str, u64), ()>,
    pub pending: Table<'t, (&'static str, &'static str), u64>,
    pub states: Table<'t, &'static str, &'static [u8]>,
    pub cursors: Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    /// Opens (creating when missing) every table in `txn`.
    pub fn open(txn: &'t WriteTransaction) -> Result<Self> {
        Ok(Tables {
            meta: txn.open_table(META).map_err(db_err(OPEN))?,
            metas: txn.open_table(MESSAGE_META).map_err(db_err(OPEN))?,
            raws: txn.open_table(MESSAGE_RAW).map_err(db_err(OPEN))?,
            keys: txn.open_table(BY_SERVER_KEY).map_err(db_err(OPEN))?,
            contents: txn.open_table(BY_CONTENT).map_err(db_err(OPEN))?,
            by_account: txn.open_table(BY_ACCOUNT).map_err(db_err(OPEN))?,
            pending: txn.open_table(PENDING_DELETE).map_err(db_err(OPEN))?,
            states: txn.open_table(ACCOUNT_STATE).map_err(db_err(OPEN))?,
            cursors: txn.open_table(CURSORS).map_err(db_err(OPEN))?,
        })
    }

    /// The next message id (1 in a new store).
    pub fn next_id(&self) -> Result<u64> {
        Ok(self
            .meta
            .get("next_id")
            .map_err(db_err("read the next id"))?
            .map(|v| v.value())
            .unwrap_or(1))
    }
}
