//! RETR: the messages asked for ahead of the listing's answer (with a NOOP between runs of
//! them), and the window of pipelined RETRs sized in bytes and commands.

use std::collections::{HashMap, VecDeque};

use super::client::{Body, Pop3Error};
use super::{AskedAhead, Pop3Session, err};
use crate::error::{CheckError, Failure, Stage};
use crate::net::ANSWER_BUDGET;
use crate::protocol::{AHEAD_MESSAGES, Ahead, Left, ServerMessage, Sink};

/// When the server pipelines, RETR commands go out ahead of the answer being read while the
/// messages they ask for add up to at most this many listed bytes...
const RETR_WINDOW_BYTES: u64 = 16 << 20;
/// ...and number at most this many (their lines stay far below what socket buffers hold, so
/// writing them never waits on the server reading).
const RETR_WINDOW_COMMANDS: usize = 1024;

/// Asked ahead, a NOOP goes after this many RETRs: a RETR of a number the maildrop does not
/// hold is a failed command, and servers drop a client after a run of them (Dovecot after
/// 20); a NOOP in between always succeeds.
const AHEAD_RUN: u32 = 8;

impl Pop3Session {
    /// Queues the RETRs asked for ahead of the listing's answer (behind the listing).
    pub(super) async fn send_ahead(&mut self) -> Result<(), CheckError> {
        let Some(Ahead { from }) = self.ask_ahead.take() else {
            return Ok(());
        };
        let to = from.saturating_add(AHEAD_MESSAGES - 1);
        let mut due = Vec::new();
        for n in from..=to {
            self.send(&format!("RETR {n}")).await?;
            due.push(n);
            if (n - from + 1) % AHEAD_RUN == 0 {
                self.send("NOOP").await?;
                due.push(0);
            }
        }
        self.ahead = Some(AskedAhead {
            from,
            to,
            due,
            listed: Default::default(),
        });
        Ok(())
    }

    /// Reads and drops the answers to what was asked ahead and not taken yet, before
    /// another command's answer.
    pub(super) async fn drop_ahead(&mut self) -> Result<(), CheckError> {
        let Some(ahead) = self.ahead.take() else {
            return Ok(());
        };
        self.budget(ahead_budget(&ahead, self.max_size));
        for &n in &ahead.due {
            self.read_ahead_answer(n, None).await?;
        }
        Ok(())
    }

    /// Reads the answer to RETR `n` (a NOOP for 0) asked ahead, returning the body when the
    /// check wants it (`keep`: the cap and the size listed); else drops it. A refusal is an
    /// answer (the maildrop holds no such message); a server that ends the session over
    /// the RETRs asked beyond its maildrop is told apart, so later checks ask nothing ahead.
    async fn read_ahead_answer(
        &mut self,
        n: u32,
        keep: Option<(u64, u64)>,
    ) -> Result<Option<Body>, CheckError> {
        let answer = match (n, keep) {
            (0, _) => self.client.status().await.map(|_| None),
            (_, None) => self.client.read_retr(0, 0).await.map(|_| None),
            (_, Some((cap, size))) => self.client.read_retr(cap, size).await.map(Some),
        };
        match answer {
            Ok(body) => Ok(body),
            Err(Pop3Error::Err(_)) if keep.is_none() => Ok(None),
            Err(e) => {
                let beyond = keep.is_none() && self.count.is_some_and(|c| u64::from(n) > c);
                let what = if n == 0 {
                    "NOOP".to_string()
                } else {
                    format!("RETR {n}")
                };
                let mut e = err(Stage::Fetch, &format!("{what} failed"))(e);
                if beyond {
                    e.message.push_str(" (asked ahead of the listing, beyond the maildrop's end: the next checks of this account ask nothing ahead)");
                    e = e.because(Failure::AheadRefused);
                }
                Err(e)
            }
        }
    }

    /// Downloads `batch` (see [`Session::fetch`]): what was asked ahead first, then RETRs
    /// in a window sized in bytes and commands.
    pub(super) async fn retrieve(
        &mut self,
        batch: &[ServerMessage],
        sink: &mut dyn Sink,
    ) -> Result<(), CheckError> {
        // DELEs queued between batches go out first, and their answers come first.
        self.read_deletes().await?;
        let (window_bytes, window_commands) = if self.pipelining {
            (RETR_WINDOW_BYTES, RETR_WINDOW_COMMANDS)
        } else {
            (0, 1)
        };
        // The answers due, in order: first those asked ahead (each with the message of the
        // batch it brings, if the batch wants it), then the batch's others as sent.
        let ahead = self.ahead.take();
        let wanted: HashMap<u32, &ServerMessage> = batch.iter().map(|m| (m.handle, m)).collect();
        let mut due: VecDeque<(u32, Option<&ServerMessage>, u64)> = Default::default();
        let mut budget = ANSWER_BUDGET;
        if let Some(a) = &ahead {
            for &n in &a.due {
                let listed = a.listed.get(&n).copied().unwrap_or(0);
                due.push_back((n, wanted.get(&n).copied(), listed));
            }
            budget += ahead_budget(a, self.max_size);
        }
        let to_send: Vec<&ServerMessage> = batch
            .iter()
            .filter(|m| !ahead.as_ref().is_some_and(|a| a.holds(m.handle)))
            .collect();
        // Bodies as listed (dot-stuffing at most doubles them), with their status lines.
        let listed: u64 = to_send.iter().map(|m| m.size).sum();
        self.budget(budget + listed.saturating_mul(2) + to_send.len() as u64 * 128);
        let mut in_flight: u64 = due.iter().map(|(_, _, size)| size).sum();
        let mut sent = 0;
        while !due.is_empty() || sent < to_send.len() {
            // Refill the window when it is half empty, in one write: a write (and a TLS
            // record) per RETR costs both sides more than the commands themselves.
            let refill = due.is_empty()
                || (due.len() <= window_commands / 2 && in_flight <= window_bytes / 2);
            if sent < to_send.len() && refill {
                while sent < to_send.len()
                    && (due.is_empty()
                        || (due.len() < window_commands
                            && in_flight + to_send[sent].size <= window_bytes))
                {
                    let msg = to_send[sent];
                    self.client
                        .send(&format!("RETR {}", msg.handle))
                        .await
                        .map_err(err(Stage::Fetch, "RETR failed"))?;
                    due.push_back((msg.handle, Some(msg), msg.size));
                    in_flight += msg.size;
                    sent += 1;
                }
                self.client
                    .flush()
                    .await
                    .map_err(err(Stage::Fetch, "RETR failed"))?;
            }
            let (n, msg, size) = due.pop_front().expect("an answer is due");
            in_flight -= size;
            let Some(msg) = msg else {
                // Asked ahead, and not wanted now (held already, or not in the maildrop).
                self.read_ahead_answer(n, None).await?;
                continue;
            };
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
}

/// The most the answers to the RETRs asked ahead can bring: the listed bodies (doubled by
/// dot-stuffing at most), a status line each, and one message more than listed (it may
/// have arrived since the listing).
fn ahead_budget(ahead: &AskedAhead, max_size: u64) -> u64 {
    let listed: u64 = ahead.listed.values().sum();
    listed.saturating_mul(2) + ahead.due.len() as u64 * 128 + max_size.saturating_mul(2)
}

/// True when a RETR body matches the size LIST announced, exactly or as a server that
/// counts bare LF line ends lists it (each CRLF on the wire is then one octet more than
/// listed). Nothing in between: lines injected into a body of many lines would pass for
/// a server's miscount.
fn sizes_agree(listed: u64, raw: &[u8]) -> bool {
    let actual = raw.len() as u64;
    // The usual case needs no pass over the bytes.
    actual == listed || actual == listed + memchr::memmem::find_iter(raw, b"\r\n").count() as u64
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
        // 27 bytes injected into a body of 40 lines: fewer than its line ends, and not
        // what an LF-counting server lists.
        let mut body = b"line\r\n".repeat(40);
        let listed = body.len() as u64;
        body.extend_from_slice(b"* 99 garbage )))\r\n+OK ???\r\n");
        assert!(!sizes_agree(listed, &body), "an injection is no miscount");
        assert!(!sizes_agree(12, b"line\r\nline\r\n+OK injected\r\n"));
    }
}
