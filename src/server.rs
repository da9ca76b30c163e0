//! One account's mail server as the rest of mail-ingest reaches it: the account's protocol
//! (IMAP or POP3), its connector and its login behind [`MailServer`], so the account actor
//! and `test ACCOUNT` open sessions without knowing which protocol they speak.

use async_trait::async_trait;

use crate::config::{AccountConfig, Credential, CredentialError, Login, Protocol};
use crate::error::{CheckError, Stage, chain};
use crate::imap::{ImapSession, idle};
use crate::net::ConnectorHandle;
use crate::pop3::Pop3Session;
use crate::protocol::{MailServer, Session, WatchEnd};

/// An account's server, reached directly or through its connector, logged in with its
/// credential, whose password is read at every connection (a rotated password file or
/// command needs no restart).
pub struct AccountServer {
    account: AccountConfig,
    connector: Option<ConnectorHandle>,
    /// The account's credential (`None`: not configured; every connection fails then).
    credential: Option<Credential>,
}

impl AccountServer {
    /// The server of `account`, through `connector` when given, logging in with
    /// `credential`.
    pub fn new(
        account: AccountConfig,
        connector: Option<ConnectorHandle>,
        credential: Option<Credential>,
    ) -> Self {
        AccountServer {
            account,
            connector,
            credential,
        }
    }

    /// The login, its password read now.
    fn login(&self) -> Result<Login, CheckError> {
        let name = &self.account.credential;
        let error = match &self.credential {
            None => CredentialError::Unknown(name.clone()),
            Some(c) => match c.resolve() {
                Ok(login) => return Ok(login),
                Err(e) => CredentialError::Secret(name.clone(), e),
            },
        };
        Err(CheckError::new(Stage::Auth, chain(&error)))
    }
}

#[async_trait]
impl MailServer for AccountServer {
    async fn open(&self) -> Result<Box<dyn Session>, CheckError> {
        let login = self.login()?;
        let connector = self.connector.as_ref();
        Ok(match self.account.protocol {
            Protocol::Imap => Box::new(ImapSession::open(&self.account, connector, &login).await?),
            Protocol::Pop3 => Box::new(Pop3Session::open(&self.account, connector, &login).await?),
        })
    }

    async fn watch(&self, wake: &(dyn Fn() + Send + Sync)) -> WatchEnd {
        if self.account.protocol != Protocol::Imap {
            return WatchEnd::Unsupported;
        }
        match self.login() {
            Ok(login) => idle::watch(&self.account, self.connector.as_ref(), &login, wake).await,
            Err(e) => WatchEnd::Failed(e),
        }
    }
}
