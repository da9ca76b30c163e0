//! POP3 accounts: connect, STLS, USER/PASS or SASL AUTH with an OAuth2 token, UIDL and LIST, pipelined RETR, DELE made final
//! by QUIT. Messages are keyed by UIDL; a server without UIDL is usable only with
//! `keep_copy = false` (each message is then keyed by its content).

pub mod client;
mod retrieve;
mod sasl;
mod words;

use client::{Capabilities, Pop3Client, Pop3Error, READ_BUFFER};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::config::{AccountConfig, TlsMode};
use crate::error::{CheckError, Stage};
use crate::net::{self, ANSWER_BUDGET, BoxStream, ConnectorHandle, Timed};
use crate::protocol::keys::pop3_key;
use crate::protocol::{
    Ahead, Deleted, Deletion, Finished, Listing, Probe, ServerMessage, Session, Sink,
};
use crate::sasl::MailLogin;
use words::{auth_error, describe};

/// Most bytes one line of a LIST or UIDL answer may take (a number, a space, a unique id of
/// at most 70 characters).
const LISTING_LINE_BYTES: u64 = 96;

/// Most DELE commands queued before their answers are read (the answers must fit the socket
/// buffers while the commands are written).
const DELE_QUEUE: usize = 1024;

/// A logged-in POP3 session.
///
/// With a server that says PIPELINING, commands go out in groups: the login with the
/// capabilities and the listing, RETRs in a window sized in bytes, and DELEs queued until the
/// next write (at the latest with QUIT), their answers read when that write's answers come.
/// Deletes become final only at QUIT, which is sent only after every DELE (each for a message
/// durably stored), so a lost connection deletes nothing.
pub struct Pop3Session {
    client: Pop3Client<Timed<BoxStream>>,
    /// What the server announced (after login when it says more then).
    pub capabilities: Capabilities,
    /// The server takes commands without waiting for the answers before them.
    pipelining: bool,
    /// STAT, LIST and UIDL went out with the login: their answers come next.
    listing_sent: bool,
    /// DELE commands sent or queued whose answers are still to be read, in order.
    unanswered_deletes: Vec<u32>,
    /// The deletes the server refused, told at the end.
    refused: Finished,
    keep_copy: bool,
    /// Most messages one listing keeps.
    max_listed: usize,
    account: String,
    /// Whether this session marked anything for deletion; only then does QUIT's answer matter.
    deletes_sent: bool,
    /// What to ask for ahead of the listing's answer, until it is asked.
    ask_ahead: Option<Ahead>,
    /// RETRs sent ahead of the listing's answer, while their answers are unread.
    ahead: Option<AskedAhead>,
    /// Messages in the maildrop (STAT), once listed.
    count: Option<u64>,
    /// DELEs the server accepted, final at QUIT.
    deletes_accepted: u64,
    /// The largest message the account takes.
    max_size: u64,
}

/// RETRs of messages `from..=to` sent behind the listing, before the check said what it
/// wants.
struct AskedAhead {
    from: u32,
    to: u32,
    /// The answers due, in order: the RETRs' numbers, 0 for a NOOP.
    due: Vec<u32>,
    /// The sizes the listing gave those of them it listed.
    listed: std::collections::HashMap<u32, u64>,
}

impl AskedAhead {
    fn holds(&self, n: u32) -> bool {
        (self.from..=self.to).contains(&n)
    }
}

fn err(stage: Stage, what: &str) -> impl FnOnce(Pop3Error) -> CheckError + '_ {
    move |e| CheckError::new(stage, format!("{what}: {}", describe(&e)))
}

/// Lets the server send at most `bytes` for the next answer, beyond what the client's read
/// buffer may already have taken of the answers behind it (see [`Timed`]).
fn set_budget(client: &mut Pop3Client<Timed<BoxStream>>, bytes: u64) {
    client
        .get_mut()
        .set_read_budget(Some(bytes + READ_BUFFER as u64));
}

impl Pop3Session {
    /// Connects and logs in. With `ahead` and a server that pipelines, RETRs of the messages
    /// from there follow the listing in the same write.
    pub async fn open(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &MailLogin,
        ahead: Option<Ahead>,
    ) -> Result<Self, CheckError> {
        let stream = net::open(account, connector).await?;
        let mut client = Pop3Client::new(stream);
        set_budget(&mut client, ANSWER_BUDGET);
        // CAPA goes out before the greeting has come: the server reads it once it has greeted,
        // and its answer comes right behind the greeting instead of a round trip later.
        let early = async {
            client.send("CAPA").await?;
            client.flush().await
        };
        early
            .await
            .map_err(err(Stage::Connect, "cannot send CAPA"))?;
        client
            .greeting()
            .await
            .map_err(err(Stage::Connect, "no POP3 greeting"))?;
        client.get_mut().set_limit(account.io_timeout);
        set_budget(&mut client, ANSWER_BUDGET);
        let mut capabilities = client
            .read_capa()
            .await
            .map_err(err(Stage::Connect, "CAPA failed"))?;
        if account.tls == TlsMode::Starttls {
            set_budget(&mut client, ANSWER_BUDGET);
            client
                .command("STLS")
                .await
                .map_err(err(Stage::Tls, "the server refused STLS"))?;
            let plain = client.into_inner().map_err(err(Stage::Tls, "STLS"))?;
            let mut tls = net::starttls(plain, account).await?;
            tls.set_limit(account.io_timeout);
            client = Pop3Client::new(tls);
            set_budget(&mut client, ANSWER_BUDGET);
            capabilities = client
                .capa()
                .await
                .map_err(err(Stage::Tls, "CAPA after STLS failed"))?;
        }
        let mut session = Pop3Session {
            client,
            pipelining: capabilities.has("PIPELINING"),
            capabilities,
            listing_sent: false,
            unanswered_deletes: Vec::new(),
            refused: Finished::default(),
            keep_copy: account.keep_copy,
            max_listed: account.max_listed,
            account: account.name.clone(),
            deletes_sent: false,
            ask_ahead: ahead,
            ahead: None,
            count: None,
            deletes_accepted: 0,
            max_size: account.max_message_size,
        };
        session.log_in(account, login).await?;
        Ok(session)
    }

    /// Says UTF8 when offered, logs in, and reads what the server can do now. A password
    /// login to a pipelining server goes out in one write with the capabilities and the
    /// listing (their answers are read by [`Session::list`]).
    async fn log_in(
        &mut self,
        account: &AccountConfig,
        login: &MailLogin,
    ) -> Result<(), CheckError> {
        // RFC 6856: a server that offers UTF8 down-converts messages with 8-bit headers for
        // a client that has not said it (their bodies then differ from the listed sizes).
        let utf8 = self.capabilities.has("UTF8");
        if utf8 {
            self.send("UTF8").await?;
            if !self.pipelining {
                self.read_utf8().await?;
            }
        }
        match login {
            MailLogin::Password(l) => {
                let hint = self.client.get_mut().certificate_hint();
                let refused = |e: Pop3Error| auth_error(&e, login, hint);
                self.client
                    .send(&format!("USER {}", l.username))
                    .await
                    .map_err(refused)?;
                if self.pipelining {
                    self.client
                        .send(&format!("PASS {}", l.password.expose()))
                        .await
                        .map_err(refused)?;
                    for command in ["CAPA", "STAT", "LIST", "UIDL"] {
                        self.send(command).await?;
                    }
                    self.send_ahead().await?;
                    self.listing_sent = true;
                }
                self.client.flush().await.map_err(refused)?;
                if utf8 && self.pipelining {
                    self.read_utf8().await?;
                }
                self.answer_budget();
                self.client.status().await.map_err(refused)?;
                if !self.pipelining {
                    self.client
                        .send(&format!("PASS {}", l.password.expose()))
                        .await
                        .map_err(refused)?;
                    self.client.flush().await.map_err(refused)?;
                }
                self.answer_budget();
                self.client.status().await.map_err(refused)?;
            }
            MailLogin::Bearer(b) => {
                if utf8 && self.pipelining {
                    self.read_utf8().await?;
                }
                sasl::authenticate(&mut self.client, b, &self.capabilities, account).await?;
            }
        }
        // Some servers only tell the truth about their abilities after login.
        if !self.listing_sent {
            self.send("CAPA").await?;
            self.client
                .flush()
                .await
                .map_err(err(Stage::Connect, "CAPA failed"))?;
        }
        self.answer_budget();
        if let Ok(after) = self.client.read_capa().await
            && !after.lines.is_empty()
        {
            self.pipelining |= after.has("PIPELINING");
            self.capabilities = after;
        }
        Ok(())
    }

    /// Queues one command for the next write.
    async fn send(&mut self, command: &str) -> Result<(), CheckError> {
        self.client
            .send(command)
            .await
            .map_err(err(Stage::Connect, command))
    }

    /// Reads the answer to UTF8: a refusal is only logged.
    async fn read_utf8(&mut self) -> Result<(), CheckError> {
        let failed = || err(Stage::Connect, "UTF8 failed");
        if self.client.queued() {
            self.client.flush().await.map_err(failed())?;
        }
        self.answer_budget();
        match self.client.status().await {
            Ok(_) => Ok(()),
            Err(e @ Pop3Error::Err(_)) => {
                tracing::debug!(account = %self.account, error = %describe(&e), "the server offers UTF8 but refused it");
                Ok(())
            }
            Err(e) => Err(failed()(e)),
        }
    }

    /// Lets the server send at most `bytes` until the next budget (see [`Timed`]).
    fn budget(&mut self, bytes: u64) {
        set_budget(&mut self.client, bytes);
    }

    /// The budget of a status answer.
    fn answer_budget(&mut self) {
        self.budget(ANSWER_BUDGET);
    }

    /// Sends `command` now, unless it went out already, pipelined behind an earlier one.
    async fn ask(&mut self, command: &str, sent: bool) -> Result<(), CheckError> {
        if !sent {
            self.send(command).await?;
            self.client
                .flush()
                .await
                .map_err(err(Stage::Fetch, &format!("{command} failed")))?;
        }
        Ok(())
    }

    /// Number of messages and their total size (STAT).
    pub async fn stat(&mut self) -> Result<(u64, u64), CheckError> {
        let (count, size, _) = self.listing().await?;
        Ok((count, size))
    }

    /// STAT, LIST and UIDL (in one write when the server pipelines, or answered already as
    /// the login's): the count, the total size, and the messages listed.
    async fn listing(&mut self) -> Result<(u64, u64, Listing), CheckError> {
        self.read_deletes().await?;
        let mut sent = std::mem::take(&mut self.listing_sent);
        if !sent && self.pipelining {
            for command in ["STAT", "LIST", "UIDL"] {
                self.send(command).await?;
            }
            self.send_ahead().await?;
            self.client
                .flush()
                .await
                .map_err(err(Stage::Fetch, "STAT failed"))?;
            sent = true;
        }
        self.ask("STAT", sent).await?;
        self.answer_budget();
        let text = self
            .client
            .status()
            .await
            .map_err(err(Stage::Fetch, "STAT failed"))?;
        let mut it = text.split_whitespace().map(|n| n.parse::<u64>());
        let (count, size) = match (it.next(), it.next()) {
            (Some(Ok(n)), Some(Ok(size))) => (n, size),
            _ => {
                return Err(CheckError::new(
                    Stage::Fetch,
                    format!("malformed STAT answer `{text}`"),
                ));
            }
        };
        // The count STAT announces sizes what LIST and UIDL may send.
        let listing_budget = count.saturating_mul(LISTING_LINE_BYTES) + ANSWER_BUDGET;
        self.ask("LIST", sent).await?;
        self.budget(listing_budget);
        let sizes = self
            .client
            .read_list(self.max_listed)
            .await
            .map_err(err(Stage::Fetch, "LIST failed"))?;
        self.ask("UIDL", sent).await?;
        self.budget(listing_budget);
        let uidls = match self.client.read_uidl(self.max_listed).await {
            Ok(u) => Some(u),
            Err(Pop3Error::Err(_)) if !self.keep_copy => None,
            Err(Pop3Error::Err(e)) => {
                return Err(CheckError::new(
                    Stage::Fetch,
                    format!(
                        "the server does not support UIDL ({e}), so kept messages cannot be told apart; set keep_copy = false for account `{}`",
                        self.account
                    ),
                ));
            }
            Err(e) => return Err(err(Stage::Fetch, "UIDL failed")(e)),
        };
        let listing = self.keyed(count, sizes, uidls)?;
        self.count = Some(count);
        if let Some(ahead) = &mut self.ahead {
            ahead.listed = listing
                .messages
                .iter()
                .filter(|m| ahead.holds(m.handle))
                .map(|m| (m.handle, m.size))
                .collect();
        }
        Ok((count, size, listing))
    }

    /// The listing of `count` messages, each keyed by its UIDL when there is one.
    fn keyed(
        &self,
        count: u64,
        sizes: Vec<(u32, u64)>,
        uidls: Option<Vec<(u32, String)>>,
    ) -> Result<Listing, CheckError> {
        let uidl_of: std::collections::HashMap<u32, String> =
            uidls.unwrap_or_default().into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(sizes.len());
        for (n, size) in sizes {
            let key = uidl_of.get(&n).map(|u| pop3_key(u));
            if let Some(k) = &key
                && !seen.insert(k.clone())
            {
                return Err(CheckError::new(
                    Stage::Fetch,
                    format!(
                        "the server listed UIDL `{}` twice; refusing to guess which message is which",
                        &k[5..]
                    ),
                ));
            }
            out.push(ServerMessage {
                handle: n,
                key,
                size,
            });
        }
        let complete = out.len() as u64 == count && out.iter().all(|m| m.key.is_some());
        if (out.len() as u64) < count {
            tracing::warn!(account = %self.account, limit = self.max_listed, count, "maildrop holds more messages than one check lists (max_listed); the rest follow once these are deleted");
        }
        Ok(Listing {
            messages: out,
            complete,
            fetched: Vec::new(),
        })
    }

    /// The number the next new message will have once this session ends cleanly: the one
    /// after the messages that stay (the others are renumbered at QUIT).
    fn new_from(&self) -> Option<u32> {
        let stay = self.count?.saturating_sub(self.deletes_accepted);
        u32::try_from(stay + 1).ok()
    }

    /// Reads the answers to the DELEs sent; refusals are kept for the end.
    async fn read_deletes(&mut self) -> Result<(), CheckError> {
        if self.unanswered_deletes.is_empty() {
            return Ok(());
        }
        self.drop_ahead().await?;
        if self.client.queued() {
            self.client
                .flush()
                .await
                .map_err(err(Stage::Delete, "DELE failed"))?;
        }
        self.budget(self.unanswered_deletes.len() as u64 * 128 + ANSWER_BUDGET);
        for handle in std::mem::take(&mut self.unanswered_deletes) {
            match self.client.status().await {
                Ok(_) => self.deletes_accepted += 1,
                // A refusal: the session is in step; this message stays owed.
                Err(e @ Pop3Error::Err(_)) => {
                    self.refused.refused.push(handle);
                    self.refused.reason = Some(format!("DELE {handle}: {}", describe(&e)));
                }
                Err(e) => return Err(err(Stage::Delete, &format!("DELE {handle} failed"))(e)),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Session for Pop3Session {
    async fn probe(&mut self) -> Result<Probe, CheckError> {
        let (n, size) = self.stat().await?;
        Ok(Probe {
            capabilities: self.capabilities.lines.clone(),
            mailbox: format!("maildrop: {n} messages, {size} bytes"),
        })
    }

    async fn list(
        &mut self,
        _above: Option<u32>,
        _sink: &mut dyn Sink,
    ) -> Result<Listing, CheckError> {
        Ok(self.listing().await?.2)
    }

    async fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        self.retrieve(batch, sink).await
    }

    async fn delete(&mut self, batch: &[ServerMessage]) -> Result<Deletion, CheckError> {
        self.deletes_sent |= !batch.is_empty();
        for msg in batch {
            self.client
                .send(&format!("DELE {}", msg.handle))
                .await
                .map_err(err(Stage::Delete, "DELE failed"))?;
            self.unanswered_deletes.push(msg.handle);
            if !self.pipelining || self.unanswered_deletes.len() >= DELE_QUEUE {
                self.read_deletes().await?;
            }
        }
        Ok(Deletion::all(Deleted::AtFinish))
    }

    async fn finish(mut self: Box<Self>) -> Result<Finished, CheckError> {
        self.answer_budget();
        if !self.deletes_sent {
            // Nothing awaits the UPDATE state, so QUIT's answer tells us nothing, and a server
            // may take long before giving it (Dovecot first marks every retrieved message
            // seen). Say QUIT, close our side (TLS close_notify) and go; the server still
            // reads the QUIT.
            let quit = async {
                self.client.send("QUIT").await?;
                self.client.flush().await?;
                self.client.get_mut().shutdown().await?;
                Ok::<_, Pop3Error>(())
            };
            if let Err(e) = quit.await {
                tracing::debug!(account = %self.account, error = %describe(&e), "QUIT without deletes failed; nothing was owed");
            }
            return Ok(Finished {
                new_from: self.new_from(),
                ..Finished::default()
            });
        }
        // The DELEs still queued go out with QUIT, in one write; QUIT's answer, after theirs,
        // says the server made them final.
        let quit = || err(Stage::Delete, "QUIT failed (deletes not made final)");
        self.client.send("QUIT").await.map_err(quit())?;
        self.client.flush().await.map_err(quit())?;
        self.read_deletes().await?;
        self.answer_budget();
        self.client.status().await.map_err(quit())?;
        let new_from = self.new_from();
        Ok(Finished {
            new_from,
            ..self.refused
        })
    }
}
