//! The pipeline against real servers: IMAP and POP3, each TLS mode, direct and through
//! both SOCKS5 proxies, keeping or deleting the server copy. Every seeded message is stored
//! exactly once with its exact bytes; the server is emptied only when keep_copy = false; a
//! second check stores nothing new.

mod support;

use mail_ingest::config::{Protocol, TlsMode};
use support::config::{account, config, via};
use support::{Dovecot, Socks, corpus};

const SEEDED: usize = 12;

#[derive(Clone, Copy, Debug)]
enum Route {
    Direct,
    Dante,
    Micro,
}

async fn one_case(
    d: &Dovecot,
    proxies: &(Socks, Socks),
    protocol: Protocol,
    tls: TlsMode,
    route: Route,
    keep_copy: bool,
) {
    let user = user_of(protocol, tls, route, keep_copy);
    let seeded: Vec<Vec<u8>> = (0..SEEDED).map(corpus::sample).collect();
    for m in &seeded {
        d.deliver(&user, m);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = account(&user, d, protocol, tls);
    a.keep_copy = keep_copy;
    let mut cfg = config(dir.path(), vec![a], "secret-pw");
    match route {
        Route::Direct => {}
        Route::Dante => via(&mut cfg, &user, "dante", &proxies.0),
        Route::Micro => via(&mut cfg, &user, "micro", &proxies.1),
    }
    let case = format!("{protocol:?} {tls:?} {route:?} keep_copy={keep_copy}");
    let ingest = support::config::on_demand(cfg).await;
    let first = ingest.check_now(&user).await.unwrap();
    assert_eq!(first.error, None, "{case}: {first:?}\n{}", d.log());
    assert_eq!(
        (first.fetched, first.stored),
        (SEEDED as u64, SEEDED as u64),
        "{case}: {first:?}"
    );
    assert_eq!(
        first.deleted,
        if keep_copy { 0 } else { SEEDED as u64 },
        "{case}"
    );

    let stored = ingest.messages(&user, Some(100), None).unwrap();
    assert_eq!(stored.len(), SEEDED, "{case}: stored exactly once each");
    let mut raws: Vec<Vec<u8>> = stored
        .iter()
        .map(|m| ingest.raw(m.id).unwrap().unwrap())
        .collect();
    raws.sort();
    let mut expected = seeded.clone();
    expected.sort();
    assert!(
        raws == expected,
        "{case}: stored bytes differ from the seeded bytes"
    );
    assert_eq!(
        stored.iter().filter(|m| !m.parsed).count(),
        SEEDED / 6,
        "{case}: the header-less samples are marked unparsed"
    );

    let remaining = d.remaining(&user);
    if keep_copy {
        assert_eq!(remaining, expected, "{case}: the server keeps its copies");
    } else {
        assert!(
            remaining.is_empty(),
            "{case}: the server mailbox is emptied"
        );
    }

    let second = ingest.check_now(&user).await.unwrap();
    assert_eq!(
        (
            second.error.as_deref(),
            second.fetched,
            second.stored,
            second.deleted
        ),
        (None, 0, 0, 0),
        "{case}: {second:?}"
    );
    let report = ingest.account(&user).unwrap().unwrap();
    assert_eq!(report.messages_stored, SEEDED as u64, "{case}");
    assert_eq!(report.pending_deletes, 0, "{case}");
    assert!(
        report.last_success.is_some() && report.last_error.is_none(),
        "{case}"
    );
    ingest.shutdown().await.unwrap();
}

fn user_of(protocol: Protocol, tls: TlsMode, route: Route, keep_copy: bool) -> String {
    format!("{}-{:?}-{route:?}-{keep_copy}", protocol.as_str(), tls).to_lowercase()
}

async fn matrix(protocol: Protocol) {
    let d = Dovecot::start();
    let proxies = (Socks::dante(), Socks::microsocks("proxy-user", "proxy-pw"));
    for tls in [TlsMode::None, TlsMode::Starttls, TlsMode::Implicit] {
        for route in [Route::Direct, Route::Dante, Route::Micro] {
            for keep_copy in [true, false] {
                d.add_user(&user_of(protocol, tls, route, keep_copy), "secret-pw");
            }
        }
    }
    for tls in [TlsMode::None, TlsMode::Starttls, TlsMode::Implicit] {
        for route in [Route::Direct, Route::Dante, Route::Micro] {
            for keep_copy in [true, false] {
                one_case(&d, &proxies, protocol, tls, route, keep_copy).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_every_tls_mode_route_and_keep_copy() {
    matrix(Protocol::Imap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_every_tls_mode_route_and_keep_copy() {
    matrix(Protocol::Pop3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_between_checks_is_fetched_once() {
    let d = Dovecot::start();
    d.add_user("inc", "pw");
    d.deliver("inc", &corpus::sample(0));
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("inc", &d, Protocol::Imap, TlsMode::Implicit);
    a.keep_copy = true;
    let ingest = support::config::on_demand(config(dir.path(), vec![a], "pw")).await;
    assert_eq!(ingest.check_now("inc").await.unwrap().stored, 1);
    d.deliver("inc", &corpus::sample(1));
    d.deliver("inc", &corpus::sample(2));
    let s = ingest.check_now("inc").await.unwrap();
    assert_eq!((s.fetched, s.stored, s.skipped), (2, 2, 1), "{s:?}");
    let ids: Vec<u64> = ingest
        .messages("inc", None, None)
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [3, 2, 1], "newest first, ids in store order");
    ingest.shutdown().await.unwrap();
}
