//! `export`, `backup`, `compact`, `retention`, `subscribers` and `unsubscribe`: on the store
//! file, or through the daemon that holds it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hyper::Method;
use mail_ingest::config::Config;
use mail_ingest::export::{Export, ExportFormat};
use mail_ingest::http::client::{DaemonClient, DaemonError, REPORT_TIMEOUT};
use mail_ingest::model::MessageMeta;
use std::sync::Arc;

use mail_ingest::retention::RetentionRun;
use mail_ingest::store::maintain;
use mail_ingest::store::{Backup, Compacted, Store, Subscriber};

use super::args::{Cli, Command, Format, Outcome};
use super::reports::{fail, print};
use super::source::Source;

/// Messages asked for at a time while an export lists what to write.
const PAGE: usize = 500;

pub async fn run(cli: &Cli, config: &Config) -> Outcome {
    let source = match Source::open(config).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match &cli.command {
        Command::Export { account, to } => {
            let format = match cli.format {
                None | Some(Format::Maildir) => ExportFormat::Maildir,
                Some(Format::Mbox) => ExportFormat::Mbox,
                Some(Format::Eml) => ExportFormat::Eml,
                Some(Format::Table | Format::Json) => {
                    eprintln!("error: export writes --format maildir (the default), mbox or eml");
                    return Outcome::Usage;
                }
            };
            match export(&source, account, to, format).await {
                Ok(line) => {
                    println!("{line}");
                    Outcome::Ok
                }
                Err(e) => fail(e),
            }
        }
        Command::Backup { file } => print(backup(&source, file).await, cli.report_format(), |b| {
            format!(
                "backup: {} ({} bytes, {} messages); restore: stop the daemon, copy it over {}\n",
                b.to,
                b.bytes,
                b.messages,
                config.store.path.display()
            )
        }),
        Command::Compact => print(compact(&source).await, cli.report_format(), |c| {
            format!("compacted: {} bytes before, {} after\n", c.before, c.after)
        }),
        Command::Retention => print(
            retention(source, config).await,
            cli.report_format(),
            |runs| {
                if runs.is_empty() {
                    return "no account sets keep_for or keep_max\n".into();
                }
                runs.iter()
                .map(|r| {
                    format!(
                        "{}: removed {} ({} bytes), held for subscribers {}, held for owed deletes {}, {} bytes kept\n",
                        r.account, r.removed, r.removed_bytes, r.held_by_subscriber, r.held_by_delete, r.held_bytes
                    )
                })
                .collect()
            },
        ),
        Command::Subscribers => print(subscribers(&source).await, cli.report_format(), |subs| {
            let mut t = String::from("SUBSCRIBER  ACKNOWLEDGED  BEHIND\n");
            for s in subs {
                t.push_str(&format!("{}  {}  {}\n", s.name, s.acknowledged, s.behind));
            }
            t
        }),
        Command::Unsubscribe { name } => match unsubscribe(&source, name).await {
            Ok(true) => {
                println!("{name}: forgotten; retention no longer keeps messages for it");
                Outcome::Ok
            }
            Ok(false) => fail(anyhow::anyhow!("no subscriber `{name}`")),
            Err(e) => fail(e),
        },
        _ => unreachable!("dispatch sends only maintenance commands here"),
    }
}

fn nothing_stored() -> anyhow::Error {
    anyhow::anyhow!("nothing is stored yet: the store file does not exist")
}

async fn backup(source: &Source, file: &Path) -> anyhow::Result<Backup> {
    let to = std::path::absolute(file).context("the backup's path")?;
    match source {
        Source::Store(Some(s)) => Ok(s.backup(&to)?),
        Source::Store(None) => Err(nothing_stored()),
        Source::Daemon(c) => {
            // The daemon sends a consistent copy; it is written here, in this process's view
            // of the file system (a daemon under systemd may see another /tmp, or none).
            maintain::check_backup_target(&to)?;
            let temporary = maintain::unique_beside(&to);
            let mut out = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)
                .await
                .with_context(|| format!("cannot write the backup `{}`", to.display()))?;
            let received = c.download(Method::POST, "/api/backup", &mut out).await;
            drop(out);
            if let Err(e) = received {
                let _ = std::fs::remove_file(&temporary);
                return Err(e.into());
            }
            Ok(maintain::finish_backup(&temporary, &to)?)
        }
    }
}

async fn retention(source: Source, config: &Config) -> anyhow::Result<Vec<RetentionRun>> {
    match source {
        Source::Store(Some(s)) => Ok(mail_ingest::retention::run_once(&Arc::new(s), config).await?),
        Source::Store(None) => Ok(Vec::new()),
        Source::Daemon(c) => Ok(c.json(Method::POST, "/api/retention", None).await?),
    }
}

async fn subscribers(source: &Source) -> anyhow::Result<Vec<Subscriber>> {
    match source {
        Source::Store(Some(s)) => Ok(s.subscribers()?),
        Source::Store(None) => Ok(Vec::new()),
        Source::Daemon(c) => Ok(c
            .json(Method::GET, "/api/subscribers", Some(REPORT_TIMEOUT))
            .await?),
    }
}

async fn unsubscribe(source: &Source, name: &str) -> anyhow::Result<bool> {
    match source {
        Source::Store(Some(s)) => Ok(s.remove_subscriber(name)?),
        Source::Store(None) => Ok(false),
        Source::Daemon(c) => match c
            .request(
                Method::DELETE,
                &format!("/api/subscribers/{}", path_segment(name)),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(DaemonError::Status { status, .. }) if status == hyper::StatusCode::NOT_FOUND => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        },
    }
}

async fn compact(source: &Source) -> anyhow::Result<Compacted> {
    match source {
        Source::Store(Some(s)) => Ok(s.compact()?),
        Source::Store(None) => Err(nothing_stored()),
        Source::Daemon(c) => Ok(c.json(Method::POST, "/api/compact", None).await?),
    }
}

/// Exports `account`, oldest first; returns the line that says what was written.
async fn export(
    source: &Source,
    account: &str,
    to: &Path,
    format: ExportFormat,
) -> anyhow::Result<String> {
    let listed = list(source, account).await?;
    if listed.is_empty() {
        anyhow::bail!("no message of `{account}` is stored");
    }
    let mut out = Export::start(to, account, format)
        .with_context(|| format!("cannot write into `{}`", to.display()))?;
    let total = listed.len();
    let mut gone = 0u64;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (n, (id, received)) in listed.iter().rev().enumerate() {
        let raw = match source {
            Source::Store(Some(s)) => s.raw(*id)?,
            Source::Store(None) => None,
            Source::Daemon(c) => {
                match c
                    .request(Method::GET, &format!("/api/messages/{id}/raw"))
                    .await
                {
                    Ok(bytes) => Some(bytes.to_vec()),
                    // Removed meanwhile (retention): nothing left to export.
                    Err(DaemonError::Status { status, .. })
                        if status == hyper::StatusCode::NOT_FOUND =>
                    {
                        None
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let Some(raw) = raw else {
            gone += 1;
            continue;
        };
        out.add(*id, received, &raw)
            .with_context(|| format!("cannot write message {id} into `{}`", to.display()))?;
        if terminal && (n % 100 == 99 || n + 1 == total) {
            eprint!("\rexported {}/{total}", n + 1);
        }
    }
    if terminal && total > 0 {
        eprintln!();
    }
    let (written, bytes, added) = (out.written, out.bytes, out.line_breaks_added);
    let place: PathBuf = out.finish()?;
    let mut line = format!(
        "exported {written} messages ({bytes} bytes) of {account} to {}",
        place.display()
    );
    if gone > 0 {
        line.push_str(&format!("; {gone} left the store meanwhile (retention)"));
    }
    if added > 0 {
        line.push_str(&format!(
            "; {added} without a final line break got one (an mbox needs it)"
        ));
    }
    Ok(line)
}

/// Every stored message of `account` as (id, received time), newest first.
async fn list(source: &Source, account: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page: Vec<MessageMeta> = match source {
            Source::Store(Some(s)) => page_of_store(s, account, before)?,
            Source::Store(None) => Vec::new(),
            Source::Daemon(c) => page_of_daemon(c, account, before).await?,
        };
        let last = page.last().map(|m| m.id);
        all.extend(page.iter().map(|m| (m.id, m.received_at.clone())));
        if page.len() < PAGE {
            return Ok(all);
        }
        before = last;
    }
}

fn page_of_store(
    s: &Store,
    account: &str,
    before: Option<u64>,
) -> anyhow::Result<Vec<MessageMeta>> {
    Ok(mail_ingest::report::inbox(s, account, Some(PAGE), before)?)
}

async fn page_of_daemon(
    c: &DaemonClient,
    account: &str,
    before: Option<u64>,
) -> anyhow::Result<Vec<MessageMeta>> {
    let mut path = format!(
        "/api/accounts/{}/messages?limit={PAGE}",
        path_segment(account)
    );
    if let Some(b) = before {
        path.push_str(&format!("&before={b}"));
    }
    Ok(c.json(Method::GET, &path, Some(REPORT_TIMEOUT)).await?)
}

/// `text` as one segment of a URL's path: every byte but the unreserved ones
/// percent-encoded.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
