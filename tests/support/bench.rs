//! What the benchmarks share: their two numeric arguments and the release binary they time.

use std::path::{Path, PathBuf};

/// The first two non-flag arguments as numbers, each falling back to its default.
pub fn args(defaults: [usize; 2]) -> [usize; 2] {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    [0, 1].map(|i| {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(defaults[i])
    })
}

/// The mail-ingest binary to time: `MAIL_INGEST_BIN`, or the release build.
pub fn release_binary() -> PathBuf {
    let binary = std::env::var("MAIL_INGEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/mail-ingest")
        });
    assert!(
        binary.exists(),
        "build the release binary first: cargo build --release"
    );
    binary
}

/// One message of the benchmarks' mixed profile: 70 % short plain text, 20 % HTML with a
/// text part, 10 % with an attachment of 75-225 KB (about 28 KB on average).
pub fn mixed_message(i: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let head = format!(
        "From: Sender {i} <s{i}@example.com>\r\nTo: helpdesk@example.com\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-{i}@example.com>\r\nMIME-Version: 1.0\r\n"
    );
    let text = |n: usize, rng: &mut fastrand::Rng| -> String {
        let words = [
            "ticket", "server", "mail", "update", "please", "thanks", "invoice", "report",
            "urgent", "status",
        ];
        let mut s = String::with_capacity(n + 80);
        let mut line = 0;
        while s.len() < n {
            s.push_str(words[rng.usize(0..words.len())]);
            s.push(' ');
            line += 1;
            if line % 12 == 0 {
                s.push_str("\r\n");
            }
        }
        s.push_str("\r\n");
        s
    };
    let roll = rng.u32(0..100);
    let body = if roll < 70 {
        format!(
            "{head}Subject: plain {i}\r\nContent-Type: text/plain\r\n\r\n{}",
            text(rng.usize(1000..4000), rng)
        )
    } else if roll < 90 {
        let t = text(rng.usize(5000..15000), rng);
        format!(
            "{head}Subject: html {i}\r\nContent-Type: multipart/alternative; boundary=\"a{i}\"\r\n\r\n--a{i}\r\nContent-Type: text/plain\r\n\r\n{t}--a{i}\r\nContent-Type: text/html\r\n\r\n<html><body><p>{t}</p></body></html>\r\n--a{i}--\r\n"
        )
    } else {
        let n = rng.usize(75_000..225_000);
        let data: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
        let b64 = super::corpus::base64(&data)
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n");
        format!(
            "{head}Subject: attachment {i}\r\nContent-Type: multipart/mixed; boundary=\"m{i}\"\r\n\r\n--m{i}\r\nContent-Type: text/plain\r\n\r\n{}--m{i}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--m{i}--\r\n",
            text(500, rng)
        )
    };
    body.into_bytes()
}
