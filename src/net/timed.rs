//! A byte stream with an inactivity limit: a read or write that makes no progress for
//! `io_timeout` fails with `TimedOut`, so a dead server never hangs a check. It also holds
//! the connector's connection permit for as long as the connection lives, and what its TLS
//! handshake noted (whether the server asked for a client certificate it was not given).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::tls::CertificateAsked;

/// Most a status answer may bring: greetings, STARTTLS and STLS, logins, capabilities,
/// SELECT, STAT and QUIT each answer in a few hundred bytes; a server that sends more is
/// cut off.
pub const ANSWER_BUDGET: u64 = 64 << 10;

/// `inner` with a deadline on every wait for the peer.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    limit: Duration,
    read_deadline: Deadline,
    write_deadline: Deadline,
    /// Most bytes the peer may send before the next [`Timed::set_read_budget`], if limited.
    read_budget: Option<u64>,
    /// Bytes read since the budget was set.
    read_since_budget: u64,
    /// Released when the connection closes: a place in the connector's `max_connections`.
    _permit: Option<OwnedSemaphorePermit>,
    /// Set by the TLS handshake when the server asked for a client certificate and none
    /// was configured.
    certificate_asked: Option<Arc<CertificateAsked>>,
    /// Commands to send right behind the next line written (see [`Timed::follow_next_line`]).
    follow: Vec<u8>,
    /// Of `follow`, what is due now and still to be written.
    following: Vec<u8>,
    /// Reads end with the line this watches for (see [`Timed::stop_after_line`]).
    stop: Option<LineStop>,
    /// Bytes read from the peer beyond a stop, handed out by the next reads (from `held_at`).
    held: Vec<u8>,
    held_at: usize,
}

/// Watches the bytes read for the end of the first line that begins with `prefix`.
#[derive(Debug)]
struct LineStop {
    prefix: Vec<u8>,
    /// Of `prefix`, how much the current line matched so far; `None` once it did not.
    matched: Option<usize>,
}

impl LineStop {
    /// Where in `bytes` (the next ones read) the watched line ends, just after its line feed.
    fn end_in(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if let Some(m) = self.matched {
                if m == self.prefix.len() {
                    return memchr::memchr(b'\n', &bytes[i..]).map(|p| i + p + 1);
                }
                if bytes[i] == self.prefix[m] {
                    self.matched = Some(m + 1);
                    i += 1;
                    continue;
                }
                self.matched = None;
            }
            let p = memchr::memchr(b'\n', &bytes[i..])?;
            i += p + 1;
            self.matched = Some(0);
        }
        None
    }
}

impl<S> Timed<S> {
    /// Wraps `inner`; every wait is bounded by `limit`; `permit` is released on drop.
    pub fn new(inner: S, limit: Duration, permit: Option<OwnedSemaphorePermit>) -> Self {
        Timed {
            inner,
            limit,
            read_deadline: Deadline::default(),
            write_deadline: Deadline::default(),
            read_budget: None,
            read_since_budget: 0,
            _permit: permit,
            certificate_asked: None,
            follow: Vec::new(),
            following: Vec::new(),
            stop: None,
            held: Vec::new(),
            held_at: 0,
        }
    }

    /// Ends the reads at the end of the next line that begins with `prefix` (read from a line
    /// start on), keeping what came behind it for the reads after: a reader with a buffer of
    /// its own (async-imap's) that is to read the answers up to a tagged status line then
    /// takes nothing of the answers behind it, which the next reader gets from here.
    pub fn stop_after_line(&mut self, prefix: &[u8]) {
        self.stop = Some(LineStop {
            prefix: prefix.to_vec(),
            matched: Some(0),
        });
    }

    /// Sends `commands` right behind the next complete line written through this stream, as
    /// if that line's writer had pipelined them: a client library that writes a command and
    /// then waits for its answer (async-imap's LOGIN) gets the commands after it on their
    /// way in the same round trip.
    pub fn follow_next_line(&mut self, commands: Vec<u8>) {
        self.follow = commands;
    }

    /// Notes what the TLS handshake under this stream records about client certificates.
    pub fn note_tls(&mut self, asked: Arc<CertificateAsked>) {
        self.certificate_asked = Some(asked);
    }

    /// Words to add to a refused login when the server asked for a client certificate it
    /// was not given (empty otherwise).
    pub fn certificate_hint(&self) -> &'static str {
        if self.certificate_asked.as_ref().is_some_and(|a| a.asked()) {
            " (the server asked for a client certificate during the TLS handshake and none is configured: set client_certificate and client_key)"
        } else {
            ""
        }
    }

    /// The stream and its permit, e.g. to run a TLS handshake over it after STARTTLS.
    pub fn into_parts(self) -> (S, Option<OwnedSemaphorePermit>) {
        (self.inner, self._permit)
    }

    /// Limits how much the peer may send from now on (e.g. the sizes a FETCH announced plus
    /// slack), so a hostile server cannot make the client buffer without bound.
    pub fn set_read_budget(&mut self, budget: Option<u64>) {
        self.read_budget = budget;
        self.read_since_budget = 0;
    }

    /// Changes the limit, e.g. from `connect_timeout` during the handshake to `io_timeout`.
    pub fn set_limit(&mut self, limit: Duration) {
        self.limit = limit;
        self.read_deadline.progress();
        self.write_deadline.progress();
    }
}

/// The inactivity timer of one direction. Progress only records a time; the timer is
/// moved lazily when it fires early, so a busy stream does not touch the timer wheel on
/// every read.
#[derive(Debug)]
struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
    /// When the current wait began (or the last progress during it).
    last_progress: Instant,
    /// True while the inner stream keeps answering Pending.
    waiting: bool,
}

impl Default for Deadline {
    fn default() -> Self {
        Deadline {
            sleep: None,
            last_progress: Instant::now(),
            waiting: false,
        }
    }
}

impl Deadline {
    fn progress(&mut self) {
        self.waiting = false;
    }

    /// Polled while the inner stream is pending: an error once `limit` passed without
    /// progress.
    fn poll(&mut self, limit: Duration, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.waiting {
            self.waiting = true;
            self.last_progress = Instant::now();
        }
        let due = self.last_progress + limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if Instant::now() >= self.last_progress + limit => {
                    self.waiting = false;
                    return Poll::Ready(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no answer from the server for {}",
                            humantime::format_duration(limit)
                        ),
                    ));
                }
                // Fired for an older deadline: progress happened since; wait on.
                Poll::Ready(()) => sleep.as_mut().reset(self.last_progress + limit),
            }
        }
    }
}

use std::future::Future;

impl<S: AsyncWrite + Unpin> Timed<S> {
    /// Writes what is due of [`Timed::follow_next_line`]'s commands.
    fn poll_following(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.following.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.following) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.write_deadline.progress();
                    self.following.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.write_deadline.poll(self.limit, cx).map(Err),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Commands due behind a line go out before their answers are waited for.
        if let Poll::Ready(Err(e)) = this.poll_following(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        if this.held_at < this.held.len() {
            let held = &this.held[this.held_at..];
            let mut n = held.len().min(buf.remaining());
            if let Some(end) = this.stop.as_mut().and_then(|s| s.end_in(&held[..n])) {
                n = end;
                this.stop = None;
            }
            buf.put_slice(&held[..n]);
            this.held_at += n;
            if this.held_at == this.held.len() {
                this.held = Vec::new();
                this.held_at = 0;
            }
        } else {
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => this.read_deadline.progress(),
                Poll::Ready(Err(e)) => {
                    this.read_deadline.progress();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return this.read_deadline.poll(this.limit, cx).map(Err),
            }
            let fresh = &buf.filled()[before..];
            if let Some(end) = this.stop.as_mut().and_then(|s| s.end_in(fresh)) {
                this.held = fresh[end..].to_vec();
                this.held_at = 0;
                this.stop = None;
                buf.set_filled(before + end);
            }
        }
        // Counted as handed out: bytes held past a stop count under the budget of the
        // answers they belong to.
        this.read_since_budget += (buf.filled().len() - before) as u64;
        if let Some(budget) = this.read_budget
            && this.read_since_budget > budget
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the server sent more than the {budget} bytes this command can need (more than it announced)"
                ),
            )));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_following(cx))?;
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                this.write_deadline.progress();
                if n == data.len() && data.ends_with(b"\n") && !this.follow.is_empty() {
                    this.following = std::mem::take(&mut this.follow);
                    // Written now when it can be; else by the next read, write or flush.
                    if let Poll::Ready(Err(e)) = this.poll_following(cx) {
                        return Poll::Ready(Err(e));
                    }
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.write_deadline.poll(this.limit, cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_following(cx))?;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.write_deadline.progress();
                Poll::Ready(r)
            }
            Poll::Pending => this.write_deadline.poll(this.limit, cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_read_budget_stops_an_oversending_peer() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut timed = Timed::new(client, Duration::from_secs(5), None);
        timed.set_read_budget(Some(100));
        server.write_all(&[b'x'; 300]).await.unwrap();
        let mut buf = vec![0u8; 300];
        let err = timed.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        timed.set_read_budget(None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut timed = Timed::new(client, Duration::from_secs(5), None);
        server.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        timed.read_exact(&mut buf).await.unwrap();
        let err = timed.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("5s"));
    }

    #[tokio::test]
    async fn reads_stop_after_the_watched_line_and_keep_what_follows() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut timed = Timed::new(client, Duration::from_secs(5), None);
        timed.stop_after_line(b"ml1 ");
        // The tag inside a line, and a line that starts like it, do not stop the reads.
        let answers =
            b"* OK xml1 no\r\nml2 OK no\r\nml1 OK listed\r\n* 1 FETCH (UID 7 BODY[] {3}\r\n";
        server.write_all(answers).await.unwrap();
        server.write_all(b"abc)\r\n").await.unwrap();
        let mut got = vec![0u8; 256];
        let mut upto = Vec::new();
        while !upto.ends_with(b"listed\r\n") {
            let n = timed.read(&mut got).await.unwrap();
            upto.extend_from_slice(&got[..n]);
        }
        assert_eq!(upto, b"* OK xml1 no\r\nml2 OK no\r\nml1 OK listed\r\n");
        let mut rest = vec![0u8; 35];
        timed.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, b"* 1 FETCH (UID 7 BODY[] {3}\r\nabc)\r\n");
        // A stop whose prefix arrives split over two reads still ends there.
        let mut stop = LineStop {
            prefix: b"ml1 ".to_vec(),
            matched: Some(0),
        };
        assert_eq!(stop.end_in(b"* x\r\nml"), None);
        assert_eq!(stop.end_in(b"1 OK\r\nnext"), Some(6));
    }

    #[tokio::test]
    async fn commands_follow_the_next_complete_line() {
        // A writer that sends a command in pieces, as async-imap does, and no flush.
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut timed = Timed::new(client, Duration::from_secs(5), None);
        timed.follow_next_line(b"b SELECT INBOX\r\n".to_vec());
        for piece in [&b"a"[..], b" ", b"LOGIN u p", b"\r\n"] {
            timed.write_all(piece).await.unwrap();
        }
        timed.write_all(b"c NOOP\r\n").await.unwrap();
        let mut got = vec![0u8; 37];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"a LOGIN u p\r\nb SELECT INBOX\r\nc NOOP\r\n");
    }
}
