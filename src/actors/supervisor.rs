//! The supervisor: builds the tree (what the wiring shares, connectors and token managers
//! ([`Shared`]), one account actor
//! per enabled account), restarts a failed account actor with capped, jittered backoff while
//! the others carry on (from the first delay again once it ran healthy for a while), and
//! applies a reloaded config by restarting only what changed.
//!
//! Supervision is overridden on purpose: ractor's default would stop the supervisor when
//! any child exits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use tokio::time::Instant;

use super::account::{AccountActor, AccountArgs};
use super::registry::Registry;
use super::wiring::Wiring;
use crate::backoff::Backoff;
use crate::config::{AccountConfig, Config};
use crate::metrics as m;
use crate::model::AccountRunState;
use crate::shared::Shared;

/// An account actor that ran longer than this before it failed was healthy: its restart
/// delay starts from the first one again. As long as the longest restart delay, so an actor
/// that fails again and again (after slow login retries, say) still backs off.
pub const HEALTHY_RUN: Duration = Duration::from_secs(300);

/// How long a shutdown waits for running checks before it kills them.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// Messages of the supervisor.
pub enum SupervisorMsg {
    /// Apply a new (validated) config; reply with what changed.
    Reload(Box<Config>, RpcReplyPort<Vec<String>>),
    /// Start an account again after its backoff.
    Respawn(String),
    /// Answers once the tree is up (messages are handled only after `post_start`).
    Ready(RpcReplyPort<()>),
    /// Stops every child (a running check may finish within 30 s, then it is killed).
    Shutdown(RpcReplyPort<()>),
}

/// What the supervisor starts from.
pub struct SupervisorArgs {
    /// The config to run.
    pub config: Config,
    /// What gives each account its server, destination and ledger.
    pub wiring: Arc<dyn Wiring>,
    /// The live state shared with reports and the API.
    pub registry: Registry,
    /// Run automatic checks (false for one-shot `check`).
    pub automatic: bool,
}

/// The supervisor actor (see the module documentation).
pub struct Supervisor;

/// The supervisor's state.
pub struct SupervisorState {
    config: Config,
    wiring: Arc<dyn Wiring>,
    registry: Registry,
    automatic: bool,
    /// The connectors and token managers the accounts share.
    shared: Shared,
    /// Which account each running actor serves, and since when.
    actors: HashMap<ActorId, (String, Instant)>,
    /// Account actors stopped on purpose (reload), whose exit is not a failure.
    stopping: HashSet<ActorId>,
    /// Restart delays per account.
    restarts: HashMap<String, Backoff>,
    /// Set by `Shutdown`: children exiting now is expected.
    shutting_down: bool,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            config: args.config,
            wiring: args.wiring,
            registry: args.registry,
            automatic: args.automatic,
            shared: Shared::default(),
            actors: HashMap::new(),
            stopping: HashSet::new(),
            restarts: HashMap::new(),
            shutting_down: false,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.wiring.start(myself.get_cell()).await?;
        state.shared = Shared::build(None, &state.config, &state.wiring.refresh_tokens());
        let accounts: Vec<AccountConfig> = state.config.accounts.values().cloned().collect();
        for account in accounts {
            start_account(&myself, state, account).await;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        myself.stop_children(None);
        for name in state.registry.names() {
            state
                .registry
                .set_actor(&name, None, AccountRunState::Disabled);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Reload(config, reply) => {
                let changed = reload(&myself, state, *config).await;
                let _ = reply.send(changed);
            }
            SupervisorMsg::Ready(reply) => {
                let _ = reply.send(());
            }
            SupervisorMsg::Shutdown(reply) => {
                shutdown(&myself, state).await;
                let _ = reply.send(());
            }
            SupervisorMsg::Respawn(name) => respawn(&myself, state, &name).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason),
            _ => return Ok(()),
        };
        child_exited(&myself, state, cell, why);
        Ok(())
    }
}

/// Stops every child: a running check may finish within [`STOP_WAIT`], then it is killed
/// (safe by the delivery contract: what committed is acknowledged and its delete replayed
/// later; what did not is fetched again).
async fn shutdown(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
    state.shutting_down = true;
    let children = myself.get_children();
    myself.stop_children_and_wait(None, Some(STOP_WAIT)).await;
    for child in children {
        child.kill();
    }
}

/// Starts a failed account again after its backoff, unless a reload removed or restarted
/// it meanwhile.
async fn respawn(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState, name: &str) {
    let still_there = state.config.accounts.get(name).cloned();
    let running = state.actors.values().any(|(n, _)| n == name);
    if let Some(account) = still_there
        && !running
    {
        metrics::counter!(m::ACCOUNT_RESTARTS, "account" => name.to_string()).increment(1);
        start_account(myself, state, account).await;
    }
}

/// An account actor ended: on purpose (reload) nothing happens; otherwise it is restarted
/// after backoff. Anything else the wiring started ending is fatal: the supervisor stops,
/// `/health` fails.
fn child_exited(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    cell: ActorCell,
    why: Option<String>,
) {
    let id = cell.get_id();
    if state.shutting_down {
        return;
    }
    if state.stopping.remove(&id) {
        state.actors.remove(&id);
        return;
    }
    let Some((name, since)) = state.actors.remove(&id) else {
        tracing::error!(reason = ?why, "the store or parser actor stopped; stopping");
        myself.stop(Some("pipeline actor stopped".into()));
        return;
    };
    let backoff = state.restarts.entry(name.clone()).or_default();
    if since.elapsed() > HEALTHY_RUN {
        backoff.reset();
    }
    let delay = backoff.next_delay();
    tracing::error!(account = %name, reason = ?why, retry_in = ?delay, "account actor failed; restarting after backoff");
    state
        .registry
        .set_actor(&name, None, AccountRunState::Failing);
    state
        .registry
        .status(&name, AccountRunState::Failing)
        .record_check(
            None,
            Some(format!(
                "internal failure: {}",
                why.unwrap_or_else(|| "stopped".into())
            )),
            false,
        );
    let name2 = name.clone();
    myself.send_after(delay, move || SupervisorMsg::Respawn(name2));
}

async fn start_account(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    account: AccountConfig,
) {
    let name = account.name.clone();
    m::register_account(&name);
    if !account.enabled {
        state
            .registry
            .set_actor(&name, None, AccountRunState::Disabled);
        return;
    }
    let connector = state.shared.connector(&account);
    let authority = state.shared.authority(&state.config, &account);
    let args = AccountArgs {
        parts: state.wiring.parts(&account, connector, authority),
        status: state.registry.status(&name, AccountRunState::Idle),
        automatic: state.automatic,
        account,
    };
    state.registry.set_actor(&name, None, AccountRunState::Idle);
    match Actor::spawn_linked(None, AccountActor, args, myself.get_cell()).await {
        Ok((actor, _)) => {
            state
                .actors
                .insert(actor.get_id(), (name.clone(), Instant::now()));
            state
                .registry
                .set_actor(&name, Some(actor), AccountRunState::Idle);
        }
        Err(e) => {
            tracing::error!(account = %name, error = %e, "cannot start account actor");
            state
                .registry
                .set_actor(&name, None, AccountRunState::Failing);
        }
    }
}

fn stop_account(state: &mut SupervisorState, name: &str) {
    let ids: Vec<ActorId> = state
        .actors
        .iter()
        .filter(|(_, (n, _))| *n == name)
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        if let Some(actor) = state.registry.actor(name) {
            state.stopping.insert(id);
            // Killing is safe by the delivery contract: what committed is acknowledged and
            // its delete replayed later; what did not is fetched again.
            actor.kill();
        }
    }
}

/// Applies a new config, restarting only the accounts whose settings changed.
async fn reload(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    new: Config,
) -> Vec<String> {
    let old = std::mem::replace(&mut state.config, new);
    let new = state.config.clone();
    state.shared = Shared::build(
        Some((&old, &state.shared)),
        &new,
        &state.wiring.refresh_tokens(),
    );
    let mut changed = Vec::new();
    for name in old.accounts.keys() {
        if !new.accounts.contains_key(name) {
            stop_account(state, name);
            state.registry.remove(name);
            changed.push(format!("accounts.{name} removed"));
        } else if old.account_settings(name) != new.account_settings(name) {
            stop_account(state, name);
            start_account(myself, state, new.accounts[name].clone()).await;
            changed.push(format!("accounts.{name} restarted"));
        }
    }
    for (name, account) in &new.accounts {
        if !old.accounts.contains_key(name) {
            start_account(myself, state, account.clone()).await;
            changed.push(format!("accounts.{name} added"));
        }
    }
    tracing::info!(changed = ?changed, "config reloaded");
    changed
}
