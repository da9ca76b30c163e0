//! What a check will do, decided from the listing and the ledger: which messages to fetch,
//! which to leave alone, which owed deletes to send; and the fetch list cut into batches.

use std::collections::HashSet;

use super::ledger::{Known, Ledger};
use crate::config::{AccountConfig, Backfill};
use crate::error::CheckError;
use crate::protocol::ServerMessage;

/// One fetch command asks for about this many bytes...
pub const FETCH_BATCH_BYTES: u64 = 64 << 20;
/// ...or this many messages.
pub const FETCH_BATCH_MESSAGES: usize = 5000;

/// How many listed keys are looked up in the ledger at once.
const LOOKUP_CHUNK: usize = 10_000;

/// What a check will do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Messages to download, in listing order.
    pub to_fetch: Vec<ServerMessage>,
    /// Messages held already whose delete on the server is owed.
    pub owed_deletes: Vec<ServerMessage>,
    /// Messages left alone (held already, deliberately not ingested, or too large).
    pub skipped: u64,
    /// Of those, the ones larger than `max_message_size`.
    pub oversize: u64,
}

/// Decides what to do with each listed message; records the keys a `backfill = "new"`
/// account sees first, and settles owed deletes the server has done already.
pub async fn plan(
    account: &AccountConfig,
    ledger: &dyn Ledger,
    listing: Vec<ServerMessage>,
) -> Result<Plan, CheckError> {
    settle_vanished(account, ledger, &listing).await?;
    let remember_only =
        account.backfill == Backfill::New && !ledger.backfilled(&account.name).await?;
    let mut plan = Plan::default();
    let mut seen = Vec::new();
    for part in listing.chunks(LOOKUP_CHUNK) {
        let keys = part
            .iter()
            .map(|m| m.key.clone().unwrap_or_default())
            .collect();
        let known = ledger.known(&account.name, keys).await?;
        for (msg, known) in part.iter().zip(known) {
            match known {
                _ if msg.key.is_none() => plan.to_fetch.push(msg.clone()),
                Some(Known::Seen) => plan.skipped += 1,
                Some(Known::Stored { size, .. }) if size == msg.size => {
                    plan.skipped += 1;
                    if !account.keep_copy {
                        plan.owed_deletes.push(msg.clone());
                    }
                }
                _ if remember_only => {
                    seen.push((msg.key.clone().unwrap_or_default(), msg.size));
                    plan.skipped += 1;
                }
                _ if msg.size > account.max_message_size => {
                    plan.oversize += 1;
                    plan.skipped += 1;
                }
                _ => plan.to_fetch.push(msg.clone()),
            }
        }
    }
    ledger.planned(&account.name, seen).await?;
    Ok(plan)
}

/// Owed deletes whose message is no longer on the server are done: the process stopped
/// after the server deleted them but before the ledger heard of it (or another client
/// removed them). Only keyed listings can tell; without UIDL the next fetch settles them.
async fn settle_vanished(
    account: &AccountConfig,
    ledger: &dyn Ledger,
    listing: &[ServerMessage],
) -> Result<(), CheckError> {
    if listing.iter().any(|m| m.key.is_none()) {
        return Ok(());
    }
    let on_server: HashSet<&str> = listing.iter().filter_map(|m| m.key.as_deref()).collect();
    let gone: Vec<String> = ledger
        .owed_deletes(&account.name)
        .await?
        .into_iter()
        .filter(|k| !on_server.contains(k.as_str()))
        .collect();
    if !gone.is_empty() {
        let count = gone.len();
        ledger.deleted(&account.name, gone).await?;
        tracing::info!(account = %account.name, count, "owed deletes already done on the server; recorded");
    }
    Ok(())
}

/// Splits the fetch list into batches bounded in bytes and count.
pub fn batches(messages: &[ServerMessage]) -> Vec<&[ServerMessage]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        if i > start && (bytes + m.size > FETCH_BATCH_BYTES || i - start >= FETCH_BATCH_MESSAGES) {
            out.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += m.size;
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(size: u64) -> ServerMessage {
        ServerMessage {
            handle: 1,
            key: None,
            size,
        }
    }

    #[test]
    fn batches_are_bounded_in_bytes_and_count() {
        let n = FETCH_BATCH_MESSAGES;
        let list: Vec<_> = (0..2 * n + n / 2).map(|_| msg(1000)).collect();
        let b = batches(&list);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [n, n, n / 2]);
        // Each message a bit over half the byte bound: one per batch.
        let big: Vec<_> = (0..5).map(|_| msg(FETCH_BATCH_BYTES / 2 + 1)).collect();
        assert_eq!(batches(&big).len(), 5);
        assert!(batches(&[]).is_empty());
    }
}
