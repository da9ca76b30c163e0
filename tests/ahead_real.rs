//! Asking ahead of the listing, against a real Dovecot: a session asks for the messages from
//! where the last one expected new mail before its listing has answered. That is a guess:
//! these tests make it wrong (nothing new, fewer messages than asked for, a message removed
//! by another client so POP3 numbers shift) and check that each message is still stored
//! exactly once, nothing held is stored again, and a deleting account empties the server.

mod support;

use mail_ingest::config::{Protocol, TlsMode};
use support::config::{account, config};
use support::{Dovecot, corpus};

/// Removes the message with these bytes from the maildir, as another client would.
fn remove_on_server(d: &Dovecot, user: &str, raw: &[u8]) {
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(d.maildir(user).join(sub)).unwrap() {
            let path = e.unwrap().path();
            if std::fs::read(&path).is_ok_and(|b| b == raw) {
                std::fs::remove_file(path).unwrap();
                return;
            }
        }
    }
    panic!("message not found on the server");
}

async fn a_wrong_guess_stores_each_message_once(protocol: Protocol) {
    let d = Dovecot::start();
    d.add_user("keep", "pw");
    let samples: Vec<Vec<u8>> = (0..6).map(corpus::sample).collect();
    for m in &samples[..3] {
        d.deliver("keep", m);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = account("keep", &d, protocol, TlsMode::Implicit);
    a.keep_copy = true;
    let ingest = support::config::on_demand(config(dir.path(), vec![a], "pw")).await;
    let first = ingest.check_now("keep").await.unwrap();
    assert_eq!(
        (first.error.as_deref(), first.stored),
        (None, 3),
        "{protocol:?} {first:?}"
    );

    // Two new: asked ahead from the fourth on, far beyond what the server holds.
    d.deliver("keep", &samples[3]);
    d.deliver("keep", &samples[4]);
    let second = ingest.check_now("keep").await.unwrap();
    assert_eq!(second.error, None, "{protocol:?} {second:?}\n{}", d.log());
    assert_eq!(
        (second.fetched, second.stored, second.skipped),
        (2, 2, 3),
        "{protocol:?} {second:?}"
    );
    // Nothing new: everything asked ahead is beyond the mailbox.
    let third = ingest.check_now("keep").await.unwrap();
    assert_eq!(
        (third.error.as_deref(), third.fetched, third.stored),
        (None, 0, 0),
        "{protocol:?} {third:?}"
    );
    // Another client removes the first message: POP3 numbers shift down by one, so what is
    // asked ahead starts on a held message.
    remove_on_server(&d, "keep", &samples[0]);
    d.deliver("keep", &samples[5]);
    let fourth = ingest.check_now("keep").await.unwrap();
    assert_eq!(fourth.error, None, "{protocol:?} {fourth:?}");
    assert_eq!(
        fourth.stored, 1,
        "{protocol:?} only the new one: {fourth:?}"
    );
    let stored = ingest.messages("keep", Some(100), None).unwrap();
    assert_eq!(stored.len(), 6, "{protocol:?}: each message stored once");
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_asks_ahead_and_a_wrong_guess_stores_each_message_once() {
    a_wrong_guess_stores_each_message_once(Protocol::Imap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_asks_ahead_and_a_wrong_guess_stores_each_message_once() {
    a_wrong_guess_stores_each_message_once(Protocol::Pop3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_accounts_ask_ahead_and_empty_the_server() {
    let d = Dovecot::start();
    // Both users before either logs in: the password file is read again when its time
    // stamp changes, to the second.
    for user in ["delimap", "delpop3"] {
        d.add_user(user, "pw");
    }
    for protocol in [Protocol::Imap, Protocol::Pop3] {
        let user = format!("del{protocol:?}").to_lowercase();
        for i in 0..3 {
            d.deliver(&user, &corpus::sample(i));
        }
        let dir = tempfile::tempdir().unwrap();
        let mut a = account(&user, &d, protocol, TlsMode::Implicit);
        a.keep_copy = false;
        let ingest = support::config::on_demand(config(dir.path(), vec![a], "pw")).await;
        let first = ingest.check_now(&user).await.unwrap();
        assert_eq!(
            (first.error.as_deref(), first.stored, first.deleted),
            (None, 3, 3),
            "{protocol:?} {first:?}"
        );
        for i in 3..5 {
            d.deliver(&user, &corpus::sample(i));
        }
        let second = ingest.check_now(&user).await.unwrap();
        assert_eq!(
            (second.error.as_deref(), second.stored, second.deleted),
            (None, 2, 2),
            "{protocol:?} {second:?}"
        );
        assert!(
            d.remaining(&user).is_empty(),
            "{protocol:?}: server emptied"
        );
        ingest.shutdown().await.unwrap();
    }
}
