//! Text a server or a sender controls never reaches the terminal as control characters or
//! escape sequences: a Subject or From that clears the screen, retitles the window or rings
//! the bell, a message text full of them, and a server's error with them, shown by `check`,
//! `accounts`, `inbox` and `show`.

mod support;

use std::path::Path;
use std::process::Command;

use support::fake::{FakeServer, Kind, Quirks};

const BIN: &str = env!("CARGO_BIN_EXE_mail-ingest");

const HOSTILE: &[u8] = b"From: \x1b[31mEvil\x1b[0m \x07<evil@example.com>\r\n\
Subject: \x1b[2J\x1b]0;owned\x07Hello\x9b31m there\r\n\
To: you@example.com\r\n\
\r\n\
Body \x1b[5mblinking\x1b[0m text\x08\x08\x08 and a bell \x07.\r\n";

/// Control characters a terminal acts on: C0 but tab and line feed, DEL, and C1 (as
/// characters: U+0080 to U+009F).
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n' && *c != '\t') || ('\u{80}'..='\u{9f}').contains(c)
        })
        .collect()
}

fn run(config: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_sender_text_is_printed_without_control_characters() {
    let mail = FakeServer::start(Kind::Imap, vec![HOSTILE.to_vec()]).await;
    let rude = FakeServer::start(Kind::Imap, vec![]).await;
    rude.set_quirks(Quirks {
        corrupt_answer: Some((0, b"* BYE \x1b[31mgo \x1b]0;away\x07\x1b[0m\r\n".to_vec())),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mail-ingest.toml");
    let account = |name: &str, port: u16| {
        format!(
            "[accounts.{name}]\nprotocol = \"imap\"\naddress = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ncredential = \"c\"\nautomatic_check = false\nconnect_timeout = \"2s\"\nio_timeout = \"2s\"\n"
        )
    };
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"store.redb\"\n[credentials.c]\nusername = \"u\"\npassword = {{ value = \"pw\" }}\n{}{}",
            account("mail", mail.port),
            account("rude", rude.port)
        ),
    )
    .unwrap();
    let outputs = tokio::task::spawn_blocking(move || {
        let mut outputs = vec![run(&config, &["check", "mail", "rude"])];
        for args in [&["accounts"][..], &["inbox", "mail"], &["show", "1"]] {
            outputs.push(run(&config, args));
        }
        outputs
    })
    .await
    .unwrap();
    assert!(
        outputs[3].contains("Hello"),
        "the message was stored and shown: {}",
        outputs[3]
    );
    assert!(
        outputs[1].contains("go"),
        "the server's error is in the report: {}",
        outputs[1]
    );
    for (out, what) in outputs.iter().zip(["check", "accounts", "inbox", "show"]) {
        assert_eq!(
            controls(out),
            Vec::<char>::new(),
            "`{what}` printed control characters:\n{out:?}"
        );
        assert!(
            !out.contains("]0;") && !out.contains("[31m"),
            "`{what}` printed the remains of an escape sequence:\n{out}"
        );
    }
}
