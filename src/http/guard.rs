//! Who may use the endpoint. Every request must name this server in its `Host` (an IP
//! address, `localhost`, or a name in `[http] allowed_hosts`, with the bound port): a web
//! page that rebinds its own name to 127.0.0.1 is turned away. A request that changes
//! something must not come from another origin (`Origin`, `Sec-Fetch-Site`), so a page the
//! operator has open cannot post to it. And `/api` needs the bearer token, always.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::sessions::same_secret;
use super::state::{ApiError, HttpState};

fn refuse(status: StatusCode, why: String) -> Response {
    ApiError(status, why).into_response()
}

/// Refuses a request whose `Host` does not name this server.
pub async fn check_host(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the request has no Host header".into(),
        );
    }
    if !state.hosts.allows(host) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "Host `{}` is not this server's address; use its IP address or add the name to [http] allowed_hosts",
                crate::text::excerpt(host)
            ),
        );
    }
    next.run(request).await
}

/// Refuses a state change (anything but GET and HEAD) sent from another origin.
pub async fn check_origin(request: Request, next: Next) -> Response {
    let method = request.method();
    if (method != Method::GET && method != Method::HEAD)
        && let Some(why) = foreign(request.headers())
    {
        return refuse(StatusCode::FORBIDDEN, why);
    }
    next.run(request).await
}

/// Why the request comes from another origin, if it does.
fn foreign(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "a change requested by another site ({site}) is refused"
        ));
    }
    let origin = get("origin")?;
    let host = get("host").unwrap_or("");
    let same = ["http://", "https://"]
        .iter()
        .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")));
    (!same).then(|| {
        format!(
            "a change requested from origin `{}` is refused",
            crate::text::excerpt(origin)
        )
    })
}

/// Requires `Authorization: Bearer TOKEN`.
pub async fn require_token(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| same_secret(g.as_bytes(), state.token.expose().as_bytes())) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (the CLI reads it from the config or the .token file beside the store)".into(),
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_origins_are_foreign() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:9898".parse().unwrap());
        assert_eq!(foreign(&h), None, "no Origin: a script or the CLI");
        h.insert("origin", "http://127.0.0.1:9898".parse().unwrap());
        assert_eq!(foreign(&h), None);
        h.insert("origin", "http://evil.example".parse().unwrap());
        assert!(foreign(&h).is_some());
        h.insert("origin", "null".parse().unwrap());
        assert!(foreign(&h).is_some());
        h.remove("origin");
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(foreign(&h).is_some());
    }
}
