//! The web console's doors, in raw HTTP against the daemon: no session (a page goes to the
//! login, a form is refused), a wrong token, the session cookie's flags, a missing or wrong
//! CSRF token, a foreign `Origin` or `Host`, a stale form (409, nothing written), a bad port
//! (400, beside its field), the security headers, and the token never in a page.

mod support;

use support::daemon::IngestDaemon;

const CONFIG: &str = r#"# notes kept
[store]
path = "store.redb"

[http]
listen = "127.0.0.1:0"

[credentials.desk]
username = "desk"
password = { value = "desk-pw" }
"#;

const FORM: &str = "application/x-www-form-urlencoded";

/// The value of `name="csrf"` (or another hidden field) in a page.
fn hidden(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no hidden `{name}` in:\n{page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn the_console_admits_only_its_own_sessions_and_forms() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail-ingest.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let store = dir.path().join("store.redb");
    let daemon = IngestDaemon::beside(&cfg);
    let token = std::fs::read_to_string(format!("{}.token", store.display())).unwrap();
    let token = token.trim();
    let host = format!("Host: {}\r\n", daemon.addr);
    let post = |path: &str, headers: &str, body: &str| {
        daemon.send(
            "POST",
            path,
            false,
            &format!("{host}Content-Type: {FORM}\r\n{headers}"),
            body,
        )
    };

    // No session: a page sends the browser to the login page; a form is refused.
    let (status, head, _) = daemon.exchange("GET", "/ui/accounts", false);
    assert_eq!(status, 303);
    assert!(
        head.to_lowercase().contains("location: /ui/login"),
        "{head}"
    );
    let (status, _, _) = post("/ui/accounts/x/check", "", "csrf=x");
    assert_eq!(status, 401);
    // The bearer token alone is not a session.
    let (status, _, _) = daemon.exchange("GET", "/ui/accounts", true);
    assert_eq!(status, 303);

    // A wrong token: 401 and no cookie. The right one: a cookie no script can read.
    let (status, head, _) = post("/ui/login", "", "token=wrong");
    assert_eq!(status, 401);
    assert!(!head.to_lowercase().contains("set-cookie"));
    let (status, head, _) = post("/ui/login", "", &format!("token={token}"));
    assert_eq!(status, 303, "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .unwrap();
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let session = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let with = format!("Cookie: {session}\r\n");
    let open_page = |path: &str| daemon.send("GET", path, false, &format!("{host}{with}"), "");

    // A page: the security headers, a CSRF token in its forms, never the API token.
    let (status, head, page) = open_page("/ui/accounts/new");
    assert_eq!(status, 200);
    let lower = head.to_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(
        lower.contains("x-frame-options: deny")
            && lower.contains("x-content-type-options: nosniff")
    );
    assert!(!page.contains(token), "the token never reaches a page");
    assert!(!page.contains("desk-pw"), "nor a password");
    let csrf = hidden(&page, "csrf");
    let version = hidden(&page, "version");
    let account = format!(
        "csrf={csrf}&mode=new&version={version}&name=desk&enabled=on&address=localhost&port=993&protocol=imap&credential=desk&safe=on&security=ssl"
    );

    // Without the CSRF token, with another session's, from another origin or Host: refused.
    let no_csrf = account.replacen(&format!("csrf={csrf}&"), "", 1);
    assert_eq!(post("/ui/accounts", &with, &no_csrf).0, 403);
    let wrong = account.replacen(&csrf, "0000", 1);
    assert_eq!(post("/ui/accounts", &with, &wrong).0, 403);
    let foreign = format!("{with}Origin: http://evil.example\r\n");
    assert_eq!(post("/ui/accounts", &foreign, &account).0, 403);
    let cross = format!("{with}Sec-Fetch-Site: cross-site\r\n");
    assert_eq!(post("/ui/accounts", &cross, &account).0, 403);
    let other_host = daemon.send(
        "POST",
        "/ui/accounts",
        false,
        &format!("Host: evil.example\r\nContent-Type: {FORM}\r\n{with}"),
        &account,
    );
    assert_eq!(other_host.0, 403);
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        CONFIG,
        "nothing written"
    );

    // A bad port: 400, the problem beside the port field, nothing written.
    let bad = account.replacen("port=993", "port=70000", 1);
    let (status, _, page) = post("/ui/accounts", &with, &bad);
    assert_eq!(status, 400);
    assert!(page.contains("id=\"port-error\""), "{page}");
    assert!(page.contains("70000"), "the form keeps what was typed");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), CONFIG);

    // A stale form: the file changed after the form was loaded: 409, nothing written.
    let changed = format!("{CONFIG}# edited by hand\n");
    std::fs::write(&cfg, &changed).unwrap();
    let (status, _, page) = post("/ui/accounts", &with, &account);
    assert_eq!(status, 409);
    assert!(
        page.contains("changed since this form was loaded"),
        "{page}"
    );
    assert!(page.contains("value=\"localhost\""), "the form is kept");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), changed);

    // With the file's current version it saves, and the report lists it.
    let (_, _, page) = open_page("/ui/accounts/new");
    let fresh = account.replacen(&version, &hidden(&page, "version"), 1);
    let (status, head, _) = post("/ui/accounts", &with, &fresh);
    assert_eq!(status, 303, "{head}");
    let saved = std::fs::read_to_string(&cfg).unwrap();
    assert!(saved.starts_with(&changed), "every line kept:\n{saved}");
    assert!(saved.contains("[accounts.desk]"));
    let (_, _, report) = open_page("/ui/accounts");
    assert!(report.contains("data-account=\"desk\""), "{report}");

    // A name of dots alone is refused beside the name field; a form without its version too.
    let new_account = |name: &str| {
        let (_, _, page) = open_page("/ui/accounts/new");
        format!(
            "csrf={csrf}&mode=new&version={}&name={name}&enabled=on&address=localhost&port=993&protocol=imap&credential=desk&safe=on&security=ssl&action=save",
            hidden(&page, "version")
        )
    };
    let (status, _, page) = post("/ui/accounts", &with, &new_account(".."));
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"name-error\""), "{page}");
    let unversioned =
        format!("csrf={csrf}&mode=edit&name=desk&address=localhost&protocol=imap&credential=desk");
    assert_eq!(post("/ui/accounts/desk", &with, &unversioned).0, 409);

    // The Edit form shows the file as it is now: a hand edit not reloaded yet is kept by a
    // save, never undone by the running config's older values.
    let by_hand = std::fs::read_to_string(&cfg).unwrap().replacen(
        "address = \"localhost\"",
        "address = \"hand.example\"",
        1,
    );
    std::fs::write(&cfg, &by_hand).unwrap();
    let (status, _, page) = open_page("/ui/accounts/desk/edit");
    assert_eq!(status, 200);
    assert!(page.contains("value=\"hand.example\""), "{page}");
    let edit = format!(
        "csrf={csrf}&mode=edit&version={}&name=desk&enabled=on&address=hand.example&port=995&protocol=pop3&credential=desk&safe=on&security=ssl&action=save",
        hidden(&page, "version")
    );
    assert_eq!(post("/ui/accounts/desk", &with, &edit).0, 303);
    let saved = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        saved.contains("address = \"hand.example\"") && saved.contains("protocol = \"pop3\""),
        "{saved}"
    );

    // Accounts named like the console's own routes (`test`, `new`) are saved by their forms.
    for name in ["test", "new"] {
        assert_eq!(
            post("/ui/accounts", &with, &new_account(name)).0,
            303,
            "{name} made"
        );
        let (_, _, page) = open_page(&format!("/ui/accounts/{name}/edit"));
        let change = format!(
            "csrf={csrf}&mode=edit&version={}&name={name}&address=changed.example&protocol=imap&credential=desk&safe=on&security=ssl&action=save",
            hidden(&page, "version")
        );
        let target = page
            .split("form class=\"card account\" method=\"post\" action=\"")
            .nth(1)
            .unwrap();
        let target = &target[..target.find('"').unwrap()];
        let (status, _, body) = post(target, &with, &change);
        assert_eq!(status, 303, "{name} saved through {target}: {body}");
        let text = std::fs::read_to_string(&cfg).unwrap();
        let table = text.split(&format!("[accounts.{name}]")).nth(1).unwrap();
        assert!(table.contains("changed.example"), "{text}");
    }

    // Remove asks first; then the table is gone.
    let (status, _, page) = open_page("/ui/accounts/test/remove");
    assert_eq!(status, 200);
    assert!(page.contains("confirm-remove"), "{page}");
    assert_eq!(
        post("/ui/accounts/test/remove", &with, &format!("csrf={csrf}")).0,
        303
    );
    assert!(
        !std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("[accounts.test]")
    );

    // `/ui/` leads to the report; htmx's refresh of an ended session leads to the login.
    let (status, head, _) = daemon.exchange("GET", "/ui/", false);
    assert_eq!(status, 303, "{head}");
    let (status, head, _) = daemon.send(
        "GET",
        "/ui/live/accounts",
        false,
        &format!("{host}HX-Request: true\r\n"),
        "",
    );
    assert_eq!(status, 401);
    assert!(
        head.to_lowercase().contains("hx-redirect: /ui/login"),
        "{head}"
    );

    // A message id that does not exist, an attachment past the last: 404 pages.
    let get = |path: &str| {
        daemon
            .send("GET", path, false, &format!("{host}{with}"), "")
            .0
    };
    assert_eq!(get("/ui/messages/999"), 404);
    assert_eq!(get("/ui/messages/999/attachments/0"), 404);
    assert_eq!(get("/ui/accounts/nobody/edit"), 404);
    assert_eq!(get("/ui/accounts/desk/inbox?before=abc"), 400);
    assert_eq!(get("/ui/accounts/desk/inbox?before=5&q=x"), 200);

    // Logout ends the session (and needs its CSRF token too).
    assert_eq!(post("/ui/logout", &with, "").0, 403);
    assert_eq!(post("/ui/logout", &with, &format!("csrf={csrf}")).0, 303);
    assert_eq!(
        daemon
            .send("GET", "/ui/accounts", false, &format!("{host}{with}"), "")
            .0,
        303
    );
    let log = daemon.stop();
    assert!(
        !log.contains(token) && !log.contains("desk-pw"),
        "no secret in the log"
    );
}
