//! A notification stage on top of mail-ingest: starts the pipeline from a config file and
//! turns each newly stored message into a one-line notification, acknowledging each after
//! printing it. Stop it with Ctrl-C; started again, it goes on after the last
//! acknowledged message (at-least-once: one printed but not yet acknowledged is printed
//! again).
//!
//! ```sh
//! cargo run --example notify -- target/demo/mail-ingest.toml
//! ```

use std::path::PathBuf;

use mail_ingest::{Config, MailIngest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "mail-ingest.toml".into()),
    );
    let loaded = Config::load(&path)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let ingest = MailIngest::start(loaded.config).await?;
    let mut feed = ingest.subscribe("notify-example")?;
    loop {
        tokio::select! {
            msg = feed.next() => {
                let Some(msg) = msg else { break };
                println!("{}", one_line(&msg));
                feed.ack(msg.id)?;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    ingest.shutdown().await?;
    Ok(())
}

/// `[account] From: Subject (size, attachments)`.
fn one_line(msg: &mail_ingest::FeedMessage) -> String {
    let m = &msg.meta;
    format!(
        "#{} [{}] {}: {} ({} bytes{})",
        m.id,
        m.account,
        m.from.as_deref().unwrap_or("(unknown sender)"),
        m.subject.as_deref().unwrap_or("(no subject)"),
        m.size,
        if m.attachments > 0 {
            format!(", {} attachment(s)", m.attachments)
        } else {
            String::new()
        }
    )
}
