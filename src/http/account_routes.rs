//! The JSON twins of the console's account forms, for scripts: `PUT` (create or replace),
//! `PATCH` (change the given keys; `null` removes one), `DELETE`, and `POST .../test` (the
//! saved account, or with a body of keys its unsaved values). The body is a JSON object of
//! the keys of `[accounts.NAME]`, as in the config file.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};
use toml_edit::Value;

use super::settings::{self, SaveError};
use super::state::{ApiError, HttpState};
use crate::config::edit::{Change, Mode};

/// `PUT /api/accounts/{name}`.
pub async fn put(state: State<HttpState>, name: Path<String>, body: Bytes) -> Response {
    change(state, name, body, Mode::Replace).await
}

/// `PATCH /api/accounts/{name}`.
pub async fn patch(state: State<HttpState>, name: Path<String>, body: Bytes) -> Response {
    change(state, name, body, Mode::Update).await
}

/// `DELETE /api/accounts/{name}`.
pub async fn delete(State(state): State<HttpState>, Path(name): Path<String>) -> Response {
    match settings::remove(&state, &name).await {
        Ok(changed) => Json(json!({"removed": name, "changed": changed})).into_response(),
        Err(e) => refusal(e),
    }
}

/// `POST /api/accounts/{name}/test`.
pub async fn test(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        state.ingest.config()
    } else {
        let changes = match changes_of(&body) {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        let mode = if state.ingest.config().accounts.contains_key(&name) {
            Mode::Update
        } else {
            Mode::Create
        };
        match settings::preview(&state, &name, mode, changes).await {
            Ok(config) => config,
            Err(e) => return refusal(e),
        }
    };
    match state.ingest.test_account(&config, &name).await {
        Ok(tested) => Json(tested).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn change(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    body: Bytes,
    mode: Mode,
) -> Response {
    let changes = match changes_of(&body) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = settings::save(&state, &name, mode, changes, None).await {
        return refusal(e);
    }
    match state.ingest.account(&name) {
        Ok(Some(account)) => Json(account).into_response(),
        Ok(None) => {
            ApiError(StatusCode::NOT_FOUND, format!("unknown account `{name}`")).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The error answer of a refused change: with the validator's problems when there are.
fn refusal(e: SaveError) -> Response {
    let errors: Vec<String> = e.issues().iter().map(|i| i.to_string()).collect();
    (
        e.status(),
        Json(json!({"error": e.message(), "errors": errors})),
    )
        .into_response()
}

/// The changes a JSON object of keys makes.
fn changes_of(body: &[u8]) -> Result<Vec<Change>, ApiError> {
    let bad = |why: String| ApiError(StatusCode::BAD_REQUEST, why);
    let object: serde_json::Map<String, Json_> = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "the body must be a JSON object of the account's keys, as in the config file ({e})"
        ))
    })?;
    object
        .into_iter()
        .map(|(key, value)| match value {
            Json_::Null => Ok(Change::Remove(key)),
            v => toml_value(&v)
                .map(|t| Change::Set(key.clone(), t))
                .ok_or_else(|| bad(format!("`{key}`: {v} has no TOML form"))),
        })
        .collect()
}

fn toml_value(v: &Json_) -> Option<Value> {
    Some(match v {
        Json_::Bool(b) => (*b).into(),
        Json_::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Json_::String(s) => s.as_str().into(),
        Json_::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(toml_value(item)?);
            }
            Value::Array(array)
        }
        Json_::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (k, item) in map {
                table.insert(k, toml_value(item)?);
            }
            Value::InlineTable(table)
        }
        Json_::Null => return None,
    })
}
