//! What a check will do, decided from the listing and the ledger: what is gone from the
//! server, which messages to fetch, which to leave alone, which owed deletes to send; and
//! the fetch list cut into batches.

use super::ledger::{Known, Ledger, Settled};
use crate::config::{AccountConfig, Backfill};
use crate::error::CheckError;
use crate::protocol::{Listing, ServerMessage};

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

/// Decides what to do with each listed message. A complete listing first settles what is
/// gone from the server (owed deletes done, keys released); a `backfill = "new"` account
/// remembers what it sees at its first check, and again after its mailbox was renumbered.
pub async fn plan(
    account: &AccountConfig,
    ledger: &dyn Ledger,
    listing: Listing,
) -> Result<Plan, CheckError> {
    let name = &account.name;
    let settled = settle(account, ledger, &listing).await?;
    let known = known(ledger, name, &listing.messages).await?;
    let renumbered =
        settled.gone > 0 && !listing.messages.is_empty() && known.iter().all(Option::is_none);
    let first = !ledger.backfilled(name).await?;
    let remember_only = account.backfill == Backfill::New && (first || renumbered);
    if renumbered {
        tracing::warn!(account = %name, gone = settled.gone, listed = listing.messages.len(), remember_only, "the mailbox was renumbered (no listed key is known, the known ones are gone)");
    }
    let mut plan = Plan::default();
    let mut seen = Vec::new();
    let fetched: std::collections::HashSet<u32> = listing.fetched.iter().copied().collect();
    for (msg, known) in listing.messages.into_iter().zip(known) {
        match known {
            // Handed to the sink while listing: its acknowledgement settles it.
            _ if fetched.contains(&msg.handle) => {}
            _ if msg.key.is_none() => plan.to_fetch.push(msg),
            Some(Known::Seen) => plan.skipped += 1,
            Some(Known::Stored { size, .. }) if size == msg.size => {
                plan.skipped += 1;
                if !account.keep_copy {
                    plan.owed_deletes.push(msg);
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
            _ => plan.to_fetch.push(msg),
        }
    }
    ledger.planned(name, seen).await?;
    Ok(plan)
}

/// What a complete, keyed listing settles: what is gone from the server. Only such a
/// listing can tell (without UIDL the next fetch settles an owed delete).
async fn settle(
    account: &AccountConfig,
    ledger: &dyn Ledger,
    listing: &Listing,
) -> Result<Settled, CheckError> {
    if !listing.complete {
        return Ok(Settled::default());
    }
    let keys: Vec<String> = listing
        .messages
        .iter()
        .filter_map(|m| m.key.clone())
        .collect();
    let settled = ledger.settle_listing(&account.name, keys).await?;
    if settled.owed_done > 0 {
        tracing::info!(account = %account.name, count = settled.owed_done, "owed deletes already done on the server; recorded");
    }
    Ok(settled)
}

/// What the ledger holds under each listed key.
async fn known(
    ledger: &dyn Ledger,
    account: &str,
    messages: &[ServerMessage],
) -> Result<Vec<Option<Known>>, CheckError> {
    let mut out = Vec::with_capacity(messages.len());
    for part in messages.chunks(LOOKUP_CHUNK) {
        let keys = part
            .iter()
            .map(|m| m.key.clone().unwrap_or_default())
            .collect();
        out.extend(ledger.known(account, keys).await?);
    }
    Ok(out)
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
