//! The store path of fetched messages: the parser and store actors behind a [`StoreSink`]
//! that gathers messages in chunks, sends each chunk through the parser to the store, and
//! hands back the store's acknowledgement of each chunk once it committed.
//!
//! Memory is bounded by the in-flight window ([`WINDOW_BYTES`] per account, and
//! [`DAEMON_WINDOW_BYTES`] for all accounts together) plus the message being read: a push
//! waits for room before the session reads on, so a slow disk slows the download instead of
//! growing the heap.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use ractor::ActorRef;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CallResultExt;
use super::parser::{Downloaded, ParserMsg};
use super::store::StoreMsg;
use crate::config::AccountConfig;
use crate::metrics as m;
use crate::progress::Progress;
use crate::protocol::acks::AckQueue;
use crate::protocol::keys::ContentOrdinals;
use crate::protocol::{Acked, Durable, Left, NotStored, ServerMessage, Sink, Tally};
use crate::store::StoreOutcome;

/// Bytes of downloaded messages allowed between the socket and the store's commit.
pub const WINDOW_BYTES: usize = 16 << 20;
/// Bytes of downloaded messages allowed in flight for all accounts of a daemon together.
pub const DAEMON_WINDOW_BYTES: usize = 64 << 20;
/// Messages go to the parser and store in chunks of about this many bytes...
const CHUNK_BYTES: usize = 1 << 20;
/// ...or this many messages, whichever comes first.
const CHUNK_MESSAGES: usize = 512;

/// The parser and store actors every account's sink feeds, and the budget they share.
#[derive(Clone)]
pub struct Pipeline {
    /// The parser actor.
    pub parser: ActorRef<ParserMsg>,
    /// The store actor (the only writer of messages).
    pub store_actor: ActorRef<StoreMsg>,
    /// The daemon-wide in-flight budget, in KiB ([`DAEMON_WINDOW_BYTES`]), shared by
    /// every account's checks.
    pub budget: Arc<Semaphore>,
}

impl Pipeline {
    /// A pipeline over these actors, with a fresh daemon-wide budget.
    pub fn new(parser: ActorRef<ParserMsg>, store_actor: ActorRef<StoreMsg>) -> Self {
        Pipeline {
            parser,
            store_actor,
            budget: Arc::new(Semaphore::new(DAEMON_WINDOW_BYTES >> 10)),
        }
    }

    /// Parses a chunk and commits it; the answer is the store's acknowledgement.
    async fn parse_and_store(&self, chunk: Vec<Downloaded>) -> Result<Vec<Durable>, NotStored> {
        let not_stored = |e: Box<dyn std::error::Error + Send + Sync>| NotStored(e.into());
        let parsed = self
            .parser
            .call(|reply| ParserMsg::Parse(chunk, reply), None)
            .await
            .map_err(|e| not_stored(format!("parser unavailable: {e}").into()))?
            .into_done()
            .map_err(|e| not_stored(Box::new(e)))?;
        let outcomes = self
            .store_actor
            .call(|reply| StoreMsg::Commit(parsed, reply), None)
            .await
            .map_err(|e| not_stored(format!("store unavailable: {e}").into()))?
            .into_done()
            .map_err(|e| not_stored(Box::new(e)))?
            .map_err(|e| not_stored(Box::new(e)))?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                StoreOutcome::Stored(id) => Durable::Stored(id),
                StoreOutcome::Duplicate(id) => Durable::Duplicate(id),
            })
            .collect())
    }
}

/// The sink of one check on the store path (see the module documentation).
pub struct StoreSink {
    account: String,
    delete_after: bool,
    max_size: u64,
    pipeline: Pipeline,
    window: Arc<Semaphore>,
    chunk: Vec<Downloaded>,
    chunk_messages: Vec<ServerMessage>,
    chunk_bytes: usize,
    /// Per message: its room in the account's window and in the daemon-wide budget.
    chunk_permits: Vec<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    acks: AckQueue<Acked>,
    tally: Tally,
    /// Keys for messages the server lists without one (POP3 without UIDL).
    contents: ContentOrdinals,
    /// Where the CLI and the daemon's log read how far the check is.
    progress: Arc<Progress>,
}

impl StoreSink {
    /// A sink for one check of `account`, reporting to `progress`.
    pub fn new(account: &AccountConfig, pipeline: Pipeline, progress: Arc<Progress>) -> Self {
        StoreSink {
            account: account.name.clone(),
            delete_after: !account.keep_copy,
            max_size: account.max_message_size,
            pipeline,
            window: Arc::new(Semaphore::new(WINDOW_BYTES >> 10)),
            chunk: Vec::new(),
            chunk_messages: Vec::new(),
            chunk_bytes: 0,
            chunk_permits: Vec::new(),
            acks: AckQueue::default(),
            tally: Tally::default(),
            contents: ContentOrdinals::default(),
            progress,
        }
    }

    /// `units` of room in `window`. Before waiting, the chunk being gathered is sent on: its
    /// room would otherwise stay taken while this check waits for room, and with the
    /// daemon-wide budget several accounts could each hold what the others wait for.
    async fn room(&mut self, window: Arc<Semaphore>, units: u32) -> OwnedSemaphorePermit {
        if let Ok(permit) = window.clone().try_acquire_many_owned(units) {
            return permit;
        }
        self.flush();
        window
            .acquire_many_owned(units)
            .await
            .expect("window semaphores are never closed")
    }
}

#[async_trait]
impl Sink for StoreSink {
    fn max_size(&self) -> u64 {
        self.max_size
    }

    fn left_on_server(&mut self, why: Left) {
        let outcome = match why {
            Left::Oversize => {
                self.tally.oversize += 1;
                "oversize"
            }
            Left::SizeMismatch => {
                self.tally.size_mismatch += 1;
                "size_mismatch"
            }
        };
        metrics::counter!(m::MESSAGES, "account" => self.account.clone(), "outcome" => outcome)
            .increment(1);
    }

    async fn push(&mut self, message: ServerMessage, raw: Vec<u8>) {
        let units = (raw.len() >> 10).clamp(1, WINDOW_BYTES.min(DAEMON_WINDOW_BYTES) >> 10) as u32;
        let waited = Instant::now();
        let window = self.window.clone();
        let budget = self.pipeline.budget.clone();
        let permit = (
            self.room(window, units).await,
            self.room(budget, units).await,
        );
        self.tally.waited += waited.elapsed();
        self.tally.fetched += 1;
        self.progress.advance(raw.len() as u64);
        let server_key = match &message.key {
            Some(key) => key.clone(),
            None => self.contents.key(&raw),
        };
        self.chunk_bytes += raw.len();
        self.chunk.push(Downloaded {
            account: self.account.clone(),
            server_key: server_key.clone(),
            listed_size: message.size,
            raw,
            delete_after: self.delete_after,
        });
        self.chunk_messages.push(ServerMessage {
            key: Some(server_key),
            ..message
        });
        self.chunk_permits.push(permit);
        if self.chunk_bytes >= CHUNK_BYTES || self.chunk.len() >= CHUNK_MESSAGES {
            self.flush();
        }
    }

    /// Sends the current chunk to the parser, then the store, in the background.
    fn flush(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        // Counted per chunk: a metrics update per message cost as much as parsing headers.
        metrics::counter!(m::MESSAGES, "account" => self.account.clone(), "outcome" => "fetched")
            .increment(self.chunk.len() as u64);
        metrics::counter!(m::FETCHED_BYTES, "account" => self.account.clone())
            .increment(self.chunk_bytes as u64);
        let chunk = std::mem::take(&mut self.chunk);
        let messages = std::mem::take(&mut self.chunk_messages);
        let permits = std::mem::take(&mut self.chunk_permits);
        self.chunk_bytes = 0;
        let pipeline = self.pipeline.clone();
        let tx = self.acks.expect_one();
        tokio::spawn(async move {
            let result = pipeline.parse_and_store(chunk).await;
            drop(permits);
            let _ = tx.send(Acked { messages, result });
        });
    }

    fn acks(&mut self) -> &mut AckQueue<Acked> {
        &mut self.acks
    }

    fn tally(&self) -> Tally {
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two accounts sharing a daemon-wide budget far smaller than their chunks: each would
    /// hold room in an unsent chunk while waiting for the room the other holds, unless a
    /// check sends its chunk on before it waits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_shared_budget_never_deadlocks_two_accounts() {
        use super::super::parser::ParserActor;
        use super::super::store::StoreActor;
        use crate::config::Protocol;
        use crate::store::Store;
        use ractor::Actor;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let (parser, _) = Actor::spawn(None, ParserActor, ()).await.unwrap();
        let notify = Arc::new(tokio::sync::Notify::new());
        let (store_actor, _) = Actor::spawn(None, StoreActor, (store.clone(), notify))
            .await
            .unwrap();
        let mut pipeline = Pipeline::new(parser, store_actor);
        let budget_kib = 64;
        pipeline.budget = Arc::new(Semaphore::new(budget_kib));
        let run = |name: &'static str| {
            let account = AccountConfig::new(name, Protocol::Imap, "localhost", "c");
            let mut sink = StoreSink::new(&account, pipeline.clone(), Arc::default());
            async move {
                for uid in 1..=100u32 {
                    let raw = format!("Subject: {name} {uid}\r\n\r\n{}", "x".repeat(10 << 10));
                    let key = Some(format!("imap:1:{uid}:INBOX"));
                    let msg = ServerMessage {
                        handle: uid,
                        key,
                        size: raw.len() as u64,
                    };
                    sink.push(msg, raw.into_bytes()).await;
                }
                sink.flush();
                let mut acks = Vec::new();
                while let Some(more) = sink.acks().next().await {
                    acks.extend(more);
                }
                acks
            }
        };
        let both = async { tokio::join!(run("a"), run("b")) };
        let (a, b) = tokio::time::timeout(std::time::Duration::from_secs(30), both)
            .await
            .expect("both accounts finish: no deadlock on the shared budget");
        for acks in [a, b] {
            let stored: usize = acks
                .into_iter()
                .map(|a| {
                    a.result
                        .unwrap()
                        .iter()
                        .filter(|o| matches!(o, Durable::Stored(_)))
                        .count()
                })
                .sum();
            assert_eq!(stored, 100);
        }
        assert_eq!(
            pipeline.budget.available_permits(),
            budget_kib,
            "all room returned"
        );
    }
}
