//! Every account's live status and running actor, by name: the supervisor keeps it, the
//! reports, the API and `check_now` read it. The lock is never held across an await.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ractor::ActorRef;

use super::account::AccountMsg;
use super::status::{AccountStatus, Live};
use crate::model::AccountRunState;
use crate::progress::Progress;

/// One account's entry.
#[derive(Clone, Debug)]
struct Entry {
    status: Arc<AccountStatus>,
    actor: Option<ActorRef<AccountMsg>>,
}

/// Shared map of account name to its status and actor.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    inner: Arc<RwLock<HashMap<String, Entry>>>,
}

impl Registry {
    fn read<T>(&self, f: impl FnOnce(&HashMap<String, Entry>) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        f(&mut self.inner.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// The account's status, made (in `state`) when the account is new here.
    pub fn status(&self, name: &str, state: AccountRunState) -> Arc<AccountStatus> {
        self.write(|m| {
            m.entry(name.to_string())
                .or_insert_with(|| Entry {
                    status: Arc::new(AccountStatus::new(state)),
                    actor: None,
                })
                .status
                .clone()
        })
    }

    /// Registers (or clears) an account's running actor and sets its state.
    pub fn set_actor(
        &self,
        name: &str,
        actor: Option<ActorRef<AccountMsg>>,
        state: AccountRunState,
    ) {
        let status = self.status(name, state);
        status.set_state(state);
        self.write(|m| {
            if let Some(entry) = m.get_mut(name) {
                entry.actor = actor;
            }
        });
    }

    /// Forgets an account removed from the config.
    pub fn remove(&self, name: &str) {
        self.write(|m| m.remove(name));
    }

    /// The account's live status now.
    pub fn live(&self, name: &str) -> Option<Live> {
        self.read(|m| m.get(name).map(|e| e.status.get()))
    }

    /// The account's running actor.
    pub fn actor(&self, name: &str) -> Option<ActorRef<AccountMsg>> {
        self.read(|m| m.get(name).and_then(|e| e.actor.clone()))
    }

    /// The account's progress cell (shared with its checks).
    pub fn progress(&self, name: &str) -> Option<Arc<Progress>> {
        self.read(|m| m.get(name).map(|e| e.status.progress.clone()))
    }

    /// Every account known.
    pub fn names(&self) -> Vec<String> {
        self.read(|m| m.keys().cloned().collect())
    }
}
