//! Keeping the running daemon's store healthy through the API: `POST /api/backup?to=PATH`
//! (a consistent copy), `POST /api/compact` (freed space given back), `POST /api/retention`
//! (run it now), `GET /api/subscribers` and `DELETE /api/subscribers/{name}`.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::state::{ApiError, ApiResult, HttpState, blocking};

/// `?to=PATH` of a backup.
#[derive(Deserialize)]
pub struct BackupTo {
    #[serde(default)]
    to: String,
}

/// `POST /api/backup?to=PATH`.
pub async fn backup(
    State(state): State<HttpState>,
    Query(q): Query<BackupTo>,
) -> ApiResult<Response> {
    let to = PathBuf::from(&q.to);
    if !to.is_absolute() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "`to` must be an absolute path (the daemon's working folder is not the caller's)"
                .into(),
        ));
    }
    if to.exists() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "`{}` exists already; remove it or choose another name (a backup never overwrites)",
                to.display()
            ),
        ));
    }
    Ok(Json(blocking(&state, move |i| i.backup(&to)).await?).into_response())
}

/// `POST /api/compact`.
pub async fn compact(State(state): State<HttpState>) -> ApiResult<Response> {
    Ok(Json(blocking(&state, |i| i.compact()).await?).into_response())
}

/// `POST /api/retention`.
pub async fn retention(State(state): State<HttpState>) -> ApiResult<Response> {
    Ok(Json(state.ingest.apply_retention().await?).into_response())
}

/// `GET /api/subscribers`.
pub async fn subscribers(State(state): State<HttpState>) -> ApiResult<Response> {
    Ok(Json(blocking(&state, |i| i.subscribers()).await?).into_response())
}

/// `DELETE /api/subscribers/{name}`.
pub async fn unsubscribe(
    State(state): State<HttpState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let wanted = name.clone();
    if blocking(&state, move |i| i.unsubscribe(&wanted)).await? {
        Ok(Json(serde_json::json!({"removed": name})).into_response())
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no subscriber `{name}`"),
        ))
    }
}
