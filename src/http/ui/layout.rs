//! The console's page shell (head, header with the logout form, main), its notices, its
//! problem pages, and the two files it serves: our stylesheet and the vendored htmx.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::http::sessions::Session;

/// htmx as published (2.0.11, 0BSD: `assets/htmx.LICENSE`).
const HTMX: &str = include_str!("../../../assets/htmx.min.js");
/// The console's one stylesheet.
const STYLESHEET: &str = include_str!("../../../assets/console.css");
/// htmx told to add no inline styles (the policy forbids them) and never to evaluate text.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}"#;

/// A line above a page's content: what an action did, or why it failed.
pub enum Notice {
    /// It worked.
    Done(String),
    /// It did not.
    Failed(String),
    /// It did, but something needs a look.
    Warned(String),
}

impl Notice {
    /// As shown.
    pub fn render(&self) -> Markup {
        match self {
            Notice::Done(text) => html! { p.notice.done role="status" { (text) } },
            Notice::Failed(text) => html! { p.notice.failed role="alert" { (text) } },
            Notice::Warned(text) => html! { p.notice.warned role="alert" { (text) } },
        }
    }
}

/// A whole page: `title` in the tab and as the heading, the logout form when logged in.
pub fn shell(title: &str, session: Option<&Session>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · mail-ingest" }
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/htmx.min.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/accounts" { "mail-ingest" }
                    @if let Some(session) = session {
                        nav {
                            a href="/ui/accounts" { "Accounts" }
                            form.inline method="post" action="/ui/logout" {
                                (csrf_field(session))
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The hidden field every form of a session carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// An HTML answer.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A page that says what went wrong and what to do.
pub fn problem(status: StatusCode, title: &str, text: &str) -> Response {
    respond(
        status,
        shell(
            title,
            None,
            html! {
                p { (text) }
                @if status == StatusCode::UNAUTHORIZED {
                    p { a href="/ui/login" { "Log in" } }
                } @else {
                    p { a href="/ui/accounts" { "Back to the accounts" } }
                }
            },
        ),
    )
}

/// `GET /ui/assets/console.css`.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// `GET /ui/assets/htmx.min.js`.
pub async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        text,
    )
        .into_response()
}

/// A byte count for people: `812 B`, `14.2 KiB`, `3.1 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// An RFC 3339 time as a table shows it: `2026-12-02 14:13:37` (UTC), or a dash.
pub fn when(time: Option<&str>) -> String {
    match time {
        Some(t) => t.trim_end_matches('Z').replacen('T', " ", 1),
        None => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(14_541), "14.2 KiB");
        assert_eq!(size(3 * 1024 * 1024 + 100_000), "3.1 MiB");
        assert_eq!(when(Some("2026-12-02T14:13:37Z")), "2026-12-02 14:13:37");
        assert_eq!(when(None), "–");
    }

    #[test]
    fn text_is_escaped() {
        let markup = shell("<script>x</script>", None, html! {});
        let text = markup.into_string();
        assert!(!text.contains("<script>x"), "{text}");
        assert!(text.contains("&lt;script&gt;x"));
    }
}
