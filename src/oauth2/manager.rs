//! One token manager per OAuth2 credential, shared by every account that logs in with it:
//! it keeps the access token in memory until shortly before it expires (with jitter, so
//! credentials do not refresh in step), refreshes one at a time, keeps each rotated refresh
//! token in the store before the new access token is used, backs off after an endpoint
//! failure, and stops asking once the endpoint says only a new consent can help
//! (`invalid_grant`, `invalid_client`) until the seed or secret changes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::endpoint::{self, EndpointError, Issued};
use super::kept::RefreshTokens;
use crate::backoff::Backoff;
use crate::config::{Grant, Mechanism, OAuth2Config, TokenEndpoint};
use crate::error::chain;
use crate::metrics as m;
use crate::net::ConnectorHandle;
use crate::sasl::BearerLogin;
use crate::secret::{Secret, SecretSource};
use crate::store::KeptRefreshToken;

/// A token is refreshed this long before it expires, plus up to [`REFRESH_JITTER`].
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The spread of refresh times.
const REFRESH_JITTER: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is taken to be valid.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(3600);

/// An access token and when it expires (when known).
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// When it expires; `None` from a `command`, whose helper keeps its own times.
    pub expires_at: Option<SystemTime>,
}

/// Why no access token can be had now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Only a new consent (or new client settings) helps; nothing is asked until the seed,
    /// the secret or the config changes.
    #[error(
        "credentials.{credential} needs new consent: {why}; get a new refresh token (or fix the client id and secret) and put it in the config"
    )]
    NeedsConsent {
        /// The credential.
        credential: String,
        /// What the endpoint said.
        why: String,
    },
    /// The endpoint or the secret source failed; tried again after a backoff.
    #[error("credentials.{credential}: no access token: {why}")]
    Unavailable {
        /// The credential.
        credential: String,
        /// What failed.
        why: String,
    },
}

/// What the reports show of a credential's token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// When the current access token expires.
    pub expires_at: Option<SystemTime>,
    /// Set while the credential needs new consent.
    pub needs_consent: bool,
}

/// The token manager of one credential (see the module documentation).
pub struct TokenManager {
    credential: String,
    username: String,
    config: OAuth2Config,
    connector: Option<ConnectorHandle>,
    kept: Arc<dyn RefreshTokens>,
    /// Held while a token is handed out or refreshed: one refresh at a time.
    state: tokio::sync::Mutex<State>,
    /// What the reports read without waiting for a refresh.
    status: Mutex<TokenStatus>,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    /// A rotated refresh token that could not be kept yet (with its basis); used and kept
    /// at the next refresh.
    unkept: Option<KeptRefreshToken>,
    /// Set while only a new consent helps: the basis it failed with, and why.
    consent: Option<(String, String)>,
    /// After an endpoint failure: not asked again before this.
    retry_at: Option<Instant>,
    backoff: Backoff,
    last_failure: Option<String>,
}

struct Current {
    token: AccessToken,
    /// When it is refreshed.
    refresh_at: Instant,
    /// When it expires (on the monotonic clock).
    expires: Instant,
}

impl TokenManager {
    /// The manager of credential `credential` (its login name `username`), asking the
    /// endpoint through `connector` when given and keeping rotated refresh tokens in `kept`.
    pub fn new(
        credential: &str,
        username: &str,
        config: OAuth2Config,
        connector: Option<ConnectorHandle>,
        kept: Arc<dyn RefreshTokens>,
    ) -> Self {
        let grant = config.grant.as_str();
        for outcome in ["ok", "refused", "failed"] {
            metrics::counter!(m::OAUTH2_TOKEN_REQUESTS, "credential" => credential.to_string(), "grant" => grant, "outcome" => outcome).increment(0);
        }
        metrics::gauge!(m::OAUTH2_NEEDS_CONSENT, "credential" => credential.to_string()).set(0.0);
        TokenManager {
            credential: credential.into(),
            username: username.into(),
            config,
            connector,
            kept,
            state: tokio::sync::Mutex::new(State::default()),
            status: Mutex::new(TokenStatus::default()),
        }
    }

    /// The SASL login with `token`.
    pub fn login(&self, token: &AccessToken) -> BearerLogin {
        BearerLogin {
            username: self.username.clone(),
            token: token.token.clone(),
            mechanism: self.config.mechanism,
        }
    }

    /// What the reports show.
    pub fn status(&self) -> TokenStatus {
        self.status.lock().expect("not poisoned").clone()
    }

    /// The SASL mechanism its tokens go with.
    pub fn mechanism(&self) -> Mechanism {
        self.config.mechanism
    }

    /// The grant's config name.
    pub fn grant(&self) -> &'static str {
        self.config.grant.as_str()
    }

    /// An access token: the one held while it is fresh, else a new one.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        if let Grant::Command(command) = &self.config.grant {
            return self.run_command(command).await;
        }
        let mut state = self.state.lock().await;
        if let Some((basis, why)) = &state.consent {
            match self.basis().await {
                Ok(now) if now != *basis => {
                    tracing::info!(credential = %self.credential, "the credential's seed or secret changed; asking for a token again");
                    state.consent = None;
                    self.set_status(|s| s.needs_consent = false);
                }
                _ => return Err(self.needs_consent(why)),
            }
        }
        let now = Instant::now();
        if let Some(current) = &state.current
            && now < current.refresh_at
        {
            return Ok(current.token.clone());
        }
        if let Some(at) = state.retry_at
            && now < at
        {
            // Between tries, a token that has not expired yet still serves.
            if let Some(current) = state.current.as_ref().filter(|c| now < c.expires) {
                return Ok(current.token.clone());
            }
            let why = state.last_failure.clone().unwrap_or_default();
            return Err(self.unavailable(format!(
                "{why} (asked again in {} s)",
                (at - now).as_secs().max(1)
            )));
        }
        match self.refresh(&mut state).await {
            Ok(token) => Ok(token),
            Err((basis, e)) if e.needs_consent() => {
                let why = e.to_string();
                tracing::warn!(credential = %self.credential, error = %why, "the credential needs new consent; no more token requests until its seed or secret changes");
                metrics::gauge!(m::OAUTH2_NEEDS_CONSENT, "credential" => self.credential.clone())
                    .set(1.0);
                self.set_status(|s| s.needs_consent = true);
                state.current = None;
                state.consent = Some((basis, why.clone()));
                Err(self.needs_consent(&why))
            }
            Err((_, e)) => {
                let why = e.to_string();
                let delay = state.backoff.next_delay();
                tracing::warn!(credential = %self.credential, error = %why, retry_in = ?delay, "token request failed");
                state.retry_at = Some(Instant::now() + delay);
                state.last_failure = Some(why.clone());
                match state
                    .current
                    .as_ref()
                    .filter(|c| Instant::now() < c.expires)
                {
                    Some(current) => Ok(current.token.clone()),
                    None => Err(self.unavailable(why)),
                }
            }
        }
    }

    /// The server refused `token`, or ended a session because it expired: the next
    /// [`TokenManager::token`] asks for a new one (once, however many accounts saw it).
    pub async fn discard(&self, token: &AccessToken) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.token.token == token.token)
        {
            state.current = None;
            state.retry_at = None;
        }
    }

    async fn run_command(&self, command: &SecretSource) -> Result<AccessToken, TokenError> {
        let outcome = command.resolve().await;
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        metrics::counter!(m::OAUTH2_TOKEN_REQUESTS, "credential" => self.credential.clone(), "grant" => "command", "outcome" => label).increment(1);
        outcome
            .map(|token| AccessToken {
                token,
                expires_at: None,
            })
            .map_err(|e| self.unavailable(chain(&e)))
    }

    /// Asks the endpoint for a token and holds it. The error comes with the basis it was
    /// asked on.
    async fn refresh(&self, state: &mut State) -> Result<AccessToken, (String, EndpointError)> {
        let unavailable =
            |basis: &str, why: String| (basis.to_string(), EndpointError::Unavailable(why));
        let (endpoint, grant) = match &self.config.grant {
            Grant::ClientCredentials {
                endpoint,
                client_secret,
            } => (endpoint, Ask::Client(client_secret)),
            Grant::RefreshToken {
                endpoint,
                client_secret,
                refresh_token,
            } => (
                endpoint,
                Ask::Refresh(client_secret.as_ref(), refresh_token),
            ),
            Grant::Command(_) => unreachable!("command tokens are not refreshed"),
        };
        let basis = self.basis().await.map_err(|why| unavailable("", why))?;
        let client_secret = match grant.client_secret() {
            Some(source) => Some(
                source
                    .resolve()
                    .await
                    .map_err(|e| unavailable(&basis, chain(&e)))?,
            ),
            None => None,
        };
        let refresh_token = match grant {
            Ask::Refresh(_, seed) => Some(
                self.refresh_token(state, &basis, seed)
                    .await
                    .map_err(|why| unavailable(&basis, why))?,
            ),
            Ask::Client(_) => None,
        };
        let mut form: Vec<(&str, &str)> = vec![("client_id", &endpoint.client_id)];
        match &refresh_token {
            Some(rt) => form.extend([
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.expose()),
            ]),
            None => form.push(("grant_type", "client_credentials")),
        }
        if let Some(secret) = &client_secret {
            form.push(("client_secret", secret.expose()));
        }
        if let Some(scope) = &endpoint.scope {
            form.push(("scope", scope));
        }
        let secrets: Vec<&str> = [&client_secret, &refresh_token]
            .into_iter()
            .flatten()
            .map(Secret::expose)
            .collect();
        let answer = endpoint::request(endpoint, self.connector.as_ref(), &form, &secrets).await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(EndpointError::Refused { .. }) => "refused",
            Err(EndpointError::Unavailable(_)) => "failed",
        };
        metrics::counter!(m::OAUTH2_TOKEN_REQUESTS, "credential" => self.credential.clone(), "grant" => self.grant(), "outcome" => outcome).increment(1);
        let issued = answer.map_err(|e| (basis.clone(), e))?;
        if let Some(rotated) = issued
            .refresh_token
            .as_ref()
            .filter(|new| refresh_token.as_ref().is_some_and(|old| old != *new))
        {
            let kept = KeptRefreshToken {
                basis: basis.clone(),
                refresh_token: rotated.expose().to_string(),
            };
            state.unkept = Some(kept.clone());
            self.kept.keep(&self.credential, kept).await.map_err(|e| {
                unavailable(&basis, format!("the endpoint rotated the refresh token, and the new one cannot be kept: {e}"))
            })?;
            state.unkept = None;
            tracing::info!(credential = %self.credential, "kept the rotated refresh token");
        }
        Ok(self.hold(state, issued))
    }

    /// The refresh token to send: one not kept yet, the one kept in the store when it grew
    /// from the same basis, else the configured seed.
    async fn refresh_token(
        &self,
        state: &State,
        basis: &str,
        seed: &SecretSource,
    ) -> Result<Secret, String> {
        if let Some(unkept) = state.unkept.as_ref().filter(|k| k.basis == basis) {
            return Ok(Secret::new(unkept.refresh_token.clone()));
        }
        if let Some(kept) = self
            .kept
            .load(&self.credential)
            .await?
            .filter(|k| k.basis == basis)
        {
            return Ok(Secret::new(kept.refresh_token));
        }
        seed.resolve().await.map_err(|e| chain(&e))
    }

    /// Holds a new token until shortly before it expires.
    fn hold(&self, state: &mut State, issued: Issued) -> AccessToken {
        let lifetime = issued.expires_in.unwrap_or(ASSUMED_LIFETIME);
        let now = Instant::now();
        let expires_at = SystemTime::now() + lifetime;
        let token = AccessToken {
            token: issued.access_token,
            expires_at: Some(expires_at),
        };
        state.current = Some(Current {
            token: token.clone(),
            refresh_at: now + refresh_after(lifetime, fastrand::f64()),
            expires: now + lifetime,
        });
        state.retry_at = None;
        state.last_failure = None;
        state.backoff.reset();
        let unix = expires_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        metrics::gauge!(m::OAUTH2_TOKEN_EXPIRY, "credential" => self.credential.clone()).set(unix);
        self.set_status(|s| s.expires_at = Some(expires_at));
        tracing::debug!(credential = %self.credential, expires_in = ?lifetime, "new access token");
        token
    }

    /// What the credential's tokens grow from: the endpoint, the client and the seed (or
    /// the client secret), as a digest. A change means the operator gave new material.
    async fn basis(&self) -> Result<String, String> {
        let (endpoint, material): (&TokenEndpoint, &SecretSource) = match &self.config.grant {
            Grant::ClientCredentials {
                endpoint,
                client_secret,
            } => (endpoint, client_secret),
            Grant::RefreshToken {
                endpoint,
                refresh_token,
                ..
            } => (endpoint, refresh_token),
            Grant::Command(_) => return Ok(String::new()),
        };
        let material = material.resolve().await.map_err(|e| chain(&e))?;
        let mut hasher = blake3::Hasher::new();
        for part in [
            endpoint.url.text.as_str(),
            &endpoint.client_id,
            material.expose(),
        ] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        Ok(hasher.finalize().to_hex().to_string())
    }

    fn set_status(&self, change: impl FnOnce(&mut TokenStatus)) {
        change(&mut self.status.lock().expect("not poisoned"));
    }

    fn needs_consent(&self, why: &str) -> TokenError {
        TokenError::NeedsConsent {
            credential: self.credential.clone(),
            why: why.to_string(),
        }
    }

    fn unavailable(&self, why: String) -> TokenError {
        TokenError::Unavailable {
            credential: self.credential.clone(),
            why,
        }
    }
}

/// What a grant sends besides the client id.
enum Ask<'a> {
    Client(&'a SecretSource),
    Refresh(Option<&'a SecretSource>, &'a SecretSource),
}

impl<'a> Ask<'a> {
    fn client_secret(&self) -> Option<&'a SecretSource> {
        match self {
            Ask::Client(secret) => Some(secret),
            Ask::Refresh(secret, _) => *secret,
        }
    }
}

/// How long a token of `lifetime` is used before it is refreshed: until [`REFRESH_MARGIN`]
/// plus a share `jitter` (0 to 1) of [`REFRESH_JITTER`] before it expires, and at least half
/// its lifetime (a short-lived token is still used).
fn refresh_after(lifetime: Duration, jitter: f64) -> Duration {
    let early = REFRESH_MARGIN + REFRESH_JITTER.mul_f64(jitter.clamp(0.0, 1.0));
    lifetime.saturating_sub(early).max(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        let hour = Duration::from_secs(3600);
        assert_eq!(refresh_after(hour, 0.0), Duration::from_secs(3540));
        assert_eq!(refresh_after(hour, 1.0), Duration::from_secs(3510));
        assert_eq!(
            refresh_after(Duration::from_secs(60), 0.5),
            Duration::from_secs(30)
        );
        assert_eq!(refresh_after(Duration::ZERO, 0.5), Duration::ZERO);
    }
}
