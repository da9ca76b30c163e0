//! IMAP accounts with async-imap: greeting and STARTTLS by hand (so injected bytes are
//! caught), LOGIN or SASL AUTHENTICATE with an OAuth2 token (`sasl.rs`), SELECT, a UID/size listing, `UID FETCH` of UID sets with `BODY.PEEK[]`,
//! and deletes as `UID STORE +FLAGS.SILENT (\Deleted)` plus `UID EXPUNGE` of exactly those
//! UIDs (UIDPLUS). Every result stream is drained before the next command.

mod command;
pub mod fetch;
pub mod greeting;
pub mod idle;
mod sasl;
pub mod uids;
mod wire;
mod words;

use std::collections::HashMap;

use async_imap::{Client, Session as ImapConn};

use async_trait::async_trait;

use crate::config::{AccountConfig, Login, TlsMode};
use crate::error::{CheckError, Failure, Stage};
use crate::net::{self, ANSWER_BUDGET, BoxStream, ConnectorHandle, Timed};
use crate::protocol::keys::imap_key;
use crate::protocol::{
    Deleted, Deletion, Finished, Left, Listing, Probe, ServerMessage, Session, Sink,
};
use crate::sasl::MailLogin;
use uids::{MAX_SET_BYTES, uid_groups, uid_set};
use wire::number_after;
use words::describe;

type Conn = ImapConn<Timed<BoxStream>>;

/// What any command may bring beyond the data it asked for (status lines, flags, untagged
/// updates).
pub const BUDGET_SLACK: u64 = 1 << 20;

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
}

fn imap_err(stage: Stage, what: &str) -> impl FnOnce(async_imap::error::Error) -> CheckError + '_ {
    move |e| CheckError::new(stage, format!("{what}: {}", describe(&e)))
}

impl ImapSession {
    /// Connects, logs in and selects the account's mailbox.
    pub async fn open(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &MailLogin,
    ) -> Result<Self, CheckError> {
        let bearer = matches!(login, MailLogin::Bearer(_));
        let (client, offered) = connect(account, connector, bearer).await?;
        let mut conn = match login {
            MailLogin::Password(login) => log_in(client, login).await?,
            MailLogin::Bearer(login) => {
                sasl::authenticate(client, login, &offered, (&account.address, account.port))
                    .await?
            }
        };
        conn.get_mut().set_read_budget(Some(ANSWER_BUDGET));
        let caps = conn
            .capabilities()
            .await
            .map_err(imap_err(Stage::Fetch, "CAPABILITY failed"))?;
        let capabilities: Vec<String> = caps
            .iter()
            .map(|c| clean_capability(&format!("{c:?}")))
            .collect();
        let uidplus = caps.has_str("UIDPLUS");
        let (uidvalidity, exists, uidnext) = select(&mut conn, &account.mailbox).await?;
        Ok(ImapSession {
            conn,
            mailbox: account.mailbox.clone(),
            uidvalidity,
            uidnext,
            exists,
            capabilities,
            uidplus,
            commands: 0,
            max_listed: account.max_listed,
        })
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

/// TCP (direct or through the connector), TLS, the greeting and STARTTLS when asked for;
/// with `capabilities`, also what the server offers before login (from the greeting when
/// it says, else from a CAPABILITY command).
async fn connect(
    account: &AccountConfig,
    connector: Option<&ConnectorHandle>,
    capabilities: bool,
) -> Result<(Client<Timed<BoxStream>>, Vec<String>), CheckError> {
    let mut stream = net::open(account, connector).await?;
    stream.set_read_budget(Some(ANSWER_BUDGET));
    let mut greeting = greeting::read_greeting(&mut stream).await?;
    if account.tls == TlsMode::Starttls {
        stream.set_read_budget(Some(ANSWER_BUDGET));
        greeting::starttls(&mut stream).await?;
        stream = net::starttls(stream, account).await?;
        greeting.clear(); // what it announced before TLS no longer holds
    }
    stream.set_limit(account.io_timeout);
    let mut offered = Vec::new();
    if capabilities {
        offered = greeting::announced_capabilities(&greeting);
        if offered.is_empty() {
            stream.set_read_budget(Some(ANSWER_BUDGET));
            offered = sasl::capabilities(&mut stream).await?;
        }
    }
    // For the login's answer.
    stream.set_read_budget(Some(ANSWER_BUDGET));
    Ok((Client::new(stream), offered))
}

/// LOGIN; a refusal is an authentication failure, with the password scrubbed from
/// anything the server echoed.
async fn log_in(client: Client<Timed<BoxStream>>, login: &Login) -> Result<Conn, CheckError> {
    client
        .login(&login.username, login.password.expose())
        .await
        .map_err(|(e, client)| {
            let refused = matches!(e, async_imap::error::Error::No(_));
            let mut text = describe(&e).replace(login.password.expose(), "***");
            if refused {
                match client.get_ref().certificate_hint() {
                    "" => text.push_str(&format!(
                        " (check the username `{}` and the password of the account's credential)",
                        login.username
                    )),
                    hint => text.push_str(hint),
                }
                return CheckError::new(Stage::Auth, format!("login failed: {text}"))
                    .because(Failure::LoginRefused);
            }
            CheckError::new(Stage::Connect, format!("login failed: {text}"))
        })
}

/// SELECT: the mailbox's UIDVALIDITY, message count and UIDNEXT.
async fn select(conn: &mut Conn, mailbox: &str) -> Result<(u32, u32, Option<u32>), CheckError> {
    conn.get_mut().set_read_budget(Some(ANSWER_BUDGET));
    let selected = conn.select(mailbox).await.map_err(imap_err(
        Stage::Fetch,
        &format!("cannot select mailbox `{mailbox}`"),
    ))?;
    let uidvalidity = selected.uid_validity.ok_or_else(|| {
        CheckError::new(
            Stage::Fetch,
            format!("the server gave no UIDVALIDITY for `{mailbox}`; messages cannot be tracked"),
        )
    })?;
    Ok((uidvalidity, selected.exists, selected.uid_next))
}

/// `Atom("IDLE")` -> `IDLE`, `Auth("PLAIN")` -> `AUTH=PLAIN`, `Imap4rev1` -> `IMAP4rev1`.
fn clean_capability(debug: &str) -> String {
    if let Some(inner) = debug
        .strip_prefix("Atom(\"")
        .and_then(|s| s.strip_suffix("\")"))
    {
        inner.to_string()
    } else if let Some(inner) = debug
        .strip_prefix("Auth(\"")
        .and_then(|s| s.strip_suffix("\")"))
    {
        format!("AUTH={inner}")
    } else {
        debug.to_uppercase()
    }
}

impl ImapSession {
    /// A tag for a command this session reads the answer of itself (`mi1`, `mi2`, ...).
    fn next_tag(&mut self) -> String {
        self.commands += 1;
        format!("mi{}", self.commands)
    }

    /// Runs `command`, reading its answer itself; the server's refusal, if it refused.
    async fn refusable(&mut self, command: &str) -> Result<Option<String>, CheckError> {
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

    async fn list(&mut self, above: Option<u32>) -> Result<Listing, CheckError> {
        if self.exists == 0 {
            return Ok(Listing {
                messages: Vec::new(),
                complete: true,
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
        if too_many {
            tracing::warn!(
                limit = max_listed,
                "mailbox holds more messages than one check lists (max_listed); the rest follow in later checks"
            );
        }
        Ok(Listing {
            messages: out,
            complete: from == 1 && !too_many,
        })
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
        self.conn.get_mut().set_read_budget(Some(ANSWER_BUDGET));
        self.conn
            .logout()
            .await
            .map_err(imap_err(Stage::Fetch, "LOGOUT failed"))?;
        Ok(Finished::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_plainly() {
        assert_eq!(clean_capability("Atom(\"IDLE\")"), "IDLE");
        assert_eq!(clean_capability("Auth(\"PLAIN\")"), "AUTH=PLAIN");
        assert_eq!(clean_capability("Imap4rev1"), "IMAP4REV1");
    }
}
