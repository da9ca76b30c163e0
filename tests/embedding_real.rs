//! The embedding API against a real Dovecot: the durable feed across a host restart, IMAP
//! IDLE latency, and `backfill = "new"`.

mod support;

use std::time::{Duration, Instant};

use mail_ingest::MailIngest;
use mail_ingest::config::{Backfill, Protocol, TlsMode};
use support::config::{account, config};
use support::{Dovecot, corpus};

async fn next_within(feed: &mut mail_ingest::Feed, secs: u64) -> mail_ingest::FeedMessage {
    tokio::time::timeout(Duration::from_secs(secs), feed.next())
        .await
        .expect("a message within the time")
        .expect("the feed yields")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_delivers_every_message_once_across_a_restart() {
    let d = Dovecot::start();
    d.add_user("feed", "pw");
    for i in 0..6 {
        d.deliver("feed", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        vec![account("feed", &d, Protocol::Imap, TlsMode::Implicit)],
        "pw",
    );

    let ingest = support::config::on_demand(cfg.clone()).await;
    assert_eq!(ingest.check_now("feed").await.unwrap().stored, 6);
    let mut feed = ingest.subscribe("notifier").unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let m = next_within(&mut feed, 5).await;
        seen.push(m.id);
        assert_eq!(m.raw, ingest.raw(m.id).unwrap().unwrap());
    }
    assert_eq!(seen, [1, 2, 3, 4], "store order");
    feed.ack(3).unwrap(); // 4 was handed out but not acknowledged
    drop(feed);
    ingest.shutdown().await.unwrap();

    // The host restarts: delivery resumes after the last ack; 4 comes again.
    let ingest = support::config::on_demand(cfg).await;
    let mut feed = ingest.subscribe("notifier").unwrap();
    let again: Vec<u64> = [
        next_within(&mut feed, 5).await.id,
        next_within(&mut feed, 5).await.id,
        next_within(&mut feed, 5).await.id,
    ]
    .into();
    assert_eq!(again, [4, 5, 6]);
    // A new message arriving later wakes the waiting feed.
    let waiter = tokio::spawn(async move {
        let m = next_within(&mut feed, 10).await;
        (m.id, m.meta.subject.clone())
    });
    d.deliver("feed", &corpus::sample(6));
    assert_eq!(ingest.check_now("feed").await.unwrap().stored, 1);
    let (id, subject) = waiter.await.unwrap();
    assert_eq!(id, 7);
    assert_eq!(subject.as_deref(), Some("Plain message 6"));
    // Another subscriber starts from the beginning.
    let mut other = ingest.subscribe("archiver").unwrap();
    assert_eq!(next_within(&mut other, 5).await.id, 1);
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_brings_new_mail_within_seconds() {
    let d = Dovecot::start();
    d.add_user("idler", "pw");
    d.deliver("idler", &corpus::sample(0));
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("idler", &d, Protocol::Imap, TlsMode::Implicit);
    a.automatic_check = true;
    a.check_interval = Duration::from_secs(600);
    let ingest = MailIngest::start(config(dir.path(), vec![a], "pw"))
        .await
        .unwrap();
    let wait_for = |n: u64| {
        let ingest = &ingest;
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if ingest.account("idler").unwrap().unwrap().messages_stored >= n {
                    return;
                }
                assert!(Instant::now() < deadline, "message {n} not stored in time");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // let the watcher enter IDLE
    let mut latencies = Vec::new();
    for i in 1..=3 {
        let sent = Instant::now();
        d.deliver("idler", &corpus::sample(i));
        wait_for(1 + i as u64).await;
        latencies.push(sent.elapsed());
    }
    eprintln!("IDLE delivery-to-store latencies: {latencies:?}");
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(5)),
        "{latencies:?}"
    );
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_new_ingests_only_later_mail_and_deletes_nothing_older() {
    let d = Dovecot::start();
    d.add_user("fresh", "pw");
    for i in 0..3 {
        d.deliver("fresh", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("fresh", &d, Protocol::Pop3, TlsMode::Implicit);
    a.backfill = Backfill::New;
    a.keep_copy = false;
    let ingest = support::config::on_demand(config(dir.path(), vec![a], "pw")).await;
    let first = ingest.check_now("fresh").await.unwrap();
    assert_eq!(
        (first.fetched, first.stored, first.skipped, first.deleted),
        (0, 0, 3, 0),
        "{first:?}"
    );
    d.deliver("fresh", &corpus::sample(7));
    let second = ingest.check_now("fresh").await.unwrap();
    assert_eq!(
        (second.fetched, second.stored, second.deleted),
        (1, 1, 1),
        "{second:?}"
    );
    let remaining = d.remaining("fresh");
    assert_eq!(remaining.len(), 3, "the old mail stays on the server");
    assert!(!remaining.contains(&corpus::sample(7)));
    ingest.shutdown().await.unwrap();
}

/// Established TCP connections (IPv4) whose far end is `port`: this process's clients.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let remote_port = f[2].rsplit(':').next().unwrap();
            u16::from_str_radix(remote_port, 16) == Ok(port) && f[3] == "01"
        })
        .count()
}

/// A reload that restarts an account stops everything its old actor owned: its IMAP IDLE
/// watcher does not go on reconnecting with the old settings. Counted at the server after
/// 20 reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_leave_no_idle_watcher_behind() {
    let d = Dovecot::start();
    d.add_user("watched", "pw");
    d.deliver("watched", &corpus::sample(0));
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("watched", &d, Protocol::Imap, TlsMode::Implicit);
    a.automatic_check = true;
    a.check_interval = Duration::from_secs(600);
    let mut config = config(dir.path(), vec![a], "pw");
    let ingest = MailIngest::start(config.clone()).await.unwrap();
    let port = d.ports.imaps;
    let settle = || async {
        // The new actor's first check, then its watcher in IDLE: the count stays put.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut same = 0;
        let mut last = usize::MAX;
        while same < 10 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = connections_to(port);
            same = if now == last { same + 1 } else { 0 };
            last = now;
        }
    };
    settle().await;
    assert_eq!(connections_to(port), 1, "one IDLE connection");
    for i in 0..20 {
        let a = config.accounts.get_mut("watched").unwrap();
        a.check_interval = Duration::from_secs(601 + i);
        let changed = ingest.reload(config.clone()).await.unwrap();
        assert_eq!(changed, ["accounts.watched restarted"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    settle().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = connections_to(port);
    eprintln!("connections to the server after 20 reloads: {open}");
    assert_eq!(open, 1, "only the newest actor's IDLE connection is open");
    ingest.shutdown().await.unwrap();
}
