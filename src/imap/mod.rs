//! IMAP accounts with async-imap: opening (`open.rs`: LOGIN with SELECT and the listing
//! pipelined behind it, or SASL AUTHENTICATE with an OAuth2 token in `sasl.rs`), `UID FETCH`
//! of UID sets with `BODY.PEEK[]`, and deletes as `UID STORE +FLAGS.SILENT (\Deleted)` and
//! then `UID EXPUNGE` of exactly those UIDs (UIDPLUS). Every answer is read before the next
//! command that depends on it; LOGOUT's answer is not waited for.

mod command;
pub mod fetch;
pub mod greeting;
pub mod idle;
mod open;
mod sasl;
pub mod uids;
mod wire;
mod words;

use std::collections::HashMap;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::config::AccountConfig;
use crate::error::{CheckError, Stage, describe_io};
use crate::net::{ANSWER_BUDGET, ConnectorHandle};
use crate::protocol::keys::imap_key;
use crate::protocol::{
    AHEAD_MESSAGES, Ahead, Deleted, Deletion, Finished, Left, Listing, Probe, ServerMessage,
    Session, Sink,
};
use crate::sasl::MailLogin;
pub use open::BUDGET_SLACK;
use open::{
    AHEAD_TAG, CAPABILITY_TAG, Conn, LISTING_TAG, Listed, SELECT_TAG, capability_words, connect,
    log_in, quoted, read_selection,
};
use uids::{MAX_SET_BYTES, uid_groups, uid_set};
use wire::number_after;
use words::describe;

/// A logged-in IMAP session with its mailbox selected.
pub struct ImapSession {
    conn: Conn,
    mailbox: String,
    /// The selected mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UID the server will give the next message, when it said (SELECT's UIDNEXT).
    pub uidnext: Option<u32>,
    /// Messages in the mailbox at SELECT.
    pub exists: u32,
    /// The server's capabilities after login.
    pub capabilities: Vec<String>,
    uidplus: bool,
    /// Commands this session read the answers of itself so far (tags `mi1`, `mi2`, ...).
    commands: u32,
    /// Most messages one listing keeps.
    max_listed: usize,
    /// The whole mailbox's listing, sent behind SELECT when the session opened.
    prelisted: Option<Listed>,
    /// The highest UID listed, and the highest handed on from what was asked ahead.
    listed_high: Option<u32>,
    ahead_high: Option<u32>,
    /// The FETCH sent [`Ahead`] behind the listing, while its answers are unread.
    ahead: Option<AskedAhead>,
}

fn imap_err(stage: Stage, what: &str) -> impl FnOnce(async_imap::error::Error) -> CheckError + '_ {
    move |e| CheckError::new(stage, format!("{what}: {}", describe(&e)))
}

/// A FETCH of the [`AHEAD_MESSAGES`] UIDs from `from` on, sent before the listing: its answers come
/// first, and are read by [`Session::list`], which hands them on.
struct AskedAhead {
    from: u32,
}

impl ImapSession {
    /// Connects, logs in, selects the account's mailbox and lists it, for a check or a test.
    /// With a password, SELECT and the listing go out right behind LOGIN: one round trip.
    /// With `ahead`, a FETCH of the messages from there goes in the same write, before the
    /// listing.
    pub async fn open(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &MailLogin,
        ahead: Option<Ahead>,
    ) -> Result<Self, CheckError> {
        Self::open_with(account, connector, login, Some(ahead)).await
    }

    /// Connects, logs in and selects the mailbox, without listing it (to watch it in IDLE).
    pub async fn open_to_watch(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &MailLogin,
    ) -> Result<Self, CheckError> {
        Self::open_with(account, connector, login, None).await
    }

    /// Opens; `list` (with what to ask ahead) lists the mailbox too.
    async fn open_with(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &MailLogin,
        list: Option<Option<Ahead>>,
    ) -> Result<Self, CheckError> {
        let bearer = matches!(login, MailLogin::Bearer(_));
        let (mut client, offered) = connect(account, connector, bearer).await?;
        // SASL's final answer names no capabilities: they are asked for behind it.
        let mut behind = if bearer {
            format!("{CAPABILITY_TAG} CAPABILITY\r\n")
        } else {
            String::new()
        };
        behind.push_str(&format!(
            "{SELECT_TAG} SELECT {}\r\n",
            quoted(&account.mailbox)?
        ));
        // What is asked ahead goes before the listing: a server that runs both at once
        // (Dovecot) sends the listing's tagged answer only after both, and every message
        // from `from` on is new in this mailbox, so it needs no listing to be taken.
        let ahead = list.flatten().map(|Ahead { from }| AskedAhead { from });
        if let Some(a) = &ahead {
            // Bounded, so a large download still goes in batches with deletes between.
            let to = a.from.saturating_add(AHEAD_MESSAGES - 1);
            let set = format!("{}:{to}", a.from);
            behind.push_str(&fetch::command_with_size(AHEAD_TAG, &set));
            // async-imap reads the answers up to SELECT's, and nothing after them.
            client
                .get_mut()
                .stop_after_line(format!("{SELECT_TAG} ").as_bytes());
        }
        if list.is_some() {
            behind.push_str(&format!(
                "{LISTING_TAG} UID FETCH 1:* (UID RFC822.SIZE)\r\n"
            ));
        }
        let (mut conn, announced) = match login {
            MailLogin::Password(password) => {
                client.get_mut().follow_next_line(behind.into_bytes());
                log_in(client, password).await?
            }
            MailLogin::Bearer(token) => {
                let mut conn =
                    sasl::authenticate(client, token, &offered, (&account.address, account.port))
                        .await?;
                // Only after the exchange: a line sent during it could be taken for an
                // answer to the server's challenge.
                let stream = conn.get_mut();
                let sent = async {
                    stream.write_all(behind.as_bytes()).await?;
                    stream.flush().await
                };
                sent.await.map_err(|e| {
                    CheckError::new(Stage::Fetch, format!("SELECT failed: {}", describe_io(&e)))
                })?;
                (conn, None)
            }
        };
        let prelist = list.is_some() && ahead.is_none();
        let selection = read_selection(&mut conn, account, prelist, login).await?;
        let mut session = ImapSession {
            conn,
            mailbox: account.mailbox.clone(),
            uidvalidity: selection.uidvalidity,
            uidnext: selection.uidnext,
            exists: selection.exists,
            capabilities: Vec::new(),
            uidplus: false,
            commands: 0,
            max_listed: account.max_listed,
            prelisted: selection.listed,
            listed_high: None,
            ahead_high: None,
            ahead,
        };
        let capabilities = match announced.or(selection.capabilities) {
            Some(c) => c,
            None => {
                // Its answer comes behind those asked for already.
                session.read_ahead(None).await?;
                let conn = &mut session.conn;
                conn.get_mut().set_read_budget(Some(ANSWER_BUDGET));
                let caps = conn
                    .capabilities()
                    .await
                    .map_err(imap_err(Stage::Fetch, "CAPABILITY failed"))?;
                capability_words(caps.iter())
            }
        };
        session.uidplus = capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case("UIDPLUS"));
        session.capabilities = capabilities;
        Ok(session)
    }

    /// Reads the answers to what was asked ahead and to the listing behind it, in whatever
    /// order they come: the messages asked ahead go to `sink` (without one they are dropped
    /// and fetched again once listed), the listing is kept for [`Session::list`]. The UIDs
    /// handed on.
    async fn read_ahead(
        &mut self,
        mut sink: Option<&mut dyn Sink>,
    ) -> Result<Vec<u32>, CheckError> {
        let Some(AskedAhead { from }) = self.ahead.take() else {
            return Ok(Vec::new());
        };
        let (mailbox, uidvalidity) = (self.mailbox.clone(), self.uidvalidity);
        let exists = u64::from(self.exists);
        let max_size = sink.as_ref().map_or(0, |s| s.max_size());
        // At most one message per UID asked for, each as large as the account takes (a
        // larger one announced as smaller is refused by the reader), and a listing line
        // for each message the mailbox holds.
        let most = u64::from(AHEAD_MESSAGES);
        self.budget(most * (max_size.max(1 << 20) + 1024) + exists * 256);
        let stream = self.conn.get_mut();
        let mut answers =
            fetch::BodyFetch::sent(stream, &[(AHEAD_TAG, true), (LISTING_TAG, true)], max_size);
        let mut listed = Listed {
            messages: Vec::new(),
            too_many: false,
        };
        let mut handed = std::collections::HashSet::new();
        let mut bodies = 0u64;
        while let Some(answer) = answers.next_answer().await? {
            let key = Some(imap_key(&mailbox, uidvalidity, answer.uid));
            let Some(body) = answer.body else {
                if let Some(size) = answer.size {
                    if listed.messages.len() >= self.max_listed {
                        listed.too_many = true;
                    } else {
                        listed.messages.push(ServerMessage {
                            handle: answer.uid,
                            key,
                            size,
                        });
                    }
                }
                continue;
            };
            bodies += 1;
            if bodies > most {
                return Err(CheckError::new(
                    Stage::Fetch,
                    format!("the server sent more messages than the {most} UIDs asked for"),
                ));
            }
            // Only the UIDs asked for, each once; larger ones than the account takes are
            // left to the listing (and the plan).
            let (Some(sink), Some(body)) = (sink.as_mut(), body) else {
                continue;
            };
            let asked = (from..=from.saturating_add(AHEAD_MESSAGES - 1)).contains(&answer.uid);
            if !asked || !handed.insert(answer.uid) {
                continue;
            }
            let size = answer.size.unwrap_or(body.len() as u64);
            sink.push(
                ServerMessage {
                    handle: answer.uid,
                    key,
                    size,
                },
                body,
            )
            .await;
        }
        for (tag, words) in std::mem::take(&mut answers.refused) {
            // An empty mailbox may have no UID to list: any answer means none.
            if tag == LISTING_TAG && exists > 0 {
                return Err(CheckError::new(
                    Stage::Fetch,
                    format!("listing failed: the server answered `{words}`"),
                ));
            }
            if tag == AHEAD_TAG {
                tracing::debug!(answer = %words, "the server refused the FETCH asked ahead; its messages are fetched once listed");
            }
        }
        self.prelisted = Some(listed);
        self.ahead_high = handed.iter().copied().max();
        Ok(handed.into_iter().collect())
    }

    /// Lets the server send at most `bytes` plus [`BUDGET_SLACK`] until the next budget: a
    /// server that announces small messages and sends huge literals is stopped, so memory
    /// stays bounded by what was asked for.
    fn budget(&mut self, bytes: u64) {
        self.conn
            .get_mut()
            .set_read_budget(Some(bytes + BUDGET_SLACK));
    }

    /// True when the server supports IDLE.
    pub fn has_idle(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case("IDLE"))
    }
}

impl ImapSession {
    /// A tag for a command this session reads the answer of itself (`mi1`, `mi2`, ...).
    fn next_tag(&mut self) -> String {
        self.commands += 1;
        format!("mi{}", self.commands)
    }

    /// A listing of `messages`, the whole mailbox's when `whole` and none was left out.
    fn listing(
        &mut self,
        messages: Vec<ServerMessage>,
        too_many: bool,
        whole: bool,
        fetched: Vec<u32>,
    ) -> Listing {
        self.listed_high = messages.iter().map(|m| m.handle).max();
        if too_many {
            tracing::warn!(
                limit = self.max_listed,
                "mailbox holds more messages than one check lists (max_listed); the rest follow in later checks"
            );
        }
        Listing {
            messages,
            complete: whole && !too_many,
            fetched,
        }
    }

    /// Runs `command`, reading its answer itself; the server's refusal, if it refused.
    async fn refusable(&mut self, command: &str) -> Result<Option<String>, CheckError> {
        self.read_ahead(None).await?;
        let tag = self.next_tag();
        let status = command::run(self.conn.get_mut(), &tag, command, |_| Ok(()))
            .await
            .map_err(|e| CheckError::new(Stage::Delete, e.message))?;
        let name = command.split(' ').take(2).collect::<Vec<_>>().join(" ");
        Ok(status.refusal().map(|r| format!("{name}: {r}")))
    }
}

#[async_trait]
impl Session for ImapSession {
    fn epoch(&self) -> Option<u32> {
        Some(self.uidvalidity)
    }

    async fn probe(&mut self) -> Result<Probe, CheckError> {
        Ok(Probe {
            capabilities: self.capabilities.clone(),
            mailbox: format!(
                "mailbox {}: {} messages (UIDVALIDITY {})",
                self.mailbox, self.exists, self.uidvalidity
            ),
        })
    }

    async fn list(
        &mut self,
        above: Option<u32>,
        sink: &mut dyn Sink,
    ) -> Result<Listing, CheckError> {
        let fetched = self.read_ahead(Some(sink)).await?;
        if self.exists == 0 {
            return Ok(Listing {
                messages: Vec::new(),
                complete: true,
                fetched,
            });
        }
        // The whole mailbox when it fits in one listing; else what is above the highest UID
        // settled, unless the server's numbering went back (a restore): then all again.
        let from = match above {
            Some(high)
                if self.exists as usize > self.max_listed
                    && self.uidnext.is_none_or(|next| next > high) =>
            {
                high.saturating_add(1)
            }
            _ => 1,
        };
        if from == 1
            && let Some(Listed { messages, too_many }) = self.prelisted.take()
        {
            return Ok(self.listing(messages, too_many, true, fetched));
        }
        self.budget(u64::from(self.exists) * 256);
        let tag = self.next_tag();
        let (mailbox, uidvalidity) = (self.mailbox.clone(), self.uidvalidity);
        let max_listed = self.max_listed;
        let mut out = Vec::new();
        let mut too_many = false;
        let status = command::run(
            self.conn.get_mut(),
            &tag,
            &format!("UID FETCH {from}:* (UID RFC822.SIZE)"),
            |line| {
                let text = String::from_utf8_lossy(line);
                let uid = number_after(&text, "UID ").and_then(|u| u32::try_from(u).ok());
                if let (Some(uid), Some(size)) = (uid, number_after(&text, "RFC822.SIZE ")) {
                    // `n:*` with n above the highest UID still answers that highest one.
                    if uid < from {
                        return Ok(());
                    }
                    if out.len() >= max_listed {
                        too_many = true;
                    } else {
                        out.push(ServerMessage {
                            handle: uid,
                            key: Some(imap_key(&mailbox, uidvalidity, uid)),
                            size,
                        });
                    }
                }
                Ok(())
            },
        )
        .await?;
        if let Some(refusal) = status.refusal() {
            return Err(CheckError::new(
                Stage::Fetch,
                format!("listing failed: {refusal}"),
            ));
        }
        Ok(self.listing(out, too_many, from == 1, fetched))
    }

    async fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        let by_uid: HashMap<u32, &ServerMessage> = batch.iter().map(|m| (m.handle, m)).collect();
        // One command per bounded UID set: a long set of scattered UIDs would make a command
        // line some servers refuse.
        for group in uid_groups(batch.iter().map(|m| m.handle), MAX_SET_BYTES) {
            self.budget(group.iter().map(|u| by_uid[u].size + 512).sum());
            let tag = self.next_tag();
            let max = sink.max_size();
            let set = uid_set(group);
            let mut answers = fetch::BodyFetch::start(self.conn.get_mut(), &tag, &set, max).await?;
            while let Some((uid, body)) = answers.next().await? {
                let Some(msg) = by_uid.get(&uid) else {
                    continue;
                };
                match body {
                    Some(body) => sink.push((*msg).clone(), body).await,
                    None => sink.left_on_server(Left::Oversize),
                }
            }
        }
        Ok(())
    }

    async fn delete(&mut self, batch: &[ServerMessage]) -> Result<Deletion, CheckError> {
        let mut done = Deletion::all(if self.uidplus {
            Deleted::Now
        } else {
            Deleted::Flagged
        });
        for group in uid_groups(batch.iter().map(|m| m.handle), MAX_SET_BYTES) {
            self.budget(group.len() as u64 * 128);
            let set = uid_set(group.iter().copied());
            // UID EXPUNGE only after STORE's answer: it depends on the flags STORE sets, so
            // sending both at once is the ambiguity RFC 3501 (5.5) forbids, and Dovecot then
            // expunges nothing of the group.
            let mut refusal = self
                .refusable(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"))
                .await?;
            if refusal.is_none() && self.uidplus {
                refusal = self.refusable(&format!("UID EXPUNGE {set}")).await?;
            }
            if let Some(reason) = refusal {
                done.refused.extend(group);
                done.reason = Some(reason);
            }
        }
        Ok(done)
    }

    async fn finish(mut self: Box<Self>) -> Result<Finished, CheckError> {
        // Nothing waits on LOGOUT's answer (every delete was answered by its own command):
        // say it, close our side (TLS close_notify) and go.
        let tag = self.next_tag();
        let stream = self.conn.get_mut();
        let bye = async {
            stream
                .write_all(format!("{tag} LOGOUT\r\n").as_bytes())
                .await?;
            stream.flush().await?;
            stream.shutdown().await
        };
        if let Err(e) = bye.await {
            tracing::debug!(error = %describe_io(&e), "LOGOUT failed; nothing was owed");
        }
        Ok(Finished {
            // Above everything this session saw, as UIDNEXT is unless mail came meanwhile.
            new_from: [self.listed_high, self.ahead_high]
                .into_iter()
                .flatten()
                .map(|h| h.saturating_add(1))
                .chain(self.uidnext)
                .max(),
            ..Finished::default()
        })
    }
}
