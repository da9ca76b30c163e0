//! One function per command.

use std::path::Path;
use std::sync::Arc;

use mail_ingest::config::{Config, Credential, Grant, Loaded, Severity};
use mail_ingest::error::chain;
use mail_ingest::http::client::DaemonError;
use mail_ingest::model::CheckSummary;
use mail_ingest::oauth2::{MemoryRefreshTokens, RefreshTokens, StoreRefreshTokens};
use mail_ingest::server::AccountServer;
use mail_ingest::shared::Shared;
use mail_ingest::store::{Store, StoreError};
use mail_ingest::text::printable_line;
use mail_ingest::{IngestError, MailIngest, Options};

use super::args::{Cli, Command, Format, Outcome};
use super::source;

pub async fn dispatch(cli: Cli) -> Outcome {
    if !cli.report_format().is_report() && !matches!(cli.command, Command::Export { .. }) {
        eprintln!(
            "error: --format maildir, mbox and eml are for export; reports print table or json"
        );
        return Outcome::Usage;
    }
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
            Some(loaded) => check(&loaded.config, accounts, *all, cli.report_format()).await,
            None => Outcome::Usage,
        },
        Command::Account { action } => super::settings::run(&cli.config, action).await,
        Command::Export { .. }
        | Command::Backup { .. }
        | Command::Compact
        | Command::Retention
        | Command::Subscribers
        | Command::Unsubscribe { .. } => match load(&cli.config) {
            Some(loaded) => super::maintenance::run(&cli, &loaded.config).await,
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
            eprintln!("{}", chain(&e));
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
                [] => println!("error: {}", chain(&e)),
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
    let Some(credential) = config.credentials.get(&account.credential) else {
        eprintln!("{name}: unknown credential `{}`", account.credential);
        return Outcome::Failed;
    };
    let kept = match refresh_tokens(config, credential) {
        Ok(kept) => kept,
        Err(e) => {
            eprintln!("{name}: {e}");
            return Outcome::Failed;
        }
    };
    let shared = Shared::build(None, config, &kept);
    let server = AccountServer::new(
        account.clone(),
        shared.connector(account),
        shared.authority(config, account),
    );
    match server.probe().await {
        Ok(tested) => {
            println!(
                "{name}: {}, logged in as {} with {}",
                tested.connected, credential.username, tested.login
            );
            println!(
                "capabilities: {}",
                printable_line(&tested.capabilities.join(" "))
            );
            println!("{}", printable_line(&tested.mailbox));
            Outcome::Ok
        }
        Err(e) => {
            println!(
                "{name}: failed at {}: {}",
                e.stage.as_str(),
                printable_line(&e.message)
            );
            Outcome::Failed
        }
    }
}

/// Where `test` keeps a rotated refresh token: in the store for the `refresh_token` grant
/// (the provider may revoke the one it replaces), nowhere for the others. A store the daemon
/// holds cannot take it, so such a credential is tested only while the daemon is stopped.
fn refresh_tokens(
    config: &Config,
    credential: &Credential,
) -> Result<Arc<dyn RefreshTokens>, String> {
    let rotates = credential
        .oauth2()
        .is_some_and(|o| matches!(o.grant, Grant::RefreshToken { .. }));
    if !rotates {
        return Ok(Arc::new(MemoryRefreshTokens::default()));
    }
    match Store::open(&config.store.path) {
        Ok(store) => Ok(Arc::new(StoreRefreshTokens(Arc::new(store)))),
        Err(StoreError::InUse(_)) => Err("the running daemon holds the store, where this credential's latest refresh token is kept, and a test could make the provider revoke it; stop the daemon to test this account, or read its state with `accounts`".into()),
        Err(e) => Err(chain(&e)),
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
        Err(IngestError::Store(StoreError::InUse(_))) => {
            match check_via_daemon(config, &names).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {}", printable_line(&format!("{e:#}")));
                    return Outcome::Failed;
                }
            }
        }
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            return Outcome::Failed;
        }
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summaries).expect("summaries serialize")
        ),
        // Dispatch let only the report formats through.
        _ => {
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
async fn check_locally(
    config: &Config,
    names: &[String],
) -> Result<Vec<CheckSummary>, IngestError> {
    let options = Options {
        automatic_checks: false,
    };
    let ingest = MailIngest::start_with(config.clone(), options).await?;
    let checks = names.iter().map(|n| {
        let ingest = &ingest;
        async move {
            ingest.check_now(n).await.unwrap_or_else(|e| CheckSummary {
                account: n.clone(),
                errors: 1,
                error: Some(chain(&e)),
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
async fn check_via_daemon(config: &Config, names: &[String]) -> anyhow::Result<Vec<CheckSummary>> {
    let client = source::daemon(config).await?;
    let checks = names.iter().map(|n| {
        let client = &client;
        async move {
            let path = format!("/api/accounts/{n}/check");
            match client.json(hyper::Method::POST, &path, None).await {
                Ok(summary) => Ok(summary),
                Err(e @ DaemonError::Status { .. }) => Ok(CheckSummary {
                    account: n.clone(),
                    errors: 1,
                    error: Some(chain(&e)),
                    ..Default::default()
                }),
                Err(e) => Err(e.into()),
            }
        }
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .collect()
}
