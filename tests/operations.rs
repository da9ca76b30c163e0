//! Operating the daemon: the HTTP API with its token, Prometheus metrics checked by
//! promtool, the Grafana dashboard's metrics all exported, hot reload by SIGHUP and by
//! `POST /api/reload`, and canary secrets that must appear in no log, metric, API answer or
//! error.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::IngestDaemon;
use support::{Dovecot, Socks, certs, corpus};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");
const IMAP_PW: &str = "canary-imap-7f3a";
const PROXY_PW: &str = "canary-socks-91b2";
const TOKEN: &str = "canary-token-55c1";
const WRONG_PW: &str = "canary-wrong-0d4e";
const CANARIES: [&str; 4] = [IMAP_PW, PROXY_PW, TOKEN, WRONG_PW];

fn write_config(path: &Path, d: &Dovecot, socks: &Socks, extra: &str) {
    let ca = certs().ca.display().to_string();
    std::fs::write(
        path,
        format!(
            r#"
[store]
path = "store.redb"

[http]
listen = "127.0.0.1:0"
token = {{ env = "TEST_API_TOKEN" }}

[credentials.imap]
username = "ops"
password = {{ value = "{IMAP_PW}" }}

[credentials.proxy]
username = "proxy-user"
password = {{ value = "{PROXY_PW}" }}

[credentials.wrong]
username = "ops"
password = {{ value = "{WRONG_PW}" }}

[connectors.micro]
socks5 = "127.0.0.1:{socks}"
credential = "proxy"

[accounts.ops-imap]
protocol = "imap"
address = "localhost"
port = {imaps}
credential = "imap"
ca_file = "{ca}"
automatic_check = false
keep_copy = false

[accounts.ops-pop]
protocol = "pop3"
address = "localhost"
port = {pop3s}
credential = "imap"
connector = "micro"
ca_file = "{ca}"
automatic_check = false

[accounts.ops-bad]
protocol = "imap"
address = "localhost"
port = {imaps}
credential = "wrong"
ca_file = "{ca}"
automatic_check = false
{extra}
"#,
            socks = socks.port,
            imaps = d.ports.imaps,
            pop3s = d.ports.pop3s,
        ),
    )
    .unwrap();
}

/// The daemon with this test's token and full logging.
fn start_daemon(config: &Path, dir: &Path) -> IngestDaemon {
    IngestDaemon::start(
        Path::new(BIN),
        config,
        &dir.join("store.redb"),
        &[("RUST_LOG", "trace"), ("TEST_API_TOKEN", TOKEN)],
        Some(TOKEN),
        Duration::from_secs(15),
    )
}

fn promtool() -> PathBuf {
    support::require("promtool")
}

/// Metric names a dashboard query uses.
fn dashboard_metrics() -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/mail-ingest.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names = Vec::new();
    for panel in json["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("mail_ingest_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn api_metrics_dashboard_reload_and_no_secret_anywhere() {
    let d = Dovecot::start();
    d.add_user("ops", IMAP_PW);
    d.add_user("ops2", IMAP_PW);
    for i in 0..5 {
        d.deliver("ops", &corpus::sample(i));
    }
    let socks = Socks::microsocks("proxy-user", PROXY_PW);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    write_config(&cfg, &d, &socks, "");
    let daemon = start_daemon(&cfg, dir.path());
    let mut seen = String::new();

    // The token guards /api/, not /health or /metrics.
    assert_eq!(daemon.request("GET", "/api/accounts", false).0, 401);
    let (status, body) = daemon.request("GET", "/health", false);
    assert_eq!((status, body.contains("ok")), (200, true));

    for name in ["ops-imap", "ops-pop", "ops-bad"] {
        let (status, body) = daemon.request("POST", &format!("/api/accounts/{name}/check"), true);
        assert_eq!(status, 200, "{body}");
        seen.push_str(&body);
        let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(summary["account"], name);
        if name == "ops-bad" {
            assert!(
                summary["error"].as_str().unwrap().contains("login failed"),
                "{body}"
            );
        } else {
            assert!(summary["error"].is_null(), "{body}");
        }
    }
    let (status, body) = daemon.request("GET", "/api/accounts", true);
    assert_eq!(status, 200);
    seen.push_str(&body);
    let accounts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(accounts.as_array().unwrap().len(), 3);
    let (status, body) = daemon.request("GET", "/api/accounts/ops-imap/messages?limit=2", true);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, body) = daemon.request("GET", "/api/messages/1", true);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"text\""));
    assert_eq!(daemon.request("GET", "/api/messages/999", true).0, 404);
    assert_eq!(daemon.request("GET", "/api/accounts/nobody", true).0, 404);
    let (status, head, raw) = daemon.exchange("GET", "/api/messages/1/raw", true);
    assert_eq!(status, 200);
    // A browser must neither guess another type nor show it inline.
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        head.contains("content-disposition: attachment; filename=\"message-1.eml\""),
        "{head}"
    );
    assert!(corpus::sample(0).starts_with(&raw.as_bytes()[..20]));

    // Metrics: valid for promtool, and everything the dashboard asks for is there.
    let (status, metrics) = daemon.request("GET", "/metrics", false);
    assert_eq!(status, 200);
    seen.push_str(&metrics);
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in dashboard_metrics() {
        assert!(
            metrics
                .lines()
                .any(|l| !l.starts_with('#') && l.starts_with(&name)),
            "the dashboard queries `{name}`, which the run did not export:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("mail_ingest_messages_total{account=\"ops-imap\",outcome=\"stored\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mail_ingest_errors_total{account=\"ops-bad\",stage=\"auth\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "mail_ingest_connector_connections_total{connector=\"micro\",outcome=\"ok\"}"
        ),
        "{metrics}"
    );

    // Reload by POST: an invalid file is refused with its errors, the running config stays.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{good}\n[accounts.broken]\nprotocol = \"imap\"\n"),
    )
    .unwrap();
    let (status, body) = daemon.request("POST", "/api/reload", true);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("accounts.broken.address: is required"),
        "{body}"
    );
    // A valid change: one account added, one changed; the unchanged one is not restarted.
    write_config(
        &cfg,
        &d,
        &socks,
        &format!(
            "\n[accounts.ops-new]\nprotocol = \"imap\"\naddress = \"localhost\"\nport = {}\ncredential = \"imap\"\nca_file = \"{}\"\nautomatic_check = false\n",
            d.ports.imaps,
            certs().ca.display()
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[accounts.ops-bad]\nprotocol = \"imap\"",
        "[accounts.ops-bad]\nprotocol = \"imap\"\ncheck_interval = \"5m\"",
    );
    std::fs::write(&cfg, text).unwrap();
    let (status, body) = daemon.request("POST", "/api/reload", true);
    assert_eq!(status, 200, "{body}");
    let changed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let changed: Vec<&str> = changed["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        ["accounts.ops-bad restarted", "accounts.ops-new added"]
    );
    let (status, _) = daemon.request("POST", "/api/accounts/ops-new/check", true);
    assert_eq!(status, 200);

    // Reload by SIGHUP: the account goes away.
    write_config(&cfg, &d, &socks, "");
    Command::new("kill")
        .arg("-HUP")
        .arg(daemon.child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = daemon.request("GET", "/api/accounts", true);
        if !body.contains("ops-new") {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let log = daemon.stop();
    seen.push_str(&log);
    assert!(
        log.contains("check done") && log.contains("account=ops-imap"),
        "the account's name is on its log lines:\n{log}"
    );
    for line in log
        .lines()
        .filter(|l| l.contains("rustls::") || l.contains("login failed"))
    {
        assert!(
            line.contains("account{account="),
            "a line of an account's work without its name: {line}"
        );
    }
    for canary in CANARIES {
        assert!(
            !seen.contains(canary),
            "secret `{canary}` leaked:\n{}",
            seen.lines()
                .filter(|l| l.contains(canary))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Every series known from the config is exported at 0 from the start (Prometheus' advice:
/// a dashboard or an alert sees "0", not "no data", before the first error).
#[test]
fn known_series_are_exported_at_zero_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[store]
path = "store.redb"
[http]
listen = "127.0.0.1:0"
token = {{ value = "{TOKEN}" }}
[credentials.c]
username = "u"
password = {{ value = "pw" }}
[connectors.edge]
socks5 = "127.0.0.1:9"
[accounts.quiet]
protocol = "imap"
address = "localhost"
credential = "c"
connector = "edge"
automatic_check = false
[accounts.off]
protocol = "pop3"
address = "localhost"
credential = "c"
enabled = false
"#
        ),
    )
    .unwrap();
    let daemon = IngestDaemon::start(
        Path::new(BIN),
        &cfg,
        &dir.path().join("store.redb"),
        &[],
        Some(TOKEN),
        Duration::from_secs(15),
    );
    let (status, metrics) = daemon.request("GET", "/metrics", false);
    assert_eq!(status, 200);
    for account in ["quiet", "off"] {
        for stage in [
            "connect", "proxy", "tls", "auth", "fetch", "store", "delete",
        ] {
            let series =
                format!("mail_ingest_errors_total{{account=\"{account}\",stage=\"{stage}\"}} 0");
            assert!(metrics.contains(&series), "missing `{series}`:\n{metrics}");
        }
        let series =
            format!("mail_ingest_checks_total{{account=\"{account}\",outcome=\"failed\"}} 0");
        assert!(metrics.contains(&series), "missing `{series}`:\n{metrics}");
    }
    for outcome in ["ok", "failed"] {
        let series = format!(
            "mail_ingest_connector_connections_total{{connector=\"edge\",outcome=\"{outcome}\"}} 0"
        );
        assert!(metrics.contains(&series), "missing `{series}`:\n{metrics}");
    }
    daemon.stop();
}

/// Without a configured token the API is not open: the daemon makes one (mode 0600, beside
/// the store) that the CLI reads; a foreign Host (DNS rebinding) and a foreign Origin (a web
/// page) are refused; the CLI sends the token only to a loopback address.
#[test]
fn the_api_needs_a_token_and_refuses_other_hosts_and_origins() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    std::fs::write(
        &cfg,
        "[store]\npath = \"store.redb\"\n[http]\nlisten = \"127.0.0.1:0\"\n[credentials.c]\nusername = \"u\"\npassword = { value = \"pw\" }\n[accounts.a]\nprotocol = \"imap\"\naddress = \"localhost\"\ncredential = \"c\"\nautomatic_check = false\n",
    )
    .unwrap();
    let daemon = IngestDaemon::beside(&cfg);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let token_file = dir.path().join("store.redb.token");
    assert!(token_file.exists(), "the daemon made a token");
    assert_eq!(mode(&token_file), 0o600, "the token file is private");
    assert_eq!(
        mode(&dir.path().join("store.redb.addr")),
        0o600,
        "the address file is private"
    );

    assert_eq!(
        daemon.request("GET", "/api/accounts", false).0,
        401,
        "no token, no API"
    );
    assert_eq!(daemon.request("GET", "/api/accounts", true).0, 200);
    assert_eq!(
        daemon.request("GET", "/metrics", false).0,
        200,
        "metrics stay open"
    );
    let port = daemon.addr.rsplit(':').next().unwrap().to_string();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let (status, _, _) =
            daemon.raw_exchange("GET", "/api/accounts", true, &format!("Host: {host}\r\n"));
        assert_eq!(status, 200, "{host}");
    }
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1:1".to_string(),
        String::new(),
    ] {
        for (path, with_token) in [("/api/accounts", true), ("/metrics", false)] {
            let headers = if host.is_empty() {
                String::new()
            } else {
                format!("Host: {host}\r\n")
            };
            let (status, _, body) = daemon.raw_exchange("GET", path, with_token, &headers);
            assert!(
                status == 403 || status == 400,
                "Host `{host}` on {path}: {status} {body}"
            );
        }
    }
    let host = format!("Host: {}\r\n", daemon.addr);
    let (status, _, body) = daemon.raw_exchange(
        "POST",
        "/api/reload",
        true,
        &format!("{host}Origin: http://evil.example\r\n"),
    );
    assert_eq!(status, 403, "a state change from another origin: {body}");
    let (status, _, body) = daemon.raw_exchange(
        "POST",
        "/api/reload",
        true,
        &format!("{host}Sec-Fetch-Site: cross-site\r\n"),
    );
    assert_eq!(status, 403, "a state change from another site: {body}");
    let (status, _, body) = daemon.raw_exchange(
        "POST",
        "/api/reload",
        true,
        &format!("{host}Origin: http://{}\r\n", daemon.addr),
    );
    assert_eq!(status, 200, "the same origin may: {body}");

    // The CLI reads the token file and asks the daemon.
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("accounts")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("a "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // It sends the token only to this machine, whatever the address file says.
    std::fs::write(dir.path().join("store.redb.addr"), "192.0.2.1:9898").unwrap();
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("accounts")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a loopback address"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused without trying to connect"
    );
    std::fs::write(dir.path().join("store.redb.addr"), &daemon.addr).unwrap();
    daemon.stop();
}
