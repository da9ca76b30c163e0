//! The Accounts report: every account with the seed report's columns, its state (in
//! colour, refreshed live by htmx), last check, last success, last error, stored and pending
//! counts and OAuth2 consent; New; per row Edit, View inbox, Check now, Enable or Disable.

use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Notice, csrf_field, respond, shell, when};
use crate::config::edit::{Change, Mode};
use crate::error::chain;
use crate::http::sessions::Session;
use crate::http::settings;
use crate::http::state::HttpState;
use crate::model::{AccountReport, AccountRunState};

/// The report's columns after the actions: (heading, numeric).
const COLUMNS: &[(&str, bool)] = &[
    ("Account name", false),
    ("Protocol", false),
    ("Address", false),
    ("Port", false),
    ("Secure connection", false),
    ("Network connector", false),
    ("Credential", false),
    ("Keep copy in server", false),
    ("Automatic check", false),
    ("Enabled", false),
    ("State", false),
    ("Last check", false),
    ("Last success", false),
    ("Last error", false),
    ("Stored", true),
    ("Pending deletes", true),
    ("OAuth2", false),
];

/// Longest last error shown in the report; the whole text is on the account's page.
const ERROR_SHOWN: usize = 120;

/// The report, with `notice` above it.
pub async fn page_of(
    state: &HttpState,
    session: &Session,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let table = match table(state, session).await {
        Ok(t) => t,
        Err(e) => html! { (Notice::Failed(e).render()) },
    };
    respond(
        status,
        shell(
            "IMAP/POP3 Accounts",
            Some(session),
            html! {
                @if let Some(n) = notice { (n.render()) }
                div.actions {
                    a.button href="/ui/accounts/new" { "New" }
                }
                (table)
                // Every few seconds the changing cells are fetched and put in place (htmx's
                // out-of-band swaps): the rest of the page, and the focus, stay as they are.
                div hx-get="/ui/live/accounts" hx-trigger="every 3s" hx-swap="none" {}
            },
        ),
    )
}

/// `GET /ui/accounts`.
pub async fn page(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
) -> Response {
    page_of(&state, &session, None, StatusCode::OK).await
}

/// `GET /ui/live/accounts`: the changing cells of every row, each to replace its namesake
/// (htmx's out-of-band swap).
pub async fn rows(State(state): State<HttpState>) -> Response {
    match reports(&state).await {
        Ok(accounts) => respond(
            StatusCode::OK,
            html! {
                @for a in &accounts {
                    @for value in &live_values(a) { (cell(&a.name, value, true)) }
                }
            },
        ),
        Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, html! { p { (e) } }),
    }
}

/// A row's cells that change while the page is open: (name, class, text).
fn live_values(a: &AccountReport) -> [(&'static str, String, String); 8] {
    let state = state_name(a.state);
    [
        ("enabled", String::new(), yes_no(a.enabled).into()),
        ("state", format!("state {state}"), state.into()),
        ("last-check", String::new(), when(a.last_check.as_deref())),
        (
            "last-success",
            String::new(),
            when(a.last_success.as_deref()),
        ),
        (
            "last-error",
            String::new(),
            a.last_error.as_deref().map(shorten).unwrap_or_default(),
        ),
        ("stored", String::new(), a.messages_stored.to_string()),
        ("pending", String::new(), a.pending_deletes.to_string()),
        ("consent", String::new(), consent(a).into()),
    ]
}

/// One changing cell's content, by an id of its account and field; `swap` marks it for
/// htmx to put in place of the one on the page.
fn cell(
    account: &str,
    (field, class, text): &(&'static str, String, String),
    swap: bool,
) -> Markup {
    html! {
        span id={ "live-" (account) "-" (field) } class=[(!class.is_empty()).then_some(class)]
            hx-swap-oob=[swap.then_some("true")] { (text) }
    }
}

/// `POST /ui/accounts/{name}/check`: checks now, then shows the summary above the report.
pub async fn check(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    let (notice, status) = match state.ingest.check_now(&name).await {
        Ok(summary) if summary.error.is_none() => (Notice::Done(summary.line()), StatusCode::OK),
        Ok(summary) => (Notice::Failed(summary.line()), StatusCode::BAD_GATEWAY),
        Err(e) => (
            Notice::Failed(format!("{name}: {}", chain(&e))),
            crate::http::state::ApiError::from(e).0,
        ),
    };
    page_of(&state, &session, Some(notice), status).await
}

/// The Enable or Disable button's form.
#[derive(Deserialize)]
pub struct Enabled {
    #[serde(default)]
    enabled: String,
}

/// `POST /ui/accounts/{name}/enabled`: writes `enabled` into the config file, reloads.
pub async fn set_enabled(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    Form(form): Form<Enabled>,
) -> Response {
    let on = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            let notice = Notice::Failed("The form must say enabled=true or enabled=false.".into());
            return page_of(&state, &session, Some(notice), StatusCode::BAD_REQUEST).await;
        }
    };
    let changes = vec![Change::Set("enabled".into(), on.into())];
    match settings::save(&state, &name, Mode::Update, changes, None).await {
        Ok(_) => Redirect::to("/ui/accounts").into_response(),
        Err(e) => {
            let notice = Notice::Failed(format!("{name}: {}", e.message()));
            page_of(&state, &session, Some(notice), e.status()).await
        }
    }
}

async fn reports(state: &HttpState) -> Result<Vec<AccountReport>, String> {
    let ingest = state.ingest.clone();
    tokio::task::spawn_blocking(move || ingest.accounts())
        .await
        .map_err(|_| "the report could not be read".to_string())?
        .map_err(|e| chain(&e))
}

async fn table(state: &HttpState, session: &Session) -> Result<Markup, String> {
    let accounts = reports(state).await?;
    Ok(html! {
        @if accounts.is_empty() {
            p.empty { "No account yet. " a href="/ui/accounts/new" { "Make the first one." } }
        }
        div.scroll {
            table.report #accounts {
                thead {
                    tr {
                        th { span.hidden { "Actions" } }
                        @for (label, numeric) in COLUMNS {
                            th.num[*numeric] { (label) }
                        }
                    }
                }
                (body(state, session, &accounts))
            }
        }
    })
}

/// The report's rows, in a body that refreshes itself every few seconds.
fn body(state: &HttpState, session: &Session, accounts: &[AccountReport]) -> Markup {
    let config = state.ingest.config();
    html! {
        tbody {
            @for a in accounts {
                @let credential = config.accounts.get(&a.name).map(|c| c.credential.clone()).unwrap_or_default();
                tr data-account=(a.name) {
                    td.row-actions {
                        a.icon href={ "/ui/accounts/" (a.name) "/edit" } title="Edit account" aria-label="Edit account" { "✎" }
                        a.icon href={ "/ui/accounts/" (a.name) "/inbox" } title="View inbox" aria-label="View inbox" { "⋯" }
                        form.inline method="post" action={ "/ui/accounts/" (a.name) "/check" } {
                            (csrf_field(session))
                            button.small type="submit" disabled[!a.enabled] { "Check now" }
                        }
                        form.inline method="post" action={ "/ui/accounts/" (a.name) "/enabled" } {
                            (csrf_field(session))
                            input type="hidden" name="enabled" value=(if a.enabled { "false" } else { "true" });
                            button.small.secondary type="submit" { (if a.enabled { "Disable" } else { "Enable" }) }
                        }
                    }
                    td data-label="Account name" { a href={ "/ui/accounts/" (a.name) "/edit" } { (a.name) } }
                    td data-label="Protocol" { (a.protocol.to_uppercase()) }
                    td data-label="Address" { (a.address) }
                    td data-label="Port" { (a.port) }
                    td data-label="Secure connection" { (security(&a.tls)) }
                    td data-label="Network connector" { (a.connector.as_deref().unwrap_or("–")) }
                    td data-label="Credential" { (credential) }
                    td data-label="Keep copy in server" { (yes_no(a.keep_copy)) }
                    td data-label="Automatic check" { (yes_no(a.automatic_check)) }
                    @let live = live_values(a);
                    td data-label="Enabled" { (cell(&a.name, &live[0], false)) }
                    td data-label="State" { (cell(&a.name, &live[1], false)) }
                    td.time data-label="Last check" { (cell(&a.name, &live[2], false)) }
                    td.time data-label="Last success" { (cell(&a.name, &live[3], false)) }
                    td.error data-label="Last error" title=[a.last_error.as_deref()] {
                        (cell(&a.name, &live[4], false))
                    }
                    td.num data-label="Stored" { (cell(&a.name, &live[5], false)) }
                    td.num data-label="Pending deletes" { (cell(&a.name, &live[6], false)) }
                    td data-label="OAuth2" { (cell(&a.name, &live[7], false)) }
                }
            }
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// The seed's words for the TLS mode.
pub fn security(tls: &str) -> &'static str {
    match tls {
        "implicit" => "SSL",
        "starttls" => "TLS",
        _ => "None",
    }
}

fn state_name(s: AccountRunState) -> &'static str {
    match s {
        AccountRunState::Idle => "idle",
        AccountRunState::Checking => "checking",
        AccountRunState::Waiting => "waiting",
        AccountRunState::Failing => "failing",
        AccountRunState::Disabled => "disabled",
    }
}

fn consent(a: &AccountReport) -> &'static str {
    match (a.auth.as_str(), a.needs_consent) {
        ("password", _) => "–",
        (_, true) => "needs consent",
        (_, false) => "granted",
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= ERROR_SHOWN {
        return text.to_string();
    }
    let kept: String = text.chars().take(ERROR_SHOWN - 1).collect();
    format!("{kept}…")
}
