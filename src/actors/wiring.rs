//! How the supervisor gives each account its parts: a [`Wiring`] starts what the accounts
//! share and makes each account's [`AccountParts`]. [`MailWiring`] is the real one: mail
//! servers reached over the network, the parser and store actors as the destination, the
//! store as the ledger. The unit tests wire scripted servers and in-memory parts instead.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use ractor::{Actor, ActorCell, ActorProcessingErr};
use tokio::sync::Notify;

use super::account::AccountParts;
use super::ledger::StoreLedger;
use super::parser::ParserActor;
use super::pipeline::{Pipeline, StoreSink};
use super::store::StoreActor;
use crate::check::Destination;
use crate::config::AccountConfig;
use crate::net::ConnectorHandle;
use crate::oauth2::{RefreshTokens, StoreRefreshTokens};
use crate::progress::Progress;
use crate::protocol::Sink;
use crate::server::{AccountServer, Authority};
use crate::store::Store;

/// Makes the parts of each account (see the module documentation).
#[async_trait]
pub trait Wiring: Send + Sync + 'static {
    /// Starts what the accounts share, linked to `supervisor`: when one of those ends, the
    /// supervisor stops (and `/health` says so).
    async fn start(&self, supervisor: ActorCell) -> Result<(), ActorProcessingErr>;
    /// One account's parts, reaching its server through `connector` when given and
    /// logging in by `authority`.
    fn parts(
        &self,
        account: &AccountConfig,
        connector: Option<ConnectorHandle>,
        authority: Authority,
    ) -> AccountParts;
    /// Where token managers keep rotated refresh tokens.
    fn refresh_tokens(&self) -> Arc<dyn RefreshTokens>;
}

/// The real wiring: network, parser and store actors, the store (see the module docs).
pub struct MailWiring {
    store: Arc<Store>,
    /// Woken after every commit, for subscribers.
    committed: Arc<Notify>,
    /// Set by [`Wiring::start`].
    pipeline: OnceLock<Pipeline>,
}

impl MailWiring {
    /// Wiring over the open `store`, waking `committed` after every commit.
    pub fn new(store: Arc<Store>, committed: Arc<Notify>) -> Self {
        MailWiring {
            store,
            committed,
            pipeline: OnceLock::new(),
        }
    }
}

#[async_trait]
impl Wiring for MailWiring {
    async fn start(&self, supervisor: ActorCell) -> Result<(), ActorProcessingErr> {
        let store_args = (self.store.clone(), self.committed.clone());
        let (store_actor, _) =
            Actor::spawn_linked(None, StoreActor, store_args, supervisor.clone()).await?;
        let (parser, _) = Actor::spawn_linked(None, ParserActor, (), supervisor).await?;
        self.pipeline
            .set(Pipeline::new(parser, store_actor))
            .map_err(|_| "the wiring was started twice; its first actors would be lost")?;
        Ok(())
    }

    fn parts(
        &self,
        account: &AccountConfig,
        connector: Option<ConnectorHandle>,
        authority: Authority,
    ) -> AccountParts {
        let pipeline = self
            .pipeline
            .get()
            .expect("the supervisor starts the wiring before any account")
            .clone();
        AccountParts {
            server: Arc::new(AccountServer::new(account.clone(), connector, authority)),
            destination: Arc::new(pipeline),
            ledger: Arc::new(StoreLedger(self.store.clone())),
        }
    }

    fn refresh_tokens(&self) -> Arc<dyn RefreshTokens> {
        Arc::new(StoreRefreshTokens(self.store.clone()))
    }
}

impl Destination for Pipeline {
    fn sink(&self, account: &AccountConfig, progress: Arc<Progress>) -> Box<dyn Sink> {
        Box::new(StoreSink::new(account, self.clone(), progress))
    }
}
