//! Asking a token endpoint (RFC 6749 section 3.2) for an access token: a form POST over the
//! same network stack as the mail (direct or through a connector, TLS with the system's
//! trust store plus the credential's `ca_file`), within a time limit, its answer read within
//! a size limit. Errors name what the endpoint said, never what was sent.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

use crate::config::TokenEndpoint;
use crate::net::{self, BoxStream, ConnectorHandle, Trust};
use crate::secret::Secret;
use crate::text::excerpt;

/// Longest a token request may take, connection and TLS included.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of a token endpoint's answer read (Microsoft's are about 3 KiB).
const MAX_ANSWER: usize = 64 << 10;

/// What a token endpoint gave.
#[derive(Debug)]
pub struct Issued {
    /// The access token.
    pub access_token: Secret,
    /// How long it is valid, when the endpoint said.
    pub expires_in: Option<Duration>,
    /// A new refresh token, when the endpoint rotates them.
    pub refresh_token: Option<Secret>,
}

/// Why no token came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The endpoint refused the request (an OAuth2 error answer such as `invalid_grant`).
    #[error("the token endpoint refused: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The OAuth2 error code.
        code: String,
        /// The endpoint's `error_description`, shortened.
        description: Option<String>,
    },
    /// No answer, or not one that can be used (network, TLS, a timeout, a 5xx, not JSON):
    /// worth trying again later.
    #[error("{0}")]
    Unavailable(String),
}

impl EndpointError {
    /// True when only a new consent or new client settings can help: `invalid_grant` (the
    /// refresh token is revoked or expired) or `invalid_client` (the client id or secret
    /// is wrong or expired).
    pub fn needs_consent(&self) -> bool {
        matches!(self, EndpointError::Refused { code, .. } if code == "invalid_grant" || code == "invalid_client")
    }
}

/// POSTs `form` to `endpoint`, through `connector` when given. `secrets` are scrubbed from
/// anything the endpoint echoes.
pub async fn request(
    endpoint: &TokenEndpoint,
    connector: Option<&ConnectorHandle>,
    form: &[(&str, &str)],
    secrets: &[&str],
) -> Result<Issued, EndpointError> {
    let url = &endpoint.url;
    let exchange = async {
        let (tcp, _permit) = match connector {
            Some(c) => c.connect(&url.host, url.port, TOKEN_TIMEOUT).await,
            None => net::direct(&url.host, url.port, TOKEN_TIMEOUT)
                .await
                .map(|tcp| (tcp, None)),
        }
        .map_err(|e| EndpointError::Unavailable(format!("token endpoint {}: {e}", url.text)))?;
        let stream: BoxStream = if url.https {
            let trust = Trust {
                ca_file: endpoint.ca_file.clone(),
                ..Trust::default()
            };
            Box::new(
                net::tls_handshake(Box::new(tcp), &trust, &url.host, TOKEN_TIMEOUT)
                    .await
                    .map_err(|e| EndpointError::Unavailable(format!("token endpoint: {e}")))?
                    .0,
            )
        } else {
            Box::new(tcp)
        };
        let unavailable = |e: hyper::Error| {
            EndpointError::Unavailable(format!("token endpoint {}: {e}", url.text))
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(unavailable)?;
        let connection = tokio::spawn(connection);
        let body = serde_urlencoded::to_string(form).expect("a form of strings encodes");
        let host = if url.host.contains(':') {
            format!("[{}]:{}", url.host, url.port)
        } else {
            format!("{}:{}", url.host, url.port)
        };
        let request = Request::post(url.path.as_str())
            .header("host", host)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("mail-ingest/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        let answer = sender.send_request(request).await.map_err(unavailable)?;
        let status = answer.status();
        let bytes = Limited::new(answer.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| {
                EndpointError::Unavailable(format!(
                    "token endpoint {}: cannot read its answer: {e} (at most {} KiB are read)",
                    url.text,
                    MAX_ANSWER >> 10
                ))
            })?
            .to_bytes();
        drop(sender);
        connection.abort();
        Ok(read_answer(status, &bytes, secrets))
    };
    tokio::time::timeout(TOKEN_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            EndpointError::Unavailable(format!(
                "token endpoint {} did not answer within {} s",
                url.text,
                TOKEN_TIMEOUT.as_secs()
            ))
        })?
        .and_then(|answer| answer)
}

/// Reads a token endpoint's answer.
fn read_answer(status: StatusCode, body: &[u8], secrets: &[&str]) -> Result<Issued, EndpointError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
        refresh_token: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let words = |text: &str| {
        let mut text = excerpt(text);
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret, "***");
        }
        text
    };
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    match answer {
        Some(Answer {
            access_token: Some(token),
            expires_in,
            refresh_token,
            ..
        }) if status.is_success() && !token.is_empty() => Ok(Issued {
            access_token: Secret::new(token),
            expires_in: expires_in
                .as_ref()
                .and_then(seconds)
                .map(Duration::from_secs),
            refresh_token: refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
        }),
        Some(Answer {
            error: Some(code),
            error_description,
            ..
        }) if status.is_client_error() => Err(EndpointError::Refused {
            code: words(&code),
            description: error_description.map(|d| words(&d)),
        }),
        _ if status.is_success() => Err(EndpointError::Unavailable(
            "the token endpoint answered without an access_token".into(),
        )),
        _ => Err(EndpointError::Unavailable(format!(
            "the token endpoint answered HTTP {status}{}",
            if body.is_empty() {
                String::new()
            } else {
                format!(": {}", words(&String::from_utf8_lossy(body)))
            }
        ))),
    }
}

/// `expires_in` as a number of seconds: a JSON number, or a string of digits as some
/// endpoints send it.
fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_rfc_6749_says() {
        let ok = read_answer(
            StatusCode::OK,
            br#"{"access_token":"at","token_type":"Bearer","expires_in":"3599","refresh_token":"rt2"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(ok.access_token.expose(), "at");
        assert_eq!(ok.expires_in, Some(Duration::from_secs(3599)));
        assert_eq!(ok.refresh_token.unwrap().expose(), "rt2");
        let refused = read_answer(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"AADSTS70008: refresh token rt-secret expired"}"#,
            &["rt-secret"],
        )
        .unwrap_err();
        assert!(refused.needs_consent());
        assert_eq!(
            refused.to_string(),
            "the token endpoint refused: invalid_grant (AADSTS70008: refresh token *** expired)"
        );
        let busy =
            read_answer(StatusCode::SERVICE_UNAVAILABLE, b"<html>busy</html>", &[]).unwrap_err();
        assert!(!busy.needs_consent());
        assert_eq!(
            busy.to_string(),
            "the token endpoint answered HTTP 503 Service Unavailable: <html>busy</html>"
        );
        let scope = read_answer(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_scope"}"#,
            &[],
        )
        .unwrap_err();
        assert!(!scope.needs_consent());
        assert!(read_answer(StatusCode::OK, b"{}", &[]).is_err());
    }
}
