//! One account's live status: what it is doing, how its last check ended, and the progress
//! of its current check. The account actor writes it (the supervisor too, when it starts,
//! restarts or stops the actor); the registry hands it to the reports and the API. Its lock
//! is never held across an await.

use std::sync::{Arc, RwLock};

use crate::error::Stage;
use crate::model::AccountRunState;
use crate::progress::Progress;

/// A copy of an account's live status at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// What it is doing.
    pub state: AccountRunState,
    /// The stage of the last failure, if the last check failed.
    pub last_stage: Option<Stage>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The last check failed because the OAuth2 credential needs new consent.
    pub needs_consent: bool,
}

/// One account's live status, shared (see the module documentation).
#[derive(Debug)]
pub struct AccountStatus {
    live: RwLock<Live>,
    /// The current (or last) check's progress.
    pub progress: Arc<Progress>,
}

impl AccountStatus {
    /// A status starting in `state`.
    pub fn new(state: AccountRunState) -> Self {
        AccountStatus {
            live: RwLock::new(Live {
                state,
                last_stage: None,
                last_error: None,
                needs_consent: false,
            }),
            progress: Arc::default(),
        }
    }

    /// The status now.
    pub fn get(&self) -> Live {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets what the account is doing.
    pub fn set_state(&self, state: AccountRunState) {
        self.live.write().unwrap_or_else(|e| e.into_inner()).state = state;
    }

    /// Records how a check ended: the stage and message of its failure, or none, and
    /// whether the credential needs new consent.
    pub fn record_check(&self, stage: Option<Stage>, error: Option<String>, needs_consent: bool) {
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        live.last_stage = stage;
        live.last_error = error;
        live.needs_consent = needs_consent;
    }
}
