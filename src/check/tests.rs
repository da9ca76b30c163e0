//! The check algorithm over a scripted session, an in-memory sink and ledger.

use std::time::Duration;

use super::*;
use crate::config::Protocol;
use crate::protocol::MailServer;
use crate::testing::{
    Event, Gate, MemoryDestination, MemoryLedger, ScriptedServer, SharedMailbox, lock,
};

fn mailbox(n: u32) -> SharedMailbox {
    let m = SharedMailbox::default();
    lock(&m).messages = (1..=n)
        .map(|uid| (uid, format!("Subject: {uid}\r\n\r\nbody").into_bytes()))
        .collect();
    m
}

fn deleting() -> AccountConfig {
    let mut account = AccountConfig::new("a", Protocol::Imap, "x", "c");
    account.keep_copy = false;
    account
}

fn destination(gate: Gate) -> MemoryDestination {
    MemoryDestination::new(MemoryLedger::default(), gate)
}

/// One check; its summary, and its error if it failed.
async fn check(
    account: &AccountConfig,
    mailbox: &SharedMailbox,
    destination: &MemoryDestination,
) -> (CheckSummary, Option<CheckError>) {
    let server = ScriptedServer {
        mailbox: mailbox.clone(),
    };
    let mut summary = CheckSummary::default();
    let progress = Progress::default();
    let ahead = super::ahead(account, &destination.ledger).await.unwrap();
    let session = server.open(ahead).await.unwrap();
    let mut sink = destination.sink(account, Default::default());
    let result = run(
        account,
        session,
        sink.as_mut(),
        &destination.ledger,
        &progress,
        &mut summary,
    )
    .await;
    (summary, result.err())
}

fn owed(destination: &MemoryDestination) -> usize {
    destination.ledger.0.lock().unwrap().owed.len()
}

#[tokio::test(start_paused = true)]
async fn nothing_is_deleted_before_the_sink_acknowledges_it() {
    let account = deleting();
    let mailbox = mailbox(3);
    let gate = Gate::new(false);
    let destination = destination(gate.clone());
    let running = {
        let (account, mailbox, destination) =
            (account.clone(), mailbox.clone(), destination.clone());
        tokio::spawn(async move { check(&account, &mailbox, &destination).await })
    };
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        lock(&mailbox).deleted().is_empty(),
        "deleted before durable"
    );
    assert!(
        !running.is_finished(),
        "the check waits for the acknowledgement"
    );
    gate.set(true);
    let (summary, error) = running.await.unwrap();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        (summary.fetched, summary.stored, summary.deleted),
        (3, 3, 3)
    );
    assert_eq!(lock(&mailbox).deleted(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn what_is_not_stored_is_not_deleted_and_is_counted() {
    let account = deleting();
    let mailbox = mailbox(3);
    let mut destination = destination(Gate::new(true));
    destination.refuse = true;
    let (summary, error) = check(&account, &mailbox, &destination).await;
    assert!(error.is_none(), "the session itself ended well: {error:?}");
    assert!(
        lock(&mailbox).deleted().is_empty(),
        "deleted without being stored"
    );
    assert_eq!((summary.fetched, summary.stored, summary.errors), (3, 0, 3));
    assert_eq!(
        summary.error.as_deref(),
        Some("cannot store messages: no space left")
    );
}

#[tokio::test(start_paused = true)]
async fn acknowledged_messages_are_deleted_between_batches() {
    let account = deleting();
    let n = FETCH_BATCH_MESSAGES as u32 + 1;
    let mailbox = mailbox(n);
    let destination = destination(Gate::new(true));
    let (summary, error) = check(&account, &mailbox, &destination).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!((summary.stored, summary.deleted), (n as u64, n as u64));
    let m = lock(&mailbox);
    let deletes: Vec<usize> = m
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Delete(uids) => Some(uids.len()),
            _ => None,
        })
        .collect();
    assert!(
        deletes.len() >= 2,
        "one delete per batch at least: {deletes:?}"
    );
    assert!(
        deletes[0] > 1000,
        "the first batch deleted after it: {deletes:?}"
    );
    assert!(m.messages.is_empty());
    assert_eq!(owed(&destination), 0);
}

#[tokio::test(start_paused = true)]
async fn pop3_deletes_count_once_the_session_ends_and_flagged_ones_stay_owed() {
    for (deletes, deleted, still_owed) in [(Deleted::AtFinish, 3, 0), (Deleted::Flagged, 0, 3)] {
        let account = deleting();
        let mailbox = mailbox(3);
        lock(&mailbox).deletes = deletes;
        let destination = destination(Gate::new(true));
        let (summary, error) = check(&account, &mailbox, &destination).await;
        assert!(error.is_none(), "{deletes:?}: {error:?}");
        assert_eq!(summary.deleted, deleted, "{deletes:?}");
        assert_eq!(owed(&destination), still_owed, "{deletes:?}");
        assert!(
            lock(&mailbox)
                .events
                .last()
                .is_some_and(|(_, e)| *e == Event::Finish)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_check_skips_what_is_held() {
    let account = AccountConfig::new("a", Protocol::Imap, "x", "c");
    let mailbox = mailbox(2);
    let destination = destination(Gate::new(true));
    let (first, _) = check(&account, &mailbox, &destination).await;
    assert_eq!((first.fetched, first.stored, first.skipped), (2, 2, 0));
    lock(&mailbox)
        .messages
        .push((3, b"Subject: 3\r\n\r\n".to_vec()));
    let (second, _) = check(&account, &mailbox, &destination).await;
    assert_eq!((second.fetched, second.stored, second.skipped), (1, 1, 2));
    assert!(
        lock(&mailbox).deleted().is_empty(),
        "keep_copy deletes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn sessions_ask_ahead_from_where_the_last_one_expected_new_mail() {
    let account = AccountConfig::new("a", Protocol::Imap, "x", "c");
    let (held, other) = (mailbox(2), mailbox(2));
    let destination = destination(Gate::new(true));
    check(&account, &held, &destination).await;
    lock(&held)
        .messages
        .push((3, b"Subject: 3\r\n\r\n".to_vec()));
    check(&account, &held, &destination).await;
    // The first check asks from the first message; the second from above the two held.
    assert_eq!(
        lock(&held).aheads,
        [Some(Ahead { from: 1 }), Some(Ahead { from: 3 })]
    );
    // A `backfill = "new"` account's first check fetches nothing: it asks nothing ahead.
    let mut new_only = AccountConfig::new("b", Protocol::Imap, "x", "c");
    new_only.backfill = crate::config::Backfill::New;
    check(&new_only, &other, &destination).await;
    assert_eq!(lock(&other).aheads, [None]);
}
