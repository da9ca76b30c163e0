//! The account actor: one per enabled account. It runs checks one at a time (automatic
//! ones on its own timer, on-demand ones from `check_now`), keeps its live status for the
//! reports, and after a failure waits with capped, jittered backoff (at least a minute after
//! an authentication failure, so a wrong password never hammers the server).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::check::{self, Pipeline};
use crate::config::{AccountConfig, Protocol};
use crate::error::{CheckError, Stage};
use crate::imap::ImapSession;
use crate::imap::idle::{self, WatchEnd};
use crate::metrics as m;
use crate::model::{AccountRunState, CheckSummary, now_rfc3339};
use crate::net::ConnectorHandle;
use crate::pop3::Pop3Session;
use crate::registry::Registry;
use crate::secret::Secret;

/// How often a long check logs its progress.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(10);

/// Shortest wait after an authentication failure.
const AUTH_RETRY: Duration = Duration::from_secs(60);

/// Messages of an account actor.
pub enum AccountMsg {
    /// Check now; reply with the summary when given a port.
    Check(Option<RpcReplyPort<CheckSummary>>),
    /// The automatic timer fired (ignored unless its generation is current).
    Tick(u64),
    /// The IDLE watcher saw a change on the server.
    MailArrived,
}

/// What an account actor starts from.
#[derive(Clone)]
pub struct AccountArgs {
    /// The account's settings.
    pub account: AccountConfig,
    /// Username and password, or why they could not be read.
    pub login: Result<(String, Secret), String>,
    /// Its connector, when it routes through one.
    pub connector: Option<ConnectorHandle>,
    /// The parser and store to feed.
    pub pipeline: Pipeline,
    /// Where the account publishes its live state.
    pub registry: Registry,
    /// Run automatic checks (false for the one-shot `check` command).
    pub automatic: bool,
}

/// The account actor (see the module documentation).
pub struct AccountActor;

/// The account actor's state.
pub struct AccountState {
    args: AccountArgs,
    /// Delays after failures.
    backoff: Backoff,
    /// Generation of the pending automatic timer; older ticks are stale.
    timer_generation: u64,
    /// The IMAP IDLE watcher, once the first automatic check succeeded.
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Set by the watcher when it sends `MailArrived`, cleared when a check starts: many
    /// notifications during one check make one more check, not many.
    wake_pending: Arc<AtomicBool>,
}

impl Actor for AccountActor {
    type Msg = AccountMsg;
    type State = AccountState;
    type Arguments = AccountArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<AccountMsg>,
        args: AccountArgs,
    ) -> Result<AccountState, ActorProcessingErr> {
        m::register_account(&args.account.name);
        metrics::gauge!(m::INSECURE_TLS, "account" => args.account.name.clone())
            .set(if args.account.insecure() { 1.0 } else { 0.0 });
        if args.account.insecure() {
            tracing::warn!(account = %args.account.name, tls = args.account.tls.as_str(), skip_certificate = args.account.skip_certificate, "account connects without a verified TLS certificate");
        }
        Ok(AccountState {
            args,
            backoff: Backoff::default(),
            timer_generation: 0,
            watcher: None,
            wake_pending: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<AccountMsg>,
        state: &mut AccountState,
    ) -> Result<(), ActorProcessingErr> {
        if state.args.automatic && state.args.account.automatic_check {
            schedule(&myself, state, Duration::ZERO);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<AccountMsg>,
        state: &mut AccountState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(w) = state.watcher.take() {
            w.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<AccountMsg>,
        msg: AccountMsg,
        state: &mut AccountState,
    ) -> Result<(), ActorProcessingErr> {
        let reply = match msg {
            AccountMsg::Check(reply) => reply,
            AccountMsg::Tick(generation) if generation == state.timer_generation => None,
            AccountMsg::MailArrived if state.wake_pending.load(Ordering::SeqCst) => None,
            AccountMsg::Tick(_) | AccountMsg::MailArrived => return Ok(()),
        };
        state.wake_pending.store(false, Ordering::SeqCst);
        // Every line logged during the check, by us or the libraries, names the account.
        let span = tracing::info_span!("account", account = %state.args.account.name);
        let summary = run_check(state).instrument(span).await;
        after_check(&myself, state, &summary);
        if let Some(reply) = reply {
            let _ = reply.send(summary);
        }
        Ok(())
    }
}

/// Starts the IDLE watcher after a successful automatic check, when the account wants it.
fn start_watcher(myself: &ActorRef<AccountMsg>, state: &mut AccountState) {
    let args = &state.args;
    let wanted = args.automatic
        && args.account.automatic_check
        && args.account.idle
        && args.account.protocol == Protocol::Imap;
    if !wanted || state.watcher.as_ref().is_some_and(|w| !w.is_finished()) {
        return;
    }
    let Ok((user, password)) = args.login.clone() else {
        return;
    };
    let account = args.account.clone();
    let connector = args.connector.clone();
    let me = myself.clone();
    let pending = state.wake_pending.clone();
    let span = tracing::info_span!("account", account = %account.name, idle = true);
    state.watcher = Some(tokio::spawn(async move {
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let wake = || {
                if !pending.swap(true, Ordering::SeqCst) {
                    let _ = me.send_message(AccountMsg::MailArrived);
                }
            };
            match idle::watch(&account, connector.as_ref(), &user, &password, wake).await {
                WatchEnd::Unsupported => {
                    tracing::info!(account = %account.name, "server does not offer IDLE; polling every check_interval");
                    return;
                }
                WatchEnd::Failed(e) => {
                    if started.elapsed() > Duration::from_secs(60) {
                        backoff.reset();
                    }
                    let delay = backoff.next_delay();
                    tracing::info!(account = %account.name, error = %e, retry_in = ?delay, "IDLE connection ended; reconnecting");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }.instrument(span)));
}

/// Arms the automatic timer, replacing any earlier one.
fn schedule(myself: &ActorRef<AccountMsg>, state: &mut AccountState, delay: Duration) {
    state.timer_generation += 1;
    let generation = state.timer_generation;
    myself.send_after(delay, move || AccountMsg::Tick(generation));
}

/// Sets the next automatic check: the interval after a success, backoff after a failure.
fn after_check(myself: &ActorRef<AccountMsg>, state: &mut AccountState, summary: &CheckSummary) {
    if summary.error.is_none() {
        start_watcher(myself, state);
    }
    let name = &state.args.account.name;
    let delay = if summary.error.is_none() {
        state.backoff.reset();
        state.args.account.check_interval
    } else {
        let mut d = state.backoff.next_delay();
        if state.args.registry.last_stage(name) == Some(Stage::Auth) {
            d = d.max(AUTH_RETRY);
        }
        d.min(state.args.account.check_interval.max(AUTH_RETRY))
    };
    let automatic = state.args.automatic && state.args.account.automatic_check;
    state.args.registry.set_state(
        name,
        if summary.error.is_some() {
            AccountRunState::Failing
        } else if automatic {
            AccountRunState::Waiting
        } else {
            AccountRunState::Idle
        },
    );
    if automatic {
        schedule(myself, state, delay);
    }
}

/// One check with its bookkeeping: status, metrics, account state in the store.
async fn run_check(state: &mut AccountState) -> CheckSummary {
    let args = &state.args;
    let account = &args.account;
    let name = account.name.clone();
    args.registry.set_state(&name, AccountRunState::Checking);
    let started = Instant::now();
    let mut summary = CheckSummary {
        account: name.clone(),
        ..Default::default()
    };
    let ticker = log_progress(args);
    let result = check_once(args, &mut summary).await;
    ticker.abort();
    let elapsed = started.elapsed();
    metrics::histogram!(m::CHECK_DURATION, "account" => name.clone()).record(elapsed.as_secs_f64());
    let outcome = match &result {
        Ok(()) if summary.error.is_none() => "ok",
        _ => "failed",
    };
    metrics::counter!(m::CHECKS, "account" => name.clone(), "outcome" => outcome).increment(1);
    let mut stage = None;
    if let Err(e) = &result {
        summary.errors += 1;
        summary.error = Some(e.message.clone());
        stage = Some(e.stage);
        metrics::counter!(m::ERRORS, "account" => name.clone(), "stage" => e.stage.as_str())
            .increment(1);
        tracing::warn!(account = %name, stage = e.stage.as_str(), error = %e, "check failed");
    } else if summary.error.is_some() {
        stage = Some(Stage::Store);
    }
    args.registry
        .record_check(&name, stage, summary.error.clone());
    let ok = summary.error.is_none();
    metrics::gauge!(m::ACCOUNT_UP, "account" => name.clone()).set(if ok { 1.0 } else { 0.0 });
    if ok {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        metrics::gauge!(m::LAST_SUCCESS, "account" => name.clone()).set(now);
        tracing::info!(account = %name, fetched = summary.fetched, stored = summary.stored, deleted = summary.deleted, skipped = summary.skipped, seconds = elapsed.as_secs_f64(), "check done");
    }
    let error = summary.error.clone();
    let store = args.pipeline.store.clone();
    let n = name.clone();
    let pending = check::blocking(&store, move |s| {
        s.update_account_state(&n, |st| {
            let now = now_rfc3339();
            st.last_check = Some(now.clone());
            if error.is_none() {
                st.last_success = Some(now);
            }
            st.last_error = error;
        })?;
        s.pending_delete_count(&n)
    })
    .await
    .unwrap_or(0);
    metrics::gauge!(m::PENDING_DELETES, "account" => name).set(pending as f64);
    summary
}

/// Logs a progress line every 10 s while a check has a backlog to download.
fn log_progress(args: &AccountArgs) -> tokio::task::JoinHandle<()> {
    let progress = args
        .registry
        .progress(&args.account.name)
        .unwrap_or_default();
    let name = args.account.name.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS_LOG_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Some(s) = progress.snapshot()
                && s.done_messages < s.total_messages
            {
                tracing::info!(account = %name, progress = %s.line(), "downloading backlog");
            }
        }
    })
}

/// Connects with the account's protocol and runs the check.
async fn check_once(args: &AccountArgs, summary: &mut CheckSummary) -> Result<(), CheckError> {
    let account = &args.account;
    let (user, password) = args
        .login
        .clone()
        .map_err(|e| CheckError::new(Stage::Auth, format!("cannot read the password: {e}")))?;
    let connector = args.connector.as_ref();
    let progress = args.registry.progress(&account.name).unwrap_or_default();
    match account.protocol {
        Protocol::Imap => {
            let session = ImapSession::open(account, connector, &user, &password).await?;
            note_uidvalidity(args, session.uidvalidity).await?;
            check::run(progress, session, account, &args.pipeline, summary).await
        }
        Protocol::Pop3 => {
            let session = Pop3Session::open(account, connector, &user, &password).await?;
            check::run(progress, session, account, &args.pipeline, summary).await
        }
    }
}

/// Records the mailbox's UIDVALIDITY; a change is logged and counted (the store then
/// matches the renumbered messages by content, so nothing is imported twice).
async fn note_uidvalidity(args: &AccountArgs, uidvalidity: u32) -> Result<(), CheckError> {
    let name = args.account.name.clone();
    let before = check::blocking(&args.pipeline.store, move |s| {
        let mut previous = None;
        s.update_account_state_lazily(&name, |st| {
            previous = st.uidvalidity;
            if st.uidvalidity.is_some_and(|v| v != uidvalidity) {
                st.uidvalidity_changes += 1;
            }
            st.uidvalidity = Some(uidvalidity);
        })?;
        Ok(previous)
    })
    .await?;
    if let Some(old) = before.filter(|old| *old != uidvalidity) {
        tracing::warn!(account = %args.account.name, old, new = uidvalidity, "UIDVALIDITY changed: messages are matched by content, nothing already stored is imported again");
    }
    Ok(())
}
