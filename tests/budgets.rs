//! Every read from the network has a budget that fits its command: a server that answers
//! `CAPA`, `LIST`, `UIDL`, `LOGIN`, `CAPABILITY` or `SELECT` with hundreds of megabytes is
//! cut off, and mail-ingest's memory stays flat. The cases run one after another in this
//! process alone, which samples its own resident memory while each check runs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mail_ingest::config::{AccountConfig, Protocol, TlsMode};
use support::fake::{FakeServer, Kind, Quirks};

const FLOOD: usize = 400 << 20;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One check against a server flooding its answer to `command`: the error, and how much
/// the resident memory rose at its peak while the check ran.
async fn flooded(kind: Kind, command: &str) -> (String, u64) {
    let fake = FakeServer::start(kind, vec![b"Subject: x\r\n\r\nbody\r\n".to_vec()]).await;
    fake.set_quirks(Quirks {
        flood: Some((command.to_string(), FLOOD)),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let protocol = if kind == Kind::Imap {
        Protocol::Imap
    } else {
        Protocol::Pop3
    };
    let mut a = AccountConfig::new("flooded", protocol, "127.0.0.1", "flooded");
    a.port = fake.port;
    a.tls = TlsMode::None;
    a.automatic_check = false;
    a.io_timeout = Duration::from_secs(5);
    a.check_timeout = Duration::from_secs(60);
    let ingest =
        support::config::on_demand(support::config::config(dir.path(), vec![a], "pw")).await;
    let before = rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let summary = ingest.check_now("flooded").await.unwrap();
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    ingest.shutdown().await.unwrap();
    let grown = peak.load(Ordering::Relaxed).saturating_sub(before);
    (summary.error.unwrap_or_default(), grown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_answer_is_cut_off_and_memory_stays_flat() {
    let cases = [
        (Kind::Pop3, "CAPA"),
        (Kind::Pop3, "LIST"),
        (Kind::Pop3, "UIDL"),
        (Kind::Imap, "LOGIN"),
        (Kind::Imap, "CAPABILITY"),
        (Kind::Imap, "SELECT"),
    ];
    let mut report = Vec::new();
    for (kind, command) in cases {
        let (error, grown) = flooded(kind, command).await;
        report.push(format!(
            "{kind:?} {command}: peak +{} MiB, error: {error}",
            grown >> 10
        ));
    }
    eprintln!("{}", report.join("\n"));
    for line in &report {
        let grown: u64 = line
            .split("peak +")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(grown < 32, "memory grew under a flood: {line}");
        assert!(
            line.contains("error: ") && !line.ends_with("error: "),
            "a flood is an error: {line}"
        );
    }
}
