//! The check algorithm over a scripted session, an in-memory sink and ledger.

use std::time::Duration;

use super::*;
use crate::config::Protocol;
use crate::protocol::{Destination, MailServer};
use crate::testing::{Gate, MemoryDestination, MemoryLedger, ScriptedServer, SharedMailbox, lock};

fn mailbox(n: u32) -> SharedMailbox {
    let m = SharedMailbox::default();
    lock(&m).messages = (1..=n)
        .map(|uid| (uid, format!("Subject: {uid}\r\n\r\nbody").into_bytes()))
        .collect();
    m
}

async fn check(
    account: &AccountConfig,
    mailbox: &SharedMailbox,
    destination: &MemoryDestination,
) -> CheckSummary {
    let server = ScriptedServer {
        mailbox: mailbox.clone(),
    };
    let mut summary = CheckSummary::default();
    let progress = Progress::default();
    let session = server.open().await.unwrap();
    let mut sink = destination.sink(account, Default::default());
    run(
        account,
        session,
        sink.as_mut(),
        &destination.ledger,
        &progress,
        &mut summary,
    )
    .await
    .unwrap();
    summary
}

#[tokio::test(start_paused = true)]
async fn nothing_is_deleted_before_the_sink_acknowledges_it() {
    let mut account = AccountConfig::new("a", Protocol::Imap, "x", "c");
    account.keep_copy = false;
    let mailbox = mailbox(3);
    let gate = Gate::new(false);
    let destination = MemoryDestination {
        ledger: MemoryLedger::default(),
        gate: gate.clone(),
    };
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
    let summary = running.await.unwrap();
    assert_eq!(
        (summary.fetched, summary.stored, summary.deleted),
        (3, 3, 3)
    );
    assert_eq!(lock(&mailbox).deleted(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_second_check_skips_what_is_held() {
    let account = AccountConfig::new("a", Protocol::Imap, "x", "c");
    let mailbox = mailbox(2);
    let destination = MemoryDestination {
        ledger: MemoryLedger::default(),
        gate: Gate::new(true),
    };
    let first = check(&account, &mailbox, &destination).await;
    assert_eq!((first.fetched, first.stored, first.skipped), (2, 2, 0));
    lock(&mailbox)
        .messages
        .push((3, b"Subject: 3\r\n\r\n".to_vec()));
    let second = check(&account, &mailbox, &destination).await;
    assert_eq!((second.fetched, second.stored, second.skipped), (1, 1, 2));
    assert!(
        lock(&mailbox).deleted().is_empty(),
        "keep_copy deletes nothing"
    );
}
