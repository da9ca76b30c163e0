//! Retention in the store: the oldest go first, within `keep_max` and `keep_for`; a Feed
//! subscriber's unacknowledged messages and owed deletes stay; a removed message's key
//! stays seen and its content is forgotten.

use std::time::{Duration, SystemTime};

use super::schema::SEEN_NOT_INGESTED;
use super::tests::msg;
use super::*;

fn filled(n: usize, delete_after: bool) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.redb")).unwrap();
    let batch: Vec<NewMessage> = (1..=n)
        .map(|i| {
            let raw = format!("Subject: {i}\r\n\r\n{}\r\n", "x".repeat(80));
            msg("a", &format!("imap:1:{i}"), raw.as_bytes(), delete_after)
        })
        .collect();
    s.commit_batch(&batch).unwrap();
    (dir, s)
}

fn ids(s: &Store) -> Vec<u64> {
    let mut ids: Vec<u64> = s
        .list_messages("a", 100, None)
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_oldest_leave_until_the_rest_fit_and_their_keys_stay_seen() {
    let (_d, s) = filled(5, false);
    let size = s.raw(1).unwrap().unwrap().len() as u64;
    let (due, total) = s
        .retention_due("a", None, Some(2 * size + 1), SystemTime::now())
        .unwrap();
    assert_eq!((due.as_slice(), total), ([1, 2, 3].as_slice(), 5 * size));
    let done = s.retention_step("a", &due).unwrap();
    assert_eq!((done.removed, done.bytes, done.looked), (3, 3 * size, 3));
    assert_eq!(ids(&s), [4, 5]);
    assert!(s.raw(1).unwrap().is_none() && s.record(1).unwrap().is_none());
    assert_eq!(s.account_state("a").unwrap().messages_stored, 2);
    let keys = s
        .lookup_keys("a", &["imap:1:1".to_string(), "imap:1:4".to_string()])
        .unwrap();
    assert_eq!(
        keys[0].map(|k| k.0),
        Some(SEEN_NOT_INGESTED),
        "not downloaded again"
    );
    assert_eq!(keys[1].map(|k| k.0), Some(4));
    // Its content is remembered: the same bytes under another key (a rebuilt mailbox) are
    // not stored again, and that key is held from now on.
    let first = format!("Subject: 1\r\n\r\n{}\r\n", "x".repeat(80));
    let out = s
        .commit_batch(&[msg("a", "imap:2:1", first.as_bytes(), false)])
        .unwrap();
    assert_eq!(out, [StoreOutcome::Duplicate(1)]);
    assert_eq!(ids(&s), [4, 5], "nothing stored again");
    let held = s.lookup_keys("a", &["imap:2:1".to_string()]).unwrap();
    assert_eq!(held[0].map(|k| k.0), Some(1));
    let other = s
        .commit_batch(&[msg("a", "imap:2:9", b"Subject: new\r\n\r\nx\r\n", false)])
        .unwrap();
    assert_eq!(other, [StoreOutcome::Stored(6)], "new mail still is");
    let (due, _) = s
        .retention_due("a", None, Some(10 * size), SystemTime::now())
        .unwrap();
    assert!(due.is_empty());
}

#[test]
fn keep_for_removes_what_is_older() {
    let (_d, s) = filled(3, false);
    let later = SystemTime::now() + Duration::from_secs(2 * 86_400);
    let (due, _) = s
        .retention_due("a", Some(Duration::from_secs(86_400)), None, later)
        .unwrap();
    assert_eq!(due, [1, 2, 3]);
    let (due, _) = s
        .retention_due(
            "a",
            Some(Duration::from_secs(86_400)),
            None,
            SystemTime::now(),
        )
        .unwrap();
    assert!(due.is_empty(), "received just now");
}

#[test]
fn a_subscriber_holds_back_what_it_has_not_acknowledged() {
    let (_d, s) = filled(4, false);
    s.register_subscriber("feed").unwrap();
    s.register_subscriber("feed").unwrap();
    let due = [1, 2, 3, 4];
    let done = s.retention_step("a", &due).unwrap();
    assert_eq!(
        (done.removed, done.held_by_subscriber, done.looked),
        (0, 4, 4)
    );
    s.set_cursor("feed", 2).unwrap();
    let done = s.retention_step("a", &due).unwrap();
    assert_eq!((done.removed, done.held_by_subscriber), (2, 2));
    assert_eq!(ids(&s), [3, 4]);
    let subs = s.subscribers().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!((subs[0].acknowledged, subs[0].behind), (2, 2));
    assert!(s.remove_subscriber("feed").unwrap());
    assert_eq!(
        s.retention_step("a", &[3, 4]).unwrap().removed,
        2,
        "forgotten: held no more"
    );
}

#[test]
fn an_owed_delete_keeps_its_message() {
    let (_d, s) = filled(2, true);
    let done = s.retention_step("a", &[1, 2]).unwrap();
    assert_eq!((done.removed, done.held_by_delete), (0, 2));
    s.mark_deleted("a", &["imap:1:1".to_string()]).unwrap();
    let done = s.retention_step("a", &[1, 2]).unwrap();
    assert_eq!((done.removed, done.held_by_delete), (1, 1));
}
