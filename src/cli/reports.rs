//! `accounts`, `inbox` and `show`: read the store directly, or ask the daemon that holds it.

use std::io::Write;

use hyper::{Method, StatusCode};
use mail_ingest::config::Config;
use mail_ingest::http::client::{DaemonError, REPORT_TIMEOUT};
use mail_ingest::model::{AccountReport, MessageDetail, MessageMeta};
use mail_ingest::report;
use mail_ingest::text::printable_line;

use super::args::{Cli, Command, Format, Outcome};
use super::source::Source;

pub async fn run(cli: &Cli, config: &Config) -> Outcome {
    let source = match Source::open(config).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match &cli.command {
        Command::Accounts => print(accounts(&source, config).await, cli.report_format(), |r| {
            report::accounts_table(r)
        }),
        Command::Inbox {
            account,
            limit,
            before,
        } => {
            if !config.accounts.contains_key(account) {
                eprintln!("error: {}", config.unknown_account(account));
                return Outcome::Usage;
            }
            let rows = inbox(&source, account, *limit, *before).await;
            print(rows, cli.report_format(), |r| report::inbox_table(r))
        }
        Command::Show { id, raw: true } => match raw(&source, *id).await {
            Ok(Some(b)) => {
                let mut out = std::io::stdout().lock();
                if out.write_all(&b).and_then(|_| out.flush()).is_err() {
                    return Outcome::Failed;
                }
                Outcome::Ok
            }
            Ok(None) => fail(anyhow::anyhow!("no message {id}")),
            Err(e) => fail(e),
        },
        Command::Show { id, raw: false } => match message(&source, *id).await {
            Ok(Some(m)) => print(Ok(m), cli.report_format(), report::message_text),
            Ok(None) => fail(anyhow::anyhow!("no message {id}")),
            Err(e) => fail(e),
        },
        _ => unreachable!("dispatch sends only report commands here"),
    }
}

async fn accounts(source: &Source, config: &Config) -> anyhow::Result<Vec<AccountReport>> {
    Ok(match source {
        Source::Store(s) => report::accounts(config, s.as_ref(), None)?,
        Source::Daemon(c) => {
            c.json(Method::GET, "/api/accounts", Some(REPORT_TIMEOUT))
                .await?
        }
    })
}

async fn inbox(
    source: &Source,
    account: &str,
    limit: usize,
    before: Option<u64>,
) -> anyhow::Result<Vec<MessageMeta>> {
    Ok(match source {
        Source::Store(Some(s)) => report::inbox(s, account, Some(limit), before)?,
        Source::Store(None) => Vec::new(),
        Source::Daemon(c) => {
            let mut path = format!("/api/accounts/{account}/messages?limit={limit}");
            if let Some(b) = before {
                path.push_str(&format!("&before={b}"));
            }
            c.json(Method::GET, &path, Some(REPORT_TIMEOUT)).await?
        }
    })
}

async fn raw(source: &Source, id: u64) -> anyhow::Result<Option<Vec<u8>>> {
    match source {
        Source::Store(Some(s)) => Ok(s.raw(id)?),
        Source::Store(None) => Ok(None),
        Source::Daemon(c) => {
            let path = format!("/api/messages/{id}/raw");
            not_found_is_none(c.request(Method::GET, &path).await.map(|b| b.to_vec()))
        }
    }
}

async fn message(source: &Source, id: u64) -> anyhow::Result<Option<MessageDetail>> {
    match source {
        Source::Store(Some(s)) => Ok(report::message(s, id)?),
        Source::Store(None) => Ok(None),
        Source::Daemon(c) => not_found_is_none(
            c.json(
                Method::GET,
                &format!("/api/messages/{id}"),
                Some(REPORT_TIMEOUT),
            )
            .await,
        ),
    }
}

/// A daemon's 404 means "no such message".
fn not_found_is_none<T>(answer: Result<T, DaemonError>) -> anyhow::Result<Option<T>> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(DaemonError::Status {
            status: StatusCode::NOT_FOUND,
            ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn fail(e: anyhow::Error) -> Outcome {
    eprintln!("error: {}", printable_line(&format!("{e:#}")));
    Outcome::Failed
}

pub fn print<T: serde::Serialize>(
    value: anyhow::Result<T>,
    format: Format,
    table: impl Fn(&T) -> String,
) -> Outcome {
    match value {
        Ok(v) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("reports serialize")
                ),
                // Dispatch let only the report formats through.
                _ => print!("{}", table(&v)),
            }
            Outcome::Ok
        }
        Err(e) => fail(e),
    }
}
