//! Memory a message or a feed can make mail-ingest use, measured as this process's peak
//! resident size (reset through `/proc/self/clear_refs` before each case): a message of a
//! million header lines, one of two hundred thousand MIME parts, and a feed over large
//! messages each stay within a small multiple of what they hold. The cases run one after
//! another in this process alone.

mod support;

use std::time::Duration;

use mail_ingest::parse::{Summary, text_of};
use mail_ingest::store::{NewMessage, Store};

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// How far the resident size rose above where it stood, at its peak during `work`, in MiB.
fn peak_growth_mib<T>(work: impl FnOnce() -> T) -> (T, u64) {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
    let before = status_kib("VmRSS:");
    let out = work();
    let peak = status_kib("VmHWM:");
    (out, peak.saturating_sub(before) >> 10)
}

fn many_headers() -> Vec<u8> {
    let mut raw = b"From: a@example.com\r\nSubject: many headers\r\n".to_vec();
    raw.extend(b"X-H: v\r\n".repeat(1_000_000));
    raw.extend(b"\r\nbody\r\n");
    raw
}

fn many_parts() -> Vec<u8> {
    let mut raw = b"From: a@example.com\r\nSubject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for _ in 0..200_000 {
        raw.extend(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    raw.extend(b"--b--\r\n");
    raw
}

fn big_message(i: usize) -> Vec<u8> {
    let mut raw = format!("Subject: big {i}\r\n\r\n").into_bytes();
    raw.extend(vec![b'a'; 4 << 20]);
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_and_large_feeds_keep_memory_small() {
    let mut report = Vec::new();
    let headers = many_headers();
    let (summary, grown) = peak_growth_mib(|| Summary::of(&headers));
    report.push(format!(
        "summary of {} MiB with 1,000,000 header lines: peak +{grown} MiB",
        headers.len() >> 20
    ));
    assert!(
        summary.parsed && summary.subject.as_deref() == Some("many headers"),
        "{summary:?}"
    );
    assert!(grown < 24, "{}", report.last().unwrap());

    let parts = many_parts();
    let (text, grown) = peak_growth_mib(|| text_of(&parts));
    report.push(format!(
        "text of {} MiB with 200,000 parts: peak +{grown} MiB",
        parts.len() >> 20
    ));
    assert!(!text.is_empty());
    assert!(grown < 24, "{}", report.last().unwrap());
    let (summary, grown) = peak_growth_mib(|| Summary::of(&parts));
    report.push(format!("summary of the same: peak +{grown} MiB"));
    assert!(summary.parsed, "{summary:?}");
    assert!(grown < 24, "{}", report.last().unwrap());

    // A feed over twelve messages of 4 MiB: a page holds a bounded number of bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let store = Store::open(&path).unwrap();
        for i in 0..12 {
            let raw = big_message(i);
            store
                .commit_batch(&[NewMessage {
                    account: "a".into(),
                    server_key: format!("pop3:{i}"),
                    listed_size: raw.len() as u64,
                    summary: Summary::of(&raw),
                    content_hash: *blake3::hash(&raw).as_bytes(),
                    raw,
                    delete_after: false,
                }])
                .unwrap();
        }
    }
    let config = mail_ingest::Config::new(&path);
    let ingest = support::config::on_demand(config).await;
    let mut feed = ingest.subscribe("reader").unwrap();
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:");
    let first = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .unwrap()
        .unwrap();
    let grown = status_kib("VmHWM:").saturating_sub(before) >> 10;
    report.push(format!(
        "first message of a feed over 12 x 4 MiB: peak +{grown} MiB"
    ));
    assert_eq!(first.id, 1);
    assert!(grown < 30, "{}", report.last().unwrap());
    drop(feed);
    ingest.shutdown().await.unwrap();
    eprintln!("{}", report.join("\n"));
}
