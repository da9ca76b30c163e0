//! An OAuth2 identity provider of the tests' own, on loopback (plain HTTP, or HTTPS with the
//! test CA's certificate): a token endpoint that issues, expires, rotates and revokes
//! tokens, answers what a test scripts (`invalid_grant`, a 503), and counts its calls; and
//! the introspection endpoint Dovecot's oauth2 passdb asks whether a token is active.
//!
//! Its secrets carry the word `CANARY`, so a test can prove none of them reaches a log, a
//! metric, an API answer or an error.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

/// The client secret the provider expects.
pub const CLIENT_SECRET: &str = "cs-CANARY-client-secret";
/// The client id it knows.
pub const CLIENT_ID: &str = "mail-ingest-test-client";
/// The first refresh token (the seed) it accepts.
pub const SEED: &str = "rt-CANARY-seed";

/// What the provider knows and did.
#[derive(Default)]
pub struct Idp {
    /// The mailbox its tokens are for (introspection's `username`).
    pub user: String,
    /// Lifetime of the tokens it issues.
    pub expires_in: u64,
    /// A new refresh token with every refresh (the old one revoked).
    pub rotate: bool,
    /// Refresh tokens it accepts.
    pub refresh_tokens: HashSet<String>,
    /// Access tokens it issued and their expiry.
    pub access: HashMap<String, Instant>,
    /// Each token request: its grant and the refresh token it sent.
    pub requests: Vec<(String, Option<String>)>,
    /// Answers given instead of the normal one, in order: (status, JSON body).
    pub scripted: VecDeque<(u16, String)>,
    /// How often Dovecot asked about a token.
    pub introspections: u64,
    serial: u64,
}

/// A running provider; stops when dropped.
pub struct IdentityProvider {
    /// Where it listens.
    pub addr: SocketAddr,
    /// True when it speaks HTTPS.
    pub https: bool,
    state: Arc<Mutex<Idp>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IdentityProvider {
    /// A provider over plain HTTP for `user`, issuing tokens valid for `expires_in` seconds.
    pub fn start(user: &str, expires_in: u64) -> IdentityProvider {
        Self::serve(user, expires_in, false)
    }

    /// The same over HTTPS, with the test CA's localhost certificate.
    pub fn start_https(user: &str, expires_in: u64) -> IdentityProvider {
        Self::serve(user, expires_in, true)
    }

    fn serve(user: &str, expires_in: u64, https: bool) -> IdentityProvider {
        let state = Arc::new(Mutex::new(Idp {
            user: user.into(),
            expires_in,
            refresh_tokens: HashSet::from([SEED.to_string()]),
            ..Idp::default()
        }));
        let app = Router::new()
            .route("/token", post(token))
            .route("/introspect", post(introspect))
            .with_state(state.clone());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let tcp = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let shutdown = async {
                    let _ = stopped.await;
                };
                if https {
                    let listener = TlsListener {
                        tcp,
                        acceptor: tls_acceptor(),
                    };
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                        .unwrap();
                } else {
                    axum::serve(tcp, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                        .unwrap();
                }
            });
        });
        IdentityProvider {
            addr,
            https,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        if self.https {
            format!("https://localhost:{}/token", self.addr.port())
        } else {
            format!("http://127.0.0.1:{}/token", self.addr.port())
        }
    }

    /// The introspection endpoint's URL (for Dovecot; always plain HTTP).
    pub fn introspection_url(&self) -> String {
        assert!(
            !self.https,
            "Dovecot's introspection is asked over plain HTTP here"
        );
        format!("http://127.0.0.1:{}/introspect", self.addr.port())
    }

    /// Runs `f` on the provider's state.
    pub fn with<T>(&self, f: impl FnOnce(&mut Idp) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// How many token requests it answered.
    pub fn token_requests(&self) -> usize {
        self.with(|s| s.requests.len())
    }

    /// Revokes every access token it issued (the refresh tokens stay good).
    pub fn revoke_access_tokens(&self) {
        self.with(|s| s.access.clear());
    }

    /// Revokes every refresh token (a user who withdrew consent).
    pub fn revoke_refresh_tokens(&self) {
        self.with(|s| s.refresh_tokens.clear());
    }

    /// An access token it issued that is active now, for a reference client.
    pub fn active_token(&self) -> Option<String> {
        self.with(|s| {
            s.access
                .iter()
                .find(|(_, until)| Instant::now() < **until)
                .map(|(t, _)| t.clone())
        })
    }

    /// Issues an access token without a request (for a reference client).
    pub fn issue(&self) -> String {
        self.with(|s| s.issue())
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Idp {
    fn issue(&mut self) -> String {
        self.serial += 1;
        let token = format!("at-CANARY-{}-{:016x}", self.serial, fastrand::u64(..));
        self.access.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(self.expires_in),
        );
        token
    }
}

fn form_of(body: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str(body).unwrap_or_default()
}

fn json(status: u16, body: serde_json::Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

async fn token(State(state): State<Arc<Mutex<Idp>>>, body: String) -> Response {
    let form = form_of(&body);
    let mut s = state.lock().unwrap();
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    s.requests
        .push((grant.clone(), form.get("refresh_token").cloned()));
    if let Some((status, body)) = s.scripted.pop_front() {
        return (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response();
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return json(
            401,
            serde_json::json!({"error": "invalid_client", "error_description": "unknown client"}),
        );
    }
    let mut answer = serde_json::Map::new();
    match grant.as_str() {
        "client_credentials" => {
            if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
                return json(
                    401,
                    serde_json::json!({"error": "invalid_client", "error_description": "bad client secret"}),
                );
            }
        }
        "refresh_token" => {
            let sent = form.get("refresh_token").cloned().unwrap_or_default();
            if !s.refresh_tokens.contains(&sent) {
                return json(
                    400,
                    serde_json::json!({"error": "invalid_grant", "error_description": "the refresh token is revoked or expired"}),
                );
            }
            if s.rotate {
                s.refresh_tokens.remove(&sent);
                let next = format!("rt-CANARY-rotated-{}", s.serial + 1);
                s.refresh_tokens.insert(next.clone());
                answer.insert("refresh_token".into(), next.into());
            }
        }
        other => {
            return json(
                400,
                serde_json::json!({"error": "unsupported_grant_type", "error_description": other}),
            );
        }
    }
    let access = s.issue();
    answer.insert("access_token".into(), access.into());
    answer.insert("token_type".into(), "Bearer".into());
    answer.insert("expires_in".into(), s.expires_in.into());
    json(200, serde_json::Value::Object(answer))
}

async fn introspect(State(state): State<Arc<Mutex<Idp>>>, body: String) -> Response {
    let form = form_of(&body);
    let mut s = state.lock().unwrap();
    s.introspections += 1;
    let token = form.get("token").cloned().unwrap_or_default();
    let active = s
        .access
        .get(&token)
        .is_some_and(|until| Instant::now() < *until);
    if active {
        json(200, serde_json::json!({"active": true, "username": s.user}))
    } else {
        json(200, serde_json::json!({"active": false}))
    }
}

/// TLS over TCP for axum, with the test CA's localhost certificate. A handshake that fails
/// (a client that does not trust it) drops that connection only.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = super::certs();
    let chain: Vec<CertificateDer> = CertificateDer::pem_file_iter(&certs.cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
