//! Retention against a real Dovecot: `keep_max` removes the oldest messages, never one a
//! Feed subscriber has not acknowledged (shown in `subscribers`); a removed message that
//! stays on the server is not downloaded again; a forgotten subscriber holds nothing back;
//! the daemon runs it on demand (`retention`) and counts it in its metrics.

mod support;

use std::time::Duration;

use mail_ingest::config::{Protocol, TlsMode};
use support::cli::{run, succeeded as ok};
use support::config::{account, config};
use support::daemon::IngestDaemon;
use support::{Dovecot, certs, corpus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_what_a_subscriber_has_not_acknowledged() {
    let d = Dovecot::start();
    d.add_user("keep", "pw");
    for i in 0..6 {
        d.deliver("keep", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("keep", &d, Protocol::Imap, TlsMode::Implicit);
    a.keep_max = Some(1);
    let cfg = config(dir.path(), vec![a], "pw");
    let ingest = support::config::on_demand(cfg.clone()).await;
    assert_eq!(ingest.check_now("keep").await.unwrap().stored, 6);

    let mut feed = ingest.subscribe("notifier").unwrap();
    let runs = ingest.apply_retention().await.unwrap();
    assert_eq!(
        (runs[0].removed, runs[0].held_by_subscriber),
        (0, 6),
        "nothing acknowledged yet"
    );
    feed.ack(2).unwrap();
    let runs = ingest.apply_retention().await.unwrap();
    assert_eq!((runs[0].removed, runs[0].held_by_subscriber), (2, 4));
    let subs = ingest.subscribers().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        (subs[0].name.as_str(), subs[0].acknowledged, subs[0].behind),
        ("notifier", 2, 4)
    );
    assert!(ingest.raw(1).unwrap().is_none() && ingest.raw(3).unwrap().is_some());

    // Still on the server, but not downloaded again.
    let again = ingest.check_now("keep").await.unwrap();
    assert_eq!((again.fetched, again.stored), (0, 0), "{again:?}");
    assert_eq!(d.remaining("keep").len(), 6, "the server keeps its copies");

    // A subscriber that will not come back is forgotten: it holds nothing back any more.
    drop(feed);
    assert!(ingest.unsubscribe("notifier").unwrap());
    let runs = ingest.apply_retention().await.unwrap();
    assert_eq!((runs[0].removed, runs[0].held_bytes), (4, 0));
    assert_eq!(ingest.accounts().unwrap()[0].messages_stored, 0);
    assert!(ingest.messages("keep", None, None).unwrap().is_empty());

    // Dovecot rebuilds the mailbox (a new UIDVALIDITY, new UIDs): the removed messages are
    // listed under new keys, recognised by their content, and not stored again.
    std::thread::sleep(Duration::from_millis(1100));
    let maildir = d.maildir("keep");
    for entry in std::fs::read_dir(&maildir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("dovecot")
        {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let rebuilt = ingest.check_now("keep").await.unwrap();
    assert_eq!((rebuilt.fetched, rebuilt.stored), (6, 0), "{rebuilt:?}");
    assert!(ingest.messages("keep", None, None).unwrap().is_empty());
    let again = ingest.check_now("keep").await.unwrap();
    assert_eq!(again.fetched, 0, "their new keys are held: {again:?}");
    ingest.shutdown().await.unwrap();
}

#[test]
fn the_daemon_runs_retention_on_demand_and_counts_it() {
    let d = Dovecot::start();
    d.add_user("desk", "desk-pw");
    for i in 0..4 {
        d.deliver("desk", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = \"store.redb\"\n[http]\nlisten = \"127.0.0.1:0\"\n[credentials.desk]\nusername = \"desk\"\npassword = {{ value = \"desk-pw\" }}\n[accounts.desk]\nprotocol = \"imap\"\naddress = \"localhost\"\nport = {}\ncredential = \"desk\"\nca_file = \"{}\"\nautomatic_check = false\nkeep_max = \"1KiB\"\n",
            d.ports.imaps,
            certs().ca.display()
        ),
    )
    .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("\"1KiB\"", "\"lots\""),
    )
    .unwrap();
    let refused = run(&bad, &["validate"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("accounts.desk.keep_max"));

    let daemon = IngestDaemon::beside(&cfg);
    assert!(ok(run(&cfg, &["check", "desk"])).contains("stored 4"));
    let runs: serde_json::Value =
        serde_json::from_str(&ok(run(&cfg, &["--format", "json", "retention"]))).unwrap();
    let removed = runs[0]["removed"].as_u64().unwrap();
    assert!(removed >= 1, "{runs}");
    assert!(runs[0]["held_bytes"].as_u64().unwrap() <= 1024, "{runs}");
    let accounts: serde_json::Value =
        serde_json::from_str(&ok(run(&cfg, &["--format", "json", "accounts"]))).unwrap();
    assert_eq!(
        accounts[0]["messages_stored"].as_u64().unwrap(),
        4 - removed
    );
    let (_, metrics) = daemon.request("GET", "/metrics", false);
    assert!(
        metrics.contains(&format!(
            "mail_ingest_retention_removed_total{{account=\"desk\"}} {removed}"
        )),
        "{metrics}"
    );
    assert!(
        ok(run(&cfg, &["check", "desk"])).contains("stored 0"),
        "not downloaded again"
    );
    assert!(ok(run(&cfg, &["subscribers"])).starts_with("SUBSCRIBER"));
    daemon.stop();
}
