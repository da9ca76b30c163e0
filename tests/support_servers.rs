//! The test support itself works: every protocol and TLS mode of the private Dovecot logs in
//! and counts messages, and both SOCKS5 proxies relay to it.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use mail_ingest::config::{Credential, CredentialAuth, Login};
use mail_ingest::config::{Protocol, TlsMode};
use mail_ingest::imap::ImapSession;
use mail_ingest::net::ConnectorHandle;
use mail_ingest::pop3::Pop3Session;
use mail_ingest::protocol::Session;
use mail_ingest::sasl::MailLogin;
use mail_ingest::secret::{Secret, SecretSource};
use support::{Dovecot, Socks, config::account, corpus};

fn login(user: &str, password: &str) -> MailLogin {
    MailLogin::Password(Login {
        username: user.into(),
        password: Secret::new(password),
    })
}

fn line(r: &mut impl BufRead) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s
}

#[test]
fn raw_plain_logins_see_the_seeded_messages() {
    let d = Dovecot::start();
    d.add_user("alice", "pw-alice");
    for i in 0..3 {
        d.deliver("alice", &corpus::sample(i));
    }
    // POP3 by hand.
    let mut s = TcpStream::connect(("127.0.0.1", d.ports.pop3)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert!(line(&mut r).starts_with("+OK"));
    s.write_all(b"USER alice\r\nPASS pw-alice\r\nSTAT\r\nQUIT\r\n")
        .unwrap();
    assert!(line(&mut r).starts_with("+OK"));
    assert!(line(&mut r).starts_with("+OK"), "{}", d.log());
    assert!(line(&mut r).starts_with("+OK 3 "));
    // IMAP by hand.
    let mut s = TcpStream::connect(("127.0.0.1", d.ports.imap)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert!(line(&mut r).starts_with("* OK"));
    s.write_all(b"a LOGIN alice pw-alice\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
        .unwrap();
    let mut all = String::new();
    let _ = r.read_to_string(&mut all);
    assert!(all.contains("* 3 EXISTS"), "{all}");
    assert!(all.contains("a OK"), "{all}");
}

#[tokio::test]
async fn every_protocol_and_tls_mode_logs_in() {
    let d = Dovecot::start();
    d.add_user("bob", "pw-bob");
    for i in 0..4 {
        d.deliver("bob", &corpus::sample(i));
    }
    let pw = login("bob", "pw-bob");
    for tls in [TlsMode::None, TlsMode::Starttls, TlsMode::Implicit] {
        let a = account("bob", &d, Protocol::Imap, tls);
        let s = ImapSession::open(&a, None, &pw, None)
            .await
            .unwrap_or_else(|e| panic!("imap {tls:?}: {e}\n{}", d.log()));
        assert_eq!(s.exists, 4, "imap {tls:?}");
        Box::new(s).finish().await.unwrap();
        let a = account("bob", &d, Protocol::Pop3, tls);
        let mut s = Pop3Session::open(&a, None, &pw, None)
            .await
            .unwrap_or_else(|e| panic!("pop3 {tls:?}: {e}\n{}", d.log()));
        assert_eq!(s.stat().await.unwrap().0, 4, "pop3 {tls:?}");
        Box::new(s).finish().await.unwrap();
    }
}

#[tokio::test]
async fn both_socks_proxies_relay() {
    let d = Dovecot::start();
    d.add_user("carol", "pw-carol");
    d.deliver("carol", &corpus::sample(0));
    let pw = login("carol", "pw-carol");
    let dante = Socks::dante();
    let micro = Socks::microsocks("proxyuser", "proxypass");
    for (socks, name) in [(&dante, "dante"), (&micro, "micro")] {
        let mut cfg = mail_ingest::Config::new("/unused");
        let a = account("carol", &d, Protocol::Imap, TlsMode::Implicit);
        cfg.accounts.insert("carol".into(), a.clone());
        support::config::via(&mut cfg, "carol", name, socks);
        let handle = ConnectorHandle::of(&cfg, &cfg.connectors[name]);
        let s = ImapSession::open(&a, Some(&handle), &pw, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.exists, 1);
        Box::new(s).finish().await.unwrap();
    }
    // Wrong proxy password is a clear proxy error.
    let mut cfg = mail_ingest::Config::new("/unused");
    let a = account("carol", &d, Protocol::Imap, TlsMode::Implicit);
    cfg.accounts.insert("carol".into(), a.clone());
    support::config::via(&mut cfg, "carol", "micro", &micro);
    let wrong = Credential {
        username: "proxyuser".into(),
        auth: CredentialAuth::Password(SecretSource::Value(Secret::new("wrong"))),
    };
    let handle = ConnectorHandle::new(&cfg.connectors["micro"], Some(("wrong".into(), wrong)));
    let err = ImapSession::open(&a, Some(&handle), &pw, None)
        .await
        .err()
        .expect("wrong proxy password must fail");
    assert_eq!(err.stage, mail_ingest::error::Stage::Proxy, "{err}");
    assert!(
        !err.message.contains("wrong"),
        "the password must not appear: {err}"
    );
}

#[test]
fn the_delay_proxy_costs_a_round_trip_per_exchange_and_passes_every_byte() {
    // An echo server behind a proxy of 40 ms each way.
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut &conn, &mut w);
            });
        }
    });
    let one_way = std::time::Duration::from_millis(40);
    let proxy = support::delay::DelayProxy::start(port, one_way);
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let (mut s, payload) = (s.try_clone().unwrap(), payload.clone());
        std::thread::spawn(move || {
            s.write_all(&payload).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    let mut first = [0u8; 1];
    s.read_exact(&mut first).unwrap();
    // Set-up (a round trip) and the first exchange (another).
    assert!(
        started.elapsed() >= 4 * one_way,
        "first byte back after {:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    writer.join().unwrap();
    assert_eq!(first[0], payload[0]);
    assert_eq!(
        &rest[..],
        &payload[1..],
        "every byte, in order, then the end"
    );
}
