//! What the HTTP handlers and guards share: the running pipeline, the token and hosts the
//! guards check, the metrics handle; and the error answer they all give.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::hosts::Hosts;
use super::sessions::Sessions;
use crate::config::edit::ConfigFile;
use crate::error::chain;
use crate::ingest::{IngestError, MailIngest};
use crate::secret::Secret;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The running pipeline.
    pub ingest: Arc<MailIngest>,
    /// Required as `Authorization: Bearer ...` on `/api/`.
    pub token: Secret,
    /// The names and port a request's `Host` must name.
    pub hosts: Hosts,
    /// The Prometheus recorder's handle, when one is installed.
    pub metrics: Option<PrometheusHandle>,
    /// The config file `POST /api/reload` re-reads and the console edits.
    pub config_file: Option<ConfigFile>,
    /// The web console's logged-in browsers.
    pub sessions: Sessions,
    /// Held while the config file is changed and applied: one change at a time.
    pub edits: Arc<tokio::sync::Mutex<()>>,
}

impl HttpState {
    /// The state of a daemon serving `ingest`, editing and reloading `config_path`.
    pub fn new(
        ingest: Arc<MailIngest>,
        token: Secret,
        hosts: Hosts,
        metrics: Option<PrometheusHandle>,
        config_path: Option<PathBuf>,
    ) -> Self {
        HttpState {
            ingest,
            token,
            hosts,
            metrics,
            config_file: config_path.map(ConfigFile::new),
            sessions: Sessions::default(),
            edits: Arc::default(),
        }
    }
}

/// An error answer: `{"error": "..."}` with a status.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let status = match &e {
            IngestError::UnknownAccount(..) => StatusCode::NOT_FOUND,
            IngestError::Disabled(_) | IngestError::Config(_) | IngestError::NeedsRestart(_) => {
                StatusCode::BAD_REQUEST
            }
            IngestError::NotRunning(_) | IngestError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Test(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, chain(&e))
    }
}

/// What a handler answers: its response, or an error answer.
pub type ApiResult<T> = Result<T, ApiError>;

/// Runs a store read (and any parsing) on a blocking thread, off the async workers.
pub async fn blocking<T: Send + 'static>(
    state: &HttpState,
    read: impl FnOnce(&MailIngest) -> Result<T, IngestError> + Send + 'static,
) -> ApiResult<T> {
    let ingest = state.ingest.clone();
    tokio::task::spawn_blocking(move || read(&ingest))
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request's work failed".into(),
            )
        })?
        .map_err(ApiError::from)
}
