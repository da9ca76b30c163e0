//! Failures against real servers: each is a clear error in the summary and the report, and
//! never stops the other accounts.

mod support;

use std::time::Duration;

use mail_ingest::MailIngest;
use mail_ingest::config::{CredentialAuth, Protocol, TlsMode};
use mail_ingest::model::AccountRunState;
use support::config::{account, config, via};
use support::{Dovecot, corpus};

async fn check_error(cfg: mail_ingest::Config, name: &str) -> String {
    let ingest = support::config::on_demand(cfg).await;
    let s = ingest.check_now(name).await.unwrap();
    let report = ingest.account(name).unwrap().unwrap();
    ingest.shutdown().await.unwrap();
    let err = s
        .error
        .clone()
        .unwrap_or_else(|| panic!("{name}: expected a failure, got {s:?}"));
    assert_eq!(s.errors, 1);
    assert_eq!(report.last_error.as_deref(), Some(err.as_str()));
    support::assert_reads_as_words(&err, name);
    assert_eq!(report.state, AccountRunState::Failing);
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_a_clear_error() {
    let d = Dovecot::start();
    d.add_user("u", "right-pw");
    d.deliver("u", &corpus::sample(0));
    let dir = tempfile::tempdir().unwrap();

    for protocol in [Protocol::Imap, Protocol::Pop3] {
        // Wrong password.
        let cfg = config(
            dir.path(),
            vec![account("u", &d, protocol, TlsMode::Implicit)],
            "wrong-pw-canary",
        );
        let err = check_error(cfg, "u").await;
        assert!(err.contains("login failed"), "{protocol:?}: {err}");
        assert!(
            !err.contains("wrong-pw-canary"),
            "the password leaks: {err}"
        );

        // A certificate from an unknown CA is refused, with the fix named.
        let mut a = account("u", &d, protocol, TlsMode::Implicit);
        a.ca_file = None;
        let err = check_error(config(dir.path(), vec![a.clone()], "right-pw"), "u").await;
        assert!(
            err.contains("TLS handshake") && err.contains("ca_file"),
            "{protocol:?}: {err}"
        );
        // ...also on STARTTLS, where no password may be sent before the failure.
        let mut s = account("u", &d, protocol, TlsMode::Starttls);
        s.ca_file = None;
        let err = check_error(config(dir.path(), vec![s], "right-pw"), "u").await;
        assert!(err.contains("TLS handshake"), "{protocol:?}: {err}");
        // skip_certificate accepts it.
        a.skip_certificate = true;
        let ingest = support::config::on_demand(config(dir.path(), vec![a], "right-pw")).await;
        let ok = ingest.check_now("u").await.unwrap();
        assert_eq!(ok.error, None, "{protocol:?} skip_certificate: {ok:?}");
        ingest.shutdown().await.unwrap();

        // The connector's proxy is down.
        let mut cfg = config(
            dir.path(),
            vec![account("u", &d, protocol, TlsMode::Implicit)],
            "right-pw",
        );
        let down = support::free_port();
        cfg.connectors.insert(
            "gone".into(),
            mail_ingest::config::ConnectorConfig {
                name: "gone".into(),
                host: "127.0.0.1".into(),
                port: down,
                credential: None,
                max_connections: std::num::NonZeroUsize::new(1).unwrap(),
            },
        );
        cfg.accounts.get_mut("u").unwrap().connector = Some("gone".into());
        let err = check_error(cfg, "u").await;
        assert!(err.contains("cannot reach connector `gone`"), "{err}");

        // An unknown host.
        let mut a = account("u", &d, protocol, TlsMode::Implicit);
        a.address = "no-such-host.invalid".into();
        let err = check_error(config(dir.path(), vec![a], "right-pw"), "u").await;
        assert!(
            err.contains("cannot connect to no-such-host.invalid"),
            "{err}"
        );

        // A server that accepts the connection and never answers: bounded by connect_timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = account("u", &d, protocol, TlsMode::None);
        a.port = silent.local_addr().unwrap().port();
        a.connect_timeout = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let err = check_error(config(dir.path(), vec![a], "right-pw"), "u").await;
        assert!(err.contains("no answer from the server for 1s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_accounts_do_not_stop_the_others() {
    support::logs();
    let d = Dovecot::start();
    d.add_user("good", "pw");
    d.add_user("bad", "other-pw");
    for i in 0..5 {
        d.deliver("good", &corpus::sample(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut good = account("good", &d, Protocol::Imap, TlsMode::Implicit);
    good.automatic_check = true;
    good.check_interval = Duration::from_millis(300);
    let mut bad = account("bad", &d, Protocol::Pop3, TlsMode::Implicit);
    bad.automatic_check = true;
    let mut silent_account = account("silent", &d, Protocol::Imap, TlsMode::None);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    silent_account.port = silent.local_addr().unwrap().port();
    silent_account.automatic_check = true;
    silent_account.connect_timeout = Duration::from_secs(30);
    let ingest = MailIngest::start(config(dir.path(), vec![good, bad, silent_account], "pw"))
        .await
        .unwrap();
    // The good account stores its mail on its own schedule while the others fail or hang.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let good = ingest.account("good").unwrap().unwrap();
        if good.messages_stored == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "good account stalled: {good:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.deliver("good", &corpus::sample(9));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let good = ingest.account("good").unwrap().unwrap();
    assert_eq!(
        good.messages_stored, 6,
        "later mail arrives by automatic check"
    );
    let bad = ingest.account("bad").unwrap().unwrap();
    assert_eq!(bad.state, AccountRunState::Failing, "{bad:?}");
    assert!(
        bad.last_error
            .as_deref()
            .unwrap_or("")
            .contains("login failed")
    );
    let silent = ingest.account("silent").unwrap().unwrap();
    assert_eq!(
        silent.state,
        AccountRunState::Checking,
        "the silent server keeps its own account busy: {silent:?}"
    );
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_accounts_never_connect() {
    let d = Dovecot::start();
    d.add_user("off", "pw");
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("off", &d, Protocol::Imap, TlsMode::Implicit);
    a.enabled = false;
    a.automatic_check = true;
    let mut cfg = config(dir.path(), vec![a], "pw");
    let mut other = account("other", &d, Protocol::Imap, TlsMode::Implicit);
    other.credential = "off".into();
    cfg.accounts.insert("other".into(), other);
    let ingest = MailIngest::start(cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let off = ingest.account("off").unwrap().unwrap();
    assert_eq!(off.state, AccountRunState::Disabled);
    assert!(matches!(
        ingest.check_now("off").await,
        Err(mail_ingest::IngestError::Disabled(_))
    ));
    assert!(matches!(
        ingest.check_now("nobody").await,
        Err(mail_ingest::IngestError::UnknownAccount(..))
    ));
    ingest.shutdown().await.unwrap();
    assert!(
        !d.log().contains("user=<off>"),
        "a disabled account connected:\n{}",
        d.log()
    );
    let _ = via;
}

/// File and command secrets are read at every connection: rotating the password (on the
/// server and in the file, or in what the command prints) needs neither a restart nor a
/// reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_file_or_command_applies_at_the_next_connection() {
    use mail_ingest::config::Credential;
    use mail_ingest::secret::SecretSource;
    let d = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("rot.pw");
    let sources = [
        ("file", SecretSource::File(secret.clone())),
        (
            "command",
            SecretSource::Command(vec!["cat".into(), secret.display().to_string()]),
        ),
    ];
    for (user, _) in &sources {
        d.add_user(user, "first-pw");
        d.deliver(user, &corpus::sample(0));
    }
    for (user, source) in sources {
        std::fs::write(&secret, "first-pw\n").unwrap();
        let a = account(user, &d, Protocol::Imap, TlsMode::Implicit);
        let mut cfg = config(&dir.path().join(user), vec![a], "unused");
        cfg.credentials.insert(
            user.into(),
            Credential {
                username: user.into(),
                auth: CredentialAuth::Password(source),
            },
        );
        let ingest = support::config::on_demand(cfg).await;
        let first = ingest.check_now(user).await.unwrap();
        assert_eq!(
            (first.stored, first.error.clone()),
            (1, None),
            "{user}: {first:?}"
        );
        d.set_password(user, "second-pw");
        std::fs::write(&secret, "second-pw\n").unwrap();
        d.deliver(user, &corpus::sample(1));
        let second = ingest.check_now(user).await.unwrap();
        assert_eq!(
            (second.stored, second.error.clone()),
            (1, None),
            "{user}: the new password from the {user}: {second:?}"
        );
        ingest.shutdown().await.unwrap();
    }
}

/// `{ credential = "NAME" }` reads systemd's `$CREDENTIALS_DIRECTORY/NAME` (what
/// `LoadCredential=` provides), at every connection; without the variable the error says
/// what to give the unit.
#[test]
fn a_systemd_credential_is_read_from_the_credentials_directory() {
    let d = Dovecot::start();
    d.add_user("sd", "sd-pw");
    d.deliver("sd", &corpus::sample(0));
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("mail-password"), "sd-pw\n").unwrap();
    let config = dir.path().join("mail-ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"store.redb\"\n[credentials.sd]\nusername = \"sd\"\npassword = {{ credential = \"mail-password\" }}\n[accounts.sd]\nprotocol = \"imap\"\naddress = \"localhost\"\nport = {}\ncredential = \"sd\"\nca_file = \"{}\"\n",
            d.ports.imaps,
            support::certs().ca.display()
        ),
    )
    .unwrap();
    let check = |dir: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mail-ingest"));
        cmd.arg("-c").arg(&config).args(["check", "sd"]);
        cmd.env_remove("CREDENTIALS_DIRECTORY");
        if let Some(dir) = dir {
            cmd.env("CREDENTIALS_DIRECTORY", dir);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = check(Some(&creds));
    assert!(ok, "{out}");
    assert!(out.contains("sd: fetched 1, stored 1"), "{out}");
    let (ok, out) = check(None);
    assert!(!ok, "{out}");
    assert!(
        out.contains("CREDENTIALS_DIRECTORY is not set, so systemd credential `mail-password` cannot be read (give the unit LoadCredential=mail-password:/path/to/secret)"),
        "{out}"
    );
}
