//! POP3 accounts: connect, STLS, USER/PASS or SASL AUTH with an OAuth2 token, UIDL and LIST, pipelined RETR, DELE made final
//! by QUIT. Messages are keyed by UIDL; a server without UIDL is usable only with
//! `keep_copy = false` (each message is then keyed by its content).

pub mod client;
mod sasl;
mod words;

use client::{Body, Capabilities, Pop3Client, Pop3Error};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::config::{AccountConfig, TlsMode};
use crate::error::{CheckError, Stage};
use crate::net::{self, ANSWER_BUDGET, BoxStream, ConnectorHandle, Timed};
use crate::protocol::keys::pop3_key;
use crate::protocol::{Deleted, Deletion, Left, Listing, Probe, ServerMessage, Session, Sink};
use crate::sasl::MailLogin;
use words::{auth_error, describe};

/// Most bytes one line of a LIST or UIDL answer may take (a number, a space, a unique id of
/// at most 70 characters).
const LISTING_LINE_BYTES: u64 = 96;

/// How many RETR commands are sent ahead of their answers when the server pipelines.
const PIPELINE_DEPTH: usize = 64;

/// A logged-in POP3 session.
pub struct Pop3Session {
    client: Pop3Client<Timed<BoxStream>>,
    /// What the server announced (after login when it says more then).
    pub capabilities: Capabilities,
    keep_copy: bool,
    /// Most messages one listing keeps.
    max_listed: usize,
    account: String,
    /// Whether this session marked anything for deletion; only then does QUIT's answer matter.
    deletes_sent: bool,
}

fn err(stage: Stage, what: &str) -> impl FnOnce(Pop3Error) -> CheckError + '_ {
    move |e| CheckError::new(stage, format!("{what}: {}", describe(&e)))
}

impl Pop3Session {
    /// Connects and logs in.
    pub async fn open(
        account: &AccountConfig,
        connector: Option<&ConnectorHandle>,
        login: &MailLogin,
    ) -> Result<Self, CheckError> {
        let stream = net::open(account, connector).await?;
        let mut client = Pop3Client::new(stream);
        let answer_budget = |c: &mut Pop3Client<Timed<BoxStream>>| {
            c.get_mut().set_read_budget(Some(ANSWER_BUDGET));
        };
        answer_budget(&mut client);
        client
            .greeting()
            .await
            .map_err(err(Stage::Connect, "no POP3 greeting"))?;
        client.get_mut().set_limit(account.io_timeout);
        answer_budget(&mut client);
        let mut capabilities = client
            .capa()
            .await
            .map_err(err(Stage::Connect, "CAPA failed"))?;
        if account.tls == TlsMode::Starttls {
            answer_budget(&mut client);
            client
                .command("STLS")
                .await
                .map_err(err(Stage::Tls, "the server refused STLS"))?;
            let plain = client.into_inner().map_err(err(Stage::Tls, "STLS"))?;
            let mut tls = net::starttls(plain, account).await?;
            tls.set_limit(account.io_timeout);
            client = Pop3Client::new(tls);
            answer_budget(&mut client);
            capabilities = client
                .capa()
                .await
                .map_err(err(Stage::Tls, "CAPA after STLS failed"))?;
        }
        // RFC 6856: a server that offers UTF8 down-converts messages with 8-bit headers for
        // a client that has not said it (their bodies then differ from the listed sizes).
        if capabilities.has("UTF8") {
            answer_budget(&mut client);
            if let Err(e) = client.command("UTF8").await {
                tracing::debug!(account = %account.name, error = %describe(&e), "the server offers UTF8 but refused it");
            }
        }
        answer_budget(&mut client);
        match login {
            MailLogin::Password(l) => {
                let hint = client.get_mut().certificate_hint();
                client
                    .command(&format!("USER {}", l.username))
                    .await
                    .map_err(|e| auth_error(&e, login, hint))?;
                answer_budget(&mut client);
                client
                    .command(&format!("PASS {}", l.password.expose()))
                    .await
                    .map_err(|e| auth_error(&e, login, hint))?;
            }
            MailLogin::Bearer(b) => {
                sasl::authenticate(&mut client, b, &capabilities, account).await?;
            }
        }
        // Some servers only tell the truth about their abilities after login.
        answer_budget(&mut client);
        if let Ok(after) = client.capa().await
            && !after.lines.is_empty()
        {
            capabilities = after;
        }
        Ok(Pop3Session {
            client,
            capabilities,
            keep_copy: account.keep_copy,
            max_listed: account.max_listed,
            account: account.name.clone(),
            deletes_sent: false,
        })
    }

    /// Lets the server send at most `bytes` until the next budget (see [`Timed`]).
    fn budget(&mut self, bytes: u64) {
        self.client.get_mut().set_read_budget(Some(bytes));
    }

    /// Number of messages and their total size (STAT).
    pub async fn stat(&mut self) -> Result<(u64, u64), CheckError> {
        self.budget(ANSWER_BUDGET);
        let text = self
            .client
            .command("STAT")
            .await
            .map_err(err(Stage::Fetch, "STAT failed"))?;
        let mut it = text.split_whitespace().map(|n| n.parse::<u64>());
        match (it.next(), it.next()) {
            (Some(Ok(n)), Some(Ok(size))) => Ok((n, size)),
            _ => Err(CheckError::new(
                Stage::Fetch,
                format!("malformed STAT answer `{text}`"),
            )),
        }
    }
}

/// True when a RETR body matches the size LIST announced, allowing for servers that count
/// bare LF line ends (each CRLF on the wire is then one octet more than listed).
pub fn sizes_agree(listed: u64, raw: &[u8]) -> bool {
    let actual = raw.len() as u64;
    // The usual case needs no pass over the bytes.
    actual == listed || actual.abs_diff(listed) <= memchr::memchr_iter(b'\n', raw).count() as u64
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

    async fn list(&mut self, _above: Option<u32>) -> Result<Listing, CheckError> {
        // The count STAT announces sizes what LIST and UIDL may send.
        let (count, _) = self.stat().await?;
        let listing_budget = count.saturating_mul(LISTING_LINE_BYTES) + ANSWER_BUDGET;
        self.budget(listing_budget);
        let sizes = self
            .client
            .list(self.max_listed)
            .await
            .map_err(err(Stage::Fetch, "LIST failed"))?;
        self.budget(listing_budget);
        let uidls = match self.client.uidl(self.max_listed).await {
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
        })
    }

    async fn fetch(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        let depth = if self.capabilities.has("PIPELINING") {
            PIPELINE_DEPTH
        } else {
            1
        };
        // Bodies as listed (dot-stuffing at most doubles them), with their status lines.
        let listed: u64 = batch.iter().map(|m| m.size).sum();
        self.budget(listed.saturating_mul(2) + batch.len() as u64 * 128 + ANSWER_BUDGET);
        let mut sent = 0;
        for (i, msg) in batch.iter().enumerate() {
            // Refill the pipeline when it is half empty, in one write: a write (and a TLS
            // record) per RETR costs both sides more than the commands themselves.
            if sent == i || (sent < batch.len() && sent - i <= depth / 2) {
                while sent < batch.len() && sent < i + depth {
                    self.client
                        .send(&format!("RETR {}", batch[sent].handle))
                        .await
                        .map_err(err(Stage::Fetch, "RETR failed"))?;
                    sent += 1;
                }
                self.client
                    .flush()
                    .await
                    .map_err(err(Stage::Fetch, "RETR failed"))?;
            }
            let body = self
                .client
                .read_retr(sink.max_size(), msg.size)
                .await
                .map_err(err(Stage::Fetch, &format!("RETR {} failed", msg.handle)))?;
            match body {
                Body::Message(raw) if sizes_agree(msg.size, &raw) => {
                    sink.push(msg.clone(), raw).await
                }
                Body::Message(raw) => {
                    // Properly ended, so the session is in step; but what came may not be
                    // what is there: neither stored nor deleted.
                    tracing::warn!(account = %self.account, message = msg.handle, listed = msg.size, sent = raw.len(), "the server sent a body of another size than it listed; the message stays on the server");
                    sink.left_on_server(Left::SizeMismatch);
                }
                Body::TooLarge(_) => sink.left_on_server(Left::Oversize),
            }
        }
        Ok(())
    }

    async fn delete(&mut self, batch: &[ServerMessage]) -> Result<Deletion, CheckError> {
        self.deletes_sent |= !batch.is_empty();
        self.budget(batch.len() as u64 * 128 + ANSWER_BUDGET);
        let mut done = Deletion::all(Deleted::AtFinish);
        let depth = if self.capabilities.has("PIPELINING") {
            PIPELINE_DEPTH
        } else {
            1
        };
        for group in batch.chunks(depth) {
            for msg in group {
                self.client
                    .send(&format!("DELE {}", msg.handle))
                    .await
                    .map_err(err(Stage::Delete, "DELE failed"))?;
            }
            self.client
                .flush()
                .await
                .map_err(err(Stage::Delete, "DELE failed"))?;
            for msg in group {
                match self.client.status().await {
                    Ok(_) => {}
                    // A refusal: the session is in step; this message stays owed.
                    Err(e @ Pop3Error::Err(_)) => {
                        done.refused.push(msg.handle);
                        done.reason = Some(format!("DELE {}: {}", msg.handle, describe(&e)));
                    }
                    Err(e) => {
                        return Err(err(Stage::Delete, &format!("DELE {} failed", msg.handle))(
                            e,
                        ));
                    }
                }
            }
        }
        Ok(done)
    }

    async fn finish(mut self: Box<Self>) -> Result<(), CheckError> {
        self.budget(ANSWER_BUDGET);
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
            return Ok(());
        }
        self.client
            .command("QUIT")
            .await
            .map_err(err(Stage::Delete, "QUIT failed (deletes not made final)"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::sizes_agree;

    #[test]
    fn sizes_agree_allows_crlf_counting_only() {
        assert!(sizes_agree(12, b"line\r\nline\r\n"));
        assert!(
            sizes_agree(10, b"line\r\nline\r\n"),
            "a server counting LF line ends"
        );
        assert!(!sizes_agree(2000, b""));
        assert!(!sizes_agree(12, b"line\r\nline\r\n+OK injected\r\n"));
    }
}
