//! Crash safety with the real binary: `mail-ingest check` is killed with SIGKILL at random
//! moments while it ingests with keep_copy = false, and started again, many times per
//! protocol, with fresh mail delivered whenever the mailbox runs dry. After the last run
//! every delivered message is in the store exactly once with its exact bytes, the server
//! mailbox is empty and no delete is owed.
//!
//! `CRASH_ITERATIONS` sets the kills per protocol (default 100).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mail_ingest::store::Store;
use support::{Dovecot, certs, corpus};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");
const BATCH: usize = 60;

fn config(dir: &Path, d: &Dovecot, protocol: &str) -> std::path::PathBuf {
    let port = if protocol == "imap" {
        d.ports.imaps
    } else {
        d.ports.pop3s
    };
    let path = dir.join("crash.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\npath = \"store.redb\"\n[credentials.c]\nusername = \"{protocol}crash\"\npassword = {{ value = \"pw\" }}\n[accounts.acct]\nprotocol = \"{protocol}\"\naddress = \"localhost\"\nport = {port}\ncredential = \"c\"\nca_file = \"{}\"\nkeep_copy = false\nautomatic_check = false\n",
            certs().ca.display()
        ),
    )
    .unwrap();
    path
}

/// A unique message: the sample's bytes with a serial header in front.
fn message(n: usize) -> Vec<u8> {
    let mut m = format!("X-Crash-Serial: {n}\r\n").into_bytes();
    m.extend(corpus::sample(n));
    // Every fifth message is large, so kills land inside literals and RETR bodies too.
    if n.is_multiple_of(5) {
        let filler = "0123456789abcdef".repeat(64 * 40);
        m.extend(format!("{filler}\r\n").into_bytes());
    }
    m
}

fn crash_loop(protocol: &str) {
    let iterations: usize = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let d = Dovecot::start();
    let user = format!("{protocol}crash");
    d.add_user(&user, "pw");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &d, protocol);
    let mut delivered = Vec::new();
    let mut rng = fastrand::Rng::with_seed(0xC0FFEE ^ protocol.len() as u64);
    let started = Instant::now();
    let mut killed_mid_run = 0;
    // Kill times are drawn up to the length of a whole run, learnt from runs that ended by
    // themselves, so most kills land while messages are moving.
    let mut run_length = Duration::from_millis(300);
    for _ in 0..iterations {
        if d.remaining(&user).is_empty() {
            for _ in 0..BATCH {
                let m = message(delivered.len());
                d.deliver(&user, &m);
                delivered.push(m);
            }
        }
        let mut child = Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .args(["check", "acct"])
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        let kill_at = spawned + Duration::from_micros(rng.u64(0..run_length.as_micros() as u64));
        let mut ended = None;
        while Instant::now() < kill_at {
            if child.try_wait().unwrap().is_some() {
                ended = Some(spawned.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        match ended {
            Some(took) => run_length = (run_length + took * 2) / 2,
            None => killed_mid_run += 1,
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
    }
    // Let it finish: a clean run (or a few, if the last kill left deletes owed).
    let mut clean = false;
    for _ in 0..5 {
        let out = Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .args(["check", "acct"])
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        if d.remaining(&user).is_empty() {
            clean = true;
            break;
        }
    }
    assert!(clean, "the server mailbox was not emptied");
    eprintln!(
        "{protocol}: {iterations} SIGKILLs ({killed_mid_run} during a run), {} messages, {:?}",
        delivered.len(),
        started.elapsed()
    );

    let store = Store::open(&dir.path().join("store.redb")).unwrap();
    let stored = store.list_messages("acct", usize::MAX, None).unwrap();
    let mut raws: Vec<Vec<u8>> = stored
        .iter()
        .map(|m| store.raw(m.id).unwrap().unwrap())
        .collect();
    raws.sort();
    let before = raws.len();
    raws.dedup();
    assert_eq!(before, raws.len(), "a message was stored twice");
    let mut expected = delivered.clone();
    expected.sort();
    assert_eq!(
        raws.len(),
        expected.len(),
        "stored {} of {} delivered",
        raws.len(),
        expected.len()
    );
    assert!(
        raws == expected,
        "stored bytes differ from the delivered bytes"
    );
    assert_eq!(
        store.pending_delete_count("acct").unwrap(),
        0,
        "deletes still owed"
    );
    assert!(
        killed_mid_run > iterations / 2,
        "most kills should land during a run ({killed_mid_run})"
    );
}

#[test]
fn imap_survives_sigkill_anywhere() {
    crash_loop("imap");
}

#[test]
fn pop3_survives_sigkill_anywhere() {
    crash_loop("pop3");
}
