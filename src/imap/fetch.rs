//! The bulk download: `UID FETCH set (UID BODY.PEEK[])` with its answers read by
//! a small streaming parser instead of async-imap's general one, which re-allocates and
//! zeroes its buffer for every response. Each message literal is read straight into one
//! buffer of its announced size. Anything this parser does not understand is an error, so
//! the check stops and nothing unacknowledged is deleted.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::wire::{bye, contains_ci, literal_len, number_after, read_line};
use crate::error::{CheckError, Stage, describe_io};
use crate::text::excerpt_bytes;

fn fail(what: impl Into<String>) -> CheckError {
    CheckError::new(Stage::Fetch, what.into())
}

fn io_fail(e: std::io::Error) -> CheckError {
    fail(format!("UID FETCH failed: {}", describe_io(&e)))
}

/// The FETCH command for `set`, tagged `tag`. No RFC822.SIZE: the listing gave the sizes,
/// and the literal says how long each body is.
pub fn command(tag: &str, set: &str) -> String {
    format!("{tag} UID FETCH {set} (UID BODY.PEEK[])\r\n")
}

/// The FETCH command for `set` with the sizes, for messages not listed before.
pub fn command_with_size(tag: &str, set: &str) -> String {
    format!("{tag} UID FETCH {set} (UID RFC822.SIZE BODY.PEEK[])\r\n")
}

/// One `* n FETCH` answer: its UID, the size it announced, and its body when it brought one
/// (`Some(None)`: larger than the limit, read and dropped).
#[derive(Debug)]
pub struct Fetched {
    /// The message's UID.
    pub uid: u32,
    /// Its RFC822.SIZE, when the answer gave it.
    pub size: Option<u64>,
    /// Its body, when the answer brought one.
    pub body: Option<Option<Vec<u8>>>,
}

/// FETCHes in progress, answered in the order sent: [`BodyFetch::next`] yields each message
/// as its literal arrives, until the last one's tagged OK.
pub struct BodyFetch<'a, S> {
    reader: BufReader<&'a mut S>,
    /// Tags still to answer, in order; each with whether a refusal is only the end of it
    /// (a FETCH asked ahead, whose messages are then asked for again).
    tags: std::collections::VecDeque<(String, bool)>,
    max_size: u64,
    line: Vec<u8>,
    /// The refusals of commands whose refusal only ends them: tag and the server's words.
    pub refused: Vec<(String, String)>,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> BodyFetch<'a, S> {
    /// Sends the FETCH for `set` tagged `tag`. Bodies larger than `max_size` are read and
    /// dropped (yielded as `None`).
    pub async fn start(
        stream: &'a mut S,
        tag: &str,
        set: &str,
        max_size: u64,
    ) -> Result<Self, CheckError> {
        let mut fetch = Self::reading(stream, max_size);
        fetch.send(tag, set).await?;
        Ok(fetch)
    }

    /// Reads the answers of commands sent already, tagged `tags`, each with whether a
    /// refusal only ends it. The server may finish them in any order.
    pub fn sent(stream: &'a mut S, tags: &[(&str, bool)], max_size: u64) -> Self {
        let mut fetch = Self::reading(stream, max_size);
        fetch.tags.extend(
            tags.iter()
                .map(|(t, refusable)| (t.to_string(), *refusable)),
        );
        fetch
    }

    fn reading(stream: &'a mut S, max_size: u64) -> Self {
        BodyFetch {
            reader: BufReader::with_capacity(64 * 1024, stream),
            tags: Default::default(),
            max_size,
            line: Vec::with_capacity(256),
            refused: Vec::new(),
        }
    }

    /// Sends one more FETCH, answered after those before it.
    pub async fn send(&mut self, tag: &str, set: &str) -> Result<(), CheckError> {
        let stream = self.reader.get_mut();
        stream
            .write_all(command(tag, set).as_bytes())
            .await
            .map_err(io_fail)?;
        stream.flush().await.map_err(io_fail)?;
        self.tags.push_back((tag.to_string(), false));
        Ok(())
    }

    /// The next message (UID and body), or `None` after the last tagged OK.
    pub async fn next(&mut self) -> Result<Option<(u32, Option<Vec<u8>>)>, CheckError> {
        while let Some(answer) = self.next_answer().await? {
            if let Some(body) = answer.body {
                return Ok(Some((answer.uid, body)));
            }
        }
        Ok(None)
    }

    /// The next FETCH answer with a UID, with or without a body, or `None` after the last
    /// tagged OK.
    pub async fn next_answer(&mut self) -> Result<Option<Fetched>, CheckError> {
        while !self.tags.is_empty() {
            self.line.clear();
            read_line(&mut self.reader, &mut self.line, "UID FETCH").await?;
            let line = &self.line;
            let tagged = self.tags.iter().position(|(tag, _)| {
                line.strip_prefix(tag.as_bytes())
                    .is_some_and(|r| r.starts_with(b" "))
            });
            if let Some(i) = tagged {
                let (tag, refusable) = self.tags.remove(i).expect("found");
                let rest = &self.line[tag.len() + 1..];
                let ok = rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"OK");
                if !ok && !refusable {
                    return Err(fail(format!(
                        "UID FETCH failed: server answered `{}`",
                        excerpt_bytes(rest)
                    )));
                }
                if !ok {
                    self.refused.push((tag, excerpt_bytes(rest)));
                }
                continue;
            }
            if !self.line.starts_with(b"* ") {
                return Err(fail(format!(
                    "malformed server response `{}`",
                    excerpt_bytes(&self.line)
                )));
            }
            if let Some(ended) = bye(&self.line, Stage::Fetch) {
                return Err(ended);
            }
            if !contains_ci(&self.line, b" FETCH (") {
                continue; // EXISTS, RECENT, flags updates and other untagged news
            }
            if let Some(found) = self.message().await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Reads the rest of one `* n FETCH (...)` answer whose first line is in `self.line`.
    async fn message(&mut self) -> Result<Option<Fetched>, CheckError> {
        let mut uid = None;
        let mut size = None;
        let mut body = None;
        // A line may end in a literal; more items follow it on the continuation line.
        loop {
            let text = String::from_utf8_lossy(&self.line).into_owned();
            if let Some(u) = number_after(&text, "UID ").and_then(|u| u32::try_from(u).ok()) {
                uid = Some(u);
            }
            if let Some(n) = number_after(&text, "RFC822.SIZE ") {
                size = Some(n);
            }
            match literal_len(&self.line) {
                // A message far larger than the size the same answer announced: a server
                // that lies about sizes is stopped before it is read.
                Some(len) if size.is_some_and(|s: u64| len > s.saturating_mul(2) + (1 << 20)) => {
                    return Err(fail(format!(
                        "the server sent more than the {} bytes it announced for UID {}: {len} bytes",
                        size.unwrap_or_default(),
                        uid.unwrap_or_default()
                    )));
                }
                Some(len) if contains_ci(&self.line, b"BODY[]") && body.is_none() => {
                    if len > self.max_size {
                        tokio::io::copy(&mut (&mut self.reader).take(len), &mut tokio::io::sink())
                            .await
                            .map_err(io_fail)?;
                        body = Some(None);
                    } else {
                        // Read into spare capacity: no zero-fill of bytes about to arrive.
                        let mut buf = Vec::with_capacity(len as usize);
                        while (buf.len() as u64) < len {
                            let mut rest = (&mut self.reader).take(len - buf.len() as u64);
                            if rest.read_buf(&mut buf).await.map_err(io_fail)? == 0 {
                                return Err(io_fail(std::io::ErrorKind::UnexpectedEof.into()));
                            }
                        }
                        body = Some(Some(buf));
                    }
                }
                Some(len) => {
                    // Another literal item (not asked for): skip it.
                    tokio::io::copy(&mut (&mut self.reader).take(len), &mut tokio::io::sink())
                        .await
                        .map_err(io_fail)?;
                }
                None => {
                    // The answer's last line closes its parenthesis: anything else after a
                    // literal means the literal did not hold what the server meant to send
                    // (bytes injected into it, or a server out of step). Nothing of it is
                    // handed on.
                    if !self.line.trim_ascii_end().ends_with(b")") {
                        return Err(fail(format!(
                            "a FETCH answer went on after its message where it should have ended: `{}` (the message is not stored)",
                            excerpt_bytes(&self.line)
                        )));
                    }
                    break;
                }
            }
            self.line.clear();
            read_line(&mut self.reader, &mut self.line, "UID FETCH").await?;
        }
        match (uid, body) {
            (Some(uid), body) => Ok(Some(Fetched { uid, size, body })),
            (None, Some(_)) => Err(fail("a FETCH answer carried a message without its UID")),
            (None, None) => Ok(None), // e.g. a flags update: nothing to store
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(
        script: &[u8],
        max: u64,
    ) -> (Result<(), CheckError>, Vec<(u32, Option<Vec<u8>>)>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        server.write_all(script).await.unwrap();
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        let r = async {
            let mut f = BodyFetch::start(&mut client, "F1", "1:3", max).await?;
            while let Some(item) = f.next().await? {
                got.push(item);
            }
            Ok(())
        }
        .await;
        drop(client);
        let mut sent = Vec::new();
        server.read_to_end(&mut sent).await.unwrap();
        (r, got, sent)
    }

    #[tokio::test]
    async fn a_literal_followed_by_more_than_its_answers_end_is_refused() {
        // 4 bytes injected into a 10-byte literal push the body's end out of it.
        let script = b"* 1 FETCH (UID 7 BODY[] {10}\r\nXXXXline\r\nend\r\n)\r\nF1 OK done\r\n";
        let (r, got, _) = run(script, 100).await;
        assert!(got.is_empty(), "nothing handed on: {got:?}");
        assert!(r.unwrap_err().message.contains("should have ended"));
    }

    #[tokio::test]
    async fn reads_literals_exactly() {
        let script = b"* 1 FETCH (UID 7 RFC822.SIZE 5 BODY[] {5}\r\nab)\r\n)\r\n* 3 EXISTS\r\n* 2 FETCH (BODY[] {3}\r\nxyz UID 9)\r\n* 2 FETCH (FLAGS (\\Seen) UID 9)\r\nF1 OK done\r\n";
        let (r, got, sent) = run(script, 100).await;
        r.unwrap();
        assert_eq!(
            got,
            [(7, Some(b"ab)\r\n".to_vec())), (9, Some(b"xyz".to_vec()))]
        );
        assert_eq!(sent, b"F1 UID FETCH 1:3 (UID BODY.PEEK[])\r\n");
    }

    #[tokio::test]
    async fn oversize_bodies_are_skipped_and_errors_reported() {
        let (r, got, _) = run(
            b"* 1 FETCH (UID 1 BODY[] {10}\r\n0123456789)\r\nF1 OK\r\n",
            4,
        )
        .await;
        r.unwrap();
        assert_eq!(got, [(1, None)]);
        let (r, _, _) = run(b"F1 NO [SERVERBUG] oops\r\n", 4).await;
        assert!(r.unwrap_err().message.contains("SERVERBUG"));
        let (r, _, _) = run(b"* 1 FETCH (UID 1 BODY[] {10}\r\n01234", 100).await;
        assert!(r.unwrap_err().message.contains("closed"));
        let (r, _, _) = run(b"garbage\r\n", 100).await;
        assert!(r.is_err());
        let (r, _, _) = run(
            b"* 1 FETCH (RFC822.SIZE 3 BODY[] {3}\r\nabc)\r\nF1 OK\r\n",
            100,
        )
        .await;
        assert!(r.unwrap_err().message.contains("without its UID"));
    }

    #[tokio::test]
    async fn a_bye_for_an_expired_token_says_so() {
        use crate::error::Failure;
        let (r, got, _) = run(
            b"* 1 FETCH (UID 1 BODY[] {1}\r\na)\r\n* BYE Session invalidated - AccessTokenExpired\r\n",
            100,
        )
        .await;
        assert_eq!(got.len(), 1);
        let e = r.unwrap_err();
        assert_eq!(e.failure, Failure::LoginExpired);
        assert_eq!(
            e.message,
            "the server ended the session: BYE Session invalidated - AccessTokenExpired"
        );
        let (r, _, _) = run(b"* BYE shutting down\r\n", 100).await;
        assert_eq!(r.unwrap_err().failure, Failure::Other);
    }

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_len(b"x {12+}"), Some(12));
        assert_eq!(literal_len(b"x {}"), None);
        assert_eq!(literal_len(b"x {99999999999999999}"), None);
        assert_eq!(number_after("* 1 FETCH (UID 42 BODY[]", "UID "), Some(42));
    }
}
