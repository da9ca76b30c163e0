//! New and Edit account: the seed page's form (its fields, order and words), each
//! validator problem beside its field, Test connection with the form's unsaved values,
//! Save into the config file (refused with the form kept when the file changed since it was
//! loaded), Remove.

use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::form::{AccountForm, FieldErrors};
use super::layout::{Notice, csrf_field, problem, respond, shell, when};
use crate::config::edit::{EditError, Mode};
use crate::error::chain;
use crate::http::sessions::Session;
use crate::http::settings::{self, SaveError};
use crate::http::state::HttpState;

/// What a form page shows beside the form itself.
#[derive(Default)]
struct Shown {
    errors: FieldErrors,
    notice: Option<Notice>,
}

/// `GET /ui/accounts/new`.
pub async fn new(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
) -> Response {
    let mut form = AccountForm::new_account();
    match load(&state).await {
        Ok((version, _)) => form.version = version,
        Err(e) => return e,
    }
    render(&state, &session, &form, Shown::default(), StatusCode::OK)
}

/// `GET /ui/accounts/{name}/edit`: the account as the config file has it now (not as
/// last applied: a hand edit not reloaded yet is shown, and kept by a save).
pub async fn edit(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    let (version, config) = match load(&state).await {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Some(account) = config.accounts.get(&name) else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such account",
            &format!("There is no account `{name}` in the config file."),
        );
    };
    let mut form = AccountForm::of(account);
    form.version = version;
    render(&state, &session, &form, Shown::default(), StatusCode::OK)
}

/// `POST /ui/accounts`: saves a new account.
pub async fn create(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Form(mut form): Form<AccountForm>,
) -> Response {
    form.mode = "new".into();
    let name = form.account_name();
    save(&state, &session, form, &name, Mode::Create).await
}

/// `POST /ui/accounts/{name}`: saves an account's changed settings.
pub async fn update(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    Form(mut form): Form<AccountForm>,
) -> Response {
    form.mode = "edit".into();
    form.name = name.clone();
    save(&state, &session, form, &name, Mode::Update).await
}

/// `POST /ui/accounts/new`: the Save of the account named `new` (its route is the form's).
pub async fn update_new(
    state: State<HttpState>,
    session: Extension<Session>,
    form: Form<AccountForm>,
) -> Response {
    update(state, session, Path("new".to_string()), form).await
}

/// `GET /ui/accounts/{name}/remove`: asks before removing.
pub async fn confirm_remove(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    if !state.ingest.config().accounts.contains_key(&name) {
        return problem(
            StatusCode::NOT_FOUND,
            "No such account",
            &format!("There is no account `{name}`."),
        );
    }
    let content = html! {
        p { "Remove " strong { (name) } " from the config file? Its stored messages stay in the store; the mail server is not touched." }
        div.buttons {
            form.inline method="post" action={ "/ui/accounts/" (name) "/remove" } {
                (csrf_field(&session))
                button.danger #confirm-remove type="submit" { "Remove account" }
            }
            a.button.secondary href={ "/ui/accounts/" (name) "/edit" } { "Cancel" }
        }
    };
    respond(
        StatusCode::OK,
        shell(&format!("Remove account {name}"), Some(&session), content),
    )
}

/// `POST /ui/accounts/{name}/remove`.
pub async fn remove(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    match settings::remove(&state, &name).await {
        Ok(_) => Redirect::to("/ui/accounts").into_response(),
        Err(e) => {
            let notice = Notice::Failed(format!("{name} was not removed: {}", e.message()));
            super::report::page_of(&state, &session, Some(notice), e.status()).await
        }
    }
}

/// `POST /ui/accounts/test`: connects, negotiates TLS and logs in with the form's values,
/// saved or not; nothing is written.
pub async fn test(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Form(mut form): Form<AccountForm>,
) -> Response {
    if form.action == "save" {
        // The Save button of the account named `test`: its route is this one.
        form.mode = "edit".into();
        form.name = "test".into();
        return save(&state, &session, form, "test", Mode::Update).await;
    }
    let name = match form.account_name() {
        n if n.is_empty() => "new-account".to_string(),
        n => n,
    };
    let changes = match form.changes() {
        Ok(c) => c,
        Err(errors) => return refused(&state, &session, &form, errors, "tested"),
    };
    let mode = if form.is_new() {
        Mode::Create
    } else {
        Mode::Update
    };
    let config = match settings::preview(&state, &name, mode, changes).await {
        Ok(c) => c,
        Err(e) => return not_saved(&state, &session, &form, &name, e, "tested"),
    };
    let notice = match state.ingest.test_account(&config, &name).await {
        Ok(t) => Notice::Done(format!(
            "Test connection succeeded: {}; logged in with {}; {}.",
            t.connected, t.login, t.mailbox
        )),
        Err(e) => Notice::Failed(format!("Test connection failed: {}", chain(&e))),
    };
    let shown = Shown {
        notice: Some(notice),
        ..Shown::default()
    };
    render(&state, &session, &form, shown, StatusCode::OK)
}

async fn save(
    state: &HttpState,
    session: &Session,
    form: AccountForm,
    name: &str,
    mode: Mode,
) -> Response {
    let changes = match form.changes() {
        Ok(c) => c,
        Err(errors) => return refused(state, session, &form, errors, "saved"),
    };
    if form.version.is_empty() {
        let shown = Shown {
            notice: Some(Notice::Failed(
                "Not saved: the form does not say which version of the config file it was loaded from. Open the form again.".into(),
            )),
            ..Shown::default()
        };
        return render(state, session, &form, shown, StatusCode::CONFLICT);
    }
    match settings::save(state, name, mode, changes, Some(form.version.clone())).await {
        Ok(saved) if saved.warnings.is_empty() => Redirect::to("/ui/accounts").into_response(),
        Ok(saved) => {
            let notice = Notice::Warned(format!(
                "{name} saved, with a warning: {}",
                saved.warnings.join("; ")
            ));
            super::report::page_of(state, session, Some(notice), StatusCode::OK).await
        }
        Err(e) => not_saved(state, session, &form, name, e, "saved"),
    }
}

/// The form again, with the validator's problems beside their fields.
fn refused(
    state: &HttpState,
    session: &Session,
    form: &AccountForm,
    errors: FieldErrors,
    done: &str,
) -> Response {
    let shown = Shown {
        errors,
        notice: Some(Notice::Failed(format!(
            "Not {done}: correct the fields marked below."
        ))),
    };
    render(state, session, form, shown, StatusCode::BAD_REQUEST)
}

/// The form again, kept as posted, saying why it was not saved.
fn not_saved(
    state: &HttpState,
    session: &Session,
    form: &AccountForm,
    name: &str,
    e: SaveError,
    done: &str,
) -> Response {
    let status = e.status();
    let shown = match &e {
        SaveError::Edit(EditError::Invalid(issues)) => {
            return refused(
                state,
                session,
                form,
                FieldErrors::from_issues(name, issues),
                done,
            );
        }
        SaveError::Edit(EditError::Stale) => Shown {
            notice: Some(Notice::Failed(format!(
                "Not {done}: the config file changed since this form was loaded. Your values are kept below; open the form again to see the file's values, then make your change there."
            ))),
            ..Shown::default()
        },
        SaveError::Edit(EditError::Exists(_)) => {
            let mut errors = FieldErrors::default();
            errors.by_field.insert(
                "name".into(),
                "is taken: another account has this name".into(),
            );
            Shown {
                errors,
                notice: Some(Notice::Failed(format!("Not {done}: the name is taken."))),
            }
        }
        _ => Shown {
            notice: Some(Notice::Failed(format!("Not {done}: {}", e.message()))),
            ..Shown::default()
        },
    };
    render(state, session, form, shown, status)
}

/// The config file's current version and the config it holds, or the page saying why
/// there is none.
async fn load(state: &HttpState) -> Result<(String, crate::config::Config), Response> {
    let Some(file) = state.config_file.clone() else {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "No config file",
            "This daemon was not started from a config file, so its accounts cannot be changed here.",
        ));
    };
    match tokio::task::spawn_blocking(move || file.load()).await {
        Ok(Ok((snapshot, loaded))) => Ok((snapshot.version, loaded.config)),
        Ok(Err(e)) => {
            let mut text = e.to_string();
            if let crate::config::edit::EditError::Invalid(issues) = &e {
                for issue in issues {
                    text.push_str(&format!("; {issue}"));
                }
            }
            Err(problem(
                StatusCode::CONFLICT,
                "The config file needs fixing first",
                &format!(
                    "{text}. Correct the file (mail-ingest validate lists every problem), then open this page again."
                ),
            ))
        }
        Err(_) => Err(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Config file unreadable",
            "the read failed",
        )),
    }
}

fn render(
    state: &HttpState,
    session: &Session,
    form: &AccountForm,
    shown: Shown,
    status: StatusCode,
) -> Response {
    let config = state.ingest.config();
    let name = form.account_name();
    let report = if form.is_new() {
        None
    } else {
        state.ingest.account(&name).ok().flatten()
    };
    let title = if form.is_new() {
        "New account".to_string()
    } else {
        format!("Edit account {name}")
    };
    let action = if form.is_new() {
        "/ui/accounts".to_string()
    } else {
        format!("/ui/accounts/{name}")
    };
    let e = &shown.errors;
    let connectors: Vec<&String> = config.connectors.keys().collect();
    let credentials: Vec<&String> = config.credentials.keys().collect();
    let content = html! {
        @if let Some(n) = &shown.notice { (n.render()) }
        @for general in &e.general { p.notice.failed { (general) } }
        @if let Some(r) = &report {
            dl.status {
                dt { "State" } dd { (format!("{:?}", r.state).to_lowercase()) }
                dt { "Last check" } dd { (when(r.last_check.as_deref())) }
                dt { "Last success" } dd { (when(r.last_success.as_deref())) }
                dt { "Last error" } dd.error #last-error { (r.last_error.as_deref().unwrap_or("–")) }
            }
        }
        form.card.account method="post" action=(action) novalidate {
            (csrf_field(session))
            input type="hidden" name="mode" value=(form.mode);
            input type="hidden" name="version" value=(form.version);
            (text_field("name", "Account name", &form.name, e, !form.is_new(), "e.g. helpdesk"))
            (checkbox("keep_copy", "Keep copy in server", form.keep_copy.is_some(), e))
            (checkbox("automatic_check", "Automatic check", form.automatic_check.is_some(), e))
            (checkbox("enabled", "Enabled", form.enabled.is_some(), e))
            (text_field("address", "Address", &form.address, e, false, "imap.example.com"))
            (text_field("port", "Port", &form.port, e, false, "empty: 993 (IMAP SSL), 143, 995 (POP3 SSL) or 110"))
            (select("protocol", "Protocol", &form.protocol, &[("imap", "IMAP"), ("pop3", "POP3")], e))
            (checkbox("use_connector", "Use Network Connector", form.use_connector.is_some(), e))
            (chooser("connector", "Network connector", &form.connector, &connectors, e,
                "none configured: add a [connectors.NAME] table to the config file"))
            (chooser("credential", "Credential for authentication", &form.credential, &credentials, e,
                "none configured: add a [credentials.NAME] table to the config file"))
            (checkbox("skip_certificate", "Skip certificate", form.skip_certificate.is_some(), e))
            (checkbox("safe", "Use safe connection", form.safe.is_some(), e))
            (select("security", "Secure connection type", &form.security, &[("ssl", "SSL"), ("tls", "TLS")], e))
            div.buttons {
                button #save type="submit" name="action" value="save" { "Save" }
                button #test.secondary type="submit" name="action" value="test" formaction="/ui/accounts/test" { "Test connection" }
                a.button.secondary href="/ui/accounts" { "Cancel" }
            }
        }
        @if !form.is_new() {
            p.danger { a.button.danger-link href={ "/ui/accounts/" (name) "/remove" } { "Remove account…" } }
        }
    };
    respond(status, shell(&title, Some(session), content))
}

fn field_error(e: &FieldErrors, field: &str) -> Markup {
    let text = e.of(field);
    html! {
        @if !text.is_empty() { p.field-error id={ (field) "-error" } { (text) } }
    }
}

fn text_field(
    field: &str,
    label: &str,
    value: &str,
    e: &FieldErrors,
    fixed: bool,
    hint: &str,
) -> Markup {
    let invalid = !e.of(field).is_empty();
    html! {
        div.field.invalid[invalid] {
            label for=(field) { (label) }
            input id=(field) name=(field) type="text" value=(value) placeholder=(hint)
                readonly[fixed] aria-invalid=[invalid.then_some("true")];
            (field_error(e, field))
        }
    }
}

fn checkbox(field: &str, label: &str, on: bool, e: &FieldErrors) -> Markup {
    html! {
        div.field.check {
            input id=(field) name=(field) type="checkbox" checked[on];
            label for=(field) { (label) }
            (field_error(e, field))
        }
    }
}

fn select(
    field: &str,
    label: &str,
    value: &str,
    options: &[(&str, &str)],
    e: &FieldErrors,
) -> Markup {
    html! {
        div.field.invalid[!e.of(field).is_empty()] {
            label for=(field) { (label) }
            select id=(field) name=(field) {
                @for (v, text) in options {
                    option value=(v) selected[*v == value] { (text) }
                }
            }
            (field_error(e, field))
        }
    }
}

/// A choice among configured names; a value not among them (a hand-edited file) is kept.
fn chooser(
    field: &str,
    label: &str,
    value: &str,
    names: &[&String],
    e: &FieldErrors,
    none: &str,
) -> Markup {
    let unknown = !value.is_empty() && !names.iter().any(|n| n.as_str() == value);
    html! {
        div.field.invalid[!e.of(field).is_empty()] {
            label for=(field) { (label) }
            select id=(field) name=(field) {
                option value="" selected[value.is_empty()] { "–" }
                @for n in names {
                    option value=(n) selected[n.as_str() == value] { (n) }
                }
                @if unknown { option value=(value) selected { (value) " (not configured)" } }
            }
            @if names.is_empty() { p.hint { (none) } }
            (field_error(e, field))
        }
    }
}
