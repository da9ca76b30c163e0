//! A byte stream with an inactivity limit: a read or write that makes no progress for
//! `io_timeout` fails with `TimedOut`, so a dead server never hangs a check. It also holds
//! the connector's connection permit for as long as the connection lives.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// `inner` with a deadline on every wait for the peer.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    limit: Duration,
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
    /// Most bytes the peer may send before the next [`Timed::set_read_budget`], if limited.
    read_budget: Option<u64>,
    /// Bytes read since the budget was set.
    read_since_budget: u64,
    /// Released when the connection closes: a place in the connector's `max_connections`.
    _permit: Option<OwnedSemaphorePermit>,
}

impl<S> Timed<S> {
    pub fn new(inner: S, limit: Duration, permit: Option<OwnedSemaphorePermit>) -> Self {
        Timed {
            inner,
            limit,
            read_deadline: None,
            write_deadline: None,
            read_budget: None,
            read_since_budget: 0,
            _permit: permit,
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
        self.read_deadline = None;
        self.write_deadline = None;
    }
}

fn poll_deadline(
    slot: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Error> {
    let sleep =
        slot.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
    match sleep.as_mut().poll(cx) {
        Poll::Ready(()) => {
            *slot = None;
            Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer from the server for {}",
                    humantime::format_duration(limit)
                ),
            ))
        }
        Poll::Pending => Poll::Pending,
    }
}

use std::future::Future;

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read_deadline = None;
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
                Poll::Ready(r)
            }
            Poll::Pending => poll_deadline(&mut this.read_deadline, this.limit, cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.write_deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => poll_deadline(&mut this.write_deadline, this.limit, cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.write_deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => poll_deadline(&mut this.write_deadline, this.limit, cx).map(Err),
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
}
