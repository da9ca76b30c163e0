//! IMAP accounts with async-imap: greeting and STARTTLS by hand (so injected bytes are
//! caught), LOGIN, SELECT, a UID/size listing, `UID FETCH` of UID sets with `BODY.PEEK[]`,
//! and deletes as `UID STORE +FLAGS.SILENT (\Deleted)` plus `UID EXPUNGE` of exactly those
//! UIDs (UIDPLUS). Every result stream is drained before the next command.

pub mod fetch;
pub mod greeting;
pub mod idle;
mod words;

use std::collections::HashMap;

use async_imap::{Client, Session as ImapConn};
use futures::TryStreamExt;

use async_trait::async_trait;

use crate::config::{AccountConfig, Login, TlsMode};
use crate::error::{CheckError, Stage};
use crate::net::{self, ANSWER_BUDGET, BoxStream, ConnectorHandle, Timed};
use crate::protocol::keys::imap_key;
use crate::protocol::{Deleted, MAX_LISTED, Probe, ServerMessage, Session, Sink};
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
    /// Messages in the mailbox at SELECT.
    pub exists: u32,
    /// The server's capabilities after login.
    pub capabilities: Vec<String>,
    uidplus: bool,
    /// Bulk fetches sent so far (their tags are `mi1`, `mi2`, ...).
    fetches: u32,
}

fn imap_err(stage: Stage, what: &str) -> impl FnOnce(async_imap::error::Error) -> CheckError + '_ {
    move |e| CheckError::new(stage, format!("{what}: {}", describe(&e)))
}

impl ImapSession {
    /// Connects, logs in and selects the account's mailbox.
    pub async fn open(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &Login,
    ) -> Result<Self, CheckError> {
        let client = connect(account, connector).await?;
        let mut conn = log_in(client, login).await?;
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
        let (uidvalidity, exists) = select(&mut conn, &account.mailbox).await?;
        Ok(ImapSession {
            conn,
            mailbox: account.mailbox.clone(),
            uidvalidity,
            exists,
            capabilities,
            uidplus,
            fetches: 0,
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

/// TCP (direct or through the connector), TLS, the greeting and STARTTLS when asked for.
async fn connect(
    account: &AccountConfig,
    connector: Option<&ConnectorHandle>,
) -> Result<Client<Timed<BoxStream>>, CheckError> {
    let mut stream = net::open(account, connector).await?;
    stream.set_read_budget(Some(ANSWER_BUDGET));
    greeting::read_greeting(&mut stream).await?;
    if account.tls == TlsMode::Starttls {
        stream.set_read_budget(Some(ANSWER_BUDGET));
        greeting::starttls(&mut stream).await?;
        stream = net::starttls(stream, account).await?;
    }
    stream.set_limit(account.io_timeout);
    // For LOGIN's answer.
    stream.set_read_budget(Some(ANSWER_BUDGET));
    Ok(Client::new(stream))
}

/// LOGIN; a refusal is an authentication failure, with the password scrubbed from
/// anything the server echoed.
async fn log_in(client: Client<Timed<BoxStream>>, login: &Login) -> Result<Conn, CheckError> {
    client
        .login(&login.username, login.password.expose())
        .await
        .map_err(|(e, _)| {
            let refused = matches!(e, async_imap::error::Error::No(_));
            let mut text = describe(&e).replace(login.password.expose(), "***");
            if refused {
                text.push_str(&format!(
                    " (check the username `{}` and the password of the account's credential)",
                    login.username
                ));
            }
            let stage = if refused { Stage::Auth } else { Stage::Connect };
            CheckError::new(stage, format!("login failed: {text}"))
        })
}

/// SELECT: the mailbox's UIDVALIDITY and message count.
async fn select(conn: &mut Conn, mailbox: &str) -> Result<(u32, u32), CheckError> {
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
    Ok((uidvalidity, selected.exists))
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

/// A compact UID set: `1:5,7,9:12`.
pub fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut uids: Vec<u32> = uids.into_iter().collect();
    uids.sort_unstable();
    uids.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
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

    async fn list(&mut self) -> Result<Vec<ServerMessage>, CheckError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        self.budget(u64::from(self.exists) * 256);
        let mut stream = self
            .conn
            .uid_fetch("1:*", "(UID RFC822.SIZE)")
            .await
            .map_err(imap_err(Stage::Fetch, "listing failed"))?;
        let mut too_many = false;
        while let Some(f) = stream
            .try_next()
            .await
            .map_err(imap_err(Stage::Fetch, "listing failed"))?
        {
            if let (Some(uid), Some(size)) = (f.uid, f.size) {
                if out.len() >= MAX_LISTED {
                    too_many = true;
                    continue;
                }
                out.push(ServerMessage {
                    handle: uid,
                    key: Some(imap_key(&self.mailbox, self.uidvalidity, uid)),
                    size: size.into(),
                });
            }
        }
        if too_many {
            tracing::warn!(
                limit = MAX_LISTED,
                "mailbox holds more messages than one check takes; the rest follow in later checks"
            );
        }
        Ok(out)
    }

    async fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        let by_uid: HashMap<u32, &ServerMessage> = batch.iter().map(|m| (m.handle, m)).collect();
        let set = uid_set(batch.iter().map(|m| m.handle));
        self.budget(batch.iter().map(|m| m.size + 512).sum());
        self.fetches += 1;
        let tag = format!("mi{}", self.fetches);
        let max = sink.max_size();
        let mut answers = fetch::BodyFetch::start(self.conn.get_mut(), &tag, &set, max).await?;
        while let Some((uid, body)) = answers.next().await? {
            let Some(msg) = by_uid.get(&uid) else {
                continue;
            };
            match body {
                Some(body) => sink.push((*msg).clone(), body).await,
                None => sink.oversize(),
            }
        }
        Ok(())
    }

    async fn delete(&mut self, batch: &[ServerMessage]) -> Result<Deleted, CheckError> {
        let set = uid_set(batch.iter().map(|m| m.handle));
        self.budget(batch.len() as u64 * 128);
        {
            let stream = self
                .conn
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await
                .map_err(imap_err(Stage::Delete, "UID STORE failed"))?;
            let _: Vec<_> = stream
                .try_collect()
                .await
                .map_err(imap_err(Stage::Delete, "UID STORE failed"))?;
        }
        if !self.uidplus {
            return Ok(Deleted::Flagged);
        }
        let stream = self
            .conn
            .uid_expunge(&set)
            .await
            .map_err(imap_err(Stage::Delete, "UID EXPUNGE failed"))?;
        let _: Vec<_> = stream
            .try_collect()
            .await
            .map_err(imap_err(Stage::Delete, "UID EXPUNGE failed"))?;
        Ok(Deleted::Now)
    }

    async fn finish(mut self: Box<Self>) -> Result<(), CheckError> {
        self.conn.get_mut().set_read_budget(Some(ANSWER_BUDGET));
        self.conn
            .logout()
            .await
            .map_err(imap_err(Stage::Fetch, "LOGOUT failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set([5, 1, 2, 3, 7, 9, 10, 11, 12]), "1:3,5,7,9:12");
        assert_eq!(uid_set([4]), "4");
        assert_eq!(uid_set([4, 4]), "4");
    }

    #[test]
    fn capabilities_read_plainly() {
        assert_eq!(clean_capability("Atom(\"IDLE\")"), "IDLE");
        assert_eq!(clean_capability("Auth(\"PLAIN\")"), "AUTH=PLAIN");
        assert_eq!(clean_capability("Imap4rev1"), "IMAP4REV1");
    }
}
