//! One account's mail server as the rest of mail-ingest reaches it: the account's protocol
//! (IMAP or POP3), its connector and its login behind [`MailServer`], so the account actor
//! and `test ACCOUNT` open sessions without knowing which protocol they speak.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{AccountConfig, CredentialError, Login, Protocol};
use crate::error::{CheckError, Stage, chain};
use crate::imap::{ImapSession, idle};
use crate::net::ConnectorHandle;
use crate::pop3::Pop3Session;
use crate::protocol::{MailServer, Session, WatchEnd};

/// An account's server, reached directly or through its connector, logged in with its
/// credential.
pub struct AccountServer {
    account: AccountConfig,
    connector: Option<ConnectorHandle>,
    /// The login, or why it could not be read (every connection fails with it then).
    login: Result<Login, Arc<CredentialError>>,
}

impl AccountServer {
    /// The server of `account`, through `connector` when given, logging in with `login`.
    pub fn new(
        account: AccountConfig,
        connector: Option<ConnectorHandle>,
        login: Result<Login, CredentialError>,
    ) -> Self {
        AccountServer {
            account,
            connector,
            login: login.map_err(Arc::new),
        }
    }

    fn login(&self) -> Result<&Login, CheckError> {
        self.login
            .as_ref()
            .map_err(|e| CheckError::new(Stage::Auth, chain(&**e)))
    }
}

#[async_trait]
impl MailServer for AccountServer {
    async fn open(&self) -> Result<Box<dyn Session>, CheckError> {
        let login = self.login()?;
        let connector = self.connector.as_ref();
        Ok(match self.account.protocol {
            Protocol::Imap => Box::new(ImapSession::open(&self.account, connector, login).await?),
            Protocol::Pop3 => Box::new(Pop3Session::open(&self.account, connector, login).await?),
        })
    }

    async fn watch(&self, wake: &(dyn Fn() + Send + Sync)) -> WatchEnd {
        if self.account.protocol != Protocol::Imap {
            return WatchEnd::Unsupported;
        }
        match self.login() {
            Ok(login) => idle::watch(&self.account, self.connector.as_ref(), login, wake).await,
            Err(e) => WatchEnd::Failed(e),
        }
    }
}
