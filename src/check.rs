//! One check of one account, whatever the protocol: list what the server has, skip what the
//! store holds, fetch the rest in bounded batches through the parser and store actors, and
//! delete on the server exactly what the store acknowledged.
//!
//! Memory is bounded by the in-flight window ([`WINDOW_BYTES`] per account, and
//! [`DAEMON_WINDOW_BYTES`] for all accounts together) plus the message being read: a fetch
//! waits for room before it reads on, so a slow disk slows the download instead of growing
//! the heap.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::actors::CallResultExt;
use crate::actors::parser::{Downloaded, ParserMsg};
use crate::actors::store::StoreMsg;
use crate::config::{AccountConfig, Backfill};
use crate::error::{CheckError, Stage};
use crate::metrics as m;
use crate::model::CheckSummary;
use crate::progress::Progress;
use crate::store::schema::SEEN_NOT_INGESTED;
use crate::store::{Store, StoreOutcome};

/// Bytes of downloaded messages allowed between the socket and the store's commit.
pub const WINDOW_BYTES: usize = 16 << 20;
/// Bytes of downloaded messages allowed in flight for all accounts of a daemon together.
pub const DAEMON_WINDOW_BYTES: usize = 64 << 20;
/// Messages go to the parser and store in chunks of about this many bytes...
const CHUNK_BYTES: usize = 1 << 20;
/// ...or this many messages, whichever comes first.
const CHUNK_MESSAGES: usize = 512;
/// One fetch command asks for about this many bytes...
pub const FETCH_BATCH_BYTES: u64 = 64 << 20;
/// ...or this many messages.
pub const FETCH_BATCH_MESSAGES: usize = 5000;
/// While the store catches up after the download, acknowledged messages are deleted in
/// commands of at least this many (the rest at the end): Dovecot rewrites its index for
/// every expunge, so many small ones cost more than they overlap.
const DRAIN_DELETE_BATCH: usize = 1000;
/// Most messages one check will list; more is treated as a misbehaving server.
pub const MAX_MESSAGES_PER_CHECK: usize = 1_000_000;

/// A message as the server lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMessage {
    /// IMAP UID, or POP3 message number.
    pub handle: u32,
    /// The store key; `None` for POP3 without UIDL (the key is then made from the content).
    pub key: Option<String>,
    /// The size the server announced.
    pub size: u64,
}

/// What a delete on the server achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Gone now (IMAP UID EXPUNGE).
    Now,
    /// Gone once the session ends cleanly (POP3 DELE, made final by QUIT).
    AtFinish,
    /// Flagged `\Deleted` only: the server has no UIDPLUS, and expunging would remove other
    /// clients' deleted messages too. The delete stays owed.
    Flagged,
}

/// The protocol side of a check.
pub trait Session: Send {
    /// Everything in the mailbox.
    fn list(&mut self) -> impl Future<Output = Result<Vec<ServerMessage>, CheckError>> + Send;
    /// Downloads `batch`, handing each message to `sink` as it arrives.
    fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut Ingest,
    ) -> impl Future<Output = Result<(), CheckError>> + Send;
    /// Deletes these messages on the server.
    fn delete(
        &mut self,
        batch: &[ServerMessage],
    ) -> impl Future<Output = Result<Deleted, CheckError>> + Send;
    /// Ends the session (LOGOUT / QUIT).
    fn finish(self) -> impl Future<Output = Result<(), CheckError>> + Send;
}

/// The actors and store a check feeds.
#[derive(Clone)]
pub struct Pipeline {
    /// The parser actor.
    pub parser: ActorRef<ParserMsg>,
    /// The store actor (the only writer).
    pub store_actor: ActorRef<StoreMsg>,
    /// For reads (lookups, state); writes go through `store_actor`.
    pub store: Arc<Store>,
    /// The daemon-wide in-flight budget, in KiB ([`DAEMON_WINDOW_BYTES`]), shared by
    /// every account's checks.
    pub budget: Arc<Semaphore>,
}

impl Pipeline {
    /// A pipeline over these actors and store, with a fresh daemon-wide budget.
    pub fn new(
        parser: ActorRef<ParserMsg>,
        store_actor: ActorRef<StoreMsg>,
        store: Arc<Store>,
    ) -> Self {
        Pipeline {
            parser,
            store_actor,
            store,
            budget: Arc::new(Semaphore::new(DAEMON_WINDOW_BYTES >> 10)),
        }
    }
}

/// Runs a blocking store read or write off the async threads.
pub async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, CheckError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| CheckError::new(Stage::Store, format!("store task failed: {e}")))?
        .map_err(|e| CheckError::new(Stage::Store, e.to_string()))
}

/// An acknowledged chunk: the messages and what the store did with each (or why not).
type AckBatch = (Vec<ServerMessage>, Result<Vec<StoreOutcome>, String>);

/// The sink a session pushes downloaded messages into.
pub struct Ingest {
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
    acks_tx: mpsc::UnboundedSender<AckBatch>,
    acks_rx: mpsc::UnboundedReceiver<AckBatch>,
    in_flight: usize,
    /// Messages downloaded in this check.
    pub fetched: u64,
    /// Messages over `max_message_size` found while downloading.
    pub oversize: u64,
    /// Where the CLI and the daemon's log read how far the check is.
    progress: Arc<Progress>,
    /// Time the download spent waiting for room in the window (the store was behind).
    pub waited_for_store: std::time::Duration,
}

impl Ingest {
    /// A sink for one check of `account`, reporting to `progress`.
    pub fn new(account: &AccountConfig, pipeline: Pipeline, progress: Arc<Progress>) -> Self {
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        Ingest {
            account: account.name.clone(),
            delete_after: !account.keep_copy,
            max_size: account.max_message_size,
            pipeline,
            window: Arc::new(Semaphore::new(WINDOW_BYTES >> 10)),
            chunk: Vec::new(),
            chunk_messages: Vec::new(),
            chunk_bytes: 0,
            chunk_permits: Vec::new(),
            acks_tx,
            acks_rx,
            in_flight: 0,
            fetched: 0,
            oversize: 0,
            progress,
            waited_for_store: std::time::Duration::ZERO,
        }
    }

    /// The size cap a session applies while reading a message.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Counts a message that turned out larger than `max_message_size` while downloading.
    pub fn oversize(&mut self) {
        self.oversize += 1;
        m_count(&self.account, "oversize", 1);
    }

    /// Takes one downloaded message; waits while the window is full.
    pub async fn push(&mut self, message: ServerMessage, raw: Vec<u8>) {
        let units = (raw.len() >> 10).clamp(1, WINDOW_BYTES.min(DAEMON_WINDOW_BYTES) >> 10) as u32;
        let waited = std::time::Instant::now();
        let window = self.window.clone();
        let budget = self.pipeline.budget.clone();
        let permit = (
            self.room(window, units).await,
            self.room(budget, units).await,
        );
        self.waited_for_store += waited.elapsed();
        self.fetched += 1;
        self.progress.advance(raw.len() as u64);
        let server_key = message.key.clone().unwrap_or_else(|| content_key(&raw));
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
            self.dispatch();
        }
    }

    /// `units` of room in `window`. Before waiting, the chunk being gathered is sent on: its
    /// room would otherwise stay taken while this check waits for room, and with the
    /// daemon-wide budget several accounts could each hold what the others wait for.
    async fn room(&mut self, window: Arc<Semaphore>, units: u32) -> OwnedSemaphorePermit {
        if let Ok(permit) = window.clone().try_acquire_many_owned(units) {
            return permit;
        }
        self.dispatch();
        window
            .acquire_many_owned(units)
            .await
            .expect("window semaphores are never closed")
    }

    /// Sends the current chunk to the parser, then the store, in the background.
    pub fn dispatch(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        // Counted per chunk: a metrics update per message cost as much as parsing headers.
        m_count(&self.account, "fetched", self.chunk.len() as u64);
        metrics::counter!(m::FETCHED_BYTES, "account" => self.account.clone())
            .increment(self.chunk_bytes as u64);
        let chunk = std::mem::take(&mut self.chunk);
        let messages = std::mem::take(&mut self.chunk_messages);
        let permits = std::mem::take(&mut self.chunk_permits);
        self.chunk_bytes = 0;
        self.in_flight += 1;
        let pipeline = self.pipeline.clone();
        let tx = self.acks_tx.clone();
        tokio::spawn(async move {
            let result = parse_and_store(&pipeline, chunk).await;
            drop(permits);
            let _ = tx.send((messages, result));
        });
    }

    /// The acknowledgements that have arrived so far, without waiting.
    pub fn ready(&mut self) -> Vec<AckBatch> {
        let mut out = Vec::new();
        while let Ok(ack) = self.acks_rx.try_recv() {
            self.in_flight -= 1;
            out.push(ack);
        }
        out
    }

    /// Waits for the next acknowledgement and takes every other one that has arrived too;
    /// `None` once nothing is in flight. Call [`Ingest::dispatch`] first.
    pub async fn next_acks(&mut self) -> Option<Vec<AckBatch>> {
        if self.in_flight == 0 {
            return None;
        }
        let first = self.acks_rx.recv().await?;
        self.in_flight -= 1;
        let mut out = vec![first];
        out.extend(self.ready());
        Some(out)
    }
}

async fn parse_and_store(
    pipeline: &Pipeline,
    chunk: Vec<Downloaded>,
) -> Result<Vec<StoreOutcome>, String> {
    let parsed = pipeline
        .parser
        .call(|reply| ParserMsg::Parse(chunk, reply), None)
        .await
        .map_err(|e| format!("parser unavailable: {e}"))?
        .into_done()?;
    pipeline
        .store_actor
        .call(|reply| StoreMsg::Commit(parsed, reply), None)
        .await
        .map_err(|e| format!("store unavailable: {e}"))?
        .into_done()?
}

/// The store key of a POP3 message on a server without UIDL: its content.
fn content_key(raw: &[u8]) -> String {
    format!("pop3-content:{}", blake3::hash(raw).to_hex())
}

fn m_count(account: &str, outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(m::MESSAGES, "account" => account.to_string(), "outcome" => outcome)
            .increment(n);
    }
}

/// Runs one check over an open session. Counts go into `summary` even when it fails.
pub async fn run<S: Session>(
    progress: Arc<Progress>,
    mut session: S,
    account: &AccountConfig,
    pipeline: &Pipeline,
    summary: &mut CheckSummary,
) -> Result<(), CheckError> {
    let listing = session.list().await?;
    let plan = plan(account, pipeline, listing).await?;
    summary.skipped += plan.skipped;
    m_count(&account.name, "oversize", plan.oversize);
    if plan.oversize > 0 {
        tracing::warn!(account = %account.name, count = plan.oversize, limit = account.max_message_size, "messages larger than max_message_size stay on the server");
    }

    let mut owed_at_finish: Vec<String> = Vec::new();
    delete(
        &mut session,
        account,
        pipeline,
        plan.owed_deletes,
        summary,
        &mut owed_at_finish,
    )
    .await?;

    progress.begin(
        plan.to_fetch.len() as u64,
        plan.to_fetch.iter().map(|m| m.size).sum(),
    );
    let mut ingest = Ingest::new(account, pipeline.clone(), progress);
    let mut failure = None;
    for batch in batches(&plan.to_fetch) {
        if let Err(e) = session.fetch(batch, &mut ingest).await {
            failure = Some(e);
            break;
        }
        let acks = ingest.ready();
        let to_delete = settle(account, acks, summary);
        if let Err(e) = delete(
            &mut session,
            account,
            pipeline,
            to_delete,
            summary,
            &mut owed_at_finish,
        )
        .await
        {
            failure = Some(e);
            break;
        }
    }
    // Whatever happened to the connection, what was downloaded still gets stored. While
    // the store catches up, the session (which the download no longer needs) deletes what
    // it has acknowledged.
    let download_done = std::time::Instant::now();
    ingest.dispatch();
    let mut to_delete = Vec::new();
    while let Some(acks) = ingest.next_acks().await {
        to_delete.extend(settle(account, acks, summary));
        if failure.is_none()
            && ingest.in_flight > 0
            && to_delete.len() >= DRAIN_DELETE_BATCH
            && let Err(e) = delete(
                &mut session,
                account,
                pipeline,
                std::mem::take(&mut to_delete),
                summary,
                &mut owed_at_finish,
            )
            .await
        {
            failure = Some(e);
        }
    }
    tracing::debug!(account = %account.name, waited_for_store = ?ingest.waited_for_store, drain = ?download_done.elapsed(), "download finished");
    summary.fetched += ingest.fetched;
    summary.skipped += ingest.oversize;
    if let Some(e) = failure {
        return Err(e);
    }
    delete(
        &mut session,
        account,
        pipeline,
        to_delete,
        summary,
        &mut owed_at_finish,
    )
    .await?;
    finish(session, account, pipeline, owed_at_finish, summary).await
}

/// Ends a session and records the deletes it made final (POP3's, at QUIT).
async fn finish<S: Session>(
    session: S,
    account: &AccountConfig,
    pipeline: &Pipeline,
    owed_at_finish: Vec<String>,
    summary: &mut CheckSummary,
) -> Result<(), CheckError> {
    session.finish().await?;
    if !owed_at_finish.is_empty() {
        let n = owed_at_finish.len() as u64;
        let name = account.name.clone();
        blocking(&pipeline.store, move |s| {
            s.mark_deleted(&name, &owed_at_finish)
        })
        .await?;
        summary.deleted += n;
        m_count(&account.name, "deleted", n);
    }
    Ok(())
}

/// What a check will do, decided from the listing and the store.
struct Plan {
    to_fetch: Vec<ServerMessage>,
    owed_deletes: Vec<ServerMessage>,
    skipped: u64,
    oversize: u64,
}

async fn plan(
    account: &AccountConfig,
    pipeline: &Pipeline,
    listing: Vec<ServerMessage>,
) -> Result<Plan, CheckError> {
    settle_vanished(account, pipeline, &listing).await?;
    let name = account.name.clone();
    let state = blocking(&pipeline.store, move |s| s.account_state(&name)).await?;
    let remember_only = account.backfill == Backfill::New && !state.backfilled;
    let mut plan = Plan {
        to_fetch: Vec::new(),
        owed_deletes: Vec::new(),
        skipped: 0,
        oversize: 0,
    };
    let mut seen = Vec::new();
    for part in listing.chunks(10_000) {
        let keys: Vec<String> = part
            .iter()
            .map(|m| m.key.clone().unwrap_or_default())
            .collect();
        let name = account.name.clone();
        let known = blocking(&pipeline.store, move |s| s.lookup_keys(&name, &keys)).await?;
        for (msg, known) in part.iter().zip(known) {
            match known {
                _ if msg.key.is_none() => plan.to_fetch.push(msg.clone()),
                Some((SEEN_NOT_INGESTED, _)) => plan.skipped += 1,
                Some((_, size)) if size == msg.size => {
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
    let name = account.name.clone();
    let oversize = plan.oversize;
    blocking(&pipeline.store, move |s| {
        s.mark_seen(&name, &seen)?;
        s.update_account_state_lazily(&name, |st| {
            st.backfilled = true;
            st.oversize = oversize;
        })
        .map(|_| ())
    })
    .await?;
    Ok(plan)
}

/// Owed deletes whose message is no longer on the server are done: the process stopped
/// after the server deleted them but before the store heard of it (or another client
/// removed them). Only keyed listings can tell; without UIDL the next fetch settles them.
async fn settle_vanished(
    account: &AccountConfig,
    pipeline: &Pipeline,
    listing: &[ServerMessage],
) -> Result<(), CheckError> {
    if listing.iter().any(|m| m.key.is_none()) {
        return Ok(());
    }
    let on_server: std::collections::HashSet<String> =
        listing.iter().filter_map(|m| m.key.clone()).collect();
    let name = account.name.clone();
    let gone = blocking(&pipeline.store, move |s| {
        let gone: Vec<String> = s
            .pending_deletes(&name)?
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !on_server.contains(k))
            .collect();
        s.mark_deleted(&name, &gone)?;
        Ok(gone.len())
    })
    .await?;
    if gone > 0 {
        tracing::info!(account = %account.name, count = gone, "owed deletes already done on the server; recorded");
    }
    Ok(())
}

/// Splits the fetch list into batches bounded in bytes and count.
fn batches(messages: &[ServerMessage]) -> Vec<&[ServerMessage]> {
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

/// Counts acknowledgements; returns the messages now safe to delete on the server.
fn settle(
    account: &AccountConfig,
    acks: Vec<AckBatch>,
    summary: &mut CheckSummary,
) -> Vec<ServerMessage> {
    let mut to_delete = Vec::new();
    let stored_before = summary.stored;
    for (messages, result) in acks {
        match result {
            Ok(outcomes) => {
                for (msg, outcome) in messages.into_iter().zip(outcomes) {
                    match outcome {
                        StoreOutcome::Stored(_) => summary.stored += 1,
                        StoreOutcome::Duplicate(_) => {
                            summary.skipped += 1;
                            m_count(&account.name, "duplicate", 1);
                        }
                    }
                    if !account.keep_copy {
                        to_delete.push(msg);
                    }
                }
            }
            Err(e) => {
                // Not stored: nothing is deleted, the next check fetches them again.
                summary.errors += messages.len() as u64;
                metrics::counter!(m::ERRORS, "account" => account.name.clone(), "stage" => Stage::Store.as_str()).increment(1);
                tracing::error!(account = %account.name, error = %e, messages = messages.len(), "messages not stored; they stay on the server");
                summary
                    .error
                    .get_or_insert(format!("cannot store messages: {e}"));
            }
        }
    }
    m_count(&account.name, "stored", summary.stored - stored_before);
    to_delete
}

/// Deletes acknowledged messages on the server and records it in the store.
async fn delete<S: Session>(
    session: &mut S,
    account: &AccountConfig,
    pipeline: &Pipeline,
    messages: Vec<ServerMessage>,
    summary: &mut CheckSummary,
    owed_at_finish: &mut Vec<String>,
) -> Result<(), CheckError> {
    if messages.is_empty() || account.keep_copy {
        return Ok(());
    }
    let keys: Vec<String> = messages.iter().filter_map(|m| m.key.clone()).collect();
    let started = std::time::Instant::now();
    let deleted = session.delete(&messages).await?;
    tracing::debug!(account = %account.name, count = keys.len(), took = ?started.elapsed(), "deleted on the server");
    match deleted {
        Deleted::Now => {
            let n = keys.len() as u64;
            let name = account.name.clone();
            blocking(&pipeline.store, move |s| s.mark_deleted(&name, &keys)).await?;
            summary.deleted += n;
            m_count(&account.name, "deleted", n);
        }
        Deleted::AtFinish => owed_at_finish.extend(keys),
        Deleted::Flagged => {
            tracing::warn!(account = %account.name, count = keys.len(), "server lacks UIDPLUS: messages flagged \\Deleted and await an expunge by another client");
        }
    }
    Ok(())
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

    /// Two accounts sharing a daemon-wide budget far smaller than their chunks: each would
    /// hold room in an unsent chunk while waiting for the room the other holds, unless a
    /// check sends its chunk on before it waits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_shared_budget_never_deadlocks_two_accounts() {
        use crate::actors::parser::ParserActor;
        use crate::actors::store::StoreActor;
        use crate::config::Protocol;
        use crate::store::StoreOutcome;
        use ractor::Actor;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let (parser, _) = Actor::spawn(None, ParserActor, ()).await.unwrap();
        let notify = Arc::new(tokio::sync::Notify::new());
        let (store_actor, _) = Actor::spawn(None, StoreActor, (store.clone(), notify))
            .await
            .unwrap();
        let mut pipeline = Pipeline::new(parser, store_actor, store);
        let budget_kib = 64;
        pipeline.budget = Arc::new(Semaphore::new(budget_kib));
        let run = |name: &'static str| {
            let account = AccountConfig::new(name, Protocol::Imap, "localhost", "c");
            let mut ingest = Ingest::new(&account, pipeline.clone(), Arc::default());
            async move {
                for uid in 1..=100u32 {
                    let raw = format!("Subject: {name} {uid}\r\n\r\n{}", "x".repeat(10 << 10));
                    let key = Some(format!("imap:1:{uid}:INBOX"));
                    let msg = ServerMessage {
                        handle: uid,
                        key,
                        size: raw.len() as u64,
                    };
                    ingest.push(msg, raw.into_bytes()).await;
                }
                ingest.dispatch();
                let mut acks = Vec::new();
                while let Some(more) = ingest.next_acks().await {
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
                .map(|(_, r)| {
                    r.unwrap()
                        .iter()
                        .filter(|o| matches!(o, StoreOutcome::Stored(_)))
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
