//! The end-to-end demo behind the README's first command: a private Dovecot on loopback with
//! a few dozen varied messages in an IMAP and a POP3 account, one mail-ingest check of both
//! with the real binary, then the Accounts and an Inbox report.
//!
//! Usage: `demo PATH-TO-mail-ingest` (scripts/demo.sh builds both and runs it).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;

fn main() {
    let binary = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/mail-ingest".into());
    let dovecot = support::Dovecot::start();
    dovecot.add_user("helpdesk", "demo-helpdesk-pw");
    dovecot.add_user("support", "demo-support-pw");
    for i in 0..24 {
        dovecot.deliver("helpdesk", &support::corpus::sample(i));
    }
    for i in 24..36 {
        dovecot.deliver("support", &support::corpus::sample(i));
    }
    let dir = std::path::Path::new("target/demo");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("mail-ingest.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Written by the demo: a private Dovecot on 127.0.0.1 with a test CA.
[store]
path = "mail-ingest.redb"

[http]
listen = "127.0.0.1:0"

[credentials.helpdesk]
username = "helpdesk"
password = {{ value = "demo-helpdesk-pw" }}

[credentials.support]
username = "support"
password = {{ value = "demo-support-pw" }}

[accounts.helpdesk]
protocol = "imap"
address = "localhost"
port = {imaps}
tls = "implicit"
credential = "helpdesk"
ca_file = "{ca}"
keep_copy = true

[accounts.support]
protocol = "pop3"
address = "localhost"
port = {pop3}
tls = "starttls"
credential = "support"
ca_file = "{ca}"
keep_copy = false
"#,
            imaps = dovecot.ports.imaps,
            pop3 = dovecot.ports.pop3,
            ca = std::fs::canonicalize(&support::certs().ca)
                .unwrap()
                .display()
        ),
    )
    .unwrap();
    let step = |args: &[&str]| {
        println!("\n$ mail-ingest -c {} {}", config.display(), args.join(" "));
        let status = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .args(args)
            .env("RUST_LOG", "warn")
            .status()
            .expect("mail-ingest runs");
        if !status.success() && args[0] != "check" {
            panic!("mail-ingest {args:?} failed: {status}");
        }
    };
    step(&["validate"]);
    step(&["test", "helpdesk"]);
    step(&["check", "--all"]);
    step(&["accounts"]);
    step(&["inbox", "helpdesk", "--limit", "10"]);
    step(&["inbox", "support"]);
    step(&["show", "1"]);
    println!(
        "\nThe POP3 account deleted its {} messages on the server after storing them; the IMAP account kept its {}.",
        12,
        dovecot.remaining("helpdesk").len()
    );
    println!(
        "The store is in {}; the demo's Dovecot stops now.",
        dir.join("mail-ingest.redb").display()
    );
}
