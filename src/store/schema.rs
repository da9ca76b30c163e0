//! The redb tables, their key and value types and the schema version, written down once.
//!
//! Layout (schema 3):
//! - `meta`: `"schema_version"`, `"next_id"` -> u64
//! - `message_meta`: id -> JSON [`StoredRecord`](super::StoredRecord) (metadata and server key)
//! - `message_raw_chunks`: (id, n) -> the n-th piece of the exact raw bytes: pieces of
//!   [`RAW_CHUNK_BYTES`], then ever smaller ones fitted to pages ([`raw_pieces`]; stored
//!   whole, a message would take a page of the next power of two)
//! - `by_server_key`: (account, server key) -> (id, size listed by the server), for the
//!   messages on the server now (a key is removed once its message is gone from it); id 0
//!   marks a message seen but deliberately not ingested (`backfill = "new"`); the keys are
//!   [`crate::protocol::keys`]
//! - `by_content`: (account, blake3 of the raw bytes, id) -> (), every stored message by
//!   its content: a message listed under a key that is not held is matched here against
//!   the stored messages no key holds (a renumbered mailbox, a restored one)
//! - `by_account`: (account, id) -> (), the Inbox report's index
//! - `pending_delete`: (account, server key) -> id, written in the message's transaction
//! - `account_state`: account -> JSON [`AccountState`](super::AccountState)
//! - `cursors`: subscriber name -> last acknowledged id
//! - `oauth2_refresh_tokens`: credential name -> JSON
//!   [`KeptRefreshToken`](super::KeptRefreshToken), the latest rotated refresh token

use redb::TableDefinition;

/// Bumped whenever a table or an encoding changes in a way older code would misread (a
/// table that older code never opens does not bump it). An older store is upgraded in place
/// (`upgrade.rs`); a newer one is refused.
pub const SCHEMA_VERSION: u64 = 3;

/// Schema version and id counter.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// id -> JSON record.
pub const MESSAGE_META: TableDefinition<u64, &[u8]> = TableDefinition::new("message_meta");
/// (id, piece number) -> a piece of the exact raw bytes.
pub const MESSAGE_RAW: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("message_raw_chunks");
/// Raw bytes are stored in pieces of this size: with the leaf's header and key, one piece
/// fills a 64 KiB page, where redb would round a larger value up to the next power of two.
pub const RAW_CHUNK_BYTES: usize = (64 << 10) - 64;
/// The sizes of the pieces after the full ones: each fills a page of 32, 16, 8 or 4 KiB,
/// so the end of a message wastes at most part of one 4 KiB page (a piece of any size reads
/// back the same: the bytes are the pieces in order).
pub const RAW_TAIL_PIECES: [usize; 4] = [
    (32 << 10) - 64,
    (16 << 10) - 64,
    (8 << 10) - 64,
    (4 << 10) - 64,
];

/// The pieces `raw` is stored in, in order.
pub fn raw_pieces(raw: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(raw.len() / RAW_CHUNK_BYTES + 4);
    let mut rest = raw;
    while !rest.is_empty() {
        let size = std::iter::once(RAW_CHUNK_BYTES)
            .chain(RAW_TAIL_PIECES)
            .find(|s| *s <= rest.len())
            .unwrap_or(rest.len());
        let (piece, tail) = rest.split_at(size);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}
/// (account, server key) -> (id, listed size).
pub const BY_SERVER_KEY: TableDefinition<(&str, &str), (u64, u64)> =
    TableDefinition::new("by_server_key");
/// (account, content hash, id): every stored message by its content.
pub const BY_CONTENT: TableDefinition<(&str, &[u8], u64), ()> = TableDefinition::new("by_content");
/// (account, id): the Inbox index.
pub const BY_ACCOUNT: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_account");
/// (account, server key) -> id of deletes owed.
pub const PENDING_DELETE: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("pending_delete");
/// account -> JSON state.
pub const ACCOUNT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("account_state");
/// subscriber -> last acknowledged id.
pub const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");

/// credential -> JSON kept refresh token.
pub const REFRESH_TOKENS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("oauth2_refresh_tokens");

/// The id that marks a server key as seen but not ingested.
pub const SEEN_NOT_INGESTED: u64 = 0;
