//! Logging in and out: the API token, typed once, exchanged for a session cookie
//! (HttpOnly, SameSite=Strict, path `/ui`); the token itself never goes back to the page.

use axum::Form;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::access::{COOKIE, session_id};
use super::layout::{Notice, respond, shell};
use crate::http::sessions::{SESSION_LIFETIME, Session, same_secret};
use crate::http::state::HttpState;

/// How long a wrong token's answer waits; wrong logins are answered one at a time.
const WRONG_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);
static WRONG_LOGINS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The login form as posted.
#[derive(Deserialize)]
pub struct Login {
    #[serde(default)]
    token: String,
}

fn login_page(notice: Option<Notice>) -> Markup {
    shell(
        "Log in",
        None,
        html! {
            @if let Some(n) = notice { (n.render()) }
            form.card method="post" action="/ui/login" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                p.hint {
                    "The daemon's API token: "
                    code { "[http] token" }
                    " in the config, or the "
                    code { ".token" }
                    " file beside the store."
                }
                button type="submit" { "Log in" }
            }
        },
    )
}

/// `GET /ui/login`: the form, or the accounts when already logged in.
pub async fn page(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if session_id(&headers).is_some_and(|id| state.sessions.get(&id).is_some()) {
        return Redirect::to("/ui/accounts").into_response();
    }
    respond(StatusCode::OK, login_page(None))
}

/// `POST /ui/login`: a session for the right token.
pub async fn login(State(state): State<HttpState>, Form(login): Form<Login>) -> Response {
    let given = login.token.trim();
    if !same_secret(given.as_bytes(), state.token.expose().as_bytes()) {
        // One wrong guess at a time, each slowed: guessing a typed token takes long.
        let _one_at_a_time = WRONG_LOGINS.lock().await;
        tracing::warn!("a console login with a wrong token was refused");
        tokio::time::sleep(WRONG_LOGIN_DELAY).await;
        return respond(
            StatusCode::UNAUTHORIZED,
            login_page(Some(Notice::Failed(
                "That is not the daemon's token. It is [http] token in the config, or the .token file beside the store.".into(),
            ))),
        );
    }
    let id = state.sessions.start();
    let cookie = format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/ui/accounts".to_string()),
        ],
    )
        .into_response()
}

/// `POST /ui/logout`: the session ends, the cookie is cleared.
pub async fn logout(
    State(state): State<HttpState>,
    Extension(_session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions.end(&id);
    }
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/ui/login".to_string()),
        ],
    )
        .into_response()
}
