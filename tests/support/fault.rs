//! A fault proxy between a client and a server on loopback: it forwards bytes both ways and,
//! on the connections it is told to, closes the connection at a byte offset, stalls, trickles
//! or injects bytes. It also records where each side's writes began, so tests can cut at
//! every protocol step.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server: commands.
    ToServer,
    /// Server to client: responses and message data.
    ToClient,
}

/// What to do to a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    Pass,
    /// Close both sides once `at` bytes have passed in `dir`.
    CloseAt(Dir, u64),
    /// Stop forwarding server bytes after `at` (the connection stays open, silent).
    StallAt(u64),
    /// Forward server bytes `chunk` at a time with a pause between.
    Trickle(usize, Duration),
    /// Insert `bytes` into the server's stream after `at` bytes.
    InjectAt(u64, Vec<u8>),
}

/// Offsets at which each side's writes began, from a clean pass-through connection.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    pub to_server: Vec<u64>,
    /// How many bytes each of the client's writes held (a pipelined burst holds several
    /// commands).
    pub to_server_sizes: Vec<u64>,
    pub to_client: Vec<u64>,
}

/// The proxy. Faults apply to the first `faulty` connections, later ones pass.
pub struct FaultProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Recorded boundaries of the first connection.
    pub transcript: Arc<Mutex<Transcript>>,
}

impl FaultProxy {
    pub fn start(upstream: u16, fault: Fault, faulty: usize) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let transcript = Arc::new(Mutex::new(Transcript::default()));
        let (stop2, transcript2) = (stop.clone(), transcript.clone());
        let count = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let n = count.fetch_add(1, Ordering::Relaxed);
                        let fault = if n < faulty {
                            fault.clone()
                        } else {
                            Fault::Pass
                        };
                        let record = if n == 0 {
                            Some(transcript2.clone())
                        } else {
                            None
                        };
                        let stop3 = stop2.clone();
                        thread::spawn(move || relay(client, upstream, fault, record, stop3));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FaultProxy {
            port,
            stop,
            transcript,
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(
    client: TcpStream,
    upstream: u16,
    fault: Fault,
    record: Option<Arc<Mutex<Transcript>>>,
    stop: Arc<AtomicBool>,
) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let closed = Arc::new(AtomicBool::new(false));
    let up = {
        let (c, s, f, r, closed, stop) = (
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            fault.clone(),
            record.clone(),
            closed.clone(),
            stop.clone(),
        );
        thread::spawn(move || pump(c, s, Dir::ToServer, f, r, closed, stop))
    };
    pump(server, client, Dir::ToClient, fault, record, closed, stop);
    let _ = up.join();
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Dir,
    fault: Fault,
    record: Option<Arc<Mutex<Transcript>>>,
    closed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut passed: u64 = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let mut injected = false;
    let shut = |a: &TcpStream, b: &TcpStream| {
        closed.store(true, Ordering::Relaxed);
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    loop {
        if closed.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
            shut(&from, &to);
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => {
                shut(&from, &to);
                return;
            }
        };
        if let Some(r) = &record {
            let mut t = r.lock().unwrap();
            match dir {
                Dir::ToServer => {
                    t.to_server.push(passed);
                    t.to_server_sizes.push(n as u64);
                }
                Dir::ToClient => t.to_client.push(passed),
            }
        }
        let mut chunk = &buf[..n];
        match &fault {
            Fault::CloseAt(d, at) if *d == dir && passed + chunk.len() as u64 >= *at => {
                let keep = (*at - passed.min(*at)) as usize;
                let _ = to.write_all(&chunk[..keep]);
                shut(&from, &to);
                return;
            }
            Fault::StallAt(at) if dir == Dir::ToClient && passed + chunk.len() as u64 >= *at => {
                let keep = (*at - passed.min(*at)) as usize;
                let _ = to.write_all(&chunk[..keep]);
                // Swallow everything from now on, keep the sockets open.
                while !closed.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    match from.read(&mut buf) {
                        Ok(0) => break,
                        _ => continue,
                    }
                }
                shut(&from, &to);
                return;
            }
            Fault::Trickle(size, pause) if dir == Dir::ToClient => {
                for piece in chunk.chunks(*size) {
                    if to.write_all(piece).is_err() {
                        shut(&from, &to);
                        return;
                    }
                    thread::sleep(*pause);
                }
                passed += chunk.len() as u64;
                continue;
            }
            Fault::InjectAt(at, bytes)
                if dir == Dir::ToClient && !injected && passed + chunk.len() as u64 >= *at =>
            {
                let split = (*at - passed.min(*at)) as usize;
                let _ = to.write_all(&chunk[..split]);
                let _ = to.write_all(bytes);
                injected = true;
                passed += split as u64;
                chunk = &chunk[split..];
            }
            _ => {}
        }
        if to.write_all(chunk).is_err() {
            shut(&from, &to);
            return;
        }
        passed += chunk.len() as u64;
    }
}
