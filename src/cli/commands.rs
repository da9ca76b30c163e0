//! One function per command.

use std::path::Path;

use mail_ingest::config::{Config, Loaded, Severity};
use mail_ingest::http::client::DaemonClient;
use mail_ingest::imap::ImapSession;
use mail_ingest::model::CheckSummary;
use mail_ingest::pop3::Pop3Session;
use mail_ingest::store::{Store, StoreError};
use mail_ingest::{MailIngest, Options};

use super::{Cli, Command, Format, Outcome};

pub async fn dispatch(cli: Cli) -> Outcome {
    match &cli.command {
        Command::Validate => validate(&cli.config),
        Command::Run => match load(&cli.config) {
            Some(loaded) => super::daemon::run(&cli.config, loaded.config).await,
            None => Outcome::Usage,
        },
        Command::Test { account } => match load(&cli.config) {
            Some(loaded) => test(&loaded.config, account).await,
            None => Outcome::Usage,
        },
        Command::Check { accounts, all } => match load(&cli.config) {
            Some(loaded) => check(&loaded.config, accounts, *all, cli.format).await,
            None => Outcome::Usage,
        },
        Command::Accounts | Command::Inbox { .. } | Command::Show { .. } => match load(&cli.config)
        {
            Some(loaded) => super::reports::run(&cli, &loaded.config).await,
            None => Outcome::Usage,
        },
    }
}

/// Loads the config, printing every problem; `None` when it has errors.
fn load(path: &Path) -> Option<Loaded> {
    match Config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{}: {}", w.path, w.message);
            }
            Some(loaded)
        }
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

fn validate(path: &Path) -> Outcome {
    match Config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            let c = &loaded.config;
            println!(
                "{}: valid ({} accounts, {} enabled; {} connectors; {} credentials; {} warnings)",
                path.display(),
                c.accounts.len(),
                c.enabled_accounts().count(),
                c.connectors.len(),
                c.credentials.len(),
                loaded.warnings.len()
            );
            Outcome::Ok
        }
        Err(e) => {
            match e.issues() {
                [] => println!("error: {e}"),
                issues => {
                    for i in issues {
                        println!("{i}");
                    }
                    let errors = issues
                        .iter()
                        .filter(|i| i.severity == Severity::Error)
                        .count();
                    println!("{}: invalid ({errors} errors)", path.display());
                }
            }
            Outcome::Usage
        }
    }
}

async fn test(config: &Config, name: &str) -> Outcome {
    let Some(account) = config.accounts.get(name) else {
        eprintln!("error: {}", config.unknown_account(name));
        return Outcome::Usage;
    };
    let (user, password) = match config.password_of(&account.credential) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{name}: cannot read the password: {e}");
            return Outcome::Failed;
        }
    };
    let connector = account
        .connector
        .as_ref()
        .and_then(|c| config.connectors.get(c))
        .map(|c| {
            let auth = c
                .credential
                .as_ref()
                .and_then(|cr| config.password_of(cr).ok());
            mail_ingest::net::ConnectorHandle::new(c, auth)
        });
    let via = account
        .connector
        .as_deref()
        .map(|c| format!(" via connector `{c}`"))
        .unwrap_or_default();
    let result = match account.protocol {
        mail_ingest::config::Protocol::Imap => {
            match ImapSession::open(account, connector.as_ref(), &user, &password).await {
                Ok(s) => {
                    let line = format!(
                        "capabilities: {}\nmailbox {}: {} messages (UIDVALIDITY {})",
                        s.capabilities.join(" "),
                        account.mailbox,
                        s.exists,
                        s.uidvalidity
                    );
                    let _ = mail_ingest::check::Session::finish(s).await;
                    Ok(line)
                }
                Err(e) => Err(e),
            }
        }
        mail_ingest::config::Protocol::Pop3 => {
            match Pop3Session::open(account, connector.as_ref(), &user, &password).await {
                Ok(mut s) => {
                    let caps = s.capabilities.lines.join(" ");
                    match s.stat().await {
                        Ok((n, size)) => {
                            let _ = mail_ingest::check::Session::finish(s).await;
                            Ok(format!(
                                "capabilities: {caps}\nmaildrop: {n} messages, {size} bytes"
                            ))
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(text) => {
            println!(
                "{name}: connected to {}:{}{via} ({}), logged in as {user}",
                account.address,
                account.port,
                account.tls.as_str()
            );
            println!("{text}");
            Outcome::Ok
        }
        Err(e) => {
            println!("{name}: failed at {}: {e}", e.stage.as_str());
            Outcome::Failed
        }
    }
}

async fn check(config: &Config, names: &[String], all: bool, format: Format) -> Outcome {
    let names: Vec<String> = if all {
        config.enabled_accounts().map(|a| a.name.clone()).collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        eprintln!("error: name the accounts to check, or use --all");
        return Outcome::Usage;
    }
    for n in &names {
        match config.accounts.get(n) {
            None => {
                eprintln!("error: {}", config.unknown_account(n));
                return Outcome::Usage;
            }
            Some(a) if !a.enabled => {
                eprintln!("error: account `{n}` is disabled; set enabled = true to check it");
                return Outcome::Usage;
            }
            Some(_) => {}
        }
    }
    let summaries = match check_locally(config, &names).await {
        Ok(s) => s,
        Err(StoreError::InUse(_)) => match check_via_daemon(config, &names).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Outcome::Failed;
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::Failed;
        }
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summaries).expect("summaries serialize")
        ),
        Format::Table => {
            for s in &summaries {
                println!("{}", s.line());
            }
        }
    }
    if summaries.iter().any(|s| s.error.is_some()) {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

/// Runs the checks in this process (no daemon holds the store).
async fn check_locally(config: &Config, names: &[String]) -> Result<Vec<CheckSummary>, StoreError> {
    let ingest = match MailIngest::start_with(
        config.clone(),
        Options {
            automatic_checks: false,
        },
    )
    .await
    {
        Ok(i) => i,
        Err(mail_ingest::IngestError::Store(e)) => return Err(e),
        Err(e) => {
            return Err(StoreError::Open(
                config.store.path.clone(),
                e.to_string().into(),
            ));
        }
    };
    let checks = names.iter().map(|n| {
        let ingest = &ingest;
        async move {
            ingest.check_now(n).await.unwrap_or_else(|e| CheckSummary {
                account: n.clone(),
                errors: 1,
                error: Some(e.to_string()),
                ..Default::default()
            })
        }
    });
    let bars = std::io::IsTerminal::is_terminal(&std::io::stderr())
        .then(|| super::progress::draw(&ingest, names));
    let summaries = futures::future::join_all(checks).await;
    if let Some(bars) = bars {
        bars.finish().await;
    }
    let _ = ingest.shutdown().await;
    Ok(summaries)
}

/// Asks the running daemon to check.
async fn check_via_daemon(config: &Config, names: &[String]) -> Result<Vec<CheckSummary>, String> {
    let client = daemon_client(config)?;
    let checks = names.iter().map(|n| {
        let client = &client;
        async move {
            let path = format!("/api/accounts/{n}/check");
            match client.request(hyper::Method::POST, &path).await {
                Ok((status, body)) if status.is_success() => serde_json::from_slice(&body)
                    .map_err(|e| format!("bad answer from the daemon: {e}")),
                Ok((status, body)) => Ok(CheckSummary {
                    account: n.clone(),
                    errors: 1,
                    error: Some(format!(
                        "daemon answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    )),
                    ..Default::default()
                }),
                Err(e) => Err(e),
            }
        }
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .collect()
}

/// The client for the daemon that holds the store, with the API token when configured.
pub fn daemon_client(config: &Config) -> Result<DaemonClient, String> {
    let token = match &config.http.token {
        Some(src) => Some(src.resolve().map_err(|e| format!("http.token: {e}"))?),
        None => None,
    };
    DaemonClient::find(&config.store.path, token)
}

/// Opens the store for reading when it exists; `Ok(None)` when nothing was stored yet.
pub fn open_store(config: &Config) -> Result<Option<Store>, StoreError> {
    if !config.store.path.exists() {
        return Ok(None);
    }
    Store::open(&config.store.path).map(Some)
}
