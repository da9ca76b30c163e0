//! The real binary: validate's exit codes, check's summary lines and exit codes, reports read
//! from the store, and the daemon answering report commands while it holds the store.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{run, text};
use support::{Dovecot, certs, corpus};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");

/// A config file with a good IMAP account, a POP3 account with a wrong password and a
/// disabled one.
fn write_config(dir: &Path, d: &Dovecot) -> PathBuf {
    let ca = certs().ca.display().to_string();
    let cfg = format!(
        r#"
[store]
path = "data/store.redb"

[http]
listen = "127.0.0.1:0"

[credentials.good]
username = "good"
password = {{ value = "good-pw" }}

[credentials.bad]
username = "good"
password = {{ value = "canary-wrong-pw" }}

[accounts.good]
protocol = "imap"
address = "localhost"
port = {imaps}
credential = "good"
ca_file = "{ca}"
automatic_check = false
keep_copy = false

[accounts.bad]
protocol = "pop3"
address = "localhost"
port = {pop3s}
credential = "bad"
ca_file = "{ca}"
automatic_check = false

[accounts.off]
enabled = false
protocol = "imap"
address = "localhost"
port = {imaps}
credential = "good"
ca_file = "{ca}"
"#,
        imaps = d.ports.imaps,
        pop3s = d.ports.pop3s
    );
    let path = dir.join("mail-ingest.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let o = run(&example, &["validate"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("warning: credentials.helpdesk.password"),
        "{}",
        text(&o)
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[accounts.a]\nprotocol = \"imap\"\naddress = \"x\"\ncredential = \"nope\"\nconnector = \"dmz2\"\nportt = 1\n").unwrap();
    let o = run(&bad, &["validate"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("accounts.a.connector: unknown connector `dmz2` (known: none)"),
        "{out}"
    );
    assert!(
        out.contains("accounts.a.credential: unknown credential `nope`"),
        "{out}"
    );
    assert!(
        out.contains("accounts.a.portt: unknown key; did you mean `port`?"),
        "{out}"
    );
    let o = run(&dir.path().join("missing.toml"), &["validate"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn check_reports_and_daemon() {
    let d = Dovecot::start();
    d.add_user("good", "good-pw");
    let seeded: Vec<Vec<u8>> = (0..7).map(corpus::sample).collect();
    for m in &seeded {
        d.deliver("good", m);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &d);

    // Usage errors: bare check, unknown or disabled names.
    for args in [&["check"][..], &["check", "nobody"], &["check", "off"]] {
        let o = run(&cfg, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }

    // One account fails, the other completes: exit 1, a line each.
    let o = run(&cfg, &["check", "good", "bad"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("good: fetched 7, stored 7, deleted 7, skipped 0, errors 0"),
        "{out}"
    );
    assert!(
        out.contains("bad: fetched 0, stored 0, deleted 0, skipped 0, errors 1 (login failed"),
        "{out}"
    );
    assert!(!format!("{out}{}", String::from_utf8_lossy(&o.stderr)).contains("canary-wrong-pw"));
    assert!(d.remaining("good").is_empty());

    // JSON summaries.
    let o = run(&cfg, &["check", "--all", "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["account"], "bad");
    assert!(v[0]["error"].as_str().unwrap().contains("login failed"));
    assert_eq!(v[1]["stored"], 0);

    // Reports straight from the store.
    let o = run(&cfg, &["accounts", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let accounts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let good = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "good")
        .unwrap();
    assert_eq!(good["messages_stored"], 7);
    assert_eq!(good["state"], "idle");
    let off = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "off")
        .unwrap();
    assert_eq!(off["state"], "disabled");
    let o = run(&cfg, &["inbox", "good", "--limit", "3", "--format", "json"]);
    let inbox: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<u64> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [7, 6, 5]);
    assert_eq!(inbox[0]["on_server"], "deleted");
    let o = run(
        &cfg,
        &[
            "inbox", "good", "--before", "5", "--limit", "2", "--format", "json",
        ],
    );
    let page: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        page.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 3]
    );
    let o = run(&cfg, &["show", "1", "--raw"]);
    assert!(
        seeded.contains(&o.stdout),
        "show --raw gives the exact bytes"
    );
    let o = run(&cfg, &["show", "1"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Subject:"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, &["accounts"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.starts_with("ACCOUNT") && table.contains("good") && table.contains("failing"),
        "{table}"
    );

    // The daemon holds the store; the same commands ask it.
    let mut daemon = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr_file = dir.path().join("data/store.redb.addr");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !addr_file.exists() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    d.deliver("good", &corpus::sample(20));
    let o = run(&cfg, &["check", "good"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("good: fetched 1, stored 1, deleted 1"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, &["inbox", "good", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let inbox: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inbox.as_array().unwrap().len(), 8);
    let o = run(&cfg, &["show", "8", "--raw"]);
    assert_eq!(o.stdout, corpus::sample(20));
    let addr = std::fs::read_to_string(&addr_file).unwrap();
    let metrics = http_get(&addr, "/metrics");
    assert!(
        metrics.contains("mail_ingest_messages_total{account=\"good\",outcome=\"stored\"} 1"),
        "{metrics}"
    );
    assert!(http_get(&addr, "/health").contains("\"ok\""));

    Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    let status = daemon.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!addr_file.exists(), "the address file is removed at exit");
}

/// A minimal HTTP GET for the test.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr.trim()).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        addr.trim()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
