//! One check of one account, whatever the protocol: list what the server has, skip what is
//! held already, fetch the rest in bounded batches into a [`Sink`], and delete on the server
//! exactly what the sink acknowledged as durable.
//!
//! The check knows the protocol only through [`Session`], where messages go only through
//! [`Sink`], and its bookkeeping only through [`Ledger`]: the account actor hands it real
//! ones, the unit tests scripted and in-memory ones.

mod ledger;
mod plan;

use std::sync::Arc;
use std::time::Instant;

pub use ledger::{Known, Ledger, Leftovers, Settled};
pub use plan::{FETCH_BATCH_BYTES, FETCH_BATCH_MESSAGES, Plan};

use crate::config::{AccountConfig, Backfill};
use crate::error::{CheckError, Stage, chain};
use crate::metrics as m;
use crate::model::CheckSummary;
use crate::progress::Progress;
use crate::protocol::{Acked, Ahead, Deleted, Durable, ServerMessage, Session, Sink, Tally};

/// Where a check's fetched messages go: a new [`Sink`] for each check of an account.
pub trait Destination: Send + Sync {
    /// The sink of one check of `account`, counting its download into `progress`.
    fn sink(&self, account: &AccountConfig, progress: Arc<Progress>) -> Box<dyn Sink>;
}

/// While the sink catches up after the download, acknowledged messages are deleted in
/// commands of at least this many (the rest at the end): Dovecot rewrites its index for
/// every expunge, so many small ones cost more than they overlap.
const DRAIN_DELETE_BATCH: usize = 1000;

/// What the next session of `account` may ask for ahead of its listing: the messages from
/// where the last session expected new mail (from the first, before the first check).
/// Nothing when that is unknown after earlier checks, or for a `backfill = "new"` account.
pub async fn ahead(
    account: &AccountConfig,
    ledger: &dyn Ledger,
) -> Result<Option<Ahead>, CheckError> {
    // A `backfill = "new"` account only remembers what it sees at its first check and
    // after a renumbering, which a session cannot tell before it lists: it never asks ahead.
    if account.backfill == Backfill::New {
        return Ok(None);
    }
    if !ledger.backfilled(&account.name).await? {
        return Ok(Some(Ahead { from: 1 }));
    }
    Ok(ledger
        .new_from(&account.name)
        .await?
        .map(|from| Ahead { from }))
}

/// Notes how a check that asked ahead ended: a server that ended the session over what was
/// asked ahead, or two such checks in a row failing while fetching, and nothing is asked
/// ahead again for the account (a server stricter about failed commands than the
/// [`crate::protocol::Ahead`] burst allows for; a connection reset may hide which).
pub async fn ahead_failed(
    account: &AccountConfig,
    ledger: &dyn Ledger,
    error: &CheckError,
) -> Result<(), CheckError> {
    if error.failure == crate::error::Failure::AheadRefused {
        ledger.refuse_ahead(&account.name, true).await
    } else if error.stage == Stage::Fetch {
        ledger.refuse_ahead(&account.name, false).await
    } else {
        Ok(())
    }
}

/// Runs one check over an open session. Counts go into `summary` even when it fails.
pub async fn run(
    account: &AccountConfig,
    session: Box<dyn Session>,
    sink: &mut dyn Sink,
    ledger: &dyn Ledger,
    progress: &Progress,
    summary: &mut CheckSummary,
) -> Result<(), CheckError> {
    let mut check = Check {
        account,
        ledger,
        session,
        summary,
        owed_at_finish: Vec::new(),
        leftovers: Leftovers::default(),
        not_stored: Vec::new(),
    };
    check.note_epoch().await?;
    let above = check.listed_up_to().await?;
    let listing = match check.session.list(above, sink).await {
        Ok(listing) => listing,
        Err(e) => return Err(check.fail_early(sink, e).await),
    };
    tracing::debug!(account = %account.name, listed = listing.messages.len(), "listed");
    let listed_high = listing.messages.iter().map(|m| m.handle).max();
    let plan = match plan::plan(account, ledger, listing).await {
        Ok(plan) => plan,
        Err(e) => return Err(check.fail_early(sink, e).await),
    };
    check.skipped(&plan);
    progress.begin(
        plan.to_fetch.len() as u64,
        plan.to_fetch.iter().map(|m| m.size).sum(),
    );
    let failure = check.download(&plan.to_fetch, sink).await.err();
    tracing::debug!(account = %account.name, "downloaded");
    let (to_delete, failure) = check.drain(sink, failure).await;
    check.downloaded(sink.tally());
    if let Some(e) = failure {
        check.note_leftovers().await?;
        return Err(e);
    }
    // Deletes owed from earlier checks go with this check's last ones, after the download:
    // a command before it would come between the session and what it asked for ahead.
    let mut owed = plan.owed_deletes;
    owed.extend(to_delete);
    check.delete(owed).await?;
    check.note_listed(above, listed_high).await?;
    check.finish().await
}

/// A check under way: its session, and what it has counted and owes.
struct Check<'a> {
    account: &'a AccountConfig,
    ledger: &'a dyn Ledger,
    session: Box<dyn Session>,
    summary: &'a mut CheckSummary,
    /// Deleted on the server once the session ends cleanly (POP3, at QUIT).
    owed_at_finish: Vec<ServerMessage>,
    /// What stays on the server, for the account's report.
    leftovers: Leftovers,
    /// Handles of the messages this check downloaded but could not store.
    not_stored: Vec<u32>,
}

impl Check<'_> {
    /// Records the mailbox's epoch; a change is logged (renumbered messages are then matched
    /// by content, so nothing already stored is imported twice).
    async fn note_epoch(&mut self) -> Result<(), CheckError> {
        let Some(epoch) = self.session.epoch() else {
            return Ok(());
        };
        let before = self.ledger.note_epoch(&self.account.name, epoch).await?;
        if let Some(old) = before.filter(|old| *old != epoch) {
            tracing::warn!(account = %self.account.name, old, new = epoch, "UIDVALIDITY changed: messages are matched by content, nothing already stored is imported again");
        }
        Ok(())
    }

    /// The highest handle settled in the session's epoch, when the protocol has epochs.
    async fn listed_up_to(&mut self) -> Result<Option<u32>, CheckError> {
        match self.session.epoch() {
            Some(epoch) => self.ledger.listed_up_to(&self.account.name, epoch).await,
            None => Ok(None),
        }
    }

    /// Records how far the listing is settled: up to its highest handle, or below the
    /// first message that could not be stored (listed again next time).
    async fn note_listed(
        &mut self,
        above: Option<u32>,
        listed_high: Option<u32>,
    ) -> Result<(), CheckError> {
        let (Some(epoch), Some(high)) = (self.session.epoch(), listed_high) else {
            return Ok(());
        };
        let settled = match self.not_stored.iter().min() {
            Some(first) => first.saturating_sub(1),
            None => high,
        };
        if above.is_none_or(|a| settled > a) {
            self.ledger
                .note_listed_up_to(&self.account.name, epoch, settled)
                .await?;
        }
        Ok(())
    }

    /// Counts what the plan leaves alone.
    fn skipped(&mut self, plan: &Plan) {
        self.summary.skipped += plan.skipped;
        self.leftovers.oversize += plan.oversize;
        count(&self.account.name, "oversize", plan.oversize);
        if plan.oversize > 0 {
            tracing::warn!(account = %self.account.name, count = plan.oversize, limit = self.account.max_message_size, "messages larger than max_message_size stay on the server");
        }
    }

    /// Downloads the fetch list batch by batch, deleting between batches what the sink has
    /// acknowledged meanwhile.
    async fn download(
        &mut self,
        to_fetch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        let batches = plan::batches(to_fetch);
        let last = batches.len().saturating_sub(1);
        for (i, batch) in batches.into_iter().enumerate() {
            self.session.fetch(batch, sink).await?;
            // What the last batch leaves acknowledged is deleted by the drain, together
            // with what follows: one round of deletes instead of two.
            if i < last {
                let acked = self.settle(sink.acks().ready());
                self.delete(acked).await?;
            }
        }
        Ok(())
    }

    /// Waits until the sink has acknowledged everything: whatever happened to the
    /// connection, what was downloaded still gets stored. Meanwhile the session (which the
    /// download no longer needs) deletes what is acknowledged, in large groups. Returns the
    /// acknowledged messages still to delete, and the first failure.
    async fn drain(
        &mut self,
        sink: &mut dyn Sink,
        mut failure: Option<CheckError>,
    ) -> (Vec<ServerMessage>, Option<CheckError>) {
        let started = Instant::now();
        sink.flush();
        let mut to_delete = Vec::new();
        while let Some(acks) = sink.acks().next().await {
            to_delete.extend(self.settle(acks));
            if failure.is_none() && sink.acks().in_flight() && to_delete.len() >= DRAIN_DELETE_BATCH
            {
                failure = self.delete(std::mem::take(&mut to_delete)).await.err();
            }
        }
        tracing::debug!(account = %self.account.name, waited_for_sink = ?sink.tally().waited, drain = ?started.elapsed(), "download finished");
        (to_delete, failure)
    }

    /// Ends a check that failed before its download: what was handed on while listing (asked
    /// ahead) is still stored, or not, and deleted when stored; when the store failed on
    /// it, that is the cause to show (a ledger that failed after it only says the store is
    /// broken).
    async fn fail_early(&mut self, sink: &mut dyn Sink, e: CheckError) -> CheckError {
        let (to_delete, _) = self.drain(sink, None).await;
        self.downloaded(sink.tally());
        // The session may still be fine (a ledger failed, not the connection): what is
        // durable is deleted now; else it stays owed.
        if let Err(not_deleted) = self.delete(to_delete).await {
            tracing::debug!(account = %self.account.name, error = %not_deleted, "deletes after a failed listing stay owed");
        }
        let _ = self.note_leftovers().await;
        match &self.summary.error {
            Some(stored) if sink.tally().fetched > 0 => {
                CheckError::new(Stage::Store, stored.clone())
            }
            _ => e,
        }
    }

    /// Counts what the download brought.
    fn downloaded(&mut self, tally: Tally) {
        self.summary.fetched += tally.fetched;
        self.summary.skipped += tally.oversize + tally.size_mismatch;
        self.leftovers.oversize += tally.oversize;
        self.leftovers.size_mismatch += tally.size_mismatch;
    }

    /// Records what stays on the server (shown in the account's report).
    async fn note_leftovers(&mut self) -> Result<(), CheckError> {
        let leftovers = std::mem::take(&mut self.leftovers);
        self.ledger
            .note_leftovers(&self.account.name, leftovers)
            .await
    }

    /// Counts acknowledgements; returns the messages now safe to delete on the server.
    fn settle(&mut self, acks: Vec<Acked>) -> Vec<ServerMessage> {
        let name = &self.account.name;
        let mut to_delete = Vec::new();
        let stored_before = self.summary.stored;
        for Acked { messages, result } in acks {
            match result {
                Ok(outcomes) => {
                    for (msg, outcome) in messages.into_iter().zip(outcomes) {
                        match outcome {
                            Durable::Stored(_) => self.summary.stored += 1,
                            Durable::Duplicate(_) => {
                                self.summary.skipped += 1;
                                count(name, "duplicate", 1);
                            }
                        }
                        if !self.account.keep_copy {
                            to_delete.push(msg);
                        }
                    }
                }
                Err(e) => {
                    // Not stored: nothing is deleted, the next check fetches them again.
                    self.not_stored.extend(messages.iter().map(|m| m.handle));
                    let e = chain(&e);
                    self.summary.errors += messages.len() as u64;
                    metrics::counter!(m::ERRORS, "account" => name.clone(), "stage" => Stage::Store.as_str()).increment(1);
                    tracing::error!(account = %name, error = %e, messages = messages.len(), "messages not stored; they stay on the server");
                    self.summary.error.get_or_insert(e);
                }
            }
        }
        count(name, "stored", self.summary.stored - stored_before);
        to_delete
    }

    /// Deletes acknowledged messages on the server and records what is done. What the
    /// server refuses stays owed, and the refusal shows in the account's report.
    async fn delete(&mut self, messages: Vec<ServerMessage>) -> Result<(), CheckError> {
        if messages.is_empty() || self.account.keep_copy {
            return Ok(());
        }
        let name = &self.account.name;
        let started = Instant::now();
        let deletion = self.session.delete(&messages).await?;
        tracing::debug!(account = %name, count = messages.len(), took = ?started.elapsed(), "deleted on the server");
        if let Some(reason) = &deletion.reason {
            note_refusal(name, &mut self.leftovers, deletion.refused.len(), reason);
        }
        let refused: std::collections::HashSet<u32> = deletion.refused.into_iter().collect();
        let done = messages
            .into_iter()
            .filter(|m| !refused.contains(&m.handle));
        match deletion.deleted {
            Deleted::Now => self.deleted(done.filter_map(|m| m.key).collect()).await?,
            Deleted::AtFinish => self.owed_at_finish.extend(done),
            Deleted::Flagged => {
                let keys: Vec<String> = done.filter_map(|m| m.key).collect();
                tracing::warn!(account = %name, count = keys.len(), "server lacks UIDPLUS: messages flagged \\Deleted and await an expunge by another client");
            }
        }
        Ok(())
    }

    /// Records deletes done on the server.
    async fn deleted(&mut self, keys: Vec<String>) -> Result<(), CheckError> {
        record_deleted(self.account, self.ledger, self.summary, keys).await
    }

    /// Ends the session, records the deletes it made final (POP3's, at QUIT) and what stays
    /// on the server.
    async fn finish(self) -> Result<(), CheckError> {
        let Check {
            account,
            ledger,
            session,
            summary,
            owed_at_finish,
            mut leftovers,
            ..
        } = self;
        let ended = session.finish().await;
        let finished = match ended {
            Ok(finished) => finished,
            Err(e) => {
                ledger.note_leftovers(&account.name, leftovers).await?;
                return Err(e);
            }
        };
        if let Some(reason) = &finished.reason {
            note_refusal(
                &account.name,
                &mut leftovers,
                finished.refused.len(),
                reason,
            );
        }
        let refused: std::collections::HashSet<u32> = finished.refused.into_iter().collect();
        let keys = owed_at_finish
            .into_iter()
            .filter(|m| !refused.contains(&m.handle))
            .filter_map(|m| m.key)
            .collect();
        record_deleted(account, ledger, summary, keys).await?;
        if let Some(from) = finished.new_from {
            ledger.note_new_from(&account.name, from).await?;
        }
        ledger.note_leftovers(&account.name, leftovers).await
    }
}

/// Counts and logs deletes the server refused, and keeps its words for the account's report.
fn note_refusal(account: &str, leftovers: &mut Leftovers, refused: usize, reason: &str) {
    metrics::counter!(m::ERRORS, "account" => account.to_string(), "stage" => Stage::Delete.as_str()).increment(1);
    tracing::warn!(account = %account, refused, reason = %reason, "the server refused deletes; they stay owed");
    leftovers.delete_error = Some(reason.to_string());
}

/// Records deletes done on the server, and counts them.
async fn record_deleted(
    account: &AccountConfig,
    ledger: &dyn Ledger,
    summary: &mut CheckSummary,
    keys: Vec<String>,
) -> Result<(), CheckError> {
    if keys.is_empty() {
        return Ok(());
    }
    let n = keys.len() as u64;
    ledger.deleted(&account.name, keys).await?;
    summary.deleted += n;
    count(&account.name, "deleted", n);
    Ok(())
}

/// Counts `n` messages of `outcome` for `account` (nothing when zero).
fn count(account: &str, outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(m::MESSAGES, "account" => account.to_string(), "outcome" => outcome)
            .increment(n);
    }
}

#[cfg(test)]
mod tests;
