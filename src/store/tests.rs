//! Store behaviour: exact bytes, dedup, owed deletes in the message's transaction, the lock.

use super::*;
use crate::model::OnServer;
use crate::protocol::keys::imap_key;
use schema::{META, RAW_CHUNK_BYTES};

pub(super) fn msg(account: &str, key: &str, raw: &[u8], delete_after: bool) -> NewMessage {
    NewMessage {
        account: account.into(),
        server_key: key.into(),
        listed_size: raw.len() as u64,
        raw: raw.to_vec(),
        summary: crate::parse::Summary::of(raw),
        delete_after,
        content_hash: *blake3::hash(raw).as_bytes(),
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sub/s.redb")).unwrap();
    (dir, store)
}

/// A store holding one message (account `a`, key `pop3:1`, delete owed), changed by
/// `before`, closed and opened again: what survives a restart.
fn one_message_then_reopen(before: impl FnOnce(&Store)) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let s = Store::open(&path).unwrap();
        s.commit_batch(&[msg("a", "pop3:1", b"Subject: 1\r\n\r\n", true)])
            .unwrap();
        before(&s);
    }
    let s = Store::open(&path).unwrap();
    (dir, s)
}

#[test]
fn stores_exact_bytes_with_increasing_ids() {
    let (_d, s) = open();
    let raw1 = b"Subject: one\r\n\r\nbody\r\n.\r\n\x00\xff".to_vec();
    let out = s
        .commit_batch(&[
            msg("a", "pop3:1", &raw1, false),
            msg("a", "pop3:2", b"Subject: two\r\n\r\nx", false),
        ])
        .unwrap();
    assert_eq!(out, [StoreOutcome::Stored(1), StoreOutcome::Stored(2)]);
    assert_eq!(s.raw(1).unwrap().unwrap(), raw1);
    let list = s.list_messages("a", 10, None).unwrap();
    assert_eq!(list.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(list[1].subject.as_deref(), Some("one"));
    assert_eq!(s.list_messages("a", 10, Some(2)).unwrap().len(), 1);
    assert_eq!(s.account_state("a").unwrap().messages_stored, 2);
}

#[test]
fn the_same_key_is_stored_once() {
    let (_d, s) = open();
    let m = msg("a", "imap:1:5:INBOX", b"Subject: x\r\n\r\ny", false);
    assert_eq!(
        s.commit_batch(std::slice::from_ref(&m)).unwrap(),
        [StoreOutcome::Stored(1)]
    );
    assert_eq!(
        s.commit_batch(&[m.clone(), m]).unwrap(),
        [StoreOutcome::Duplicate(1), StoreOutcome::Duplicate(1)]
    );
    assert_eq!(s.message_count().unwrap(), 1);
    // Another account may hold the same key.
    assert_eq!(
        s.commit_batch(&[msg("b", "imap:1:5:INBOX", b"Subject: x\r\n\r\ny", false)])
            .unwrap(),
        [StoreOutcome::Stored(2)]
    );
}

#[test]
fn uidvalidity_change_matches_by_content() {
    let (_d, s) = open();
    s.commit_batch(&[msg(
        "a",
        &imap_key("INBOX", 1, 5),
        b"Subject: x\r\n\r\ny",
        false,
    )])
    .unwrap();
    let again = msg("a", &imap_key("INBOX", 2, 1), b"Subject: x\r\n\r\ny", false);
    assert_eq!(
        s.commit_batch(&[again]).unwrap(),
        [StoreOutcome::Duplicate(1)]
    );
    // A different message under a new UIDVALIDITY is new; an identical copy in the same
    // UIDVALIDITY (another UID) is a legitimate second message.
    let other = msg("a", &imap_key("INBOX", 2, 2), b"Subject: z\r\n\r\ny", false);
    assert_eq!(s.commit_batch(&[other]).unwrap(), [StoreOutcome::Stored(2)]);
    let copy = msg("a", &imap_key("INBOX", 2, 3), b"Subject: z\r\n\r\ny", false);
    assert_eq!(s.commit_batch(&[copy]).unwrap(), [StoreOutcome::Stored(3)]);
}

#[test]
fn reused_key_with_other_size_is_a_new_message() {
    let (_d, s) = open();
    s.commit_batch(&[msg("a", "pop3:X", b"Subject: first\r\n\r\n1", false)])
        .unwrap();
    let second = b"Subject: second, longer\r\n\r\n2";
    let out = s
        .commit_batch(&[msg("a", "pop3:X", second, false)])
        .unwrap();
    assert_eq!(out, [StoreOutcome::Stored(2)]);
    assert_eq!(
        s.lookup_keys("a", &["pop3:X".into()]).unwrap(),
        [Some((2, second.len() as u64))]
    );
}

#[test]
fn pending_deletes_commit_with_the_message_and_clear_on_delete() {
    let (_d, s) = open();
    s.commit_batch(&[
        msg("a", "pop3:1", b"Subject: 1\r\n\r\n", true),
        msg("a", "pop3:2", b"Subject: 2\r\n\r\n", false),
    ])
    .unwrap();
    assert_eq!(s.pending_deletes("a").unwrap(), [("pop3:1".to_string(), 1)]);
    assert_eq!(s.pending_deletes("b").unwrap(), []);
    assert_eq!(
        s.record(1).unwrap().unwrap().meta.on_server,
        OnServer::DeletePending
    );
    s.mark_deleted("a", &["pop3:1".into()]).unwrap();
    assert_eq!(s.pending_delete_count("a").unwrap(), 0);
    assert_eq!(
        s.record(1).unwrap().unwrap().meta.on_server,
        OnServer::Deleted
    );
    assert_eq!(s.record(2).unwrap().unwrap().meta.on_server, OnServer::Kept);
}

/// Lazy records (deletes done, UIDVALIDITY noted) become durable with the next durable
/// commit, as the account state written after every check.
#[test]
fn lazy_records_are_kept_by_the_next_durable_commit() {
    let (_d, s) = one_message_then_reopen(|s| {
        s.mark_deleted("a", &["pop3:1".into()]).unwrap();
        s.update_account_state_lazily("a", |st| st.uidvalidity = Some(7))
            .unwrap();
        s.update_account_state("a", |st| st.last_check = Some("now".into()))
            .unwrap();
    });
    assert_eq!(s.pending_delete_count("a").unwrap(), 0);
    assert_eq!(
        s.record(1).unwrap().unwrap().meta.on_server,
        OnServer::Deleted
    );
    let state = s.account_state("a").unwrap();
    assert_eq!(
        (state.uidvalidity, state.last_check.as_deref()),
        (Some(7), Some("now"))
    );
}

#[test]
fn seen_keys_are_not_messages() {
    let (_d, s) = open();
    s.mark_seen("a", &[("pop3:old".into(), 10)]).unwrap();
    assert_eq!(
        s.lookup_keys("a", &["pop3:old".into(), "pop3:new".into()])
            .unwrap(),
        [Some((0, 10)), None]
    );
    assert_eq!(s.message_count().unwrap(), 0);
}

#[test]
fn second_open_is_refused_clearly_and_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _s) = open();
    let path = dir.path().join("sub/s.redb");
    let err = Store::open(&path).err().expect("second open must fail");
    assert!(matches!(err, StoreError::InUse(_)));
    assert!(
        err.to_string()
            .contains("in use by another mail-ingest process"),
        "{err}"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn data_survives_reopen_and_cursors_only_move_forward() {
    let (_d, s) = one_message_then_reopen(|s| {
        assert_eq!(s.set_cursor("n", 5).unwrap(), 5);
        assert_eq!(s.set_cursor("n", 3).unwrap(), 5);
    });
    assert_eq!(s.pending_deletes("a").unwrap().len(), 1);
    assert_eq!(s.cursor("n").unwrap(), 5);
    assert_eq!(s.cursor("other").unwrap(), 0);
    assert_eq!(s.messages_after(0, 10).unwrap().len(), 1);
    assert_eq!(s.messages_after(1, 10).unwrap().len(), 0);
}

#[test]
fn a_store_of_another_schema_version_is_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    {
        let s = Store::open(&path).unwrap();
        let txn = s.db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("schema_version", 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).err().expect("version 1 is refused");
    assert!(matches!(err, StoreError::Schema(_, 1)), "{err}");
    assert!(err.to_string().contains("move the file aside"), "{err}");
}

#[test]
fn raw_bytes_spanning_many_pieces_come_back_exact() {
    let (_d, s) = open();
    let big: Vec<u8> = (0..3 * RAW_CHUNK_BYTES + 17)
        .map(|i| (i % 251) as u8)
        .collect();
    let exact: Vec<u8> = vec![b'e'; RAW_CHUNK_BYTES];
    let out = s
        .commit_batch(&[
            msg("a", "k1", &big, false),
            msg("a", "k2", &exact, false),
            msg("a", "k3", b"", false),
        ])
        .unwrap();
    let ids: Vec<u64> = out
        .iter()
        .map(|o| match o {
            StoreOutcome::Stored(id) => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(s.raw(ids[0]).unwrap().unwrap(), big);
    assert_eq!(s.raw(ids[1]).unwrap().unwrap(), exact);
    assert_eq!(s.raw(ids[2]).unwrap().unwrap(), Vec::<u8>::new());
    assert_eq!(s.raw(ids[2] + 1).unwrap(), None);
}

#[test]
fn a_reused_key_whose_message_was_deleted_is_new_mail_unless_its_content_is_known() {
    let (_d, s) = open();
    let first = b"Subject: first\r\n\r\n1".to_vec();
    let other = b"Subject: other\r\n\r\n2".to_vec();
    assert_eq!(
        first.len(),
        other.len(),
        "the same size: only the content tells them apart"
    );
    s.commit_batch(&[msg("a", "pop3:u1", &first, true)])
        .unwrap();
    s.mark_deleted("a", &["pop3:u1".into()]).unwrap();
    // The server reuses the unique id for another message of the same size.
    assert_eq!(
        s.commit_batch(&[msg("a", "pop3:u1", &other, true)])
            .unwrap(),
        [StoreOutcome::Stored(2)]
    );
    s.mark_deleted("a", &["pop3:u1".into()]).unwrap();
    // The first message comes back (a restored mailbox): it is the one stored already.
    assert_eq!(
        s.commit_batch(&[msg("a", "pop3:u1", &first, true)])
            .unwrap(),
        [StoreOutcome::Duplicate(1)]
    );
}

#[test]
fn each_stored_message_absorbs_at_most_one_message_of_a_renumbered_mailbox() {
    let (_d, s) = open();
    let x = b"Subject: x\r\n\r\nsame".to_vec();
    // Two copies in epoch 1, stored apart.
    let first = s
        .commit_batch(&[
            msg("a", &imap_key("INBOX", 1, 1), &x, false),
            msg("a", &imap_key("INBOX", 1, 2), &x, false),
        ])
        .unwrap();
    assert_eq!(first, [StoreOutcome::Stored(1), StoreOutcome::Stored(2)]);
    // The mailbox is renumbered (epoch 2): the old keys are gone from it.
    s.settle_listing(
        "a",
        &[
            imap_key("INBOX", 2, 1),
            imap_key("INBOX", 2, 2),
            imap_key("INBOX", 2, 3),
        ],
    )
    .unwrap();
    let renumbered = s
        .commit_batch(&[
            msg("a", &imap_key("INBOX", 2, 1), &x, false),
            msg("a", &imap_key("INBOX", 2, 2), &x, false),
            msg("a", &imap_key("INBOX", 2, 3), &x, false),
        ])
        .unwrap();
    assert_eq!(
        renumbered,
        [
            StoreOutcome::Duplicate(1),
            StoreOutcome::Duplicate(2),
            StoreOutcome::Stored(3)
        ],
        "two were there before, the third is a new copy"
    );
    // A later identical message is new mail too: nothing is left to absorb it.
    assert_eq!(
        s.commit_batch(&[msg("a", &imap_key("INBOX", 2, 4), &x, false)])
            .unwrap(),
        [StoreOutcome::Stored(4)]
    );
}

/// A file backend whose writes and syncs fail while `full` is set, as on a full disk.
#[derive(Debug)]
struct FullDisk {
    inner: redb::backends::FileBackend,
    full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FullDisk {
    fn refuse(&self) -> std::io::Result<()> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }
}

impl redb::StorageBackend for FullDisk {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.refuse()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.refuse()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.refuse()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.inner.close()
    }
}

#[test]
fn a_full_disk_is_seen_and_the_store_recovers_once_there_is_room() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let full = Arc::new(AtomicBool::new(false));
    let (file, switch) = (path.clone(), full.clone());
    let opener: handle::Opener = Box::new(move || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&file)?;
        redb::Builder::new().create_with_backend(FullDisk {
            inner: redb::backends::FileBackend::new(f)?,
            full: switch.clone(),
        })
    });
    let s = Store::open_with(&path, opener).unwrap();
    s.commit_batch(&[msg("a", "pop3:1", b"Subject: 1\r\n\r\n", false)])
        .unwrap();
    assert!(s.writable().is_ok());
    full.store(true, Ordering::SeqCst);
    assert!(
        s.commit_batch(&[msg("a", "pop3:2", b"Subject: 2\r\n\r\n", false)])
            .is_err()
    );
    let why = s.writable().expect_err("the failed write is seen");
    assert!(why.contains("No space left on device"), "{why}");
    // Still full: every write fails, none is half done.
    assert!(
        s.commit_batch(&[msg("a", "pop3:2", b"Subject: 2\r\n\r\n", false)])
            .is_err()
    );
    assert!(s.writable().is_err());
    full.store(false, Ordering::SeqCst);
    assert_eq!(
        s.commit_batch(&[msg("a", "pop3:2", b"Subject: 2\r\n\r\n", false)])
            .unwrap(),
        [StoreOutcome::Stored(2)],
        "the next write opens the store again"
    );
    assert!(s.writable().is_ok());
    assert_eq!(s.raw(1).unwrap().unwrap(), b"Subject: 1\r\n\r\n");
    assert_eq!(s.message_count().unwrap(), 2);
}
