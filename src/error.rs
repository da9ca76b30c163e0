//! The error of a check: what failed, at which stage, in words an operator can act on; and
//! [`chain`], which writes any error with its causes for people.
//!
//! The stage is what callers branch on (metrics label, slow retry after an authentication
//! failure); the message is for people. Messages never carry a secret.

use std::fmt;

/// Where in a check something failed; the `stage` label of `mail_ingest_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// TCP connect or DNS.
    Connect,
    /// The SOCKS5 proxy.
    Proxy,
    /// TLS, STARTTLS or STLS.
    Tls,
    /// Login.
    Auth,
    /// Listing or downloading.
    Fetch,
    /// Committing to the store.
    Store,
    /// Deleting on the server.
    Delete,
}

impl Stage {
    /// Every stage, in the order a check meets them.
    pub const ALL: [Stage; 7] = [
        Stage::Connect,
        Stage::Proxy,
        Stage::Tls,
        Stage::Auth,
        Stage::Fetch,
        Stage::Store,
        Stage::Delete,
    ];

    /// The metrics label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Proxy => "proxy",
            Stage::Tls => "tls",
            Stage::Auth => "auth",
            Stage::Fetch => "fetch",
            Stage::Store => "store",
            Stage::Delete => "delete",
        }
    }
}

/// What a caller does about a failure beyond its stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Failure {
    /// Nothing special: retried after the backoff.
    #[default]
    Other,
    /// The server refused the login (a wrong password, a token it does not accept).
    LoginRefused,
    /// The server ended the session because its login expired (Microsoft's
    /// `AccessTokenExpired`): logging in afresh goes on at once.
    LoginExpired,
    /// The OAuth2 credential needs new consent: nothing is asked of its token endpoint
    /// until its seed, its secret or the config changes.
    NeedsConsent,
    /// The server ended the session over commands asked ahead of the listing: the account's
    /// later checks ask nothing ahead.
    AheadRefused,
}

/// A failed step of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError {
    /// Where it failed.
    pub stage: Stage,
    /// What failed, for people; never a secret.
    pub message: String,
    /// What a caller does about it.
    pub failure: Failure,
}

impl CheckError {
    /// An error at `stage`.
    pub fn new(stage: Stage, message: impl Into<String>) -> Self {
        CheckError {
            stage,
            message: message.into(),
            failure: Failure::Other,
        }
    }

    /// The same error, marked as `failure`.
    pub fn because(mut self, failure: Failure) -> Self {
        self.failure = failure;
        self
    }

    /// The server ended the session, saying `words`: a login that expired when its words
    /// say so (`AccessTokenExpired`), else an ordinary failure.
    pub fn ended_by_server(stage: Stage, words: &str) -> Self {
        let error = CheckError::new(stage, format!("the server ended the session: {words}"));
        if words.to_ascii_lowercase().contains("accesstokenexpired") {
            error.because(Failure::LoginExpired)
        } else {
            error
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

/// An error with its causes, for people: each cause after a colon, as
/// `cannot open store `x`: Permission denied (os error 13)`.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Shorthand for building a [`CheckError`] from any displayable cause.
pub fn fail(stage: Stage, what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> CheckError {
    let what = what.to_string();
    move |e| CheckError::new(stage, format!("{what}: {}", describe_io(&e)))
}

/// An I/O error in plain words ("timed out", "connection refused", ...).
pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        TimedOut if e.get_ref().is_some() => e.to_string(),
        TimedOut => "timed out".into(),
        UnexpectedEof => "the server closed the connection".into(),
        ConnectionReset => "the connection was reset".into(),
        ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}
