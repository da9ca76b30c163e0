//! A small POP3 client (RFC 1939, RFC 2449 CAPA and pipelining, RFC 2595 STLS), generic
//! over the byte stream so tests can drive it with scripted bytes.
//!
//! Every read is bounded: status lines and listing lines by [`MAX_LINE`], the entries a
//! listing keeps by the caller's limit (the rest are read and dropped), message bodies by
//! the caller's size cap (a larger message is read to its end and discarded, never held);
//! the bytes of each answer by the read budget the session sets on the stream before it.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::text::excerpt;

/// Longest status or listing line accepted.
pub const MAX_LINE: usize = 4096;
/// Bytes read from the stream at a time: what a pipelined answer may have read ahead of the
/// one being read.
pub const READ_BUFFER: usize = 64 * 1024;
/// Most CAPA lines kept (servers announce a dozen).
pub const MAX_CAPABILITIES: usize = 100;

/// A server answer that is not `+OK`, or bytes that are not POP3.
#[derive(Debug, thiserror::Error)]
pub enum Pop3Error {
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// `-ERR` with the server's text (response code such as `[AUTH]` included).
    #[error("server answered -ERR {0}")]
    Err(String),
    /// The server's bytes are not POP3.
    #[error("malformed server answer: {0}")]
    Protocol(String),
}

impl Pop3Error {
    /// The RFC 2449 response code of an `-ERR`, such as `IN-USE`, `AUTH` or `SYS/TEMP`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Pop3Error::Err(text) => text.strip_prefix('[')?.split(']').next(),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, Pop3Error>;

/// What CAPA said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// One capability per line, as sent.
    pub lines: Vec<String>,
}

impl Capabilities {
    /// True when the server announced `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.lines.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(name))
        })
    }
}

/// The answer to one step of a SASL exchange (`AUTH`).
#[derive(Debug, PartialEq, Eq)]
pub enum SaslAnswer {
    /// `+ text`: the server wants another response (its challenge, base64).
    Challenge(String),
    /// `+OK text`: logged in.
    Done(String),
}

/// A message body read by RETR.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// The exact bytes, dot-unstuffed, CRLF line ends as sent.
    Message(Vec<u8>),
    /// Larger than the cap: read to its end and dropped.
    TooLarge(u64),
}

/// A POP3 connection.
#[derive(Debug)]
pub struct Pop3Client<S> {
    io: BufReader<S>,
    /// Commands waiting for [`Pop3Client::flush`]: a pipelined group goes out in one write.
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Client<S> {
    /// A client over `stream`; read the greeting next.
    pub fn new(stream: S) -> Self {
        Pop3Client {
            io: BufReader::with_capacity(READ_BUFFER, stream),
            out: Vec::with_capacity(1024),
        }
    }

    /// The stream, e.g. to change its timeout.
    pub fn get_mut(&mut self) -> &mut S {
        self.io.get_mut()
    }

    /// The stream back, for STLS. Fails when the server sent bytes nobody asked for
    /// (a response injection before the TLS handshake).
    pub fn into_inner(self) -> Result<S> {
        if !self.io.buffer().is_empty() {
            return Err(Pop3Error::Protocol("the server sent data after its STLS answer, before the TLS handshake (possible injection attack); refusing".into()));
        }
        Ok(self.io.into_inner())
    }

    /// Reads the greeting.
    pub async fn greeting(&mut self) -> Result<String> {
        self.status().await
    }

    /// Sends one command line (no reading). Pipelined callers read answers later.
    pub async fn send(&mut self, command: &str) -> Result<()> {
        if command.contains(['\r', '\n']) {
            return Err(Pop3Error::Protocol(
                "a command argument contains a line break".into(),
            ));
        }
        self.out.extend_from_slice(command.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Whether commands wait in the queue for [`Pop3Client::flush`].
    pub fn queued(&self) -> bool {
        !self.out.is_empty()
    }

    /// Writes the queued commands in one write.
    pub async fn flush(&mut self) -> Result<()> {
        let w = self.io.get_mut();
        w.write_all(&self.out).await?;
        w.flush().await?;
        self.out.clear();
        Ok(())
    }

    /// Sends a command and reads its status line.
    pub async fn command(&mut self, command: &str) -> Result<String> {
        self.send(command).await?;
        self.flush().await?;
        self.status().await
    }

    /// Reads one status line: `+OK text` gives the text, `-ERR text` an error.
    pub async fn status(&mut self) -> Result<String> {
        let line = self.line().await?;
        let text = String::from_utf8_lossy(&line);
        if let Some(rest) = text.strip_prefix("+OK") {
            Ok(rest.trim().to_string())
        } else if let Some(rest) = text.strip_prefix("-ERR") {
            Err(Pop3Error::Err(rest.trim().to_string()))
        } else {
            Err(Pop3Error::Protocol(format!(
                "expected +OK or -ERR, got `{}`",
                excerpt(&text)
            )))
        }
    }

    /// Sends one line of a SASL exchange and reads its answer.
    pub async fn command_continued(&mut self, line: &str) -> Result<SaslAnswer> {
        self.send(line).await?;
        self.flush().await?;
        self.sasl_answer().await
    }

    /// Reads the answer to a SASL step: a challenge, `+OK`, or `-ERR` (an error).
    pub async fn sasl_answer(&mut self) -> Result<SaslAnswer> {
        let line = self.line().await?;
        let text = String::from_utf8_lossy(&line);
        if let Some(rest) = text.strip_prefix("+OK") {
            Ok(SaslAnswer::Done(rest.trim().to_string()))
        } else if let Some(rest) = text.strip_prefix("-ERR") {
            Err(Pop3Error::Err(rest.trim().to_string()))
        } else if let Some(rest) = text.strip_prefix('+') {
            Ok(SaslAnswer::Challenge(rest.trim().to_string()))
        } else {
            Err(Pop3Error::Protocol(format!(
                "expected a SASL challenge, +OK or -ERR, got `{}`",
                excerpt(&text)
            )))
        }
    }

    /// CAPA; a server without it gives empty capabilities. At most [`MAX_CAPABILITIES`]
    /// lines are kept.
    pub async fn capa(&mut self) -> Result<Capabilities> {
        self.send("CAPA").await?;
        self.flush().await?;
        self.read_capa().await
    }

    /// Reads the answer to a CAPA already sent.
    pub async fn read_capa(&mut self) -> Result<Capabilities> {
        match self.status().await {
            Ok(_) => Ok(Capabilities {
                lines: self
                    .listing(MAX_CAPABILITIES, |l| Ok(l.to_string()))
                    .await?,
            }),
            Err(Pop3Error::Err(_)) => Ok(Capabilities::default()),
            Err(e) => Err(e),
        }
    }

    /// UIDL: (message number, unique id) pairs, the first `limit` of them.
    pub async fn uidl(&mut self, limit: usize) -> Result<Vec<(u32, String)>> {
        self.send("UIDL").await?;
        self.flush().await?;
        self.read_uidl(limit).await
    }

    /// Reads the answer to a UIDL already sent.
    pub async fn read_uidl(&mut self, limit: usize) -> Result<Vec<(u32, String)>> {
        self.status().await?;
        self.listing(limit, |l| {
            let mut it = l.split_whitespace();
            match (it.next().and_then(|n| n.parse().ok()), it.next()) {
                (Some(n), Some(uid))
                    if uid.len() <= 70 && uid.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
                {
                    Ok((n, uid.to_string()))
                }
                _ => Err(Pop3Error::Protocol(format!(
                    "bad UIDL line `{}`",
                    excerpt(l)
                ))),
            }
        })
        .await
    }

    /// LIST: (message number, size in octets) pairs, the first `limit` of them.
    pub async fn list(&mut self, limit: usize) -> Result<Vec<(u32, u64)>> {
        self.send("LIST").await?;
        self.flush().await?;
        self.read_list(limit).await
    }

    /// Reads the answer to a LIST already sent.
    pub async fn read_list(&mut self, limit: usize) -> Result<Vec<(u32, u64)>> {
        self.status().await?;
        self.listing(limit, |l| {
            let mut it = l.split_whitespace();
            match (
                it.next().and_then(|n| n.parse().ok()),
                it.next().and_then(|s| s.parse().ok()),
            ) {
                (Some(n), Some(size)) => Ok((n, size)),
                _ => Err(Pop3Error::Protocol(format!(
                    "bad LIST line `{}`",
                    excerpt(l)
                ))),
            }
        })
        .await
    }

    /// Reads the answer to a RETR already sent: status, then the body up to `cap` bytes.
    /// `expected` (the LIST size) only sizes the buffer up front.
    pub async fn read_retr(&mut self, cap: u64, expected: u64) -> Result<Body> {
        self.status().await?;
        self.body(cap, expected).await
    }

    /// Reads a dot-terminated body, unstuffing leading dots. Runs of lines that do not start
    /// with a dot are copied straight out of the read buffer; only dot lines (stuffed lines
    /// and the terminator) go through the line reader.
    async fn body(&mut self, cap: u64, expected: u64) -> Result<Body> {
        let mut out = Vec::with_capacity(expected.min(cap).min(64 << 20) as usize + 64);
        let mut total: u64 = 0;
        let mut at_line_start = true;
        let mut line = Vec::new();
        loop {
            let available = self.io.fill_buf().await?;
            if available.is_empty() {
                return Err(Pop3Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
            if at_line_start && available[0] == b'.' {
                line.clear();
                let room = (cap.saturating_sub(total) as usize)
                    .saturating_add(3)
                    .min(64 << 20);
                let (complete, seen) = self.line_into(&mut line, room, true).await?;
                if complete && (line == b".\r\n" || line == b".\n") {
                    break;
                }
                let unstuffed = &line[1..];
                total += if complete {
                    unstuffed.len() as u64
                } else {
                    seen - 1
                };
                if total <= cap && complete {
                    out.extend_from_slice(unstuffed);
                }
                continue;
            }
            // Up to the line before the next dot line, or the last line end in the buffer,
            // or (no line end at all) the whole buffer, which leaves us mid-line.
            let take = match memchr::memmem::find(available, b"\n.") {
                Some(i) => i + 1,
                None => memchr::memrchr(b'\n', available).map_or(available.len(), |i| i + 1),
            };
            at_line_start = available[take - 1] == b'\n';
            total += take as u64;
            if total <= cap {
                out.extend_from_slice(&available[..take]);
            }
            self.io.consume(take);
        }
        if total > cap {
            Ok(Body::TooLarge(total))
        } else {
            Ok(Body::Message(out))
        }
    }

    /// Reads the lines of a multi-line answer up to its terminating `.`, each parsed as it
    /// comes; the first `limit` entries are kept, the rest checked and dropped.
    async fn listing<T>(
        &mut self,
        limit: usize,
        parse: impl Fn(&str) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        loop {
            let line = self.line().await?;
            if line == b"." {
                return Ok(out);
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            let entry = parse(&String::from_utf8_lossy(line))?;
            if out.len() < limit {
                out.push(entry);
            }
        }
    }

    /// One line without its line end, at most [`MAX_LINE`] bytes.
    async fn line(&mut self) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        let (complete, _) = self.line_into(&mut line, MAX_LINE, false).await?;
        if !complete {
            return Err(Pop3Error::Protocol(format!(
                "line longer than {MAX_LINE} bytes"
            )));
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(line)
    }

    /// Appends one line (with its line end) to `line`, keeping at most `max` bytes; returns
    /// whether it fitted and how many bytes the line had. Ends with an error at end of stream,
    /// and, unless `read_past_max` (message bodies, read to their end), as soon as the line
    /// is longer than `max`.
    async fn line_into(
        &mut self,
        line: &mut Vec<u8>,
        max: usize,
        read_past_max: bool,
    ) -> Result<(bool, u64)> {
        let mut seen: u64 = 0;
        loop {
            let available = self.io.fill_buf().await?;
            if available.is_empty() {
                return Err(Pop3Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..=i], true),
                None => (available, false),
            };
            let keep = chunk.len().min(max.saturating_sub(line.len()));
            line.extend_from_slice(&chunk[..keep]);
            seen += chunk.len() as u64;
            let n = chunk.len();
            self.io.consume(n);
            if done {
                return Ok((seen as usize <= max, seen));
            }
            if !read_past_max && seen as usize > max {
                return Err(Pop3Error::Protocol(format!("line longer than {max} bytes")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A client over scripted server bytes, with the other end to read what it wrote.
    async fn scripted(
        server: &[u8],
    ) -> (Pop3Client<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (client, mut server_end) = tokio::io::duplex(1 << 20);
        tokio::io::AsyncWriteExt::write_all(&mut server_end, server)
            .await
            .unwrap();
        (Pop3Client::new(client), server_end)
    }

    #[tokio::test]
    async fn retr_unstuffs_dots_and_keeps_crlf() {
        let (mut c, mut srv) = scripted(b"+OK 20 octets\r\nline\r\n..dot\r\n.\r\n").await;
        c.send("RETR 1").await.unwrap();
        c.flush().await.unwrap();
        assert_eq!(
            c.read_retr(1000, 12).await.unwrap(),
            Body::Message(b"line\r\n.dot\r\n".to_vec())
        );
        let mut sent = [0u8; 8];
        srv.read_exact(&mut sent).await.unwrap();
        assert_eq!(&sent, b"RETR 1\r\n");
    }

    /// Dot-stuffs `body` the way a server sends it.
    fn stuffed(body: &[u8]) -> Vec<u8> {
        let mut out = b"+OK\r\n".to_vec();
        for line in body.split_inclusive(|b| *b == b'\n') {
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b".\r\n+OK after\r\n");
        out
    }

    #[tokio::test]
    async fn bodies_read_alike_whatever_the_read_sizes() {
        // Dot lines, lone dots, LF-only ends and long lines, read through a pipe that hands
        // over 1 to 9 bytes at a time so every dot and line end falls on a read boundary.
        let mut rng = fastrand::Rng::with_seed(7);
        let pieces: [&[u8]; 7] = [
            b".\r\n",
            b"..x\r\n",
            b"plain text\r\n",
            b".\n",
            b"lf only\n",
            b"\r\n",
            b"x.y.z\r\n",
        ];
        for round in 0..200 {
            let mut body = Vec::new();
            for _ in 0..rng.usize(0..30) {
                body.extend_from_slice(pieces[rng.usize(0..pieces.len())]);
            }
            if round % 3 == 0 {
                body.extend(std::iter::repeat_n(b'a', rng.usize(0..300)));
                body.extend_from_slice(b"\r\n");
            }
            let wire = stuffed(&body);
            let (client, mut server) = tokio::io::duplex(rng.usize(1..10));
            let writer = tokio::spawn(async move {
                tokio::io::AsyncWriteExt::write_all(&mut server, &wire)
                    .await
                    .unwrap();
                server
            });
            let mut c = Pop3Client::new(client);
            let got = c.read_retr(10_000, body.len() as u64).await.unwrap();
            assert_eq!(got, Body::Message(body.clone()), "round {round}");
            assert_eq!(c.status().await.unwrap(), "after", "round {round}");
            drop(writer.await.unwrap());
        }
    }

    #[tokio::test]
    async fn retr_over_the_cap_is_dropped_but_consumed() {
        let (mut c, _s) = scripted(b"+OK\r\n0123456789\r\n0123456789\r\n.\r\n+OK next\r\n").await;
        assert_eq!(c.read_retr(15, 24).await.unwrap(), Body::TooLarge(24));
        assert_eq!(c.status().await.unwrap(), "next");
    }

    #[tokio::test]
    async fn listings_and_error_codes() {
        let (mut c, _s) = scripted(
            b"+OK\r\n1 abc\r\n2 def\r\n.\r\n+OK\r\n1 100\r\n2 200\r\n.\r\n-ERR [IN-USE] locked\r\n",
        )
        .await;
        assert_eq!(
            c.uidl(10).await.unwrap(),
            [(1, "abc".to_string()), (2, "def".to_string())]
        );
        assert_eq!(c.list(10).await.unwrap(), [(1, 100), (2, 200)]);
        let err = c.command("PASS x").await.unwrap_err();
        assert_eq!(err.code(), Some("IN-USE"));
    }

    #[tokio::test]
    async fn malformed_and_truncated_answers_are_errors() {
        let (mut c, _s) = scripted(b"HELLO\r\n").await;
        assert!(matches!(c.greeting().await, Err(Pop3Error::Protocol(_))));
        let (mut c, s) = scripted(b"+OK\r\npartial body").await;
        drop(s);
        assert!(matches!(c.read_retr(100, 0).await, Err(Pop3Error::Io(_))));
        let long = [b'+'; MAX_LINE + 10];
        let (mut c, _s) = scripted(&long).await;
        assert!(matches!(c.greeting().await, Err(Pop3Error::Protocol(_))));
        let (mut c, _s) = scripted(b"+OK\r\n1\r\n.\r\n").await;
        assert!(matches!(c.uidl(10).await, Err(Pop3Error::Protocol(_))));
    }

    #[tokio::test]
    async fn stls_injection_is_refused() {
        let (mut c, _s) = scripted(b"+OK begin TLS\r\n* injected\r\n").await;
        c.command("STLS").await.unwrap();
        assert!(matches!(c.into_inner(), Err(Pop3Error::Protocol(m)) if m.contains("injection")));
    }
}
