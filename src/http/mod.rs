//! The HTTP endpoint: `/metrics`, `/health`, the JSON API and the web console of DESIGN.md. Served only when
//! a host asks for it (the `run` command does). Who may use it is decided in [`guard`].

mod account_routes;
pub mod client;
pub mod files;
pub mod guard;
pub mod hosts;
mod maintenance;
pub mod sessions;
pub mod settings;
mod state;
pub mod ui;

pub use state::{ApiError, HttpState};
use state::{ApiResult, blocking};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::chain;

/// The router with every route.
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route("/accounts", get(accounts))
        .route(
            "/accounts/{name}",
            get(account)
                .put(account_routes::put)
                .patch(account_routes::patch)
                .delete(account_routes::delete),
        )
        .route("/accounts/{name}/test", post(account_routes::test))
        .route("/accounts/{name}/messages", get(messages))
        .route("/accounts/{name}/check", post(check))
        .route("/messages/{id}", get(message))
        .route("/messages/{id}/raw", get(raw))
        .route("/reload", post(reload))
        .route("/backup", post(maintenance::backup))
        .route("/compact", post(maintenance::compact))
        .route("/retention", post(maintenance::retention))
        .route("/subscribers", get(maintenance::subscribers))
        .route(
            "/subscribers/{name}",
            axum::routing::delete(maintenance::unsubscribe),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_token,
        ))
        .layer(middleware::from_fn(guard::check_origin));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .nest("/api", api)
        .route(
            "/ui/",
            get(|| async { axum::response::Redirect::to("/ui/accounts") }),
        )
        .nest(
            "/ui",
            ui::router(state.clone()).layer(middleware::from_fn(guard::check_origin)),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_host,
        ))
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<HttpState>) -> Response {
    match &state.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => ApiError(
            StatusCode::NOT_FOUND,
            "no metrics recorder installed".into(),
        )
        .into_response(),
    }
}

async fn health(State(state): State<HttpState>) -> Response {
    match state.ingest.health() {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "down", "error": why})),
        )
            .into_response(),
    }
}

async fn accounts(State(state): State<HttpState>) -> ApiResult<Response> {
    Ok(Json(blocking(&state, |i| i.accounts()).await?).into_response())
}

async fn account(State(state): State<HttpState>, Path(name): Path<String>) -> ApiResult<Response> {
    let wanted = name.clone();
    match blocking(&state, move |i| i.account(&wanted)).await? {
        Some(a) => Ok(Json(a).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown account `{name}`"),
        )),
    }
}

/// `?limit=&before=` of the Inbox report.
#[derive(Deserialize)]
pub struct Page {
    limit: Option<usize>,
    before: Option<u64>,
}

async fn messages(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Response> {
    let wanted = name.clone();
    // An account removed from the config still has its stored messages: they are listed.
    let rows = blocking(&state, move |i| {
        let rows = i.messages(&wanted, page.limit, page.before)?;
        let known = !rows.is_empty() || i.account(&wanted)?.is_some();
        Ok(known.then_some(rows))
    })
    .await?;
    match rows {
        Some(rows) => Ok(Json(rows).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown account `{name}`"),
        )),
    }
}

async fn check(State(state): State<HttpState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(state.ingest.check_now(&name).await?).into_response())
}

async fn message(State(state): State<HttpState>, Path(id): Path<u64>) -> ApiResult<Response> {
    match blocking(&state, move |i| i.message(id)).await? {
        Some(m) => Ok(Json(m).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no message {id}"))),
    }
}

async fn raw(State(state): State<HttpState>, Path(id): Path<u64>) -> ApiResult<Response> {
    match blocking(&state, move |i| i.raw(id)).await? {
        Some(bytes) => {
            let disposition = format!("attachment; filename=\"message-{id}.eml\"");
            let headers = [
                (header::CONTENT_TYPE, "message/rfc822".to_string()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ];
            Ok((headers, bytes).into_response())
        }
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no message {id}"))),
    }
}

async fn reload(State(state): State<HttpState>) -> ApiResult<Response> {
    let Some(path) = state.config_file.as_ref().map(|f| f.path()) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "this process was not started from a config file".into(),
        ));
    };
    match Config::load(path) {
        Ok(loaded) => {
            let changed = state.ingest.reload(loaded.config).await?;
            Ok(Json(json!({"reloaded": true, "changed": changed})).into_response())
        }
        Err(e) => {
            let errors: Vec<String> = match e.issues() {
                [] => vec![chain(&e)],
                issues => issues.iter().map(|i| i.to_string()).collect(),
            };
            Ok((
                StatusCode::BAD_REQUEST,
                Json(json!({"reloaded": false, "errors": errors})),
            )
                .into_response())
        }
    }
}
