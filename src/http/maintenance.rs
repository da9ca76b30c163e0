//! Keeping the running daemon's store healthy through the API: `POST /api/backup`
//! (a consistent copy, streamed), `POST /api/compact` (freed space given back), `POST /api/retention`
//! (run it now), `GET /api/subscribers` and `DELETE /api/subscribers/{name}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::state::{ApiError, ApiResult, HttpState, blocking};

/// `POST /api/backup`: the bytes of a consistent copy of the store (the CLI writes them to
/// the file it was asked for, in its own view of the file system; the daemon writes no file
/// but a temporary copy beside the store, unlinked at once).
pub async fn backup(State(state): State<HttpState>) -> ApiResult<Response> {
    let (file, size) = blocking(&state, |i| i.snapshot()).await?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
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
