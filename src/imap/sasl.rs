//! IMAP `AUTHENTICATE` with an OAuth2 access token (XOAUTH2 or OAUTHBEARER): the initial
//! response on the command line when the server offers SASL-IR (one round trip), else after
//! its empty challenge; a failure challenge answered as the mechanism wants, and the
//! server's error kept, without the token, for the account's last error.

use std::sync::{Arc, Mutex};

use async_imap::{Authenticator, Client, Session};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncRead, AsyncWrite};

use super::command;
use super::words::describe;
use crate::error::{CheckError, Failure, Stage};
use crate::net::{BoxStream, Timed};
use crate::sasl::{BearerLogin, MailLogin, describe_challenge};

/// What the server offers before login, from a CAPABILITY command.
pub async fn capabilities<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Vec<String>, CheckError> {
    let mut offered = Vec::new();
    let status = command::run(stream, "c0", "CAPABILITY", |line| {
        if let Some(rest) = line.strip_prefix(b"* CAPABILITY ") {
            offered.extend(
                String::from_utf8_lossy(rest)
                    .split_whitespace()
                    .map(str::to_string),
            );
        }
        Ok(())
    })
    .await
    .map_err(|e| CheckError::new(Stage::Connect, e.message))?;
    if let Some(refusal) = status.refusal() {
        return Err(CheckError::new(
            Stage::Connect,
            format!("CAPABILITY failed: {refusal}"),
        ));
    }
    Ok(offered)
}

/// Logs in with `login`'s token; `offered` are the server's capabilities before login and
/// `server` its host and port (OAUTHBEARER names them).
pub async fn authenticate(
    client: Client<Timed<BoxStream>>,
    login: &BearerLogin,
    offered: &[String],
    server: (&str, u16),
) -> Result<Session<Timed<BoxStream>>, CheckError> {
    let mechanism = login.mechanism.sasl_name();
    let has = |cap: &str| offered.iter().any(|c| c.eq_ignore_ascii_case(cap));
    if !has(&format!("AUTH={mechanism}")) {
        let others: Vec<&str> = offered
            .iter()
            .filter_map(|c| {
                c.get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("AUTH="))
                    .map(|_| &c[5..])
            })
            .collect();
        return Err(CheckError::new(
            Stage::Auth,
            format!(
                "the server does not offer {mechanism} (it offers {}); choose another mechanism in the credential's [oauth2] table, or another server",
                if others.is_empty() {
                    "no SASL mechanism".to_string()
                } else {
                    others.join(", ")
                }
            ),
        ));
    }
    let initial = login.initial_response(Some(server));
    let challenge = Arc::new(Mutex::new(None));
    let with_initial = has("SASL-IR");
    let authenticator = TokenAuthenticator {
        initial: (!with_initial).then(|| initial.expose().as_bytes().to_vec()),
        failure: login.failure_response(),
        challenge: challenge.clone(),
    };
    let command = if with_initial {
        format!("{mechanism} {}", STANDARD.encode(initial.expose()))
    } else {
        mechanism.to_string()
    };
    client
        .authenticate(command, authenticator)
        .await
        .map_err(|(e, client)| {
            let scrub = |text: &str| MailLogin::Bearer(login.clone()).scrub(text);
            let refused = matches!(
                e,
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)
            );
            let mut text = scrub(&describe(&e));
            let said = challenge.lock().expect("not poisoned").take();
            if let Some(said) = said {
                text.push_str(&format!(
                    " (its error: {})",
                    scrub(&describe_challenge(&said))
                ));
            }
            let message = format!(
                "{mechanism} login as {} refused: {text}{}",
                login.username,
                client.get_ref().certificate_hint()
            );
            if refused {
                CheckError::new(Stage::Auth, message).because(Failure::LoginRefused)
            } else {
                CheckError::new(Stage::Connect, message)
            }
        })
}

/// Answers the server's challenges: the initial response (unless it went with the
/// command), then to a failure challenge the mechanism's failure answer, keeping what the
/// server said.
struct TokenAuthenticator {
    initial: Option<Vec<u8>>,
    failure: &'static [u8],
    challenge: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Authenticator for TokenAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if let Some(initial) = self.initial.take() {
            return initial;
        }
        *self.challenge.lock().expect("not poisoned") = Some(challenge.to_vec());
        self.failure.to_vec()
    }
}
