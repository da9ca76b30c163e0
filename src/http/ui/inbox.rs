//! An account's Inbox report (newest first, paged, searchable by sender and subject) and
//! one message's page: its headers, its text (escaped: an HTML mail is shown as its text,
//! nothing of it runs or loads), its attachments and its raw bytes to download.

use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{problem, respond, shell, size, when};
use crate::error::chain;
use crate::http::sessions::Session;
use crate::http::state::HttpState;
use crate::ingest::{IngestError, MailIngest};
use crate::model::{MessageMeta, OnServer};

/// Messages on one page of the Inbox report.
const PAGE: usize = 50;

/// `?before=ID&q=TEXT`.
#[derive(Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    before: String,
    #[serde(default)]
    q: String,
}

async fn read<T: Send + 'static>(
    state: &HttpState,
    work: impl FnOnce(&MailIngest) -> Result<T, IngestError> + Send + 'static,
) -> Result<T, Response> {
    let ingest = state.ingest.clone();
    match tokio::task::spawn_blocking(move || work(&ingest)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The store could not be read",
            &chain(&e),
        )),
        Err(_) => Err(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The store could not be read",
            "the read failed",
        )),
    }
}

/// `GET /ui/accounts/{name}/inbox`.
pub async fn page(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    Query(query): Query<InboxQuery>,
) -> Response {
    let known = state.ingest.config().accounts.contains_key(&name);
    let before = match query.before.trim() {
        "" => None,
        text => match text.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "Not a page of the inbox",
                    &format!(
                        "`before` must be a message id, not `{}`.",
                        crate::text::excerpt(text)
                    ),
                );
            }
        },
    };
    let q = query.q.trim().to_string();
    let wanted = name.clone();
    let search = q.clone();
    let found = read(&state, move |i| {
        if search.is_empty() {
            let rows = i.messages(&wanted, Some(PAGE), before)?;
            let next = (rows.len() == PAGE)
                .then(|| rows.last().map(|m| m.id))
                .flatten();
            Ok((rows, next))
        } else {
            let f = i.search(&wanted, &search, PAGE, before)?;
            Ok((f.found, f.next_before))
        }
    })
    .await;
    let (rows, next) = match found {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !known && rows.is_empty() && before.is_none() {
        return problem(
            StatusCode::NOT_FOUND,
            "No such account",
            &format!("There is no account `{name}`."),
        );
    }
    let older = next.map(|before| {
        let mut pairs = vec![("before", before.to_string())];
        if !q.is_empty() {
            pairs.push(("q", q.clone()));
        }
        format!(
            "?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let content = html! {
        form.search method="get" action={ "/ui/accounts/" (name) "/inbox" } {
            label for="q" { "Search sender and subject" }
            input #q type="search" name="q" value=(q);
            button type="submit" { "Search" }
            @if !q.is_empty() { a href={ "/ui/accounts/" (name) "/inbox" } { "Show all" } }
        }
        @if rows.is_empty() {
            p.empty { (if q.is_empty() { "No message stored for this account." } else { "No message matches." }) }
        } @else {
            (table(&rows))
        }
        nav.paging {
            @if before.is_some() {
                a href={ "/ui/accounts/" (name) "/inbox" @if !q.is_empty() { "?" (serde_urlencoded::to_string([("q", &q)]).unwrap_or_default()) } } { "Newest" }
            }
            @if let Some(older) = older { a #older href=(older) { "Older" } }
        }
    };
    respond(
        StatusCode::OK,
        shell(&format!("Inbox of {name}"), Some(&session), content),
    )
}

fn table(rows: &[MessageMeta]) -> Markup {
    html! {
        div.scroll {
            table.report #inbox {
                thead {
                    tr {
                        th { "Received" } th { "Date" } th { "From" } th { "Subject" }
                        th.num { "Size" } th.num { "Attachments" } th { "On server" } th { "Parsed" }
                    }
                }
                tbody {
                    @for m in rows {
                        tr data-id=(m.id) {
                            td data-label="Received" { (when(Some(&m.received_at))) }
                            td data-label="Date" { (when(m.date.as_deref())) }
                            td data-label="From" { (m.from.as_deref().unwrap_or("–")) }
                            td.subject data-label="Subject" { a href={ "/ui/messages/" (m.id) } { (subject(m)) } }
                            td.num data-label="Size" { (size(m.size)) }
                            td.num data-label="Attachments" { (m.attachments) }
                            td data-label="On server" { (on_server(m.on_server)) }
                            td data-label="Parsed" { (if m.parsed { "Yes" } else { "No" }) }
                        }
                    }
                }
            }
        }
    }
}

fn subject(m: &MessageMeta) -> &str {
    match m.subject.as_deref() {
        Some(s) if !s.trim().is_empty() => s,
        _ => "(no subject)",
    }
}

fn on_server(o: OnServer) -> &'static str {
    match o {
        OnServer::Kept => "kept",
        OnServer::Deleted => "deleted",
        OnServer::DeletePending => "delete pending",
    }
}

/// `GET /ui/messages/{id}`.
pub async fn message(
    State(state): State<HttpState>,
    Extension(session): Extension<Session>,
    Path(id): Path<u64>,
) -> Response {
    let found = read(&state, move |i| {
        let Some(detail) = i.message(id)? else {
            return Ok(None);
        };
        let attachments = i.attachments(id)?.unwrap_or_default();
        let listed: Vec<(String, String, u64)> = attachments
            .into_iter()
            .map(|a| (a.name, a.content_type, a.contents.len() as u64))
            .collect();
        Ok(Some((detail, listed)))
    })
    .await;
    let (m, attachments) = match found {
        Ok(Some(f)) => f,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "No such message",
                &format!("There is no message {id}."),
            );
        }
        Err(r) => return r,
    };
    let meta = &m.meta;
    let content = html! {
        p { a href={ "/ui/accounts/" (meta.account) "/inbox" } { "← Inbox of " (meta.account) } }
        dl.headers {
            dt { "From" } dd { (meta.from.as_deref().unwrap_or("–")) }
            dt { "To" } dd { (m.to.join(", ")) }
            @if !m.cc.is_empty() { dt { "Cc" } dd { (m.cc.join(", ")) } }
            dt { "Date" } dd { (when(meta.date.as_deref())) }
            dt { "Subject" } dd #subject { (subject(meta)) }
            dt { "Message-ID" } dd { (meta.message_id.as_deref().unwrap_or("–")) }
            dt { "Received" } dd { (when(Some(&meta.received_at))) }
            dt { "Size" } dd { (size(meta.size)) }
            dt { "On server" } dd { (on_server(meta.on_server)) }
            dt { "Parsed" } dd { (if meta.parsed { "Yes" } else { "No: shown as stored" }) }
        }
        @if !attachments.is_empty() {
            h2 { "Attachments" }
            ul.attachments {
                @for (n, (name, kind, bytes)) in attachments.iter().enumerate() {
                    li { a href={ "/ui/messages/" (id) "/attachments/" (n) } download { (name) } " " span.hint { (kind) ", " (size(*bytes)) } }
                }
            }
        }
        p { a.button.secondary #raw href={ "/ui/messages/" (id) "/raw" } download { "Download raw .eml" } }
        h2 { "Text" }
        pre.text #text { (m.text) }
    };
    respond(
        StatusCode::OK,
        shell(subject(meta), Some(&session), content),
    )
}

/// `GET /ui/messages/{id}/raw`: the exact bytes, as a download.
pub async fn raw(State(state): State<HttpState>, Path(id): Path<u64>) -> Response {
    match read(&state, move |i| i.raw(id)).await {
        Ok(Some(bytes)) => download(bytes, &format!("message-{id}.eml")),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "No such message",
            &format!("There is no message {id}."),
        ),
        Err(r) => r,
    }
}

/// `GET /ui/messages/{id}/attachments/{n}`: one attachment, decoded, as a download (never
/// as its declared type: a browser must not render what a sender chose).
pub async fn attachment(
    State(state): State<HttpState>,
    Path((id, n)): Path<(u64, usize)>,
) -> Response {
    match read(&state, move |i| {
        Ok(i.attachments(id)?
            .and_then(|mut a| (n < a.len()).then(|| a.swap_remove(n))))
    })
    .await
    {
        Ok(Some(a)) => download(a.contents, &a.name),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "No such attachment",
            &format!("Message {id} has no attachment {n}."),
        ),
        Err(r) => r,
    }
}

fn download(bytes: Vec<u8>, name: &str) -> Response {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    let safe = if safe.is_empty() { "attachment" } else { safe };
    // The name as sent, for browsers that read RFC 5987's form: every byte but the plain
    // ones percent-encoded, so nothing in it can end the header or the parameter.
    let encoded: String = name
        .bytes()
        .filter(|b| !b.is_ascii_control())
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let encoded = encoded.trim_start_matches('.');
    let encoded = if encoded.is_empty() { safe } else { encoded };
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\"; filename*=UTF-8''{encoded}"),
            ),
        ],
        bytes,
    )
        .into_response()
}
