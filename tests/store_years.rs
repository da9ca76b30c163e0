//! The store over years, with the real binary and a real Dovecot: `export` to a Maildir that
//! Dovecot then serves (ingested again, byte for byte), to an mbox read by Python's
//! `mailbox` (mboxrd quoting undone, byte for byte) and to `.eml` files dated by their
//! received time; `backup` while the daemon runs, refused over an existing file; `compact`
//! through the daemon; a restore (the backup copied back) from which ingestion goes on
//! without a duplicate.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mail_ingest::store::Store;
use support::cli::{run, succeeded as ok};
use support::daemon::IngestDaemon;
use support::{Dovecot, certs, corpus};

/// `export desk --to TO --format FORMAT`.
fn export(cfg: &Path, to: &str, format: &str) -> std::process::Output {
    run(cfg, &["export", "desk", "--to", to, "--format", format])
}

fn write_config(dir: &Path, d: &Dovecot) -> PathBuf {
    let ca = certs().ca.display().to_string();
    let mut text =
        String::from("[store]\npath = \"store.redb\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n");
    for user in ["desk", "copy"] {
        text.push_str(&format!(
            "\n[credentials.{user}]\nusername = \"{user}\"\npassword = {{ value = \"{user}-pw\" }}\n\n[accounts.{user}]\nprotocol = \"imap\"\naddress = \"localhost\"\nport = {}\ncredential = \"{user}\"\nca_file = \"{ca}\"\nautomatic_check = false\n",
            d.ports.imaps
        ));
    }
    let cfg = dir.join("mail-ingest.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// A message whose body has lines an mbox must quote.
fn from_lines() -> Vec<u8> {
    b"From: Quoter <q@example.com>\r\nSubject: From lines\r\nMessage-ID: <from-lines@example.com>\r\n\r\nFrom the start of a line\r\n>From quoted once\r\n>>From quoted twice\r\nend\r\n".to_vec()
}

/// Every stored message's raw bytes of `account`, as a set.
fn stored(store: &Path, account: &str) -> BTreeSet<Vec<u8>> {
    let s = Store::open(store).unwrap();
    mail_ingest::report::inbox(&s, account, Some(10_000), None)
        .unwrap()
        .iter()
        .map(|m| s.raw(m.id).unwrap().unwrap())
        .collect()
}

/// mboxrd's quoting undone: one `>` less before a `>*From ` line.
fn unquote(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let quotes = line.iter().take_while(|b| **b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn stored_mail_is_exported_backed_up_compacted_and_restored() {
    let d = Dovecot::start();
    d.add_user("desk", "desk-pw");
    d.add_user("copy", "copy-pw");
    let mut originals: Vec<Vec<u8>> = (0..10).map(corpus::sample).collect();
    originals.push(from_lines());
    for raw in &originals {
        d.deliver("desk", raw);
    }
    let everything: BTreeSet<Vec<u8>> = originals.iter().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &d);
    let store = dir.path().join("store.redb");
    ok(run(&cfg, &["check", "desk"]));

    // Maildir: Dovecot serves the export as the `copy` mailbox; ingested again, the same bytes.
    let maildir = d.maildir("copy");
    let line = ok(export(&cfg, maildir.to_str().unwrap(), "maildir"));
    assert!(line.contains("exported 11 messages"), "{line}");
    let seen = std::fs::read_dir(maildir.join("cur")).unwrap().count();
    assert_eq!(seen, 11);
    for e in std::fs::read_dir(maildir.join("cur")).unwrap() {
        assert!(
            e.unwrap().file_name().to_string_lossy().ends_with(":2,S"),
            "flagged seen"
        );
    }
    let chown = Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(&maildir)
        .status()
        .unwrap();
    assert!(chown.success());
    let summary = ok(run(&cfg, &["check", "copy"]));
    assert!(summary.contains("stored 11"), "{summary}");
    assert_eq!(stored(&store, "desk"), everything);
    assert_eq!(
        stored(&store, "copy"),
        everything,
        "Dovecot served the exported Maildir's exact bytes"
    );

    // mbox, read by Python's mailbox module: mboxrd quoting undone, the same bytes.
    let mbox_dir = dir.path().join("mbox");
    ok(export(&cfg, mbox_dir.to_str().unwrap(), "mbox"));
    let mbox = mbox_dir.join("desk.mbox");
    let text = std::fs::read(&mbox).unwrap();
    assert!(
        text.windows(28)
            .any(|w| w == b"\n>From the start of a line\r\n"),
        "a From line is quoted"
    );
    let python = Command::new("python3")
        .arg("-c")
        .arg("import mailbox, sys, json, base64\nm = mailbox.mbox(sys.argv[1], create=False)\nprint(json.dumps([base64.b64encode(m.get_bytes(k)).decode() for k in m.keys()]))")
        .arg(&mbox)
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let read: Vec<String> = serde_json::from_slice(&python.stdout).unwrap();
    assert_eq!(read.len(), 11);
    let from_mbox: BTreeSet<Vec<u8>> = read.iter().map(|b| unquote(&base64_decode(b))).collect();
    assert_eq!(from_mbox, everything, "Python read the exact bytes back");
    let again = export(&cfg, mbox_dir.to_str().unwrap(), "mbox");
    assert_eq!(again.status.code(), Some(1), "an export never overwrites");

    // .eml files, dated by their received time.
    let eml = dir.path().join("eml");
    ok(export(&cfg, eml.to_str().unwrap(), "eml"));
    let rows = json(&ok(run(
        &cfg,
        &["--format", "json", "inbox", "desk", "--limit", "100"],
    )));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 11);
    for row in rows {
        let file = eml.join(format!("{}.eml", row["id"]));
        assert!(everything.contains(&std::fs::read(&file).unwrap()));
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(modified).to_string(),
            row["received_at"].as_str().unwrap(),
            "dated by its received time"
        );
    }

    // The daemon holds the store: backup, compact and export go through it.
    let daemon = IngestDaemon::beside(&cfg);
    let backup = dir.path().join("backups/store-copy.redb");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let said = ok(run(&cfg, &["backup", backup.to_str().unwrap()]));
    assert!(said.contains("22 messages"), "{said}");
    assert_eq!(
        stored(&backup, "desk"),
        everything,
        "the copy holds every message"
    );
    let twice = run(&cfg, &["backup", backup.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("exists already"));
    let folder = run(
        &cfg,
        &["backup", backup.parent().unwrap().to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&folder.stderr).contains("is a folder"),
        "{folder:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(backup.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary left: {leftovers:?}");
    let beside_store: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(
        beside_store.is_empty(),
        "the daemon's copy is gone: {beside_store:?}"
    );
    let compacted = json(&ok(run(&cfg, &["--format", "json", "compact"])));
    assert!(
        compacted["after"].as_u64().unwrap() <= compacted["before"].as_u64().unwrap(),
        "{compacted}"
    );
    let through = dir.path().join("eml-through-daemon");
    let line = ok(export(&cfg, through.to_str().unwrap(), "eml"));
    assert!(line.contains("exported 11 messages"), "{line}");

    // More mail, then a restore: the backup copied back; the next check fetches only what
    // the backup did not hold.
    let later = [corpus::sample(40), corpus::sample(41)];
    for raw in &later {
        d.deliver("desk", raw);
    }
    let summary = ok(run(&cfg, &["check", "desk"]));
    assert!(summary.contains("stored 2"), "{summary}");
    daemon.stop();
    std::fs::copy(&backup, &store).unwrap();
    let summary = ok(run(&cfg, &["check", "desk"]));
    assert!(
        summary.contains("stored 2"),
        "restored, then the two newer ones again: {summary}"
    );
    let mut all = everything.clone();
    all.extend(later.iter().cloned());
    assert_eq!(stored(&store, "desk"), all, "no duplicate, nothing lost");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
