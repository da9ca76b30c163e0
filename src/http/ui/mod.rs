//! The web console under `/ui`: the settings page of the product mail-ingest re-creates,
//! rendered on the server (maud templates compiled into the binary), usable with scripts
//! off; htmx (vendored in `assets/`) only refreshes the Accounts report's states.

mod access;
mod editor;
pub mod form;
mod inbox;
mod layout;
mod login;
mod report;

use axum::Router;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};

use super::state::HttpState;

/// The `/ui` routes, behind the session check (but the login page and the assets).
pub fn router(state: HttpState) -> Router<HttpState> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/ui/accounts") }))
        .route("/logout", post(login::logout))
        .route("/accounts", get(report::page).post(editor::create))
        .route("/accounts/", get(|| async { Redirect::to("/ui/accounts") }))
        .route("/live/accounts", get(report::rows))
        .route("/accounts/new", get(editor::new).post(editor::update_new))
        .route("/accounts/test", post(editor::test))
        .route("/accounts/{name}", post(editor::update))
        .route("/accounts/{name}/edit", get(editor::edit))
        .route(
            "/accounts/{name}/remove",
            get(editor::confirm_remove).post(editor::remove),
        )
        .route("/accounts/{name}/check", post(report::check))
        .route("/accounts/{name}/enabled", post(report::set_enabled))
        .route("/accounts/{name}/inbox", get(inbox::page))
        .route("/messages/{id}", get(inbox::message))
        .route("/messages/{id}/raw", get(inbox::raw))
        .route("/messages/{id}/attachments/{n}", get(inbox::attachment))
        .layer(middleware::from_fn_with_state(
            state,
            access::require_session,
        ));
    Router::new()
        .route("/login", get(login::page).post(login::login))
        .route("/assets/console.css", get(layout::stylesheet))
        .route("/assets/htmx.min.js", get(layout::htmx))
        .merge(pages)
        .layer(middleware::from_fn(access::protect))
}
