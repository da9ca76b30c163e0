//! Scripted and in-memory parts for unit tests of the check and the actor layer: a mail
//! server whose mailbox is a vector and whose behaviour a test scripts, a sink that keeps
//! what it acknowledges in memory (and can hold its acknowledgements back), and a ledger in
//! memory. They implement the same contract as the real parts ([`crate::protocol`],
//! [`crate::check::Ledger`]), so the real check algorithm and actors run over them, on a
//! paused clock, without disk or network.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ractor::{ActorCell, ActorProcessingErr};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::actors::account::AccountParts;
use crate::actors::wiring::Wiring;
use crate::check::{Destination, Known, Ledger, Leftovers, Settled};
use crate::config::AccountConfig;
use crate::error::{CheckError, Stage};
use crate::net::ConnectorHandle;
use crate::progress::Progress;
use crate::protocol::acks::AckQueue;
use crate::protocol::keys::imap_key;
use crate::protocol::{
    Acked, Ahead, Deleted, Deletion, Durable, Finished, Left, Listing, MailServer, NotStored,
    Probe, ServerMessage, Session, Sink, Tally, WatchEnd,
};

/// A gate that waiters pass only while it is open.
#[derive(Clone, Debug)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    /// A gate, open or closed.
    pub fn new(open: bool) -> Self {
        Gate(Arc::new(watch::channel(open).0))
    }

    /// Opens or closes it.
    pub fn set(&self, open: bool) {
        self.0.send_replace(open);
    }

    /// Waits until it is open.
    pub async fn pass(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// What the next connection to a scripted server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Logs in.
    Ok,
    /// Fails at this stage.
    Fail(Stage),
    /// Panics (a bug in the account actor's check).
    Panic,
}

/// Something a scripted server saw, with the (paused) time it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection was opened (or failed, or panicked, as scripted).
    Open(Open),
    /// These UIDs were deleted.
    Delete(Vec<u32>),
    /// The session ended.
    Finish,
}

/// A scripted account's mailbox and what its server does.
#[derive(Debug)]
pub struct Mailbox {
    /// Messages on the server: UID and bytes.
    pub messages: Vec<(u32, Vec<u8>)>,
    /// What happened, when.
    pub events: Vec<(Instant, Event)>,
    /// What the next connections do (then [`Open::Ok`]).
    pub opens: VecDeque<Open>,
    /// A listing waits here (open unless a test closes it).
    pub list_gate: Gate,
    /// Woken whenever a listing starts.
    pub listing: Arc<Notify>,
    /// IDLE: `None` = unsupported. `Some(n)`: wake once, wait for the next listing, then
    /// wake `n` times more and stay idle.
    pub idle_wakes: Option<usize>,
    /// What a delete achieves ([`Deleted::Now`] unless a test says otherwise).
    pub deletes: Deleted,
    /// Listings started so far.
    pub listings: usize,
    /// The listing of this number (1 for the first) waits at `list_gate`; `None`: all do.
    pub gated_listing: Option<usize>,
    /// What each session opened was asked to fetch ahead of its listing.
    pub aheads: Vec<Option<Ahead>>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            messages: Vec::new(),
            events: Vec::new(),
            opens: VecDeque::new(),
            list_gate: Gate::new(true),
            listing: Arc::new(Notify::new()),
            idle_wakes: None,
            deletes: Deleted::Now,
            listings: 0,
            gated_listing: None,
            aheads: Vec::new(),
        }
    }
}

/// A mailbox shared by a test and its scripted server.
pub type SharedMailbox = Arc<Mutex<Mailbox>>;

/// Locks a mailbox (a test's panic elsewhere does not poison it for the next assertion).
pub fn lock(mailbox: &SharedMailbox) -> std::sync::MutexGuard<'_, Mailbox> {
    mailbox.lock().unwrap_or_else(|e| e.into_inner())
}

impl Mailbox {
    /// The times of the connections opened, in order.
    pub fn open_times(&self) -> Vec<Instant> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Open(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    /// Every UID deleted so far.
    pub fn deleted(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Delete(uids) => Some(uids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// A server over a [`Mailbox`].
pub struct ScriptedServer {
    /// The mailbox it serves.
    pub mailbox: SharedMailbox,
}

#[async_trait]
impl MailServer for ScriptedServer {
    async fn open(&self, ahead: Option<Ahead>) -> Result<Box<dyn Session>, CheckError> {
        let open = {
            let mut m = lock(&self.mailbox);
            m.aheads.push(ahead);
            let open = m.opens.pop_front().unwrap_or(Open::Ok);
            m.events.push((Instant::now(), Event::Open(open)));
            open
        };
        match open {
            Open::Ok => Ok(Box::new(ScriptedSession {
                mailbox: self.mailbox.clone(),
            })),
            Open::Fail(stage) => Err(CheckError::new(stage, "scripted failure")),
            Open::Panic => panic!("scripted panic"),
        }
    }

    async fn watch(&self, wake: &(dyn Fn() + Send + Sync)) -> WatchEnd {
        let (wakes, listing) = {
            let m = lock(&self.mailbox);
            (m.idle_wakes, m.listing.clone())
        };
        let Some(more) = wakes else {
            return WatchEnd::Unsupported;
        };
        let next_listing = listing.notified();
        wake();
        next_listing.await;
        for _ in 0..more {
            wake();
        }
        std::future::pending().await
    }
}

/// A session over a [`Mailbox`]: UIDVALIDITY 1, mailbox INBOX.
pub struct ScriptedSession {
    mailbox: SharedMailbox,
}

#[async_trait]
impl Session for ScriptedSession {
    fn epoch(&self) -> Option<u32> {
        Some(1)
    }

    async fn probe(&mut self) -> Result<Probe, CheckError> {
        Ok(Probe {
            capabilities: vec!["IMAP4rev1".into()],
            mailbox: format!("{} messages", lock(&self.mailbox).messages.len()),
        })
    }

    async fn list(
        &mut self,
        _above: Option<u32>,
        _sink: &mut dyn Sink,
    ) -> Result<Listing, CheckError> {
        let (gate, listing, gated) = {
            let mut m = lock(&self.mailbox);
            m.listings += 1;
            let gated = m.gated_listing.is_none_or(|n| n == m.listings);
            (m.list_gate.clone(), m.listing.clone(), gated)
        };
        listing.notify_waiters();
        if gated {
            gate.pass().await;
        }
        let messages = lock(&self.mailbox)
            .messages
            .iter()
            .map(|(uid, raw)| ServerMessage {
                handle: *uid,
                key: Some(imap_key("INBOX", 1, *uid)),
                size: raw.len() as u64,
            })
            .collect();
        Ok(Listing {
            messages,
            complete: true,
            fetched: Vec::new(),
        })
    }

    async fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        for msg in batch {
            let raw = lock(&self.mailbox)
                .messages
                .iter()
                .find(|(uid, _)| *uid == msg.handle)
                .map(|(_, raw)| raw.clone());
            if let Some(raw) = raw {
                sink.push(msg.clone(), raw).await;
            }
            // As a network read would: the sink's acknowledgements arrive meanwhile.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn delete(&mut self, batch: &[ServerMessage]) -> Result<Deletion, CheckError> {
        let uids: Vec<u32> = batch.iter().map(|m| m.handle).collect();
        let mut m = lock(&self.mailbox);
        if m.deletes != Deleted::Flagged {
            m.messages.retain(|(uid, _)| !uids.contains(uid));
        }
        m.events.push((Instant::now(), Event::Delete(uids)));
        Ok(Deletion::all(m.deletes))
    }

    async fn finish(self: Box<Self>) -> Result<Finished, CheckError> {
        let mut m = lock(&self.mailbox);
        m.events.push((Instant::now(), Event::Finish));
        // As IMAP's UIDNEXT: above every UID the mailbox holds.
        let new_from = m.messages.iter().map(|(uid, _)| uid + 1).max();
        Ok(Finished {
            new_from,
            ..Finished::default()
        })
    }
}

/// What an in-memory ledger holds.
#[derive(Debug, Default)]
pub struct LedgerState {
    /// (account, key) -> what is held.
    pub known: HashMap<(String, String), Known>,
    /// (account, key) of the deletes owed.
    pub owed: BTreeSet<(String, String)>,
    /// Accounts whose first check planned.
    pub backfilled: HashSet<String>,
    /// Each account's epoch.
    pub epochs: HashMap<String, u32>,
    /// Every check recorded: account and error.
    pub checks: Vec<(String, Option<String>)>,
    /// The last id given to a stored message.
    pub last_id: u64,
    /// What each account's last check left on the server.
    pub leftovers: HashMap<String, Leftovers>,
    /// (account, epoch) -> the highest handle settled.
    pub listed_up_to: HashMap<(String, u32), u32>,
    /// Where each account's next session expects new mail.
    pub new_from: HashMap<String, u32>,
    /// Accounts whose server refused what was asked ahead.
    pub ahead_refused: HashSet<String>,
}

/// A ledger state shared by a ledger, its sinks and a test.
pub type SharedLedger = Arc<Mutex<LedgerState>>;

/// The ledger in memory.
#[derive(Clone, Default)]
pub struct MemoryLedger(pub SharedLedger);

impl MemoryLedger {
    fn with<T>(&self, f: impl FnOnce(&mut LedgerState) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn known(
        &self,
        account: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Known>>, CheckError> {
        Ok(self.with(|l| {
            keys.into_iter()
                .map(|k| l.known.get(&(account.to_string(), k)).copied())
                .collect()
        }))
    }

    async fn backfilled(&self, account: &str) -> Result<bool, CheckError> {
        Ok(self.with(|l| l.backfilled.contains(account)))
    }

    async fn note_leftovers(&self, account: &str, leftovers: Leftovers) -> Result<(), CheckError> {
        self.with(|l| l.leftovers.insert(account.to_string(), leftovers));
        Ok(())
    }

    async fn planned(&self, account: &str, seen: Vec<(String, u64)>) -> Result<(), CheckError> {
        self.with(|l| {
            for (key, _) in seen {
                l.known
                    .entry((account.to_string(), key))
                    .or_insert(Known::Seen);
            }
            l.backfilled.insert(account.to_string());
        });
        Ok(())
    }

    async fn settle_listing(
        &self,
        account: &str,
        listed: Vec<String>,
    ) -> Result<Settled, CheckError> {
        let listed: HashSet<String> = listed.into_iter().collect();
        Ok(self.with(|l| {
            let gone: Vec<(String, String)> = l
                .known
                .keys()
                .filter(|(a, k)| a == account && !listed.contains(k))
                .cloned()
                .collect();
            let mut settled = Settled {
                gone: gone.len(),
                owed_done: 0,
            };
            for key in gone {
                settled.owed_done += usize::from(l.owed.remove(&key));
                l.known.remove(&key);
            }
            settled
        }))
    }

    async fn listed_up_to(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError> {
        Ok(self.with(|l| l.listed_up_to.get(&(account.to_string(), epoch)).copied()))
    }

    async fn note_listed_up_to(
        &self,
        account: &str,
        epoch: u32,
        handle: u32,
    ) -> Result<(), CheckError> {
        self.with(|l| l.listed_up_to.insert((account.to_string(), epoch), handle));
        Ok(())
    }

    async fn new_from(&self, account: &str) -> Result<Option<u32>, CheckError> {
        Ok(self.with(|l| {
            let refused = l.ahead_refused.contains(account);
            l.new_from.get(account).copied().filter(|_| !refused)
        }))
    }

    async fn note_new_from(&self, account: &str, handle: u32) -> Result<(), CheckError> {
        self.with(|l| l.new_from.insert(account.to_string(), handle));
        Ok(())
    }

    async fn refuse_ahead(&self, account: &str, _for_good: bool) -> Result<(), CheckError> {
        self.with(|l| l.ahead_refused.insert(account.to_string()));
        Ok(())
    }

    async fn deleted(&self, account: &str, keys: Vec<String>) -> Result<(), CheckError> {
        self.with(|l| {
            for k in keys {
                let key = (account.to_string(), k);
                l.owed.remove(&key);
                l.known.remove(&key);
            }
        });
        Ok(())
    }

    async fn note_epoch(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError> {
        Ok(self.with(|l| l.epochs.insert(account.to_string(), epoch)))
    }

    async fn record_check(
        &self,
        account: &str,
        error: Option<String>,
        _needs_consent: bool,
    ) -> Result<u64, CheckError> {
        Ok(self.with(|l| {
            l.checks.push((account.to_string(), error));
            l.owed.iter().filter(|(a, _)| a == account).count() as u64
        }))
    }
}

/// A destination keeping messages in a [`MemoryLedger`]; acknowledgements wait at `gate`.
#[derive(Clone)]
pub struct MemoryDestination {
    /// Where acknowledged messages are recorded.
    pub ledger: MemoryLedger,
    /// Acknowledgements are sent only while it is open.
    pub gate: Gate,
    /// A chunk is handed on once it holds this many messages (and at every flush).
    pub chunk_messages: usize,
    /// Every chunk fails to become durable (as a full disk would make it).
    pub refuse: bool,
}

impl MemoryDestination {
    /// A destination over `ledger` whose acknowledgements wait at `gate`, chunking by 100.
    pub fn new(ledger: MemoryLedger, gate: Gate) -> Self {
        MemoryDestination {
            ledger,
            gate,
            chunk_messages: 100,
            refuse: false,
        }
    }
}

impl Destination for MemoryDestination {
    fn sink(&self, account: &AccountConfig, _progress: Arc<Progress>) -> Box<dyn Sink> {
        Box::new(MemorySink {
            account: account.clone(),
            destination: self.clone(),
            chunk: Vec::new(),
            acks: AckQueue::default(),
            tally: Tally::default(),
        })
    }
}

/// The sink of a [`MemoryDestination`]: one acknowledgement per chunk.
pub struct MemorySink {
    account: AccountConfig,
    destination: MemoryDestination,
    chunk: Vec<ServerMessage>,
    acks: AckQueue<Acked>,
    tally: Tally,
}

/// Records `chunk` in `ledger` as a store commit would: new keys get new ids, a key held
/// with the same size is a duplicate, and a delete is owed when the account deletes.
fn commit(ledger: &MemoryLedger, account: &AccountConfig, chunk: &[ServerMessage]) -> Vec<Durable> {
    ledger.with(|l| {
        chunk
            .iter()
            .map(|m| {
                let key = (account.name.clone(), m.key.clone().unwrap_or_default());
                let outcome = match l.known.get(&key) {
                    Some(Known::Stored { id, size }) if *size == m.size => Durable::Duplicate(*id),
                    _ => {
                        l.last_id += 1;
                        Durable::Stored(l.last_id)
                    }
                };
                if let Durable::Stored(id) = outcome {
                    l.known
                        .insert(key.clone(), Known::Stored { id, size: m.size });
                }
                if !account.keep_copy {
                    l.owed.insert(key);
                }
                outcome
            })
            .collect()
    })
}

#[async_trait]
impl Sink for MemorySink {
    fn max_size(&self) -> u64 {
        self.account.max_message_size
    }

    fn left_on_server(&mut self, why: Left) {
        match why {
            Left::Oversize => self.tally.oversize += 1,
            Left::SizeMismatch => self.tally.size_mismatch += 1,
        }
    }

    async fn push(&mut self, message: ServerMessage, _raw: Vec<u8>) {
        self.tally.fetched += 1;
        self.chunk.push(message);
        if self.chunk.len() >= self.destination.chunk_messages {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let messages = std::mem::take(&mut self.chunk);
        let tx = self.acks.expect_one();
        let (destination, account) = (self.destination.clone(), self.account.clone());
        tokio::spawn(async move {
            destination.gate.pass().await;
            let result = if destination.refuse {
                Err(NotStored(Arc::new(std::io::Error::other("no space left"))))
            } else {
                Ok(commit(&destination.ledger, &account, &messages))
            };
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

/// Wiring of scripted servers (one mailbox per account) and in-memory parts.
#[derive(Clone, Default)]
pub struct ScriptedWiring {
    /// The mailboxes by account name (made empty on first use).
    pub mailboxes: Arc<Mutex<HashMap<String, SharedMailbox>>>,
    /// The ledger every account shares.
    pub ledger: MemoryLedger,
    /// Held acknowledgements: closed, nothing becomes durable.
    pub gate: Option<Gate>,
    /// Every account whose parts were made, in order (each start of its actor).
    pub started: Arc<Mutex<Vec<String>>>,
    /// The connector handle each account was last started with.
    pub connectors: Arc<Mutex<HashMap<String, Option<ConnectorHandle>>>>,
}

impl ScriptedWiring {
    /// The mailbox of `account`.
    pub fn mailbox(&self, account: &str) -> SharedMailbox {
        self.mailboxes
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_default()
            .clone()
    }

    /// The accounts started so far, in order.
    pub fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }
}

#[async_trait]
impl Wiring for ScriptedWiring {
    async fn start(&self, _supervisor: ActorCell) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    fn parts(
        &self,
        account: &AccountConfig,
        connector: Option<ConnectorHandle>,
        _authority: crate::server::Authority,
    ) -> AccountParts {
        self.started.lock().unwrap().push(account.name.clone());
        self.connectors
            .lock()
            .unwrap()
            .insert(account.name.clone(), connector);
        AccountParts {
            server: Arc::new(ScriptedServer {
                mailbox: self.mailbox(&account.name),
            }),
            destination: Arc::new(MemoryDestination::new(
                self.ledger.clone(),
                self.gate.clone().unwrap_or_else(|| Gate::new(true)),
            )),
            ledger: Arc::new(self.ledger.clone()),
        }
    }

    fn refresh_tokens(&self) -> Arc<dyn crate::oauth2::RefreshTokens> {
        Arc::new(crate::oauth2::MemoryRefreshTokens::default())
    }
}
