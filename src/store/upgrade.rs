//! Upgrades of an older store file, in place, one step per schema version, each in the
//! transaction that opens the store: it commits whole or not at all.
//!
//! - 2 -> 3: `by_hash` (account, content) -> one id became `by_content` (account, content,
//!   id), every stored message by its content (the old table kept only the last of
//!   identical copies: the contents are hashed again from the raw bytes); and the keys of
//!   messages already deleted on the server are released, as schema 3 does when it deletes.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::error::{Result, db_err};
use super::records::{StoredRecord, decode};
use super::tables::Tables;
use crate::model::OnServer;

/// Schema 2's content index.
const BY_HASH_V2: TableDefinition<(&str, &[u8]), u64> = TableDefinition::new("by_hash");

/// Brings a store of schema `from` to the current one; `false` when there is no step from
/// it (the caller refuses the file).
pub(super) fn upgrade(txn: &WriteTransaction, from: u64) -> Result<bool> {
    match from {
        2 => two_to_three(txn)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn two_to_three(txn: &WriteTransaction) -> Result<()> {
    txn.delete_table(BY_HASH_V2)
        .map_err(db_err("drop the old content index"))?;
    let mut t = Tables::open(txn)?;
    let mut released = Vec::new();
    for entry in t.metas.iter().map_err(db_err("read messages"))? {
        let (id, bytes) = entry.map_err(db_err("read messages"))?;
        let id = id.value();
        let rec: StoredRecord = decode(id, bytes.value())?;
        let mut hasher = blake3::Hasher::new();
        for piece in t
            .raws
            .range((id, 0)..=(id, u32::MAX))
            .map_err(db_err("read a message"))?
        {
            hasher.update(piece.map_err(db_err("read a message"))?.1.value());
        }
        let account = rec.meta.account.as_str();
        t.contents
            .insert((account, hasher.finalize().as_bytes().as_slice(), id), ())
            .map_err(db_err("write contents"))?;
        if rec.meta.on_server == OnServer::Deleted {
            released.push((rec.meta.account.clone(), rec.server_key.clone(), id));
        }
    }
    for (account, key, id) in released {
        let holder = t
            .keys
            .get((account.as_str(), key.as_str()))
            .map_err(db_err("read keys"))?
            .map(|v| v.value().0);
        if holder == Some(id) {
            t.keys
                .remove((account.as_str(), key.as_str()))
                .map_err(db_err("release a key"))?;
        }
    }
    Ok(())
}
