//! `account set NAME key=value ...` and `account remove NAME`: the config file changed in
//! place by the same code as the web console and `PUT /api/accounts/{name}` (comments kept,
//! checked like `validate`, written atomically), then a running daemon told to reload.

use std::path::Path;

use axum::http::Method;
use mail_ingest::config::Loaded;
use mail_ingest::config::edit::{Change, ConfigFile, EditError, Mode};
use mail_ingest::error::chain;
use mail_ingest::store::{Store, StoreError};

use super::args::{AccountAction, Outcome};
use super::source;

pub async fn run(config_path: &Path, action: &AccountAction) -> Outcome {
    let file = ConfigFile::new(config_path);
    let (name, written) = match action {
        AccountAction::Set { name, values } => {
            let changes: Vec<Change> = match values.iter().map(|v| change_of(v)).collect() {
                Ok(changes) => changes,
                Err(why) => {
                    eprintln!("error: {why}");
                    return Outcome::Usage;
                }
            };
            let written = match file.change_account(name, Mode::Update, &changes, None) {
                Err(EditError::Unknown(_)) => {
                    file.change_account(name, Mode::Create, &changes, None)
                }
                other => other,
            };
            (name, written)
        }
        AccountAction::Remove { name } => (name, file.remove_account(name, None)),
    };
    match written {
        Ok(loaded) => {
            println!("accounts.{name}: saved to {}", config_path.display());
            reload_daemon(&loaded).await
        }
        Err(EditError::Invalid(issues)) => {
            for issue in &issues {
                println!("{issue}");
            }
            println!("{}: not changed", config_path.display());
            Outcome::Usage
        }
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::Usage
        }
    }
}

/// `key=value` (the value as in TOML, or else a string); `key=` leaves the key out.
fn change_of(text: &str) -> Result<Change, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "`{text}` is not key=value (e.g. port=995, address=pop.example.com, connector=)"
        ));
    };
    let key = key.trim().to_string();
    let value = value.trim();
    if value.is_empty() {
        return Ok(Change::Remove(key));
    }
    let parsed = value
        .parse::<toml_edit::Value>()
        .unwrap_or_else(|_| value.into());
    Ok(Change::Set(key, parsed))
}

/// Asks the daemon that holds the store, when one runs, to apply the written file.
async fn reload_daemon(loaded: &Loaded) -> Outcome {
    match Store::open(&loaded.config.store.path) {
        Err(StoreError::InUse(_)) => {}
        _ => return Outcome::Ok,
    }
    let answer = async {
        let client = source::daemon(&loaded.config).await?;
        let body = client.request(Method::POST, "/api/reload").await?;
        anyhow::Ok(String::from_utf8_lossy(&body).into_owned())
    };
    match answer.await {
        Ok(body) => {
            println!("the running daemon reloaded: {body}");
            Outcome::Ok
        }
        Err(e) => {
            eprintln!(
                "error: the file was saved, but the running daemon could not be told to reload ({}); send it SIGHUP",
                chain(e.as_ref())
            );
            Outcome::Failed
        }
    }
}
