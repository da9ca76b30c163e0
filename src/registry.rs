//! The live state of every account, shared by the supervisor, the account actors, the
//! reports and the HTTP API. The lock is never held across an await.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ractor::ActorRef;

use crate::actors::account::AccountMsg;
use crate::error::Stage;
use crate::model::AccountRunState;
use crate::progress::Progress;

/// One account's live state.
#[derive(Clone, Debug)]
pub struct Live {
    /// What it is doing.
    pub state: AccountRunState,
    /// The stage of the last failure, if the last check failed.
    pub last_stage: Option<Stage>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The running actor, when the account is enabled and alive.
    pub actor: Option<ActorRef<AccountMsg>>,
    /// The current (or last) check's progress.
    pub progress: Arc<Progress>,
}

/// Shared map of account name to [`Live`].
#[derive(Clone, Debug, Default)]
pub struct Registry {
    inner: Arc<RwLock<HashMap<String, Live>>>,
}

impl Registry {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Live>) -> T) -> T {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        f(&mut map)
    }

    /// Registers (or replaces) an account's actor.
    pub fn set_actor(
        &self,
        name: &str,
        actor: Option<ActorRef<AccountMsg>>,
        state: AccountRunState,
    ) {
        self.with(|m| {
            let live = m.entry(name.to_string()).or_insert(Live {
                state,
                last_stage: None,
                last_error: None,
                actor: None,
                progress: Arc::default(),
            });
            live.actor = actor;
            live.state = state;
        });
    }

    /// Forgets an account removed from the config.
    pub fn remove(&self, name: &str) {
        self.with(|m| m.remove(name));
    }

    /// Sets what the account is doing.
    pub fn set_state(&self, name: &str, state: AccountRunState) {
        self.with(|m| {
            if let Some(live) = m.get_mut(name) {
                live.state = state;
            }
        });
    }

    /// Records the outcome of a check.
    pub fn record_check(&self, name: &str, stage: Option<Stage>, error: Option<String>) {
        self.with(|m| {
            if let Some(live) = m.get_mut(name) {
                live.last_stage = stage;
                live.last_error = error;
            }
        });
    }

    /// The account's progress cell (shared with its checks).
    pub fn progress(&self, name: &str) -> Option<Arc<Progress>> {
        self.get(name).map(|l| l.progress)
    }

    /// The stage of the last failure, if the last check failed.
    pub fn last_stage(&self, name: &str) -> Option<Stage> {
        self.get(name).and_then(|l| l.last_stage)
    }

    /// A copy of the account's live state.
    pub fn get(&self, name: &str) -> Option<Live> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every account known.
    pub fn names(&self) -> Vec<String> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}
