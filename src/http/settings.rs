//! Changing an account's settings from the web console or the JSON API: the config file
//! edited in place, checked, written, then applied as a reload; one change at a time.

use axum::http::StatusCode;

use super::state::{ApiError, HttpState};
use crate::config::edit::{Change, EditError, Mode};
use crate::config::{Config, Issue};
use crate::error::chain;

/// Why a change was not applied.
pub enum SaveError {
    /// The file was not written: the edit's own error.
    Edit(EditError),
    /// Written, but the running pipeline refused the new config.
    Apply(ApiError),
}

impl SaveError {
    /// The validator's problems, when that is why.
    pub fn issues(&self) -> &[Issue] {
        match self {
            SaveError::Edit(EditError::Invalid(issues)) => issues,
            _ => &[],
        }
    }

    /// The answer's status: 400 invalid, 404 unknown, 409 stale or taken, 500 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            SaveError::Edit(EditError::Invalid(_)) => StatusCode::BAD_REQUEST,
            SaveError::Edit(EditError::Unknown(_)) => StatusCode::NOT_FOUND,
            SaveError::Edit(EditError::Stale | EditError::Exists(_)) => StatusCode::CONFLICT,
            SaveError::Edit(_) => StatusCode::INTERNAL_SERVER_ERROR,
            SaveError::Apply(e) => e.0,
        }
    }

    /// In words.
    pub fn message(&self) -> String {
        match self {
            SaveError::Edit(e) => e.to_string(),
            SaveError::Apply(e) => e.1.clone(),
        }
    }
}

impl From<SaveError> for ApiError {
    fn from(e: SaveError) -> Self {
        ApiError(e.status(), e.message())
    }
}

fn no_file() -> SaveError {
    SaveError::Apply(ApiError(
        StatusCode::BAD_REQUEST,
        "this process was not started from a config file, so it has none to change".into(),
    ))
}

/// What a saved change did.
pub struct Saved {
    /// What the reload changed.
    pub changed: Vec<String>,
    /// The validator's warnings about the account (e.g. a password sent unencrypted).
    pub warnings: Vec<String>,
}

/// Writes `changes` to account `name` (at version `expected` of the file, when given), then
/// reloads.
pub async fn save(
    state: &HttpState,
    name: &str,
    mode: Mode,
    changes: Vec<Change>,
    expected: Option<String>,
) -> Result<Saved, SaveError> {
    let Some(file) = state.config_file.clone() else {
        return Err(no_file());
    };
    let _one_at_a_time = state.edits.lock().await;
    let account = name.to_string();
    let loaded = tokio::task::spawn_blocking(move || {
        file.change_account(&account, mode, &changes, expected.as_deref())
    })
    .await
    .map_err(|_| {
        SaveError::Apply(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the save failed".into(),
        ))
    })?
    .map_err(SaveError::Edit)?;
    tracing::info!(
        account = name,
        "account settings saved through the HTTP endpoint"
    );
    let prefixes = [format!("accounts.{name}."), format!("accounts.\"{name}\".")];
    let warnings = loaded
        .warnings
        .iter()
        .filter(|w| prefixes.iter().any(|p| w.path.starts_with(p.as_str())))
        .map(|w| w.message.clone())
        .collect();
    let changed = apply(state, loaded.config).await?;
    Ok(Saved { changed, warnings })
}

/// Removes account `name` from the file, then reloads.
pub async fn remove(state: &HttpState, name: &str) -> Result<Vec<String>, SaveError> {
    let Some(file) = state.config_file.clone() else {
        return Err(no_file());
    };
    let _one_at_a_time = state.edits.lock().await;
    let account = name.to_string();
    let loaded = tokio::task::spawn_blocking(move || file.remove_account(&account, None))
        .await
        .map_err(|_| {
            SaveError::Apply(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the removal failed".into(),
            ))
        })?
        .map_err(SaveError::Edit)?;
    tracing::info!(account = name, "account removed through the HTTP endpoint");
    apply(state, loaded.config).await
}

/// The config with `changes` made to account `name`, checked but not written.
pub async fn preview(
    state: &HttpState,
    name: &str,
    mode: Mode,
    changes: Vec<Change>,
) -> Result<Config, SaveError> {
    let Some(file) = state.config_file.clone() else {
        return Err(no_file());
    };
    let name = name.to_string();
    tokio::task::spawn_blocking(move || file.preview_account(&name, mode, &changes))
        .await
        .map_err(|_| {
            SaveError::Apply(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the test failed".into(),
            ))
        })?
        .map(|loaded| loaded.config)
        .map_err(SaveError::Edit)
}

async fn apply(state: &HttpState, config: Config) -> Result<Vec<String>, SaveError> {
    state.ingest.reload(config).await.map_err(|e| {
        SaveError::Apply(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the config file was saved, but applying it failed: {}",
                chain(&e)
            ),
        ))
    })
}
