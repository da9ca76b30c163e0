//! `accounts`, `inbox` and `show`: read the store directly, or ask the daemon that holds it.

use std::io::Write;

use mail_ingest::config::Config;
use mail_ingest::model::{AccountReport, MessageDetail, MessageMeta};
use mail_ingest::report;
use mail_ingest::store::StoreError;

use super::commands::{daemon_client, open_store};
use super::{Cli, Command, Format, Outcome};

/// Where the reports come from.
enum Source {
    Store(Option<mail_ingest::store::Store>),
    Daemon(mail_ingest::http::client::DaemonClient),
}

pub async fn run(cli: &Cli, config: &Config) -> Outcome {
    let source = match open_store(config) {
        Ok(store) => Source::Store(store),
        Err(StoreError::InUse(_)) => match daemon_client(config) {
            Ok(c) => Source::Daemon(c),
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e.to_string()),
    };
    match &cli.command {
        Command::Accounts => {
            let rows: Result<Vec<AccountReport>, String> = match &source {
                Source::Store(s) => {
                    report::accounts(config, s.as_ref(), None).map_err(|e| e.to_string())
                }
                Source::Daemon(c) => get_json(c, "/api/accounts").await,
            };
            print(rows, cli.format, |r| report::accounts_table(r))
        }
        Command::Inbox {
            account,
            limit,
            before,
        } => {
            if !config.accounts.contains_key(account) {
                eprintln!("error: {}", config.unknown_account(account));
                return Outcome::Usage;
            }
            let rows: Result<Vec<MessageMeta>, String> = match &source {
                Source::Store(Some(s)) => {
                    report::inbox(s, account, Some(*limit), *before).map_err(|e| e.to_string())
                }
                Source::Store(None) => Ok(Vec::new()),
                Source::Daemon(c) => {
                    let mut path = format!("/api/accounts/{account}/messages?limit={limit}");
                    if let Some(b) = before {
                        path.push_str(&format!("&before={b}"));
                    }
                    get_json(c, &path).await
                }
            };
            print(rows, cli.format, |r| report::inbox_table(r))
        }
        Command::Show { id, raw: true } => {
            let bytes: Result<Option<Vec<u8>>, String> = match &source {
                Source::Store(Some(s)) => s.raw(*id).map_err(|e| e.to_string()),
                Source::Store(None) => Ok(None),
                Source::Daemon(c) => match c
                    .request(hyper::Method::GET, &format!("/api/messages/{id}/raw"))
                    .await
                {
                    Ok((status, body)) if status.is_success() => Ok(Some(body.to_vec())),
                    Ok((hyper::StatusCode::NOT_FOUND, _)) => Ok(None),
                    Ok((status, body)) => Err(format!(
                        "daemon answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    )),
                    Err(e) => Err(e),
                },
            };
            match bytes {
                Ok(Some(b)) => {
                    let mut out = std::io::stdout().lock();
                    if out.write_all(&b).and_then(|_| out.flush()).is_err() {
                        return Outcome::Failed;
                    }
                    Outcome::Ok
                }
                Ok(None) => fail(&format!("no message {id}")),
                Err(e) => fail(&e),
            }
        }
        Command::Show { id, raw: false } => {
            let msg: Result<Option<MessageDetail>, String> = match &source {
                Source::Store(Some(s)) => report::message(s, *id).map_err(|e| e.to_string()),
                Source::Store(None) => Ok(None),
                Source::Daemon(c) => match get_json(c, &format!("/api/messages/{id}")).await {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.contains("404") => Ok(None),
                    Err(e) => Err(e),
                },
            };
            match msg {
                Ok(Some(m)) => print(Ok(m), cli.format, report::message_text),
                Ok(None) => fail(&format!("no message {id}")),
                Err(e) => fail(&e),
            }
        }
        _ => unreachable!("dispatch sends only report commands here"),
    }
}

fn fail(e: &str) -> Outcome {
    eprintln!("error: {e}");
    Outcome::Failed
}

fn print<T: serde::Serialize>(
    value: Result<T, String>,
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
                Format::Table => print!("{}", table(&v)),
            }
            Outcome::Ok
        }
        Err(e) => fail(&e),
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &mail_ingest::http::client::DaemonClient,
    path: &str,
) -> Result<T, String> {
    let (status, body) = client.request(hyper::Method::GET, path).await?;
    if !status.is_success() {
        return Err(format!(
            "daemon answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("bad answer from the daemon: {e}"))
}
