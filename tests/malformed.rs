//! What a real server will not do, from scripted fake servers: malformed and truncated
//! answers (over a thousand of them), UIDVALIDITY change, UID reuse, no UIDPLUS, no UIDL,
//! duplicate UIDLs, `[IN-USE]`, STARTTLS refused or followed by injected bytes, a greeting
//! that never comes, a server that stalls mid-message, a huge announced literal. Each gives
//! a clear error or the correct behaviour, with bounded memory, no panic, and no other
//! account affected.

mod support;

use std::time::{Duration, Instant};

use mail_ingest::MailIngest;
use mail_ingest::config::{AccountConfig, Protocol, TlsMode};
use support::corpus;
use support::fake::{FakeServer, Kind, Quirks};

fn fake_account(name: &str, kind: Kind, port: u16, keep_copy: bool) -> AccountConfig {
    let protocol = if kind == Kind::Imap {
        Protocol::Imap
    } else {
        Protocol::Pop3
    };
    let mut a = AccountConfig::new(name, protocol, "127.0.0.1", name);
    a.port = port;
    a.tls = TlsMode::None;
    a.keep_copy = keep_copy;
    a.automatic_check = false;
    a.connect_timeout = Duration::from_millis(800);
    a.io_timeout = Duration::from_millis(800);
    a
}

/// A fake server with `n` sample messages that misbehaves as `quirks`, and mail-ingest with
/// one on-demand account, `acct`, on it.
async fn one_fake_account(
    kind: Kind,
    n: usize,
    quirks: Quirks,
    keep_copy: bool,
) -> (FakeServer, tempfile::TempDir, MailIngest) {
    let fake = FakeServer::start(kind, samples(n)).await;
    fake.set_quirks(quirks);
    let dir = tempfile::tempdir().unwrap();
    let ingest = start(
        dir.path(),
        vec![fake_account("acct", kind, fake.port, keep_copy)],
    )
    .await;
    (fake, dir, ingest)
}

async fn start(dir: &std::path::Path, accounts: Vec<AccountConfig>) -> MailIngest {
    support::config::on_demand(support::config::config(dir, accounts, "pw")).await
}

fn samples(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| [format!("X-Fake: {i}\r\n").into_bytes(), corpus::sample(i)].concat())
        .collect()
}

fn stored(ingest: &MailIngest, account: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = ingest
        .messages(account, Some(10_000), None)
        .unwrap()
        .iter()
        .map(|m| ingest.raw(m.id).unwrap().unwrap())
        .collect();
    v.sort();
    v
}

async fn error_of(kind: Kind, keep_copy: bool, quirks: Quirks, tls: TlsMode) -> String {
    let fake = FakeServer::start(kind, samples(3)).await;
    fake.set_quirks(quirks);
    let dir = tempfile::tempdir().unwrap();
    let mut a = fake_account("acct", kind, fake.port, keep_copy);
    a.tls = tls;
    let ingest = start(dir.path(), vec![a]).await;
    let s = ingest.check_now("acct").await.unwrap();
    ingest.shutdown().await.unwrap();
    let e = s
        .error
        .clone()
        .unwrap_or_else(|| panic!("expected an error, got {s:?}"));
    support::assert_reads_as_words(&e, &format!("{kind:?}"));
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_misbehaviours_give_clear_errors() {
    let e = error_of(
        Kind::Pop3,
        true,
        Quirks {
            no_uidl: true,
            ..Default::default()
        },
        TlsMode::None,
    )
    .await;
    assert!(
        e.contains("does not support UIDL") && e.contains("keep_copy = false"),
        "{e}"
    );
    let e = error_of(
        Kind::Pop3,
        true,
        Quirks {
            pass_error: Some("[IN-USE] mailbox locked".into()),
            ..Default::default()
        },
        TlsMode::None,
    )
    .await;
    assert!(
        e.contains("[IN-USE]") && e.contains("locked by another POP3 session"),
        "{e}"
    );
    let e = error_of(
        Kind::Pop3,
        true,
        Quirks {
            pass_error: Some("[SYS/TEMP] try later".into()),
            ..Default::default()
        },
        TlsMode::None,
    )
    .await;
    assert!(e.contains("temporary server problem"), "{e}");
    for kind in [Kind::Imap, Kind::Pop3] {
        let e = error_of(
            kind,
            true,
            Quirks {
                starttls_refused: true,
                ..Default::default()
            },
            TlsMode::Starttls,
        )
        .await;
        assert!(
            e.contains("refused STARTTLS") || e.contains("refused STLS"),
            "{kind:?}: {e}"
        );
        let e = error_of(
            kind,
            true,
            Quirks {
                starttls_inject: Some(b"* OK injected\r\n".to_vec()),
                ..Default::default()
            },
            TlsMode::Starttls,
        )
        .await;
        assert!(e.contains("injection"), "{kind:?}: {e}");
        let started = Instant::now();
        let e = error_of(
            kind,
            true,
            Quirks {
                no_greeting: true,
                ..Default::default()
            },
            TlsMode::None,
        )
        .await;
        assert!(
            e.contains("no answer from the server for 800ms"),
            "{kind:?}: {e}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_uidls_are_refused() {
    let (fake, _dir, ingest) = one_fake_account(Kind::Pop3, 3, Quirks::default(), false).await;
    fake.state.lock().unwrap().messages[2].uidl = "uidl-1".into();
    let s = ingest.check_now("acct").await.unwrap();
    assert!(
        s.error
            .as_deref()
            .unwrap_or("")
            .contains("listed UIDL `uidl-1` twice"),
        "{s:?}"
    );
    assert_eq!(fake.live_messages(), 3, "nothing deleted");
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_without_uidl_works_when_deleting() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Pop3,
        4,
        Quirks {
            no_uidl: true,
            ..Default::default()
        },
        false,
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (s.error.as_deref(), s.stored, s.deleted),
        (None, 4, 4),
        "{s:?}"
    );
    assert_eq!(fake.live_messages(), 0);
    assert_eq!(
        stored(&ingest, "acct"),
        samples(4)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    ingest.shutdown().await.unwrap();
}

/// Keeping copies, QUIT's answer tells nothing: the check says QUIT and ends without it.
/// Deleting, the answer is what makes the deletes final, so the check waits for it and,
/// when it never comes, records nothing as deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_waits_for_quit_only_when_it_deleted() {
    let silent = Quirks {
        silent_quit: true,
        ..Default::default()
    };
    let (fake, _dir, ingest) = one_fake_account(Kind::Pop3, 3, silent.clone(), true).await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.error.as_deref(), s.stored), (None, 3), "{s:?}");
    ingest.shutdown().await.unwrap();
    // The QUIT was sent before the connection closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fake.commands().iter().any(|c| c == "QUIT") {
        assert!(Instant::now() < deadline, "no QUIT: {:?}", fake.commands());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (fake, _dir, ingest) = one_fake_account(Kind::Pop3, 3, silent, false).await;
    let s = ingest.check_now("acct").await.unwrap();
    let error = s.error.clone().unwrap_or_default();
    assert!(error.contains("QUIT failed"), "{s:?}");
    assert_eq!((s.stored, s.deleted), (3, 0), "{s:?}");
    assert_eq!(
        ingest.accounts().unwrap()[0].pending_deletes,
        3,
        "the deletes stay owed"
    );
    drop(fake);
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_change_imports_nothing_twice_and_uid_reuse_is_new_mail() {
    let (fake, _dir, ingest) = one_fake_account(Kind::Imap, 3, Quirks::default(), true).await;
    assert_eq!(ingest.check_now("acct").await.unwrap().stored, 3);
    {
        let mut st = fake.state.lock().unwrap();
        st.uidvalidity = 2;
        for m in st.messages.iter_mut() {
            m.uid += 100;
        }
    }
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (s.error.as_deref(), s.fetched, s.stored, s.skipped),
        (None, 3, 0, 3),
        "{s:?}"
    );
    assert_eq!(ingest.account("acct").unwrap().unwrap().messages_stored, 3);
    // The same UID now holds other bytes (a server that reused it): that is new mail.
    fake.state.lock().unwrap().messages[0].bytes =
        b"Subject: reused\r\n\r\nother content, other size\r\n".to_vec();
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.error.as_deref(), s.stored), (None, 1), "{s:?}");
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_uidplus_nothing_is_expunged() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Imap,
        3,
        Quirks {
            no_uidplus: true,
            ..Default::default()
        },
        false,
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (s.error.as_deref(), s.stored, s.deleted),
        (None, 3, 0),
        "{s:?}"
    );
    let commands = fake.commands();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("UID STORE") && c.contains("\\Deleted")),
        "{commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| c.to_ascii_uppercase().contains("EXPUNGE")),
        "an EXPUNGE would remove other clients' deleted mail: {commands:?}"
    );
    assert_eq!(
        ingest.account("acct").unwrap().unwrap().pending_deletes,
        3,
        "the deletes stay owed and visible"
    );
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_or_huge_literal_harms_only_its_own_account() {
    for kind in [Kind::Imap, Kind::Pop3] {
        let stalled = FakeServer::start(kind, samples(3)).await;
        stalled.set_quirks(Quirks {
            stall_in_body: true,
            ..Default::default()
        });
        let huge = FakeServer::start(Kind::Imap, samples(2)).await;
        huge.set_quirks(Quirks {
            huge_literal: Some(256 << 20),
            ..Default::default()
        });
        let healthy = FakeServer::start(kind, samples(5)).await;
        let dir = tempfile::tempdir().unwrap();
        let ingest = start(
            dir.path(),
            vec![
                fake_account("stalled", kind, stalled.port, false),
                fake_account("huge", Kind::Imap, huge.port, false),
                fake_account("healthy", kind, healthy.port, false),
            ],
        )
        .await;
        let rss_before = rss_kib();
        let started = Instant::now();
        let (a, b, c) = tokio::join!(
            ingest.check_now("stalled"),
            ingest.check_now("huge"),
            ingest.check_now("healthy")
        );
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        assert_eq!(
            (c.error.as_deref(), c.stored, c.deleted),
            (None, 5, 5),
            "{kind:?} healthy: {c:?}"
        );
        assert!(
            a.error
                .as_deref()
                .unwrap_or("")
                .contains("no answer from the server"),
            "{kind:?} stalled: {a:?}"
        );
        assert!(
            b.error.as_deref().unwrap_or("").contains("more than the"),
            "huge literal: {b:?}"
        );
        assert_eq!(
            stalled.live_messages(),
            3,
            "nothing deleted on the stalled server"
        );
        assert_eq!(
            huge.live_messages(),
            2,
            "nothing deleted on the lying server"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let grown = rss_kib().saturating_sub(rss_before);
        assert!(
            grown < 64 * 1024,
            "memory grew by {grown} KiB for a 256 MiB literal"
        );
        ingest.shutdown().await.unwrap();
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Ways to spoil one answer.
fn mutations(original: &[u8], rng: &mut fastrand::Rng) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(original).into_owned();
    let replace_numbers = |with: &str| {
        let mut out = String::new();
        let mut in_num = false;
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                if !in_num {
                    out.push_str(with);
                }
                in_num = true;
            } else {
                in_num = false;
                out.push(ch);
            }
        }
        out.into_bytes()
    };
    let mut garbage = vec![0u8; rng.usize(1..200)];
    rng.fill(&mut garbage);
    vec![
        b"-ERR boom\r\n".to_vec(),
        b"+OK\r\n".to_vec(),
        garbage,
        text.replace("\r\n", "\n").into_bytes(),
        text.to_lowercase().into_bytes(),
        text.replace(' ', "\0 ").into_bytes(),
        vec![b'x'; 10_000],
        replace_numbers("99999999999999999999"),
        replace_numbers("-1"),
        replace_numbers("0"),
        [original, original].concat(),
        b"* BYE shutting down\r\n".to_vec(),
        b"+ go ahead\r\n".to_vec(),
        text.replacen(' ', "X ", 1).into_bytes(),
        b"\xff\xfe\xfd\r\n".to_vec(),
        "1 1\r\n".repeat(2000).into_bytes(),
        text.replace('{', "{1").into_bytes(),
        b"\r\n\r\n\r\n".to_vec(),
        b"* 1 FETCH (UID 1 RFC822.SIZE 5 BODY[] {5}\r\nab".to_vec(),
        b"+OK 3 octets\r\n.\r\n".to_vec(),
    ]
}

/// One spoilt session: no panic, a bounded time, and nothing deleted on the server that the
/// store does not hold.
async fn spoil_one(kind: Kind, answer: usize, quirks: Quirks, originals: Vec<Vec<u8>>) {
    let fake = FakeServer::start(kind, originals).await;
    fake.set_quirks(quirks.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut account = fake_account("acct", kind, fake.port, false);
    account.connect_timeout = Duration::from_millis(300);
    account.io_timeout = Duration::from_millis(300);
    let ingest = start(dir.path(), vec![account]).await;
    let started = Instant::now();
    let s = tokio::time::timeout(Duration::from_secs(10), ingest.check_now("acct"))
        .await
        .expect("the check ends")
        .expect("the account actor survives");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{kind:?} answer {answer} {quirks:?}: took {:?}",
        started.elapsed()
    );
    if let Some(e) = &s.error {
        support::assert_reads_as_words(e, &format!("{kind:?} answer {answer} {quirks:?}"));
    }
    let held = stored(&ingest, "acct");
    let deleted: Vec<Vec<u8>> = fake
        .state
        .lock()
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.deleted)
        .map(|m| m.bytes.clone())
        .collect();
    for bytes in deleted {
        assert!(
            held.contains(&bytes),
            "{kind:?} answer {answer} {quirks:?}: deleted but not stored ({s:?})"
        );
    }
    ingest.shutdown().await.unwrap();
}

/// Every answer of a normal session spoilt in every way, and cut at several points: no
/// panic, a bounded time, and nothing deleted on the server that the store does not hold.
async fn spoil_every_answer(kind: Kind) -> usize {
    let originals = samples(3);
    let mut rng = fastrand::Rng::with_seed(42);
    let answers = if kind == Kind::Imap { 9 } else { 14 };
    let mut tried = 0;
    for answer in 0..answers {
        let mut quirk_list: Vec<Quirks> = Vec::new();
        for keep in [0, 1, 5, 40, 200] {
            quirk_list.push(Quirks {
                truncate_answer: Some((answer, keep)),
                ..Default::default()
            });
        }
        // Representative answers to spoil: a status line and a data answer.
        let shapes: [&[u8]; 2] = if kind == Kind::Imap {
            [
                b"a1 OK done\r\n",
                b"* 1 FETCH (UID 1 RFC822.SIZE 120 BODY[] {120}\r\n",
            ]
        } else {
            [b"+OK ready\r\n", b"+OK\r\n1 120\r\n2 98\r\n.\r\n"]
        };
        for shape in shapes {
            for m in mutations(shape, &mut rng) {
                quirk_list.push(Quirks {
                    corrupt_answer: Some((answer, m)),
                    ..Default::default()
                });
            }
        }
        tried += quirk_list.len();
        // Eight cases at a time: each has its own fake server, store and pipeline.
        for group in quirk_list.chunks(8) {
            let runs = group
                .iter()
                .map(|quirks| spoil_one(kind, answer, quirks.clone(), originals.clone()));
            futures::future::join_all(runs).await;
        }
    }
    tried
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_thousand_malformed_answers() {
    let pop3 = spoil_every_answer(Kind::Pop3).await;
    let imap = spoil_every_answer(Kind::Imap).await;
    eprintln!("malformed server answers tried: POP3 {pop3}, IMAP {imap}");
    assert!(pop3 + imap >= 1000, "{pop3} + {imap}");
}

/// A server that sends one byte just inside `io_timeout`, for ever, cannot keep an account
/// checking for ever: `check_timeout` ends the check, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_server_is_stopped_by_the_check_deadline() {
    let fake = FakeServer::start(Kind::Imap, samples(2)).await;
    fake.set_quirks(Quirks {
        trickle: Some(Duration::from_millis(400)),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut account = fake_account("slow", Kind::Imap, fake.port, false);
    account.io_timeout = Duration::from_secs(2);
    account.check_timeout = Duration::from_secs(3);
    let ingest = start(dir.path(), vec![account]).await;
    let started = Instant::now();
    let s = tokio::time::timeout(Duration::from_secs(20), ingest.check_now("slow"))
        .await
        .expect("the check ends")
        .unwrap();
    let error = s.error.clone().unwrap_or_default();
    assert!(error.contains("check_timeout"), "{s:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let report = ingest.account("slow").unwrap().unwrap();
    assert_eq!(report.last_error.as_deref(), Some(error.as_str()));
    assert_eq!(fake.live_messages(), 2, "nothing deleted");
    ingest.shutdown().await.unwrap();
}

/// A POP3 body that is properly ended but not of the size LIST gave keeps the session in
/// step: that one message stays on the server (counted, never deleted: what came may not be
/// what is there) and the rest of the mailbox is ingested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pop3_body_of_another_size_is_left_and_the_rest_goes_on() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Pop3,
        4,
        Quirks {
            wrong_size: Some(2),
            ..Default::default()
        },
        false,
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (s.stored, s.deleted, s.error.as_deref()),
        (3, 3, None),
        "{s:?}"
    );
    assert_eq!(
        fake.live_messages(),
        1,
        "the mismatched message stays on the server"
    );
    let report = ingest.account("acct").unwrap().unwrap();
    assert_eq!(report.size_mismatch, 1, "{report:?}");
    let again = ingest.check_now("acct").await.unwrap();
    assert_eq!((again.stored, again.deleted), (0, 0), "{again:?}");
    assert_eq!(fake.live_messages(), 1, "still never deleted");
    ingest.shutdown().await.unwrap();
}

/// A server that offers UTF8 (RFC 6856) is told UTF8, and then sends each message as it
/// is: with 8-bit headers too, every message is stored with its exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_says_utf8_when_offered() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Pop3,
        3,
        Quirks {
            utf8_downgrade: true,
            ..Default::default()
        },
        true,
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.stored, s.error.as_deref()), (3, None), "{s:?}");
    assert_eq!(
        stored(&ingest, "acct"),
        samples(3)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert!(
        fake.commands().iter().any(|c| c == "UTF8"),
        "{:?}",
        fake.commands()
    );
    ingest.shutdown().await.unwrap();
}

/// A server that refuses the owed deletes (a read-only mailbox) does not stop ingestion:
/// new mail is still stored, the deletes stay owed, and the refusal shows in the report
/// until a later check deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delete_does_not_stop_ingestion() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Imap,
        3,
        Quirks {
            store_refused: Some("[READ-ONLY] mailbox is read-only".into()),
            ..Default::default()
        },
        false,
    )
    .await;
    let first = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (first.stored, first.deleted, first.error.as_deref()),
        (3, 0, None),
        "{first:?}"
    );
    fake.state
        .lock()
        .unwrap()
        .messages
        .push(support::fake::FakeMessage {
            uid: 4,
            uidl: "uidl-4".into(),
            bytes: samples(4).pop().unwrap(),
            deleted: false,
        });
    let second = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (second.stored, second.error.as_deref()),
        (1, None),
        "new mail is still stored: {second:?}"
    );
    let report = ingest.account("acct").unwrap().unwrap();
    assert_eq!(report.pending_deletes, 4, "{report:?}");
    let why = report.delete_error.clone().unwrap_or_default();
    assert!(
        why.contains("[READ-ONLY]") && why.contains("UID STORE"),
        "{report:?}"
    );
    support::assert_reads_as_words(&why, "refused delete");
    fake.set_quirks(Quirks::default());
    let third = ingest.check_now("acct").await.unwrap();
    assert_eq!(third.deleted, 4, "{third:?}");
    let report = ingest.account("acct").unwrap().unwrap();
    assert_eq!((report.pending_deletes, report.delete_error), (0, None));
    assert_eq!(fake.live_messages(), 0);
    ingest.shutdown().await.unwrap();
}

/// Scattered UIDs go in several bounded commands: a server that refuses long lines still
/// gets every message fetched and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_uid_sets_go_in_bounded_commands() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Imap,
        3000,
        Quirks {
            max_line: Some(8192),
            ..Default::default()
        },
        false,
    )
    .await;
    for (i, m) in fake.state.lock().unwrap().messages.iter_mut().enumerate() {
        m.uid = 3 * i as u32 + 1; // 1, 4, 7, ...: no two consecutive
    }
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (s.stored, s.deleted, s.error.as_deref()),
        (3000, 3000, None),
        "{s:?}"
    );
    assert_eq!(fake.live_messages(), 0);
    ingest.shutdown().await.unwrap();
}

/// A POP3 DELE the server refuses leaves that one message owed; the others are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pop3_dele_stays_owed_and_the_rest_are_deleted() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Pop3,
        3,
        Quirks {
            dele_refused: Some(2),
            ..Default::default()
        },
        false,
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!(
        (s.stored, s.deleted, s.error.as_deref()),
        (3, 2, None),
        "{s:?}"
    );
    assert_eq!(fake.live_messages(), 1);
    let report = ingest.account("acct").unwrap().unwrap();
    assert_eq!(report.pending_deletes, 1);
    assert!(
        report.delete_error.unwrap_or_default().contains("DELE"),
        "refusal shown"
    );
    ingest.shutdown().await.unwrap();
}

/// A listing the server refuses is an error, not an empty mailbox: owed deletes are not
/// taken for done (an empty listing would say every owed message is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_listing_is_not_an_empty_mailbox() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Imap,
        3,
        Quirks {
            store_refused: Some("[READ-ONLY] not now".into()),
            ..Default::default()
        },
        false,
    )
    .await;
    ingest.check_now("acct").await.unwrap();
    assert_eq!(ingest.account("acct").unwrap().unwrap().pending_deletes, 3);
    fake.set_quirks(Quirks {
        listing_refused: true,
        ..Default::default()
    });
    let s = ingest.check_now("acct").await.unwrap();
    assert!(
        s.error.as_deref().unwrap_or("").contains("listing failed"),
        "{s:?}"
    );
    assert_eq!(
        ingest.account("acct").unwrap().unwrap().pending_deletes,
        3,
        "still owed"
    );
    ingest.shutdown().await.unwrap();
}

/// A key whose message was deleted and that is listed again names new mail: a POP3 server
/// may reuse a unique id once its message is gone (RFC 1939). It is fetched, and stored
/// when its content is new, not deleted unseen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_id_reused_after_its_message_was_deleted_is_new_mail() {
    let first = b"Subject: first\r\n\r\n111\r\n".to_vec();
    let other = b"Subject: other\r\n\r\n222\r\n".to_vec();
    assert_eq!(first.len(), other.len());
    let fake = FakeServer::start(Kind::Pop3, vec![first.clone()]).await;
    let dir = tempfile::tempdir().unwrap();
    let ingest = start(
        dir.path(),
        vec![fake_account("acct", Kind::Pop3, fake.port, false)],
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.stored, s.deleted), (1, 1), "{s:?}");
    // The server gives the next message the unique id the deleted one had.
    fake.state
        .lock()
        .unwrap()
        .messages
        .push(support::fake::FakeMessage {
            uid: 2,
            uidl: "uidl-1".into(),
            bytes: other.clone(),
            deleted: false,
        });
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.fetched, s.stored, s.deleted), (1, 1, 1), "{s:?}");
    assert!(
        stored(&ingest, "acct").contains(&other),
        "the new message is stored"
    );
    ingest.shutdown().await.unwrap();
}

/// An IMAP server restored from a backup repeats UIDs under the same UIDVALIDITY: the
/// repeated UIDs are fetched, the ones with new content stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uids_repeated_after_a_restore_are_fetched() {
    let (fake, _dir, ingest) = one_fake_account(Kind::Imap, 2, Quirks::default(), false).await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.stored, s.deleted), (2, 2));
    {
        let mut st = fake.state.lock().unwrap();
        for (i, m) in st.messages.iter_mut().enumerate() {
            let mut bytes = m.bytes.clone();
            bytes[0] = b'Y'; // other content, the same size
            *m = support::fake::FakeMessage {
                uid: i as u32 + 1,
                uidl: m.uidl.clone(),
                bytes,
                deleted: false,
            };
        }
    }
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.fetched, s.stored, s.deleted), (2, 2, 2), "{s:?}");
    ingest.shutdown().await.unwrap();
}

/// Without UIDL, two identical messages in one maildrop are two messages (keyed by content
/// and ordinal), not one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_without_uidl_keeps_identical_messages_apart() {
    let same = b"Subject: twice\r\n\r\nthe same\r\n".to_vec();
    let fake = FakeServer::start(Kind::Pop3, vec![same.clone(), same.clone()]).await;
    fake.set_quirks(Quirks {
        no_uidl: true,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let ingest = start(
        dir.path(),
        vec![fake_account("acct", Kind::Pop3, fake.port, false)],
    )
    .await;
    let s = ingest.check_now("acct").await.unwrap();
    assert_eq!((s.stored, s.deleted), (2, 2), "{s:?}");
    assert_eq!(stored(&ingest, "acct"), [same.clone(), same]);
    ingest.shutdown().await.unwrap();
}

/// `backfill = "new"` means what was there before the first check is never ingested: a
/// renumbered mailbox (UIDVALIDITY change, or every POP3 unique id replaced) does not bring
/// the old mail back. The check after it remembers what is there and fetches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_new_survives_a_renumbered_mailbox() {
    for kind in [Kind::Imap, Kind::Pop3] {
        let fake = FakeServer::start(kind, samples(3)).await;
        let dir = tempfile::tempdir().unwrap();
        let mut a = fake_account("acct", kind, fake.port, false);
        a.backfill = mail_ingest::config::Backfill::New;
        let ingest = start(dir.path(), vec![a]).await;
        let s = ingest.check_now("acct").await.unwrap();
        assert_eq!(
            (s.fetched, s.deleted),
            (0, 0),
            "{kind:?} first check: {s:?}"
        );
        {
            let mut st = fake.state.lock().unwrap();
            st.uidvalidity = 2;
            for m in st.messages.iter_mut() {
                m.uid += 100;
                m.uidl = format!("renumbered-{}", m.uid);
            }
        }
        let s = ingest.check_now("acct").await.unwrap();
        assert_eq!(
            (s.fetched, s.deleted, s.error.as_deref()),
            (0, 0, None),
            "{kind:?} after renumbering: {s:?}"
        );
        assert_eq!(
            fake.live_messages(),
            3,
            "{kind:?}: the old mail stays on the server"
        );
        ingest.shutdown().await.unwrap();
    }
}

/// A mailbox larger than one check lists (`max_listed`) is ingested over several checks,
/// and new mail after it is too: the listing goes on above the highest UID settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_larger_than_one_listing_is_ingested_over_several_checks() {
    let fake = FakeServer::start(Kind::Imap, samples(12)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = fake_account("acct", Kind::Imap, fake.port, true);
    a.max_listed = 5;
    let ingest = start(dir.path(), vec![a]).await;
    let mut stored_per_check = Vec::new();
    for _ in 0..3 {
        stored_per_check.push(ingest.check_now("acct").await.unwrap().stored);
    }
    assert_eq!(stored_per_check, [5, 5, 2]);
    fake.state
        .lock()
        .unwrap()
        .messages
        .push(support::fake::FakeMessage {
            uid: 13,
            uidl: "uidl-13".into(),
            bytes: samples(13).pop().unwrap(),
            deleted: false,
        });
    assert_eq!(
        ingest.check_now("acct").await.unwrap().stored,
        1,
        "new mail after it"
    );
    assert_eq!(ingest.account("acct").unwrap().unwrap().messages_stored, 13);
    ingest.shutdown().await.unwrap();
}

/// A POP3 server that ends the session over a RETR of a message it does not hold (what is
/// asked ahead of the listing goes beyond the maildrop): that check fails without losing
/// anything, and the account's next checks ask nothing ahead and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_what_is_asked_ahead_is_not_asked_again() {
    let (fake, _dir, ingest) = one_fake_account(
        Kind::Pop3,
        3,
        Quirks {
            ends_on_missing_retr: true,
            ..Default::default()
        },
        false,
    )
    .await;
    let first = ingest.check_now("acct").await.unwrap();
    let error = first.error.clone().unwrap_or_default();
    assert!(error.contains("ask nothing ahead"), "{first:?}");
    assert_eq!(
        fake.live_messages(),
        3,
        "nothing deleted by the failed check"
    );
    for _ in 0..2 {
        let next = ingest.check_now("acct").await.unwrap();
        assert_eq!(next.error, None, "{next:?}");
    }
    assert_eq!(stored(&ingest, "acct").len(), 3, "each message stored once");
    assert_eq!(fake.live_messages(), 0, "deleted once stored");
    ingest.shutdown().await.unwrap();
}
