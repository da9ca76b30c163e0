//! OAuth2 logins against a real Dovecot whose oauth2 passdb asks an introspection endpoint
//! of the tests' own identity provider (`support::oauth`), which also serves the token
//! endpoint: both grants, both SASL mechanisms, IMAP and POP3 over implicit TLS and
//! STARTTLS; token reuse, expiry, revocation, `invalid_grant`, endpoint failures, rotated
//! refresh tokens across a restart, the endpoint over HTTPS and through a connector.

mod support;

use std::path::Path;
use std::time::Duration;

use mail_ingest::Config;
use mail_ingest::config::{
    AccountConfig, Grant, Mechanism, OAuth2Config, Protocol, TlsMode, TokenEndpoint, TokenUrl,
};
use mail_ingest::secret::{Secret, SecretSource};
use support::config::{account, on_demand, via};
use support::oauth::{CLIENT_ID, CLIENT_SECRET, IdentityProvider, SEED};
use support::{Dovecot, Socks, corpus};

const USER: &str = "alice";

fn endpoint(idp: &IdentityProvider) -> TokenEndpoint {
    TokenEndpoint {
        url: TokenUrl::parse(&idp.token_url()).unwrap(),
        client_id: CLIENT_ID.into(),
        scope: Some("https://outlook.office365.com/.default".into()),
        connector: None,
        ca_file: idp.https.then(|| support::certs().ca.clone()),
    }
}

fn client_credentials(idp: &IdentityProvider, mechanism: Mechanism) -> OAuth2Config {
    OAuth2Config {
        grant: Grant::ClientCredentials {
            endpoint: endpoint(idp),
            client_secret: SecretSource::Value(Secret::new(CLIENT_SECRET)),
        },
        mechanism,
    }
}

fn refresh_grant(idp: &IdentityProvider, seed: SecretSource) -> OAuth2Config {
    OAuth2Config {
        grant: Grant::RefreshToken {
            endpoint: endpoint(idp),
            client_secret: None,
            refresh_token: seed,
        },
        mechanism: Mechanism::Xoauth2,
    }
}

/// A config storing in `dir` whose accounts all log in as `alice` with credential `oauth`.
fn config(dir: &Path, oauth2: OAuth2Config, accounts: Vec<AccountConfig>) -> Config {
    let mut c = Config::new(dir.join("store.redb"));
    c = c.with_oauth2_credential("oauth", USER, oauth2);
    for mut a in accounts {
        a.credential = "oauth".into();
        c = c.with_account(a);
    }
    c
}

fn mailbox(n: usize) -> (Dovecot, IdentityProvider) {
    let idp = IdentityProvider::start(USER, 3600);
    let d = Dovecot::start_oauth2(&idp.introspection_url(), "");
    d.add_user(USER, "not-used-password");
    for i in 0..n {
        d.deliver(USER, &corpus::sample(i));
    }
    (d, idp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_grants_and_both_mechanisms_log_in_to_imap_and_pop3_over_both_tls_modes() {
    let (d, idp) = mailbox(3);
    let mut n = 0;
    for mechanism in [Mechanism::Xoauth2, Mechanism::OAuthBearer] {
        for grant in ["client_credentials", "refresh_token"] {
            let mut oauth2 = match grant {
                "client_credentials" => client_credentials(&idp, mechanism),
                _ => refresh_grant(&idp, SecretSource::Value(Secret::new(SEED))),
            };
            oauth2.mechanism = mechanism;
            let dir = tempfile::tempdir().unwrap();
            let mut accounts = Vec::new();
            for protocol in [Protocol::Imap, Protocol::Pop3] {
                for tls in [TlsMode::Implicit, TlsMode::Starttls] {
                    let name = format!("{protocol:?}-{tls:?}").to_lowercase();
                    let mut a = account(&name, &d, protocol, tls);
                    a.name = name;
                    accounts.push(a);
                }
            }
            let names: Vec<String> = accounts.iter().map(|a| a.name.clone()).collect();
            let ingest = on_demand(config(dir.path(), oauth2, accounts)).await;
            let before = idp.token_requests();
            for name in &names {
                let s = ingest.check_now(name).await.unwrap();
                let case = format!("{mechanism:?} {grant} {name}");
                assert_eq!(s.error, None, "{case}: {s:?}\n{}", d.log());
                assert_eq!(s.stored, 3, "{case}: {s:?}");
                n += 1;
            }
            assert_eq!(
                idp.token_requests() - before,
                1,
                "{mechanism:?} {grant}: four accounts of one credential share one token"
            );
            ingest.shutdown().await.unwrap();
        }
    }
    assert_eq!(n, 16);
    assert!(
        idp.with(|s| s.introspections) >= 16,
        "Dovecot asked the provider about every login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_reused_until_it_expires_then_refreshed_exactly_once() {
    let (d, idp) = mailbox(2);
    idp.with(|s| s.expires_in = 3);
    let dir = tempfile::tempdir().unwrap();
    let accounts = vec![
        account("one", &d, Protocol::Imap, TlsMode::Implicit),
        account("two", &d, Protocol::Pop3, TlsMode::Implicit),
    ];
    let ingest = on_demand(config(
        dir.path(),
        client_credentials(&idp, Mechanism::Xoauth2),
        accounts,
    ))
    .await;
    for name in ["one", "two", "one"] {
        let s = ingest.check_now(name).await.unwrap();
        assert_eq!(s.error, None, "{name}: {s:?}");
    }
    assert_eq!(idp.token_requests(), 1, "three connections, one token");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (a, b) = tokio::join!(ingest.check_now("one"), ingest.check_now("two"));
    assert_eq!(a.unwrap().error, None);
    assert_eq!(b.unwrap().error, None);
    assert_eq!(
        idp.token_requests(),
        2,
        "two accounts at once after expiry: exactly one refresh"
    );
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_gives_one_refresh_and_a_successful_retry() {
    let (d, idp) = mailbox(1);
    let dir = tempfile::tempdir().unwrap();
    let ingest = on_demand(config(
        dir.path(),
        client_credentials(&idp, Mechanism::OAuthBearer),
        vec![account("acct", &d, Protocol::Imap, TlsMode::Starttls)],
    ))
    .await;
    assert_eq!(ingest.check_now("acct").await.unwrap().error, None);
    idp.revoke_access_tokens();
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(s.error, None, "refused once, refreshed, logged in: {s:?}");
    assert_eq!(idp.token_requests(), 2, "exactly one forced refresh");
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_stops_asking_shows_and_a_new_seed_takes_over() {
    let (d, idp) = mailbox(1);
    let dir = tempfile::tempdir().unwrap();
    let seed_file = dir.path().join("seed");
    std::fs::write(&seed_file, format!("{SEED}\n")).unwrap();
    let ingest = on_demand(config(
        dir.path(),
        refresh_grant(&idp, SecretSource::File(seed_file.clone())),
        vec![account("acct", &d, Protocol::Pop3, TlsMode::Implicit)],
    ))
    .await;
    idp.revoke_refresh_tokens();
    let s = ingest.check_now("acct").await.unwrap();
    let error = s.error.unwrap();
    assert!(
        error.contains("credentials.oauth needs new consent"),
        "{error}"
    );
    assert!(error.contains("invalid_grant"), "{error}");
    assert_eq!(idp.token_requests(), 1);
    for _ in 0..3 {
        let again = ingest.check_now("acct").await.unwrap();
        assert!(again.error.unwrap().contains("needs new consent"));
    }
    assert_eq!(idp.token_requests(), 1, "no retry loop at the endpoint");
    let report = ingest.account("acct").unwrap().unwrap();
    assert!(report.needs_consent, "{report:?}");
    // The operator puts a new refresh token in the seed file: it takes over.
    idp.with(|s| s.refresh_tokens.insert("rt-CANARY-new-consent".into()));
    std::fs::write(&seed_file, "rt-CANARY-new-consent\n").unwrap();
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(s.error, None, "{s:?}");
    assert_eq!(s.stored, 1);
    assert!(!ingest.account("acct").unwrap().unwrap().needs_consent);
    assert_eq!(idp.token_requests(), 2);
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_refresh_token_survives_a_restart() {
    let (d, idp) = mailbox(1);
    idp.with(|s| s.rotate = true);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        refresh_grant(&idp, SecretSource::Value(Secret::new(SEED))),
        vec![account("acct", &d, Protocol::Imap, TlsMode::Implicit)],
    );
    let ingest = on_demand(cfg.clone()).await;
    assert_eq!(ingest.check_now("acct").await.unwrap().error, None);
    ingest.shutdown().await.unwrap();
    assert!(
        !idp.with(|s| s.refresh_tokens.contains(SEED)),
        "the provider revoked the seed when it rotated it"
    );
    d.deliver(USER, &corpus::sample(7));
    let ingest = on_demand(cfg).await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        s.error, None,
        "the kept refresh token logs in after the restart: {s:?}"
    );
    assert_eq!(s.stored, 1);
    let sent = idp.with(|s| s.requests.clone());
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].1.as_deref(), Some(SEED));
    assert_eq!(
        sent[1].1.as_deref(),
        Some("rt-CANARY-rotated-1"),
        "the second refresh sent the rotated token, not the seed"
    );
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_failures_back_off_and_name_what_the_endpoint_said() {
    let (d, idp) = mailbox(1);
    idp.with(|s| {
        s.scripted.push_back((503, r#"{"message":"busy"}"#.into()));
    });
    let dir = tempfile::tempdir().unwrap();
    let ingest = on_demand(config(
        dir.path(),
        client_credentials(&idp, Mechanism::Xoauth2),
        vec![account("acct", &d, Protocol::Imap, TlsMode::Implicit)],
    ))
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    let error = s.error.unwrap();
    assert!(error.contains("HTTP 503"), "{error}");
    let again = ingest.check_now("acct").await.unwrap().error.unwrap();
    assert!(again.contains("asked again in"), "{again}");
    assert_eq!(
        idp.token_requests(),
        1,
        "the backoff holds the next request"
    );
    let report = ingest.account("acct").unwrap().unwrap();
    assert!(!report.needs_consent, "a 503 is not a consent problem");
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_over_https_through_a_connector() {
    let idp_plain = IdentityProvider::start(USER, 3600);
    let idp = IdentityProvider::start_https(USER, 3600);
    // Dovecot asks the plain provider; tokens the HTTPS one issues are made known to it.
    let d = Dovecot::start_oauth2(&idp_plain.introspection_url(), "");
    d.add_user(USER, "unused");
    d.deliver(USER, &corpus::sample(0));
    let proxy = Socks::microsocks("proxyuser", "proxypass");
    let dir = tempfile::tempdir().unwrap();
    let mut oauth2 = client_credentials(&idp, Mechanism::Xoauth2);
    if let Grant::ClientCredentials { endpoint, .. } = &mut oauth2.grant {
        endpoint.connector = Some("micro".into());
    }
    let mut cfg = config(
        dir.path(),
        oauth2,
        vec![account("acct", &d, Protocol::Imap, TlsMode::Implicit)],
    );
    via(&mut cfg, "acct", "micro", &proxy);
    cfg.accounts.get_mut("acct").unwrap().connector = None;
    let ingest = on_demand(cfg).await;
    // Not yet known to Dovecot's provider: refused twice, after one forced refresh.
    let s = ingest.check_now("acct").await.unwrap();
    assert!(
        s.error
            .unwrap()
            .contains("also with a newly requested token")
    );
    assert_eq!(idp.token_requests(), 2, "one token, one forced refresh");
    let issued: Vec<(String, std::time::Instant)> =
        idp.with(|s| s.access.iter().map(|(k, v)| (k.clone(), *v)).collect());
    idp_plain.with(|s| s.access.extend(issued));
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(s.error, None, "{s:?}");
    assert_eq!(s.stored, 1);
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_a_command_logs_in() {
    let (d, idp) = mailbox(1);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, idp.issue()).unwrap();
    let oauth2 = OAuth2Config {
        grant: Grant::Command(SecretSource::Command(vec![
            "cat".into(),
            token_file.display().to_string(),
        ])),
        mechanism: Mechanism::OAuthBearer,
    };
    let ingest = on_demand(config(
        dir.path(),
        oauth2,
        vec![account("acct", &d, Protocol::Pop3, TlsMode::Starttls)],
    ))
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(s.error, None, "{s:?}");
    assert_eq!(s.stored, 1);
    assert_eq!(
        idp.token_requests(),
        0,
        "the command, not mail-ingest, got the token"
    );
    ingest.shutdown().await.unwrap();
}

/// Microsoft ends a session whose token expired with `* BYE ... AccessTokenExpired`: the
/// check logs in again with a fresh token and goes on; every message is stored once, and
/// only stored ones are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_for_an_expired_token_goes_on_with_a_fresh_one() {
    use support::fake::{FakeServer, Kind, Quirks};
    let idp = IdentityProvider::start(USER, 3600);
    let fake = FakeServer::start(Kind::Imap, (0..6).map(corpus::sample).collect()).await;
    fake.set_quirks(Quirks {
        bye_after_bodies: Some((2, "Session invalidated - AccessTokenExpired".into())),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut a = AccountConfig::new("acct", Protocol::Imap, "127.0.0.1", "oauth");
    a.port = fake.port;
    a.tls = TlsMode::None;
    a.keep_copy = false;
    a.automatic_check = false;
    a.idle = false;
    let ingest = on_demand(config(
        dir.path(),
        client_credentials(&idp, Mechanism::Xoauth2),
        vec![a],
    ))
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(s.error, None, "{s:?}");
    assert_eq!((s.stored, s.deleted), (6, 6), "{s:?}");
    assert_eq!(fake.live_messages(), 0);
    let tokens = fake.state.lock().unwrap().tokens.clone();
    assert_eq!(tokens.len(), 2, "logged in again after the BYE");
    assert_ne!(tokens[0], tokens[1], "with a fresh token");
    assert_eq!(idp.token_requests(), 2);
    assert_eq!(ingest.messages("acct", Some(100), None).unwrap().len(), 6);
    ingest.shutdown().await.unwrap();
}

/// mpop, the reference POP3 client, logs in to the same Dovecot with the same tokens and
/// both mechanisms, and gets what mail-ingest gets: the test set-up is a real OAuth2 one,
/// and mail-ingest speaks it as a well-known client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpop_logs_in_with_the_same_tokens_and_gets_the_same_mail() {
    let mpop = support::require("mpop");
    let (d, idp) = mailbox(4);
    for mechanism in [Mechanism::Xoauth2, Mechanism::OAuthBearer] {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, idp.issue()).unwrap();
        let mbox = dir.path().join("mbox");
        let conf = dir.path().join("mpoprc");
        std::fs::write(
            &conf,
            format!(
                "account default\nhost localhost\nport {}\ntls on\ntls_starttls off\ntls_trust_file {}\nuser {USER}\nauth {}\npasswordeval cat {}\nkeep on\ndelivery mbox {}\nuidls_file {}\n",
                d.ports.pop3s,
                support::certs().ca.display(),
                mechanism.as_str(),
                token_file.display(),
                mbox.display(),
                dir.path().join("uidls").display(),
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = std::process::Command::new(&mpop)
            .arg("-C")
            .arg(&conf)
            .arg("--quiet")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mpop {mechanism:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        let fetched = std::fs::read_to_string(&mbox).unwrap();
        let by_mpop = fetched.lines().filter(|l| l.starts_with("From ")).count();
        assert_eq!(by_mpop, 4, "mpop {mechanism:?} got every message");

        let oauth2 = OAuth2Config {
            grant: Grant::Command(SecretSource::Command(vec![
                "cat".into(),
                token_file.display().to_string(),
            ])),
            mechanism,
        };
        let ingest = on_demand(config(
            dir.path(),
            oauth2,
            vec![account("acct", &d, Protocol::Pop3, TlsMode::Implicit)],
        ))
        .await;
        let s = ingest.check_now("acct").await.unwrap();
        assert_eq!(s.error, None, "{mechanism:?}: {s:?}");
        assert_eq!(
            s.stored as usize, by_mpop,
            "{mechanism:?}: the same mail as mpop"
        );
        ingest.shutdown().await.unwrap();
    }
}
