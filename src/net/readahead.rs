//! Read-ahead beneath TLS: rustls asks the socket for about 4 KiB at a time, which makes a
//! system call per 4 KiB of mail. This adapter reads up to [`READ_AHEAD_BYTES`] at once and
//! hands that out in the small pieces rustls asks for (the README's performance section has
//! the system calls and CPU it saves).
//!
//! Its buffer exists only while it holds bytes: an idle connection (an IDLE watcher, a
//! session between commands) costs nothing. Writes pass straight through.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes read from the socket at once.
pub const READ_AHEAD_BYTES: usize = 64 << 10;

/// A stream whose small reads are served from one larger read (see the module docs).
pub struct ReadAhead<S> {
    inner: S,
    /// Bytes read from `inner` and not yet handed out start at `start`; empty (and
    /// unallocated) when nothing is held.
    held: Vec<u8>,
    start: usize,
}

impl<S> ReadAhead<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        ReadAhead {
            inner,
            held: Vec::new(),
            start: 0,
        }
    }

    /// Bytes held (read from the socket, not yet handed out).
    pub fn held(&self) -> usize {
        self.held.len() - self.start
    }
}

impl<S> fmt::Debug for ReadAhead<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadAhead")
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held() == 0 {
            // A caller asking for as much as we would read gets it directly.
            if buf.remaining() >= READ_AHEAD_BYTES {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            this.held = Vec::with_capacity(READ_AHEAD_BYTES);
            this.start = 0;
            // Reads into the spare capacity: no zero-fill of bytes about to arrive.
            let read = tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.held);
            match read {
                Poll::Ready(Ok(n)) if n > 0 => {}
                other => {
                    // Pending, an error or the end of the stream: hold nothing.
                    this.held = Vec::new();
                    return other.map_ok(|_| ());
                }
            }
        }
        let n = this.held().min(buf.remaining());
        buf.put_slice(&this.held[this.start..this.start + n]);
        this.start += n;
        if this.held() == 0 {
            this.held = Vec::new();
            this.start = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Whatever the piece sizes on either side, the bytes come out as they went in, and
    /// nothing is held (or allocated) once they are all out.
    #[tokio::test]
    async fn hands_out_exactly_what_arrived_in_any_pieces() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..40 {
            let data: Vec<u8> = (0..rng.usize(0..300_000)).map(|_| rng.u8(..)).collect();
            let (client, mut server) = tokio::io::duplex(rng.usize(1..100_000));
            let sent = data.clone();
            let pieces: Vec<usize> = (0..64).map(|_| rng.usize(1..80_000)).collect();
            let writer = tokio::spawn(async move {
                let mut rest = &sent[..];
                for size in pieces.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let n = (*size).min(rest.len());
                    server.write_all(&rest[..n]).await.unwrap();
                    rest = &rest[n..];
                }
            });
            let mut reader = ReadAhead::new(client);
            let mut got = Vec::new();
            loop {
                let mut piece = vec![0; rng.usize(1..2 * READ_AHEAD_BYTES)];
                let n = reader.read(&mut piece).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&piece[..n]);
                if reader.held() == 0 {
                    assert_eq!(
                        reader.held.capacity(),
                        0,
                        "round {round}: a drained buffer is freed"
                    );
                }
            }
            writer.await.unwrap();
            assert_eq!(got, data, "round {round}");
            assert_eq!((reader.held(), reader.held.capacity()), (0, 0));
        }
    }

    #[tokio::test]
    async fn small_reads_take_one_large_read_from_the_socket() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        server.write_all(&[7u8; 100_000]).await.unwrap();
        let mut reader = ReadAhead::new(client);
        let mut piece = [0u8; 4096];
        assert_eq!(reader.read(&mut piece).await.unwrap(), 4096);
        assert_eq!(
            reader.held(),
            READ_AHEAD_BYTES - 4096,
            "one socket read filled the buffer"
        );
    }

    #[tokio::test]
    async fn writes_pass_through() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut stream = ReadAhead::new(client);
        stream.write_all(b"a1 NOOP\r\n").await.unwrap();
        stream.flush().await.unwrap();
        let mut got = [0u8; 9];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"a1 NOOP\r\n");
    }
}
