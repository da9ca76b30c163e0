//! A varied and hostile message corpus through a real Dovecot: broken MIME, 8-bit and
//! mis-encoded headers, deep nesting, a huge attachment, no headers at all, binary junk.
//! Every message is stored with its exact bytes; what cannot be parsed is marked and never
//! blocks the mailbox.

mod support;

use mail_ingest::config::{Protocol, TlsMode};
use support::config::{account, config};
use support::{Dovecot, corpus::base64};

fn nested(depth: usize) -> String {
    let mut body = "innermost text\r\n".to_string();
    for d in (0..depth).rev() {
        body = format!(
            "Content-Type: multipart/mixed; boundary=\"b{d}\"\r\n\r\n--b{d}\r\n{body}\r\n--b{d}--\r\n"
        );
    }
    format!("From: deep@example.com\r\nSubject: nested {depth}\r\nMIME-Version: 1.0\r\n{body}")
}

fn hostile_corpus() -> Vec<(&'static str, Vec<u8>, bool)> {
    let huge_attachment = {
        let data: Vec<u8> = (0..6_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let b64: String = base64(&data)
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n");
        format!("From: big@example.com\r\nSubject: huge attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nbig one\r\n--X\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--X--\r\n").into_bytes()
    };
    vec![
        ("broken MIME: no closing boundary", b"From: a@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=NEVER\r\n\r\n--NEVER\r\nContent-Type: text/plain\r\n\r\nno end\r\n".to_vec(), true),
        ("broken MIME: bad boundary parameter", b"From: a@example.com\r\nSubject: bad param\r\nContent-Type: multipart/mixed; boundary\r\n\r\n--\r\n--\r\n".to_vec(), true),
        ("8-bit header", b"From: J\xf6rg <j@example.com>\r\nSubject: Gr\xfc\xdfe aus K\xf6ln\r\n\r\nlatin-1 in headers\r\n".to_vec(), true),
        ("mis-encoded word", b"From: x@example.com\r\nSubject: =?UTF-8?B?!!!notbase64!!!?= =?unknown-charset?Q?caf=E9?=\r\n\r\nbody\r\n".to_vec(), true),
        ("invalid UTF-8 body", b"From: x@example.com\r\nSubject: bytes\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xc3\x28\xa0\xa1\xff\r\n".to_vec(), true),
        ("deep nesting", nested(60).into_bytes(), true),
        ("no headers at all", b"\r\njust a body after an empty line\r\n".to_vec(), false),
        ("binary junk", (0..3000u32).map(|i| (i * 7 % 251) as u8).filter(|b| *b != b'\r' && *b != b'\n' && *b != 0).chain(*b"\r\n").collect(), false),
        ("huge attachment", huge_attachment, true),
        ("header line of 20 kB", format!("From: x@example.com\r\nSubject: {}\r\n\r\nbody\r\n", "s".repeat(20_000)).into_bytes(), true),
        ("bare LF line ends", b"From: lf@example.com\nSubject: bare LF\n\nbody\n".to_vec(), true),
    ]
}

async fn ingest_corpus(protocol: Protocol) {
    let d = Dovecot::start();
    let user = format!("corpus-{}", protocol.as_str());
    d.add_user(&user, "pw");
    let corpus = hostile_corpus();
    for (_, bytes, _) in &corpus {
        d.deliver(&user, bytes);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = account(&user, &d, protocol, TlsMode::Implicit);
    a.keep_copy = false;
    let ingest = support::config::on_demand(config(dir.path(), vec![a], "pw")).await;
    let s = ingest.check_now(&user).await.unwrap();
    assert_eq!(s.error, None, "{protocol:?}: {s:?}");
    assert_eq!(s.stored, corpus.len() as u64, "{protocol:?}: {s:?}");
    assert!(d.remaining(&user).is_empty());
    let stored = ingest.messages(&user, Some(100), None).unwrap();
    for (what, bytes, parses) in &corpus {
        // POP3 and IMAP hand bare-LF files out with CRLF line ends (as Dovecot stores them
        // with LF); compare what the protocol delivered.
        let expected: Vec<u8> = if bytes.windows(2).any(|w| w == b"\r\n") {
            bytes.clone()
        } else {
            String::from_utf8_lossy(bytes)
                .replace('\n', "\r\n")
                .into_bytes()
        };
        let found = stored
            .iter()
            .find(|m| ingest.raw(m.id).unwrap().unwrap() == expected);
        let m = found
            .unwrap_or_else(|| panic!("{protocol:?}: `{what}` not stored with its exact bytes"));
        assert_eq!(m.parsed, *parses, "{protocol:?}: `{what}` parsed flag");
        let detail = ingest.message(m.id).unwrap().unwrap();
        assert!(
            !detail.text.is_empty() || !parses,
            "{protocol:?}: `{what}` has a text"
        );
    }
    ingest.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_stores_every_hostile_message_exactly() {
    ingest_corpus(Protocol::Imap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_stores_every_hostile_message_exactly() {
    ingest_corpus(Protocol::Pop3).await;
}
