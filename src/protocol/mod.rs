//! The contract between a mail protocol and the rest of mail-ingest: what a [`Session`] lists
//! and deletes, how it hands fetched messages to a [`Sink`] and how the sink tells which of
//! them are durable, how a [`MailServer`] opens sessions, and how messages are keyed
//! ([`keys`]). It depends on nothing but the error type, so every layer may use it.
//!
//! `imap/` and `pop3/` implement this contract and depend on it (beside the network and
//! config layers), never on the check, the store or the actors. The check algorithm drives
//! any session into any sink: the store path with its in-flight window is one sink; a scripted
//! session and an in-memory sink drive the same algorithm in the unit tests.

pub mod acks;
pub mod keys;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::CheckError;
use acks::AckQueue;

/// The default of `max_listed`: most messages one check lists (and so holds in memory); a
/// larger mailbox is taken in several checks.
pub const MAX_LISTED: usize = 250_000;

/// A message as the server lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMessage {
    /// IMAP UID, or POP3 message number.
    pub handle: u32,
    /// The store key; `None` for POP3 without UIDL (the sink then keys it by its content).
    pub key: Option<String>,
    /// The size the server announced.
    pub size: u64,
}

/// What a session listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The messages, in the server's order.
    pub messages: Vec<ServerMessage>,
    /// True when these are all the mailbox holds, each with its key: a key held before and
    /// not listed now names a message gone from the server.
    pub complete: bool,
    /// Handles of the messages already handed to the sink while listing (asked for
    /// [`Ahead`]): the check does not fetch them again.
    pub fetched: Vec<u32>,
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

/// What a delete command achieved: how the deleted ones are gone, and which the server
/// refused (they stay owed, and the reason shows in the account's report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// How the messages not refused are deleted.
    pub deleted: Deleted,
    /// Handles of the messages the server refused to delete.
    pub refused: Vec<u32>,
    /// What the server said when it refused, in words.
    pub reason: Option<String>,
}

impl Deletion {
    /// Every message of the batch deleted as `deleted`.
    pub fn all(deleted: Deleted) -> Self {
        Deletion {
            deleted,
            refused: Vec::new(),
            reason: None,
        }
    }
}

/// What ending a session made of the deletes it had only queued (POP3 DELEs go out with the
/// next command that is sent anyway, and their answers are read when the session ends): the
/// ones the server refused after all. They stay owed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finished {
    /// Handles of the messages whose delete the server refused.
    pub refused: Vec<u32>,
    /// What the server said when it refused, in words.
    pub reason: Option<String>,
    /// The handle the mailbox's next new message will have, as far as this session can
    /// tell (IMAP's UIDNEXT; POP3's number after what stays on the server): where the next
    /// session looks [`Ahead`].
    pub new_from: Option<u32>,
}

/// How many messages a session asks for [`Ahead`] of its listing.
pub const AHEAD_MESSAGES: u32 = 1024;

/// Where the mailbox's new mail is expected to begin, from what the last session left: a
/// session may ask for the [`AHEAD_MESSAGES`] messages from there in the same write as its
/// login and listing, before it knows what the check wants, which saves the listing's
/// round trip. It is a guess and nothing more: what arrives is matched to the listing of
/// the same session by handle, only what the check then asks [`Session::fetch`] for is
/// handed on, and the rest is read and dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ahead {
    /// The first handle asked for.
    pub from: u32,
}

/// Why a session left a message on the server without handing it to the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// Larger than the sink takes.
    Oversize,
    /// Its body did not match the size the server listed, though properly ended (the
    /// session is in step): what came may not be what is there, so it is neither stored
    /// nor deleted.
    SizeMismatch,
}

/// What `test ACCOUNT` shows of a logged-in session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The server's capabilities, as it names them.
    pub capabilities: Vec<String>,
    /// What the mailbox holds, in words (e.g. `mailbox INBOX: 3 messages (UIDVALIDITY 7)`).
    pub mailbox: String,
}

/// One logged-in connection to a mailbox.
#[async_trait]
pub trait Session: Send {
    /// The mailbox's epoch (IMAP UIDVALIDITY), when the protocol has one: keys of another
    /// epoch name other messages.
    fn epoch(&self) -> Option<u32> {
        None
    }
    /// Capabilities and mailbox size, for `test ACCOUNT`.
    async fn probe(&mut self) -> Result<Probe, CheckError>;
    /// What the mailbox holds. `above` is the highest handle known to be settled in this
    /// epoch: a session that can list incrementally (IMAP, for a mailbox larger than one
    /// listing) lists only what is above it. A session whose answers to what it asked
    /// [`Ahead`] come before its listing's hands those messages to `sink` meanwhile, and
    /// names them in [`Listing::fetched`].
    async fn list(
        &mut self,
        above: Option<u32>,
        sink: &mut dyn Sink,
    ) -> Result<Listing, CheckError>;
    /// Downloads `batch`, handing each message to `sink` as it arrives. Of what a session
    /// asked for [`Ahead`] and answered after its listing, the first call takes what `batch`
    /// holds and drops the rest; any other command before it drops it all (those messages
    /// are then asked for again).
    async fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError>;
    /// Deletes these messages on the server. A refusal (a read-only mailbox, missing rights)
    /// is an answer, not an error: the session goes on. A session may queue the deletes of
    /// [`Deleted::AtFinish`] and learn of their refusals only when it ends.
    async fn delete(&mut self, batch: &[ServerMessage]) -> Result<Deletion, CheckError>;
    /// Ends the session (LOGOUT / QUIT), making its [`Deleted::AtFinish`] deletes final;
    /// says which of them the server refused.
    async fn finish(self: Box<Self>) -> Result<Finished, CheckError>;
}

/// Why watching a mailbox for new mail (IMAP IDLE) stopped.
#[derive(Debug)]
pub enum WatchEnd {
    /// The server does not offer it: poll only.
    Unsupported,
    /// The connection failed; watch again after a pause.
    Failed(CheckError),
}

/// One account's mail server: opens sessions with it and watches it for new mail.
#[async_trait]
pub trait MailServer: Send + Sync {
    /// Connects and logs in; with `ahead`, a session that can asks for the messages from
    /// there before its listing has answered.
    async fn open(&self, ahead: Option<Ahead>) -> Result<Box<dyn Session>, CheckError>;
    /// The server ended a session because its login expired (an OAuth2 access token): the
    /// next [`MailServer::open`] logs in afresh.
    async fn login_expired(&self) {}
    /// Waits on a connection of its own for the server to report changes, calling `wake`
    /// for each; returns only when that is unsupported or the connection failed.
    async fn watch(&self, wake: &(dyn Fn() + Send + Sync)) -> WatchEnd;
}

/// What a sink did with one message, once durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durable {
    /// Newly stored under this id.
    Stored(u64),
    /// Already held under this id (a retry, or the same message under another key).
    Duplicate(u64),
}

/// Why a group of messages is not durable: nothing of it may be deleted on the server.
#[derive(Clone, Debug, thiserror::Error)]
#[error("cannot store messages")]
pub struct NotStored(#[source] pub Arc<dyn std::error::Error + Send + Sync>);

/// A group of messages handed to a sink, and what became of it.
#[derive(Debug)]
pub struct Acked {
    /// The messages, each with its key (a content key when the server gave none).
    pub messages: Vec<ServerMessage>,
    /// One outcome per message, in order; or why none of them is durable.
    pub result: Result<Vec<Durable>, NotStored>,
}

/// How much a sink took in one check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages downloaded.
    pub fetched: u64,
    /// Messages over the size limit, found while downloading and dropped.
    pub oversize: u64,
    /// Messages whose body was not of the listed size, left on the server.
    pub size_mismatch: u64,
    /// Time the download waited for room (the sink was behind).
    pub waited: Duration,
}

/// Where a session puts what it fetched: messages go in, acknowledgements come out, and
/// a message is durable only once its acknowledgement says so.
#[async_trait]
pub trait Sink: Send {
    /// The largest message taken; a session reads a larger one to its end and drops it.
    fn max_size(&self) -> u64;
    /// A message was left on the server while downloading (larger than
    /// [`Sink::max_size`], or of another size than listed).
    fn left_on_server(&mut self, why: Left);
    /// Takes one downloaded message; waits while there is no room.
    async fn push(&mut self, message: ServerMessage, raw: Vec<u8>);
    /// Sends on what has been gathered, without waiting for it.
    fn flush(&mut self);
    /// Where the acknowledgements of what was handed on come back.
    fn acks(&mut self) -> &mut AckQueue<Acked>;
    /// How much it took so far.
    fn tally(&self) -> Tally;
}
