//! One account's mail server as the rest of mail-ingest reaches it: the account's protocol
//! (IMAP or POP3), its connector and its login behind [`MailServer`], so the account actor
//! and `test ACCOUNT` open sessions without knowing which protocol they speak or how the
//! account logs in (a password read at every connection, or an OAuth2 token from the
//! credential's [`TokenManager`], refreshed once and tried again when the server refuses it).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::config::{AccountConfig, Credential, CredentialError, Protocol};
use crate::error::{CheckError, Failure, Stage, chain};
use crate::imap::{ImapSession, idle};
use crate::metrics as m;
use crate::net::ConnectorHandle;
use crate::oauth2::{AccessToken, TokenError, TokenManager};
use crate::pop3::Pop3Session;
use crate::protocol::{Ahead, MailServer, Session, WatchEnd};
use crate::sasl::MailLogin;

/// How an account's server is logged in to.
#[derive(Clone)]
pub enum Authority {
    /// The credential's password, read at every connection.
    Password(Credential),
    /// The access tokens of the credential's manager.
    Tokens(Arc<TokenManager>),
    /// The account names no credential that exists: every connection fails.
    Missing,
}

/// An account's server, reached directly or through its connector, logged in as its
/// credential says.
pub struct AccountServer {
    account: AccountConfig,
    connector: Option<ConnectorHandle>,
    authority: Authority,
    /// The token of the last login, to discard when the server ends a session for it.
    last_token: Mutex<Option<AccessToken>>,
}

impl AccountServer {
    /// The server of `account`, through `connector` when given, logging in by `authority`.
    pub fn new(
        account: AccountConfig,
        connector: Option<ConnectorHandle>,
        authority: Authority,
    ) -> Self {
        for mechanism in ["password", "xoauth2", "oauthbearer"] {
            metrics::counter!(m::LOGINS_REFUSED, "account" => account.name.clone(), "mechanism" => mechanism).increment(0);
        }
        AccountServer {
            account,
            connector,
            authority,
            last_token: Mutex::new(None),
        }
    }

    /// The login now: the password read, or a token from the manager.
    async fn login(&self) -> Result<(MailLogin, Option<AccessToken>), CheckError> {
        let name = &self.account.credential;
        match &self.authority {
            Authority::Missing => Err(CheckError::new(
                Stage::Auth,
                chain(&CredentialError::Unknown(name.clone())),
            )),
            Authority::Password(credential) => credential
                .password_login(name)
                .await
                .map(|login| (MailLogin::Password(login), None))
                .map_err(|e| CheckError::new(Stage::Auth, chain(&e))),
            Authority::Tokens(tokens) => {
                let token = tokens.token().await.map_err(token_error)?;
                *self.last_token.lock().expect("not poisoned") = Some(token.clone());
                Ok((MailLogin::Bearer(tokens.login(&token)), Some(token)))
            }
        }
    }

    /// Connects and logs in with `login`, counting a refusal.
    async fn open_as(
        &self,
        login: &MailLogin,
        ahead: Option<Ahead>,
    ) -> Result<Box<dyn Session>, CheckError> {
        let connector = self.connector.as_ref();
        let opened: Result<Box<dyn Session>, CheckError> = match self.account.protocol {
            Protocol::Imap => ImapSession::open(&self.account, connector, login, ahead)
                .await
                .map(|s| Box::new(s) as Box<dyn Session>),
            Protocol::Pop3 => Pop3Session::open(&self.account, connector, login, ahead)
                .await
                .map(|s| Box::new(s) as Box<dyn Session>),
        };
        if let Err(e) = &opened
            && e.failure == Failure::LoginRefused
        {
            metrics::counter!(m::LOGINS_REFUSED, "account" => self.account.name.clone(), "mechanism" => login.mechanism()).increment(1);
        }
        opened
    }

    /// What `test ACCOUNT` and the console's Test connection do: connect (connector, TLS),
    /// log in, read the capabilities and the mailbox's size, fetch nothing, log out.
    pub async fn probe(&self) -> Result<Tested, CheckError> {
        let mut session = self.open(None).await?;
        let probe = session.probe().await?;
        let _ = session.finish().await;
        let a = &self.account;
        let via = a
            .connector
            .as_deref()
            .map(|c| format!(" via connector `{c}`"))
            .unwrap_or_default();
        Ok(Tested {
            connected: format!(
                "connected to {}:{}{via} ({})",
                a.address,
                a.port,
                a.tls.as_str()
            ),
            login: self.login_words(),
            capabilities: probe.capabilities,
            mailbox: probe.mailbox,
        })
    }

    /// The token manager, when the account logs in with OAuth2.
    pub fn tokens(&self) -> Option<&Arc<TokenManager>> {
        match &self.authority {
            Authority::Tokens(t) => Some(t),
            _ => None,
        }
    }

    /// What `test ACCOUNT` shows of the login: the mechanism and, for a token, its expiry.
    pub fn login_words(&self) -> String {
        match &self.authority {
            Authority::Tokens(t) => {
                let expiry = match t.status().expires_at {
                    Some(at) => format!("token expires {}", humantime::format_rfc3339_seconds(at)),
                    None => "token from a command, its expiry kept by the command".into(),
                };
                format!(
                    "{} (grant {}, {expiry})",
                    t.mechanism().sasl_name(),
                    t.grant()
                )
            }
            _ => "password".into(),
        }
    }
}

/// What a test of an account's connection found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tested {
    /// Where it connected, in words.
    pub connected: String,
    /// How it logged in: the mechanism (and a token's expiry).
    pub login: String,
    /// The server's capabilities.
    pub capabilities: Vec<String>,
    /// What the mailbox holds, in words.
    pub mailbox: String,
}

/// A token manager's error as a check's: at the auth stage, marked when only new consent
/// helps.
fn token_error(e: TokenError) -> CheckError {
    let consent = matches!(e, TokenError::NeedsConsent { .. });
    let error = CheckError::new(Stage::Auth, e.to_string());
    if consent {
        error.because(Failure::NeedsConsent)
    } else {
        error
    }
}

#[async_trait]
impl MailServer for AccountServer {
    async fn open(&self, ahead: Option<Ahead>) -> Result<Box<dyn Session>, CheckError> {
        let (login, token) = self.login().await?;
        match (self.open_as(&login, ahead).await, &self.authority, token) {
            (Err(e), Authority::Tokens(tokens), Some(token))
                if e.failure == Failure::LoginRefused =>
            {
                // One forced refresh and one more try: the token may have been revoked or
                // may have expired early.
                tracing::info!(account = %self.account.name, error = %e, "the server refused the access token; asking for a new one");
                tokens.discard(&token).await;
                let (login, _) = self.login().await?;
                self.open_as(&login, ahead).await.map_err(|mut e| {
                    if e.failure == Failure::LoginRefused {
                        e.message.push_str(" (also with a newly requested token: check that the application may read this mailbox, and the scope)");
                    }
                    e
                })
            }
            (opened, _, _) => opened,
        }
    }

    async fn login_expired(&self) {
        let token = self.last_token.lock().expect("not poisoned").take();
        if let (Authority::Tokens(tokens), Some(token)) = (&self.authority, token) {
            tokens.discard(&token).await;
        }
    }

    async fn watch(&self, wake: &(dyn Fn() + Send + Sync)) -> WatchEnd {
        if self.account.protocol != Protocol::Imap {
            return WatchEnd::Unsupported;
        }
        let (login, token) = match self.login().await {
            Ok(l) => l,
            Err(e) => return WatchEnd::Failed(e),
        };
        let end = idle::watch(&self.account, self.connector.as_ref(), &login, wake).await;
        if let (WatchEnd::Failed(e), Authority::Tokens(tokens), Some(token)) =
            (&end, &self.authority, token)
            && matches!(e.failure, Failure::LoginRefused | Failure::LoginExpired)
        {
            tokens.discard(&token).await;
        }
        end
    }
}
