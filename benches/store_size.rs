//! The store's size on disk against the mail it holds: N messages of the benchmarks' mixed
//! profile (default 50,000, about 1.4 GB) committed as the store actor commits them (groups
//! of up to `MAX_COMMIT_BYTES`), then the file's size, its ratio to the mail's bytes, the
//! time taken, the same after `compact`, and how long a `backup` of it takes.
//! `cargo bench --bench store_size -- [N]`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use mail_ingest::parse::Summary;
use mail_ingest::store::{MAX_COMMIT_BYTES, NewMessage, Store};

fn main() {
    let [n, _] = support::bench::args([50_000, 0]);
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target".into()))
        .expect("a folder for the store");
    let path = dir.path().join("store.redb");
    let store = Store::open(&path).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let started = Instant::now();
    let mut mail = 0u64;
    let mut batch: Vec<NewMessage> = Vec::new();
    let mut batch_bytes = 0usize;
    for i in 0..n {
        let raw = support::bench::mixed_message(i, &mut rng);
        mail += raw.len() as u64;
        if batch_bytes + raw.len() > MAX_COMMIT_BYTES && !batch.is_empty() {
            store.commit_batch(&batch).unwrap();
            batch.clear();
            batch_bytes = 0;
        }
        batch_bytes += raw.len();
        batch.push(NewMessage {
            account: "bench".into(),
            server_key: format!("imap:1:{}", i + 1),
            listed_size: raw.len() as u64,
            summary: Summary::of(&raw),
            delete_after: false,
            content_hash: *blake3::hash(&raw).as_bytes(),
            raw,
        });
    }
    if !batch.is_empty() {
        store.commit_batch(&batch).unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    let (file, on_disk) = sizes(&path);
    println!(
        "{n} messages, mail {:.1} MB, store file {:.1} MB: {:.3}x the mail; on disk {:.1} MB, {:.3}x ({:.1} s, {:.0} MB/s)",
        mail as f64 / 1e6,
        file as f64 / 1e6,
        file as f64 / mail as f64,
        on_disk as f64 / 1e6,
        on_disk as f64 / mail as f64,
        took,
        mail as f64 / 1e6 / took
    );
    let started = Instant::now();
    store.compact().unwrap();
    let took = started.elapsed().as_secs_f64();
    let (file, on_disk) = sizes(&path);
    println!(
        "after compact: store file {:.1} MB, {:.3}x the mail; on disk {:.1} MB, {:.3}x ({took:.1} s)",
        file as f64 / 1e6,
        file as f64 / mail as f64,
        on_disk as f64 / 1e6,
        on_disk as f64 / mail as f64,
    );
    let started = Instant::now();
    let copy = store.backup(&dir.path().join("backup.redb")).unwrap();
    println!(
        "backup: {:.1} MB, {} messages, {:.1} s (commits wait meanwhile)",
        copy.bytes as f64 / 1e6,
        copy.messages,
        started.elapsed().as_secs_f64()
    );
}

/// The file's length and the bytes the file system holds for it (redb grows the file ahead
/// of use, sparsely).
fn sizes(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.blocks() * 512)
}
