//! The web console in a real headless Chromium (over WebDriver), against the daemon and a
//! real Dovecot: log in (a wrong token fails), create an account through the form (a bad
//! port is shown beside its field; Test connection uses the unsaved values), the config file
//! changed with every comment kept and `validate` clean, Check now, View inbox (a subject
//! with `<script>` shows as text and nothing runs), one message with its attachment and raw
//! bytes downloaded, an edit, a stale form refused, Disable from the report. Screenshots go
//! to `target/screenshots/` (and to `docs/screenshots/` with `UPDATE_SCREENSHOTS=1`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fantoccini::{Client, Locator};
use support::browser::{Driver, fetch_bytes, text, wait_for_text};
use support::daemon::IngestDaemon;
use support::{Dovecot, corpus};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");

const CONFIG: &str = r#"# Helpdesk ingest: the operator's notes, kept by every change the console makes.
[store]
path = "store.redb"   # beside this file

[http]
listen = "127.0.0.1:0"

[credentials.desk]    # the helpdesk mailbox's login
username = "desk"
password = { value = "desk-pw" }

# Accounts follow.
"#;

const HOSTILE_SUBJECT: &str = "<script>window.pwned = 1</script> urgent";

fn hostile() -> Vec<u8> {
    format!(
        "From: Mallory <m@example.com>\r\nTo: desk@example.com\r\nSubject: {HOSTILE_SUBJECT}\r\nMessage-ID: <hostile@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<html><body><p>Click</p><script>window.pwned = 2</script><img src=\"http://127.0.0.1:9/track.png\" onerror=\"window.pwned = 3\"></body></html>\r\n"
    )
    .into_bytes()
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), &png).unwrap();
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}

async fn field(client: &Client, id: &str, value: &str) {
    let e = client.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn tick(client: &Client, id: &str, on: bool) {
    let e = client.find(Locator::Id(id)).await.unwrap();
    if e.is_selected().await.unwrap() != on {
        e.click().await.unwrap();
    }
}

async fn choose(client: &Client, id: &str, value: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap();
}

fn validate(cfg: &Path) {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(cfg)
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn every_line_kept(before: &str, after: &str) {
    for line in before.lines() {
        assert!(after.contains(line), "`{line}` was lost:\n{after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_does_everything_from_the_browser() {
    let d = Dovecot::start();
    d.add_user("desk", "desk-pw");
    let mut delivered: Vec<Vec<u8>> = (0..4).map(corpus::sample).collect();
    // Enough for a second page of the Inbox report (50 a page).
    delivered.extend((0..50).map(|i| {
        format!("From: Customer {i} <c{i}@example.com>\r\nSubject: Ticket {i}\r\nMessage-ID: <t{i}@example.com>\r\n\r\nMy printer is on fire ({i}).\r\n").into_bytes()
    }));
    delivered.push(hostile());
    for raw in &delivered {
        d.deliver("desk", raw);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg: PathBuf = dir.path().join("mail-ingest.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let store = dir.path().join("store.redb");
    let daemon = IngestDaemon::beside(&cfg);
    let token = std::fs::read_to_string(format!("{}.token", store.display())).unwrap();
    let base = format!("http://{}", daemon.addr);
    let driver = Driver::start();
    let c = driver.browser(1600, 900).await;

    // Not logged in: the login page. A wrong token is refused.
    c.goto(&format!("{base}/ui/accounts")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/ui/login"));
    field(&c, "token", "not-the-token").await;
    click(&c, "form.card button[type=submit]").await;
    wait_for_text(&c, ".notice.failed", "not the daemon's token").await;
    field(&c, "token", token.trim()).await;
    click(&c, "form.card button[type=submit]").await;
    wait_for_text(&c, "h1", "IMAP/POP3 Accounts").await;
    let cookies = c.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|k| k.name() == "mail_ingest_session")
        .unwrap();
    assert_eq!(session.http_only(), Some(true));
    assert!(
        !c.source().await.unwrap().contains(token.trim()),
        "the token never reaches a page"
    );

    // New: a bad port is shown beside its field and nothing is written.
    click(&c, "a[href='/ui/accounts/new']").await;
    wait_for_text(&c, "h1", "New account").await;
    field(&c, "name", "desk-imap").await;
    field(&c, "address", "localhost").await;
    field(&c, "port", "99999").await;
    choose(&c, "protocol", "imap").await;
    choose(&c, "credential", "desk").await;
    tick(&c, "automatic_check", false).await;
    tick(&c, "skip_certificate", true).await;
    choose(&c, "security", "ssl").await;
    click(&c, "#save").await;
    let error = wait_for_text(&c, "#port-error", "").await;
    assert!(error.contains("99999") || error.contains("port"), "{error}");
    shot(&c, "account-form.png").await;
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        CONFIG,
        "nothing written"
    );

    // Test connection with the unsaved values, then Save.
    field(&c, "port", &d.ports.imaps.to_string()).await;
    click(&c, "#test").await;
    let tested = wait_for_text(&c, ".notice", "Test connection").await;
    assert!(tested.contains("succeeded"), "{tested}");
    assert!(tested.contains("55 message"), "{tested}");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        CONFIG,
        "a test writes nothing"
    );
    assert_eq!(
        c.find(Locator::Id("port"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(d.ports.imaps.to_string().as_str()),
        "the form keeps its values"
    );
    click(&c, "#save").await;
    wait_for_text(&c, "#accounts tbody", "desk-imap").await;
    let saved = std::fs::read_to_string(&cfg).unwrap();
    every_line_kept(CONFIG, &saved);
    assert!(saved.contains("[accounts.desk-imap]"), "{saved}");
    assert!(saved.contains("skip_certificate = true"), "{saved}");
    validate(&cfg);

    // Check now: the summary is shown, and the row's counts.
    click(
        &c,
        "tr[data-account='desk-imap'] form[action$='/check'] button",
    )
    .await;
    let summary = wait_for_text(&c, ".notice", "desk-imap").await;
    assert!(summary.contains("stored 55"), "{summary}");
    let row = text(&c, "tr[data-account='desk-imap']").await;
    assert!(row.contains("Yes") && row.contains('5'), "{row}");
    shot(&c, "accounts-report.png").await;

    // Live: mail checked from elsewhere (the CLI, through the daemon) shows up in the open
    // report within seconds, and the focus stays where it was.
    c.execute(
        "document.querySelector(\"tr[data-account='desk-imap'] form[action$='/check'] button\").focus()",
        vec![],
    )
    .await
    .unwrap();
    d.deliver(
        "desk",
        b"From: Late <late@example.com>\r\nSubject: Late one\r\n\r\nhello\r\n",
    );
    let checked = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .args(["check", "desk-imap"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("stored 1"),
        "{checked:?}"
    );
    wait_for_text(&c, "#live-desk-imap-stored", "56").await;
    let focused = c
        .execute("return document.activeElement.textContent", vec![])
        .await
        .unwrap();
    assert_eq!(focused, serde_json::json!("Check now"), "the focus stays");

    // View inbox: every message, the hostile subject as text, and nothing of it ran.
    click(&c, "tr[data-account='desk-imap'] a[href$='/inbox']").await;
    wait_for_text(&c, "h1", "Inbox of desk-imap").await;
    let rows = c.find_all(Locator::Css("#inbox tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 50, "a page");
    let inbox = text(&c, "#inbox").await;
    assert!(inbox.contains(HOSTILE_SUBJECT), "{inbox}");
    assert!(
        !inbox.contains("Plain message 0"),
        "the oldest are on the next page"
    );
    let ran = c
        .execute("return window.pwned === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(
        ran,
        serde_json::Value::Bool(true),
        "no script of a message ran"
    );
    shot(&c, "inbox-report.png").await;
    click(&c, "#older").await;
    wait_for_text(&c, "#inbox", "Plain message 0").await;
    assert_eq!(
        c.find_all(Locator::Css("#inbox tbody tr"))
            .await
            .unwrap()
            .len(),
        6,
        "the rest"
    );
    click(&c, "nav.paging a").await;
    wait_for_text(&c, "#inbox", "urgent").await;

    // Search by sender.
    field(&c, "q", "Mallory").await;
    click(&c, "form.search button").await;
    wait_for_text(&c, "#inbox", "urgent").await;
    assert_eq!(
        c.find_all(Locator::Css("#inbox tbody tr"))
            .await
            .unwrap()
            .len(),
        1
    );

    // The hostile message's page: its HTML shown as text; nothing ran or loaded.
    click(&c, "#inbox td.subject a").await;
    wait_for_text(&c, "#subject", "<script>").await;
    let shown = text(&c, "#text").await;
    assert!(shown.contains("Click"), "{shown}");
    let ran = c
        .execute(
            "return window.pwned === undefined && document.images.length === 0",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        ran,
        serde_json::Value::Bool(true),
        "no script ran, no image loaded"
    );

    // The attachment's message: the decoded attachment and the exact raw bytes.
    c.goto(&format!("{base}/ui/accounts/desk-imap/inbox?q=Attachment"))
        .await
        .unwrap();
    click(&c, "#inbox td.subject a").await;
    let link = c.find(Locator::Css("ul.attachments a")).await.unwrap();
    assert_eq!(link.text().await.unwrap(), "data3.bin");
    let href = link.attr("href").await.unwrap().unwrap();
    let attachment = fetch_bytes(&c, &href).await;
    let expected: Vec<u8> = (0..3000u32)
        .map(|b| (b.wrapping_mul(31).wrapping_add(3)) as u8)
        .collect();
    assert_eq!(attachment, expected, "the attachment decoded");
    let raw_href = c
        .find(Locator::Id("raw"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fetch_bytes(&c, &raw_href).await,
        delivered[3],
        "the raw bytes exactly"
    );

    // Edit a setting: one key changes, every comment stays.
    c.goto(&format!("{base}/ui/accounts/desk-imap/edit"))
        .await
        .unwrap();
    wait_for_text(&c, "h1", "Edit account desk-imap").await;
    tick(&c, "keep_copy", false).await;
    click(&c, "#save").await;
    wait_for_text(&c, "#accounts tbody", "desk-imap").await;
    let edited = std::fs::read_to_string(&cfg).unwrap();
    every_line_kept(CONFIG, &edited);
    assert!(edited.contains("keep_copy = false"), "{edited}");
    validate(&cfg);

    // A stale form: the file changed after the form was loaded; nothing is written.
    c.goto(&format!("{base}/ui/accounts/desk-imap/edit"))
        .await
        .unwrap();
    wait_for_text(&c, "h1", "Edit account desk-imap").await;
    let changed = format!("{edited}\n# changed by hand meanwhile\n");
    std::fs::write(&cfg, &changed).unwrap();
    tick(&c, "automatic_check", true).await;
    click(&c, "#save").await;
    wait_for_text(&c, ".notice.failed", "changed since this form was loaded").await;
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        changed,
        "nothing written"
    );
    let kept = c.find(Locator::Id("automatic_check")).await.unwrap();
    assert!(kept.is_selected().await.unwrap(), "the form kept");

    // Disable from the report: the file says so and the state shows it (live).
    c.goto(&format!("{base}/ui/accounts")).await.unwrap();
    click(
        &c,
        "tr[data-account='desk-imap'] form[action$='/enabled'] button",
    )
    .await;
    wait_for_text(&c, "tr[data-account='desk-imap'] .state", "disabled").await;
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("enabled = false")
    );

    // On a phone's width the report scrolls inside its frame; the page itself does not.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/ui/accounts")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        serde_json::Value::Bool(true),
        "no sideways scroll of the page"
    );
    shot(&c, "accounts-report-phone.png").await;

    // Log out: the session ends.
    click(&c, "header form button").await;
    c.goto(&format!("{base}/ui/accounts")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/ui/login"));
    c.close().await.unwrap();
    let log = daemon.stop();
    assert!(!log.contains("desk-pw"), "no secret in the log");
}
