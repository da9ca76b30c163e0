//! A really full disk: the store on a small tmpfs of its own, next to a file that fills it.
//! The check that meets the full disk fails without deleting what it could not store,
//! health says so, and once the file is gone the next check stores everything and health
//! is back, with no restart. Where the machine does not let the test mount a tmpfs, it
//! says so and passes (the injected-backend test in the store's unit tests still runs).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mail_ingest::config::{Protocol, TlsMode};
use support::Dovecot;
use support::config::{account, config};

/// A tmpfs mounted on a folder of its own, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// A message of about `kib` KiB, distinct by `n`.
fn big(n: usize, kib: usize) -> Vec<u8> {
    let mut raw = format!("From: a@example.com\r\nSubject: big {n}\r\n\r\n").into_bytes();
    for i in 0..kib * 16 {
        raw.extend(format!("{n:04} line {i:08} of filler text for the disk test..\r\n").as_bytes());
    }
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_shows_and_heals_by_itself() {
    let Some(tmpfs) = Tmpfs::mount("16m") else {
        eprintln!("a_full_disk_shows_and_heals_by_itself: cannot mount a tmpfs here; skipped");
        return;
    };
    let d = Dovecot::start();
    d.add_user("full", "pw");
    let sent: Vec<Vec<u8>> = (0..6).map(|n| big(n, 900)).collect();
    for raw in &sent {
        d.deliver("full", raw);
    }
    let work = tempfile::tempdir().unwrap();
    let mut a = account("full", &d, Protocol::Imap, TlsMode::Implicit);
    a.keep_copy = false;
    let mut cfg = config(work.path(), vec![a], "pw");
    cfg.store.path = tmpfs.path().join("store.redb");
    let ingest = support::config::on_demand(cfg).await;
    assert!(ingest.is_healthy());
    // Leave about 2 MiB: less than the six messages need.
    let filler: PathBuf = tmpfs.path().join("filler");
    let room = free_bytes(tmpfs.path()).saturating_sub(2 << 20);
    std::fs::write(&filler, vec![0u8; room as usize]).unwrap();

    let s = ingest.check_now("full").await.unwrap();
    let error = s.error.clone().unwrap_or_default();
    assert!(error.contains("No space left on device"), "{s:?}");
    assert!(s.stored < 6, "{s:?}");
    let health = ingest
        .health()
        .expect_err("health says the store cannot be written");
    assert!(health.contains("No space left on device"), "{health}");
    let report = ingest.account("full").unwrap().unwrap();
    assert!(report.last_error.is_some(), "{report:?}");
    assert_eq!(
        d.remaining("full").len() as u64,
        6 - s.deleted,
        "only what was stored is deleted"
    );
    assert_eq!(s.deleted, s.stored);

    // Room again: the next check opens the store again and stores the rest.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let s = ingest.check_now("full").await.unwrap();
    let recovered = freed.elapsed();
    assert_eq!(s.error, None, "{s:?}");
    assert!(ingest.is_healthy(), "{:?}", ingest.health());
    eprintln!("full disk: recovered {recovered:?} after the space came back");
    assert_eq!(ingest.account("full").unwrap().unwrap().messages_stored, 6);
    let mut stored: Vec<Vec<u8>> = ingest
        .messages("full", Some(10), None)
        .unwrap()
        .iter()
        .map(|m| ingest.raw(m.id).unwrap().unwrap())
        .collect();
    stored.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(stored, expected, "every message, exact bytes, once");
    assert!(d.remaining("full").is_empty());
    assert!(recovered < Duration::from_secs(30));
    ingest.shutdown().await.unwrap();
}
