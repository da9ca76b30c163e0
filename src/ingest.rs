//! The embedding API: start the pipeline, check on demand, read the reports, follow stored
//! messages through a durable [`Feed`], reload, shut down.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorRef, ActorStatus};
use tokio::sync::Notify;

use crate::actors::CallResultExt;
use crate::actors::account::AccountMsg;
use crate::actors::registry::Registry;
use crate::actors::supervisor::{Supervisor, SupervisorArgs, SupervisorMsg};
use crate::actors::wiring::MailWiring;
use crate::config::{Config, ConfigError};
use crate::error::CheckError;
use crate::feed::Feed;
use crate::model::{AccountReport, CheckSummary, MessageDetail, MessageMeta};
use crate::oauth2::{RefreshTokens, StoreRefreshTokens};
use crate::parse::Attachment;
use crate::report;
use crate::retention::RetentionRun;
use crate::server::{AccountServer, Tested};
use crate::shared::Shared;
use crate::store::{Compacted, Found, Store, StoreError, Subscriber};

/// Why an operation of [`MailIngest`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The name, and the message naming the known accounts.
    #[error("{1}")]
    UnknownAccount(String, String),
    /// The account is disabled.
    #[error("account `{0}` is disabled; set enabled = true to check it")]
    Disabled(String),
    /// The account's actor is being restarted.
    #[error("account `{0}` is restarting after a failure; try again shortly")]
    NotRunning(String),
    /// This setting needs a restart.
    #[error("{0} cannot change while running; restart mail-ingest to apply it")]
    NeedsRestart(&'static str),
    /// The pipeline is not running.
    #[error("the pipeline has stopped")]
    Stopped,
    /// A test of an account's connection failed.
    #[error("failed at {}: {}", .0.stage.as_str(), .0.message)]
    Test(CheckError),
}

/// How to start the pipeline.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Run automatic checks on each account's schedule (false: only [`MailIngest::check_now`]).
    pub automatic_checks: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            automatic_checks: true,
        }
    }
}

/// A running pipeline: supervisor, accounts, parser and store.
pub struct MailIngest {
    config: Arc<RwLock<Config>>,
    store: Arc<Store>,
    registry: Registry,
    supervisor: ActorRef<SupervisorMsg>,
    committed: Arc<Notify>,
    /// The daemon's periodic retention, stopped at shutdown.
    retention: Option<tokio::task::AbortHandle>,
}

impl MailIngest {
    /// Validates `config`, opens the store and starts every enabled account with automatic
    /// checks.
    pub async fn start(config: Config) -> Result<Self, IngestError> {
        Self::start_with(config, Options::default()).await
    }

    /// Like [`MailIngest::start`], with options.
    pub async fn start_with(config: Config, options: Options) -> Result<Self, IngestError> {
        config.validate()?;
        let path = config.store.path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|_| IngestError::Stopped)??;
        let store = Arc::new(store);
        let registry = Registry::default();
        let committed = Arc::new(Notify::new());
        let args = SupervisorArgs {
            config: config.clone(),
            wiring: Arc::new(MailWiring::new(store.clone(), committed.clone())),
            registry: registry.clone(),
            automatic: options.automatic_checks,
        };
        let (supervisor, _) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|_| IngestError::Stopped)?;
        // Messages are handled only after post_start: this waits until the tree is up.
        supervisor
            .call(SupervisorMsg::Ready, None)
            .await
            .map_err(|_| IngestError::Stopped)?
            .into_done()
            .map_err(|_| IngestError::Stopped)?;
        let config = Arc::new(RwLock::new(config));
        let retention = options
            .automatic_checks
            .then(|| periodic_retention(store.clone(), config.clone()));
        Ok(MailIngest {
            config,
            store,
            registry,
            supervisor,
            committed,
            retention,
        })
    }

    /// The running config.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True while the supervisor (and with it the store and parser actors) runs and the
    /// store can be written.
    pub fn is_healthy(&self) -> bool {
        self.health().is_ok()
    }

    /// What is wrong, when something is: the pipeline stopped, or the store cannot be
    /// written (a full disk; it heals by itself once there is room).
    pub fn health(&self) -> Result<(), String> {
        if !matches!(
            self.supervisor.get_status(),
            ActorStatus::Running | ActorStatus::Upgrading
        ) {
            return Err("the pipeline has stopped".into());
        }
        self.store
            .writable()
            .map_err(|why| format!("the store cannot be written: {why}"))
    }

    /// Checks one account now (automatic or not) and returns its summary.
    pub async fn check_now(&self, account: &str) -> Result<CheckSummary, IngestError> {
        let actor = self.account_actor(account)?;
        actor
            .call(|reply| AccountMsg::Check(Some(reply)), None)
            .await
            .map_err(|_| IngestError::NotRunning(account.into()))?
            .into_done()
            .map_err(|_| IngestError::NotRunning(account.into()))
    }

    fn account_actor(&self, account: &str) -> Result<ActorRef<AccountMsg>, IngestError> {
        let config = self.config();
        let Some(a) = config.accounts.get(account) else {
            return Err(IngestError::UnknownAccount(
                account.into(),
                config.unknown_account(account),
            ));
        };
        if !a.enabled {
            return Err(IngestError::Disabled(account.into()));
        }
        self.registry
            .actor(account)
            .ok_or_else(|| IngestError::NotRunning(account.into()))
    }

    /// The account's live progress cell, to watch a check as it runs.
    pub fn progress_handle(&self, account: &str) -> Option<Arc<crate::progress::Progress>> {
        self.registry.progress(account)
    }

    /// How far the account's current (or last) check is.
    pub fn progress(&self, account: &str) -> Option<crate::progress::Snapshot> {
        self.registry.progress(account)?.snapshot()
    }

    /// The Accounts report.
    pub fn accounts(&self) -> Result<Vec<AccountReport>, IngestError> {
        Ok(report::accounts(
            &self.config(),
            Some(&self.store),
            Some(&self.registry),
        )?)
    }

    /// One row of the Accounts report.
    pub fn account(&self, name: &str) -> Result<Option<AccountReport>, IngestError> {
        Ok(report::account(
            &self.config(),
            name,
            Some(&self.store),
            Some(&self.registry),
        )?)
    }

    /// An account's Inbox report, newest first.
    pub fn messages(
        &self,
        account: &str,
        limit: Option<usize>,
        before: Option<u64>,
    ) -> Result<Vec<MessageMeta>, IngestError> {
        Ok(report::inbox(&self.store, account, limit, before)?)
    }

    /// A page of the Inbox report's search: messages whose sender or subject contains
    /// `query`, newest first, below `before`.
    pub fn search(
        &self,
        account: &str,
        query: &str,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Found, IngestError> {
        Ok(report::search(&self.store, account, query, limit, before)?)
    }

    /// One stored message's attachments, decoded.
    pub fn attachments(&self, id: u64) -> Result<Option<Vec<Attachment>>, IngestError> {
        Ok(self
            .store
            .raw(id)?
            .map(|raw| crate::parse::attachments(&raw)))
    }

    /// One stored message with its text.
    pub fn message(&self, id: u64) -> Result<Option<MessageDetail>, IngestError> {
        Ok(report::message(&self.store, id)?)
    }

    /// Runs retention now for every account with `keep_for` or `keep_max`.
    pub async fn apply_retention(&self) -> Result<Vec<RetentionRun>, IngestError> {
        Ok(crate::retention::run_once(&self.store, &self.config()).await?)
    }

    /// Every Feed subscriber and how far it is.
    pub fn subscribers(&self) -> Result<Vec<Subscriber>, IngestError> {
        Ok(self.store.subscribers()?)
    }

    /// Forgets Feed subscriber `name`: retention no longer keeps messages for it. True when
    /// it was known.
    pub fn unsubscribe(&self, name: &str) -> Result<bool, IngestError> {
        Ok(self.store.remove_subscriber(name)?)
    }

    /// A consistent copy of the store as of its last commit, open for reading and already
    /// unlinked (commits wait while the file is copied), with its size.
    pub fn snapshot(&self) -> Result<(std::fs::File, u64), IngestError> {
        Ok(self.store.snapshot()?)
    }

    /// Gives the space of removed records back to the file system (commits wait meanwhile).
    pub fn compact(&self) -> Result<Compacted, IngestError> {
        Ok(self.store.compact()?)
    }

    /// One stored message's exact bytes.
    pub fn raw(&self, id: u64) -> Result<Option<Vec<u8>>, IngestError> {
        Ok(self.store.raw(id)?)
    }

    /// Applies a new config: only accounts whose settings changed restart. Returns what
    /// changed. An invalid config changes nothing.
    pub async fn reload(&self, config: Config) -> Result<Vec<String>, IngestError> {
        config.validate()?;
        if config.store.path != self.config().store.path {
            return Err(IngestError::NeedsRestart("store.path"));
        }
        let mut changed = self
            .supervisor
            .call(
                |reply| SupervisorMsg::Reload(Box::new(config.clone()), reply),
                None,
            )
            .await
            .map_err(|_| IngestError::Stopped)?
            .into_done()
            .map_err(|_| IngestError::Stopped)?;
        let old = std::mem::replace(
            &mut *self.config.write().unwrap_or_else(|e| e.into_inner()),
            config.clone(),
        );
        if old.http != config.http {
            changed.push("http (applies after a restart)".into());
        }
        Ok(changed)
    }

    /// Tests account `name` of `config`, which need not be the running config (the web
    /// console tests a form's values before they are saved): connect through its connector,
    /// TLS, log in, read the mailbox's size; nothing is fetched. A rotated OAuth2 refresh
    /// token is kept in the store, as the daemon's own are.
    pub async fn test_account(&self, config: &Config, name: &str) -> Result<Tested, IngestError> {
        let Some(account) = config.accounts.get(name) else {
            return Err(IngestError::UnknownAccount(
                name.into(),
                config.unknown_account(name),
            ));
        };
        let kept: Arc<dyn RefreshTokens> = Arc::new(StoreRefreshTokens(self.store.clone()));
        let shared = Shared::build(None, config, &kept);
        let server = AccountServer::new(
            account.clone(),
            shared.connector(account),
            shared.authority(config, account),
        );
        server.probe().await.map_err(IngestError::Test)
    }

    /// A durable feed of stored messages for subscriber `name`, resuming after its last ack.
    pub fn subscribe(&self, name: &str) -> Result<Feed, IngestError> {
        Ok(Feed::new(name, self.store.clone(), self.committed.clone())?)
    }

    /// Stops every actor: running checks end, owed deletes stay recorded for the next start.
    /// Drop every [`Feed`] first: the store file stays locked while one lives (this waits up
    /// to 10 s for them).
    pub async fn shutdown(self) -> Result<(), IngestError> {
        if let Some(retention) = &self.retention {
            retention.abort();
        }
        // Accounts first (a running check finishes, or is killed after 30 s: safe by the
        // delivery contract), then the supervisor with the store and parser.
        let _ = self.supervisor.call(SupervisorMsg::Shutdown, None).await;
        let _ = self
            .supervisor
            .stop_and_wait(None, Some(Duration::from_secs(10)))
            .await;
        // Background commits may hold the store a moment longer; the file lock goes with
        // the last reference.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&self.store) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

/// Runs retention every [`crate::retention::RETENTION_EVERY`] until aborted.
fn periodic_retention(store: Arc<Store>, config: Arc<RwLock<Config>>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::retention::RETENTION_EVERY).await;
            let now = config.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Err(e) = crate::retention::run_once(&store, &now).await {
                tracing::warn!(error = %crate::error::chain(&e), "retention failed; it runs again later");
            }
        }
    })
    .abort_handle()
}
