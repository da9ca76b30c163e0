//! Who may use the console's pages: a browser with a live session (its cookie got at
//! login for the token), whose every form posts the session's CSRF token back; and what
//! every page tells the browser to forbid (scripts but ours, frames, other origins' forms).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::layout;
use crate::http::sessions::{Session, same_secret};
use crate::http::state::HttpState;

/// The session cookie's name.
pub const COOKIE: &str = "mail_ingest_session";
/// The most a posted form may hold: the account form is far smaller.
const FORM_LIMIT: usize = 64 * 1024;

/// What every console answer forbids: scripts, styles and requests but this server's own,
/// inline scripts and styles, frames of it, forms to elsewhere, plugins.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every `/ui` answer.
pub async fn protect(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, POLICY);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// The session id the request's cookie carries.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Lets a request through with a live session (put in its extensions), and a posted form
/// only with the session's CSRF token in its `csrf` field. Without a session a page goes
/// to the login page; anything else is refused.
pub async fn require_session(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    let session = session_id(request.headers()).and_then(|id| state.sessions.get(&id));
    let Some(session) = session else {
        if request.headers().contains_key("hx-request") {
            // htmx's refresh of a page whose session ended: the whole page goes to the login.
            return (StatusCode::UNAUTHORIZED, [("hx-redirect", "/ui/login")]).into_response();
        }
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return Redirect::to("/ui/login").into_response();
        }
        return layout::problem(
            StatusCode::UNAUTHORIZED,
            "Not logged in",
            "This needs a session: log in with the token first (a restart of the daemon logs everyone out), then send the form again.",
        );
    };
    let request = if request.method() == Method::GET || request.method() == Method::HEAD {
        request
    } else {
        match with_csrf_checked(request, &session).await {
            Ok(r) => r,
            Err(refused) => return refused,
        }
    };
    let mut request = request;
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// The request again, once its form's `csrf` field is the session's.
async fn with_csrf_checked(request: Request, session: &Session) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
        return Err(layout::problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "A form of the console holds at most 64 KiB.",
        ));
    };
    let given = form_field(&bytes, "csrf");
    if !given.is_some_and(|g| same_secret(g.as_bytes(), session.csrf.as_bytes())) {
        return Err(layout::problem(
            StatusCode::FORBIDDEN,
            "Form refused",
            "The form's CSRF token is missing or is not this session's: reload the page and send it again.",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// One field of a URL-encoded form.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; mail_ingest_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_id(&h).as_deref(), Some("abc"));
        assert_eq!(
            form_field(b"x=1&csrf=t%2Bu", "csrf").as_deref(),
            Some("t+u")
        );
        assert_eq!(form_field(b"x=1", "csrf"), None);
    }
}
