//! The store actor: the one writer of messages into the redb file, committing in groups.
//! (The check's small bookkeeping writes and subscriber cursors go to the store directly,
//! each its own short transaction; redb serialises them with the commits.)
//!
//! Commit requests from every account queue here; while one transaction commits (fsync, on
//! a blocking thread), the next requests wait and then go into the next transaction
//! together, up to [`MAX_COMMIT_BYTES`] of raw bytes per transaction (so redb never spills
//! its dirty pages). Each requester gets the outcome of its own messages only after the
//! transaction holding them committed: that reply is the acknowledgement a delete waits for.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::store::{MAX_COMMIT_BYTES, NewMessage, Store, StoreError, StoreOutcome};

/// Why a group commit did not commit: nothing of it is stored.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CommitError {
    /// The store refused the transaction (shared by every request in it).
    #[error("the store commit failed")]
    Store(#[source] Arc<StoreError>),
    /// The commit's thread panicked.
    #[error("the store commit panicked")]
    Panicked,
}

/// The outcome of one commit request: one outcome per message, or why nothing committed.
pub type CommitReply = Result<Vec<StoreOutcome>, CommitError>;

/// Messages of the store actor.
pub enum StoreMsg {
    /// Commit these messages; reply after the commit.
    Commit(Vec<NewMessage>, RpcReplyPort<CommitReply>),
    /// Internal: a group commit finished.
    Committed(CommitReply, Vec<Waiter>),
}

/// A requester waiting for its part of a group commit.
pub struct Waiter {
    count: usize,
    reply: RpcReplyPort<CommitReply>,
}

/// The store actor (see the module documentation).
pub struct StoreActor;

/// The store actor's state.
pub struct StoreState {
    /// The database; message writes happen only here.
    store: Arc<Store>,
    /// Woken after every successful commit (subscribers wait on it).
    committed: Arc<Notify>,
    /// Requests waiting for the next transaction.
    queue: Vec<(Vec<NewMessage>, RpcReplyPort<CommitReply>)>,
    /// True while a transaction is committing.
    committing: bool,
}

impl Actor for StoreActor {
    type Msg = StoreMsg;
    type State = StoreState;
    type Arguments = (Arc<Store>, Arc<Notify>);

    async fn pre_start(
        &self,
        _myself: ActorRef<StoreMsg>,
        (store, committed): (Arc<Store>, Arc<Notify>),
    ) -> Result<StoreState, ActorProcessingErr> {
        Ok(StoreState {
            store,
            committed,
            queue: Vec::new(),
            committing: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<StoreMsg>,
        msg: StoreMsg,
        state: &mut StoreState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StoreMsg::Commit(batch, reply) => {
                state.queue.push((batch, reply));
                if !state.committing {
                    start_commit(&myself, state);
                }
            }
            StoreMsg::Committed(result, waiters) => {
                if result.is_ok() {
                    state.committed.notify_waiters();
                }
                answer(result, waiters);
                state.committing = false;
                if !state.queue.is_empty() {
                    start_commit(&myself, state);
                }
            }
        }
        Ok(())
    }
}

/// Commits the oldest queued requests, up to [`MAX_COMMIT_BYTES`], in one transaction, off
/// the async threads.
fn start_commit(myself: &ActorRef<StoreMsg>, state: &mut StoreState) {
    state.committing = true;
    let mut all = Vec::new();
    let mut waiters = Vec::new();
    let taken = requests_that_fit(
        state
            .queue
            .iter()
            .map(|(batch, _)| batch.iter().map(|m| m.raw.len()).sum()),
    );
    for (batch, reply) in state.queue.drain(..taken) {
        waiters.push(Waiter {
            count: batch.len(),
            reply,
        });
        all.extend(batch);
    }
    let store = state.store.clone();
    let me = myself.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let n = all.len();
        let result = tokio::task::spawn_blocking(move || store.commit_batch(&all))
            .await
            .map_err(|_| CommitError::Panicked)
            .and_then(|r| r.map_err(|e| CommitError::Store(Arc::new(e))));
        metrics::histogram!(crate::metrics::STORE_COMMIT_DURATION)
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!(crate::metrics::STORE_BATCH_MESSAGES).record(n as f64);
        if let Err(e) = &result {
            tracing::error!(error = %crate::error::chain(e), messages = n, "store commit failed");
        }
        // If the actor is gone the waiters' ports drop: "not stored", the safe default.
        let _ = me.send_message(StoreMsg::Committed(result, waiters));
    });
}

fn answer(result: CommitReply, waiters: Vec<Waiter>) {
    match result {
        Ok(outcomes) => {
            let mut rest = outcomes.into_iter();
            for w in waiters {
                let mine: Vec<StoreOutcome> = rest.by_ref().take(w.count).collect();
                let _ = w.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            for w in waiters {
                let _ = w.reply.send(Err(e.clone()));
            }
        }
    }
}

/// How many of the queued requests (their raw bytes, oldest first) go into the next
/// transaction: as many as fit in [`MAX_COMMIT_BYTES`], and always the first. Never past the
/// limit: a transaction that overshoots spills pages and reads them back at commit.
fn requests_that_fit(sizes: impl Iterator<Item = usize>) -> usize {
    let mut bytes = 0;
    let mut taken = 0;
    for size in sizes {
        if taken > 0 && bytes + size > MAX_COMMIT_BYTES {
            break;
        }
        bytes += size;
        taken += 1;
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_takes_what_fits_and_never_overshoots() {
        const MIB: usize = 1 << 20;
        let fit = |sizes: &[usize]| requests_that_fit(sizes.iter().copied());
        assert_eq!(fit(&[]), 0);
        // A single request larger than the limit still goes (alone).
        assert_eq!(fit(&[MAX_COMMIT_BYTES + MIB, 1]), 1);
        // Exactly the limit fits; one byte more waits for the next transaction.
        assert_eq!(fit(&[MAX_COMMIT_BYTES - MIB, MIB, 1]), 2);
        assert_eq!(fit(&[MAX_COMMIT_BYTES - MIB, MIB + 1]), 1);
        let sizes = [MIB + MIB / 4; 8];
        let n = fit(&sizes);
        assert!(n >= 1 && sizes[..n].iter().sum::<usize>() <= MAX_COMMIT_BYTES);
        assert!(sizes[..=n].iter().sum::<usize>() > MAX_COMMIT_BYTES);
    }
}
