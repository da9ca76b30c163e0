//! No token, refresh token or client secret ever shows: the daemon runs OAuth2 accounts that
//! succeed, one whose endpoint echoes its refresh token in an error, and one with a wrong
//! client, logging at trace level (async-imap's command traces asked for by name too);
//! every canary value is then looked for in its log, its metrics, its API answers, the
//! check command's output and `test ACCOUNT`. The metrics OAuth2 adds are there, and
//! `test ACCOUNT` names the mechanism and the token's expiry.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::daemon::IngestDaemon;
use support::oauth::{CLIENT_ID, CLIENT_SECRET, IdentityProvider, SEED};
use support::{Dovecot, certs, corpus};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");

fn config_text(d: &Dovecot, idp: &IdentityProvider, echo: &IdentityProvider) -> String {
    let ca = certs().ca.display().to_string();
    let account = |name: &str, protocol: &str, port: u16, credential: &str| {
        format!(
            "[accounts.{name}]\nprotocol = \"{protocol}\"\naddress = \"localhost\"\nport = {port}\ncredential = \"{credential}\"\nca_file = \"{ca}\"\ncheck_interval = \"1h\"\nidle = false\n"
        )
    };
    format!(
        r#"[store]
path = "store.redb"
[http]
listen = "127.0.0.1:0"

[credentials.m365]
username = "alice"
[credentials.m365.oauth2]
grant = "client_credentials"
token_url = "{token_url}"
client_id = "{CLIENT_ID}"
client_secret = {{ value = "{CLIENT_SECRET}" }}
scope = "https://outlook.office365.com/.default"

[credentials.gmail]
username = "alice"
[credentials.gmail.oauth2]
grant = "refresh_token"
token_url = "{token_url}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "client-secret" }}
refresh_token = {{ file = "seed" }}
mechanism = "oauthbearer"

[credentials.echo]
username = "alice"
[credentials.echo.oauth2]
grant = "refresh_token"
token_url = "{echo_url}"
client_id = "{CLIENT_ID}"
refresh_token = {{ value = "rt-CANARY-echoed" }}

[credentials.wrong-client]
username = "alice"
[credentials.wrong-client.oauth2]
grant = "client_credentials"
token_url = "{token_url}"
client_id = "someone-else"
client_secret = {{ value = "cs-CANARY-wrong" }}
scope = "x"

{m365}
{gmail}
{echo_account}
{wrong}"#,
        token_url = idp.token_url(),
        echo_url = echo.token_url(),
        m365 = account("acct-m365", "imap", d.ports.imaps, "m365"),
        gmail = account("acct-gmail", "pop3", d.ports.pop3s, "gmail"),
        echo_account = account("acct-echo", "imap", d.ports.imaps, "echo"),
        wrong = account("acct-wrong", "imap", d.ports.imaps, "wrong-client"),
    )
}

/// Fails when `text` (named `what`) carries any secret of the test, as it is or in base64
/// (as a SASL message carries it).
fn assert_no_canary(what: &str, text: &str) {
    use base64::Engine;
    assert!(!text.is_empty(), "{what} is empty");
    let b64 = |c: char| c.is_ascii_alphanumeric() || "+/=".contains(c);
    for (i, line) in text.lines().enumerate() {
        assert!(
            !line.contains("CANARY"),
            "{what}, line {}, shows a secret: {line}",
            i + 1
        );
        for word in line.split(|c: char| !b64(c)).filter(|w| w.len() >= 16) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(word)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            assert!(
                !decoded.contains("CANARY"),
                "{what}, line {}, shows a secret in base64: {line}",
                i + 1
            );
        }
    }
}

#[test]
fn no_secret_reaches_a_log_a_metric_an_answer_or_an_error() {
    let idp = IdentityProvider::start("alice", 3600);
    idp.with(|s| s.rotate = true);
    let echo = IdentityProvider::start("alice", 3600);
    echo.with(|s| {
        s.scripted.push_back((
            400,
            r#"{"error":"invalid_grant","error_description":"refresh token rt-CANARY-echoed was revoked"}"#.into(),
        ))
    });
    let d = Dovecot::start_oauth2(&idp.introspection_url(), "");
    d.add_user("alice", "unused");
    for i in 0..3 {
        d.deliver("alice", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mail-ingest.toml");
    std::fs::write(&config, config_text(&d, &idp, &echo)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (file, text) in [("seed", SEED), ("client-secret", "cs-CANARY-file")] {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let store = dir.path().join("store.redb");
    let daemon = IngestDaemon::start(
        std::path::Path::new(BIN),
        &config,
        &store,
        &[("RUST_LOG", "trace,async_imap::imap_stream=trace")],
        None,
        Duration::from_secs(30),
    );
    // Every account ran its first check.
    let deadline = Instant::now() + Duration::from_secs(60);
    let accounts = loop {
        let (status, body) = daemon.request("GET", "/api/accounts", true);
        assert_eq!(status, 200, "{body}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if rows.iter().all(|r| !r["last_check"].is_null()) {
            break body;
        }
        assert!(Instant::now() < deadline, "checks did not run: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let rows: Vec<serde_json::Value> = serde_json::from_str(&accounts).unwrap();
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(row("acct-m365")["messages_stored"], 3, "{accounts}");
    assert_eq!(row("acct-m365")["auth"], "xoauth2");
    assert_eq!(row("acct-gmail")["messages_stored"], 3, "{accounts}");
    assert_eq!(row("acct-gmail")["auth"], "oauthbearer");
    assert_eq!(row("acct-echo")["needs_consent"], true, "{accounts}");
    assert_eq!(row("acct-wrong")["needs_consent"], true, "{accounts}");
    let echo_error = row("acct-echo")["last_error"].as_str().unwrap().to_string();
    assert!(
        echo_error.contains("refresh token *** was revoked"),
        "{echo_error}"
    );
    assert_no_canary("GET /api/accounts", &accounts);
    let (_, checked) = daemon.request("POST", "/api/accounts/acct-echo/check", true);
    assert_no_canary("POST /api/accounts/acct-echo/check", &checked);
    let cli = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["--format", "json", "check", "acct-wrong", "acct-m365"])
        .output()
        .unwrap();
    let cli_text = format!(
        "{}{}",
        String::from_utf8_lossy(&cli.stdout),
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_no_canary("mail-ingest check", &cli_text);
    assert!(cli_text.contains("needs new consent"), "{cli_text}");
    let (_, metrics) = daemon.request("GET", "/metrics", false);
    assert_no_canary("GET /metrics", &metrics);
    for series in [
        r#"mail_ingest_oauth2_token_requests_total{credential="m365",grant="client_credentials",outcome="ok"} 1"#,
        r#"mail_ingest_oauth2_token_requests_total{credential="echo",grant="refresh_token",outcome="refused"} 1"#,
        r#"mail_ingest_oauth2_needs_consent{credential="wrong-client"} 1"#,
        r#"mail_ingest_oauth2_needs_consent{credential="m365"} 0"#,
        r#"mail_ingest_logins_refused_total{account="acct-m365",mechanism="xoauth2"} 0"#,
        r#"mail_ingest_oauth2_token_expiry_timestamp_seconds{credential="gmail"}"#,
    ] {
        assert!(
            metrics.contains(series),
            "missing `{series}` in:\n{metrics}"
        );
    }
    let log = daemon.stop();
    assert!(log.contains("TRACE"), "the daemon logged at trace level");
    assert_no_canary("the daemon's log at trace level", &log);

    // `test ACCOUNT` names the mechanism and the expiry, never the token.
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["test", "acct-gmail"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("logged in as alice with OAUTHBEARER (grant refresh_token, token expires 20"),
        "{text}"
    );
    assert_no_canary("mail-ingest test", &text);
    let kept = idp.with(|s| s.refresh_tokens.clone());
    assert!(!kept.contains(SEED), "the seed was rotated away");
}
