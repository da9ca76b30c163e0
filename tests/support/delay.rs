//! A proxy that puts a network between a client and a server on loopback: every byte
//! arrives a fixed time after it was sent, in each direction, and nothing can be sent before
//! a round trip has passed since the connection was accepted (as TCP's handshake costs).
//! Bandwidth is not limited: only round trips cost, so a client that waits for answers it
//! need not wait for shows it.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Chunks read and not yet written, each with the time it is due.
type Queue = Arc<Mutex<VecDeque<(Instant, Vec<u8>)>>>;

/// The proxy; it stops accepting when dropped.
pub struct DelayProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`, each
    /// direction delayed by `one_way`.
    pub fn start(upstream: u16, one_way: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let accepted = Instant::now();
                        client.set_nonblocking(false).unwrap();
                        thread::spawn(move || relay(client, upstream, one_way, accepted));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        DelayProxy { port, stop }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(client: TcpStream, upstream: u16, one_way: Duration, accepted: Instant) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The client's first bytes leave once its handshake is done (a round trip).
    let open_at = accepted + 2 * one_way;
    let up = {
        let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        thread::spawn(move || delayed(c, s, one_way, open_at))
    };
    delayed(server, client, one_way, open_at);
    let _ = up.join();
}

/// Copies `from` to `to`, each chunk written `one_way` after it was read (and not before
/// `open_at`); an end of stream is passed on as late as the bytes before it.
fn delayed(mut from: TcpStream, mut to: TcpStream, one_way: Duration, open_at: Instant) {
    let queue: Queue = Arc::default();
    let (wake, woken) = mpsc::channel::<()>();
    let writer = {
        let (queue, mut to) = (queue.clone(), to.try_clone().unwrap());
        thread::spawn(move || {
            loop {
                let next = queue.lock().unwrap().pop_front();
                let Some((due, bytes)) = next else {
                    if woken.recv().is_err() {
                        return;
                    }
                    continue;
                };
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if bytes.is_empty() {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                if to.write_all(&bytes).is_err() {
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
            }
        })
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        let due = (Instant::now() + one_way).max(open_at + one_way);
        queue.lock().unwrap().push_back((due, buf[..n].to_vec()));
        let _ = wake.send(());
        if n == 0 {
            break;
        }
    }
    drop(wake);
    let _ = writer.join();
    let _ = to.flush();
}
