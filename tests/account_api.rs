//! The JSON twins of the console's account forms, against the daemon and a real Dovecot:
//! an account created with `PUT` is written into the config file with every comment kept,
//! passes `validate`, is tested and checked; a bad port is refused with its key named and
//! nothing written; `PATCH` changes one key in place; `DELETE` removes the table; no token,
//! another origin or another Host change nothing.

mod support;

use std::path::Path;
use std::process::Command;

use support::daemon::IngestDaemon;
use support::{Dovecot, certs, corpus};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");

const CONFIG: &str = r#"# The operator's own notes: kept by every change the API makes.
[store]
path = "store.redb"   # beside this file

[http]
listen = "127.0.0.1:0"

[credentials.desk]    # the helpdesk mailbox
username = "desk"
password = { value = "desk-pw" }

# Accounts follow.
"#;

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn accounts_are_created_tested_checked_changed_and_removed_through_the_api() {
    let d = Dovecot::start();
    d.add_user("desk", "desk-pw");
    for i in 0..3 {
        d.deliver("desk", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let daemon = IngestDaemon::beside(&cfg);
    let host = format!("Host: {}\r\n", daemon.addr);
    let ca = certs().ca.display().to_string();
    let account = format!(
        r#"{{"protocol": "imap", "address": "localhost", "port": {}, "credential": "desk", "ca_file": "{ca}", "automatic_check": false, "keep_copy": false}}"#,
        d.ports.imaps
    );

    // Refused without the token, from another origin, under another Host: nothing written.
    let put = "/api/accounts/desk-imap";
    assert_eq!(daemon.send("PUT", put, false, &host, &account).0, 401);
    let foreign = format!("{host}Origin: http://evil.example\r\n");
    assert_eq!(daemon.send("PUT", put, true, &foreign, &account).0, 403);
    assert_eq!(
        daemon
            .send("PUT", put, true, "Host: evil.example\r\n", &account)
            .0,
        403
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), CONFIG);

    // Test before saving: the unsaved values reach Dovecot; the file is untouched.
    let (status, _, body) = daemon.send(
        "POST",
        "/api/accounts/desk-imap/test",
        true,
        &host,
        &account,
    );
    assert_eq!(status, 200, "{body}");
    let tested = json(&body);
    assert!(
        tested["capabilities"].to_string().contains("IMAP4REV1"),
        "{body}"
    );
    assert!(
        tested["mailbox"].as_str().unwrap().contains("3 messages"),
        "{body}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), CONFIG);

    // Create: written with every comment intact, the mode kept, valid, applied.
    let (status, _, body) = daemon.send("PUT", put, true, &host, &account);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["name"], "desk-imap");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.starts_with(CONFIG),
        "the old text is kept as it was:\n{text}"
    );
    assert!(text.contains("[accounts.desk-imap]"), "{text}");
    let mode = std::fs::metadata(&cfg).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o640
    );
    let validate = Command::new(BIN)
        .args(["-c"])
        .arg(&cfg)
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stdout)
    );
    let (status, body) = daemon.request("POST", "/api/accounts/desk-imap/check", true);
    assert_eq!(status, 200, "{body}");
    let summary = json(&body);
    assert_eq!(
        (summary["stored"].as_u64(), summary["deleted"].as_u64()),
        (Some(3), Some(3)),
        "{body}"
    );

    // A bad port: 400 naming the key, the file as it was.
    let before = std::fs::read_to_string(&cfg).unwrap();
    let (status, _, body) = daemon.send("PATCH", put, true, &host, r#"{"port": 70000}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        json(&body)["errors"]
            .to_string()
            .contains("accounts.desk-imap.port"),
        "{body}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    let (status, _, body) = daemon.send("PUT", put, true, &host, "not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("JSON object"), "{body}");

    // Change one key: only its line changes; the running account follows.
    let (status, _, body) = daemon.send("PATCH", put, true, &host, r#"{"enabled": false}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["state"], "disabled", "{body}");
    let after = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        after
            .lines()
            .filter(|l| !before.lines().any(|b| b == *l))
            .collect::<Vec<_>>(),
        ["enabled = false"],
        "{after}"
    );

    // Remove: the table goes, the rest stays.
    let (status, body) = daemon.request("DELETE", put, true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap().trim_end(),
        CONFIG.trim_end()
    );
    let (status, body) = daemon.request("GET", "/api/accounts/desk-imap", true);
    assert_eq!(status, 404, "{body}");
    let (status, body) = daemon.request("DELETE", put, true);
    assert_eq!(status, 404, "{body}");
    daemon.stop();
}

fn cli(cfg: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn account_set_edits_the_file_in_place_and_a_running_daemon_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    std::fs::write(&cfg, CONFIG).unwrap();

    // No daemon: the file alone.
    let set = [
        "account",
        "set",
        "pop",
        "protocol=pop3",
        "address=pop.example.com",
        "credential=desk",
        "port=1995",
        "automatic_check=false",
    ];
    let (code, out) = cli(&cfg, &set);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with(CONFIG), "{text}");
    assert!(
        text.contains("port = 1995\n"),
        "a number stays a number: {text}"
    );
    assert!(text.contains("address = \"pop.example.com\"\n"), "{text}");
    let (code, out) = cli(&cfg, &["validate"]);
    assert_eq!(code, 0, "{out}");

    let (code, out) = cli(&cfg, &["account", "set", "pop", "port=99999"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("accounts.pop.port"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text,
        "nothing written"
    );
    let (code, out) = cli(&cfg, &["account", "set", "pop", "port"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not key=value"), "{out}");

    // A running daemon reloads what was written.
    let daemon = IngestDaemon::beside(&cfg);
    let (code, out) = cli(&cfg, &["account", "set", "pop", "enabled=false", "port="]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reloaded"), "{out}");
    let (status, body) = daemon.request("GET", "/api/accounts/pop", true);
    assert_eq!(status, 200, "{body}");
    let account = json(&body);
    assert_eq!(
        (account["enabled"].as_bool(), account["port"].as_u64()),
        (Some(false), Some(995)),
        "{body}"
    );
    let (code, out) = cli(&cfg, &["account", "remove", "pop"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(daemon.request("GET", "/api/accounts/pop", true).0, 404);
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap().trim_end(),
        CONFIG.trim_end()
    );
    daemon.stop();
}
