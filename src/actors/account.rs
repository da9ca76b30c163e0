//! The account actor: one per enabled account. It runs checks one at a time (automatic
//! ones on its own timer, on-demand ones from `check_now`), keeps its live status for the
//! reports, and after a failure waits with capped, jittered backoff (at least a minute after
//! an authentication failure, so a wrong password never hammers the server). With IMAP IDLE
//! a watcher beside it turns the server's news into one more check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tracing::Instrument;

use super::status::AccountStatus;
use crate::backoff::Backoff;
use crate::check::{self, Destination, Ledger};
use crate::config::{AccountConfig, Protocol};
use crate::error::{CheckError, Failure, Stage};
use crate::metrics as m;
use crate::model::{AccountRunState, CheckSummary};
use crate::protocol::{MailServer, WatchEnd};

/// How often a long check logs its progress.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(10);

/// Shortest wait after an authentication failure.
const AUTH_RETRY: Duration = Duration::from_secs(60);

/// An IDLE connection that lasted this long was healthy: the next failure backs off from
/// the start again.
const IDLE_HEALTHY: Duration = Duration::from_secs(60);

/// Messages of an account actor.
pub enum AccountMsg {
    /// Check now; reply with the summary when given a port.
    Check(Option<RpcReplyPort<CheckSummary>>),
    /// The automatic timer fired (ignored unless its generation is current).
    Tick(u64),
    /// The IDLE watcher saw a change on the server.
    MailArrived,
}

/// Everything outside itself an account actor talks to.
#[derive(Clone)]
pub struct AccountParts {
    /// Opens sessions with the account's server and watches it for new mail.
    pub server: Arc<dyn MailServer>,
    /// Where fetched messages go.
    pub destination: Arc<dyn Destination>,
    /// The durable bookkeeping of checks.
    pub ledger: Arc<dyn Ledger>,
}

/// What an account actor starts from.
#[derive(Clone)]
pub struct AccountArgs {
    /// The account's settings.
    pub account: AccountConfig,
    /// Its server, destination and ledger.
    pub parts: AccountParts,
    /// Where the account publishes its live status.
    pub status: Arc<AccountStatus>,
    /// Run automatic checks (false for the one-shot `check` command).
    pub automatic: bool,
}

impl AccountArgs {
    /// True when the account checks on its own timer.
    fn automatic(&self) -> bool {
        self.automatic && self.account.automatic_check
    }
}

/// The account actor (see the module documentation).
pub struct AccountActor;

/// The account actor's state.
pub struct AccountState {
    args: AccountArgs,
    /// Delays after failed checks.
    backoff: Backoff,
    /// Generation of the pending automatic timer; older ticks are stale.
    timer_generation: u64,
    /// The IMAP IDLE watcher, once the first automatic check succeeded. It ends with the
    /// actor, however the actor ends (a killed actor runs no `post_stop`, but drops this).
    watcher: Option<AbortOnDrop>,
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
        let account = &args.account;
        metrics::gauge!(m::INSECURE_TLS, "account" => account.name.clone())
            .set(if account.insecure() { 1.0 } else { 0.0 });
        if account.insecure() {
            tracing::warn!(account = %account.name, tls = account.tls.as_str(), skip_certificate = account.skip_certificate, "account connects without a verified TLS certificate");
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
        if state.args.automatic() {
            schedule(&myself, state, Duration::ZERO);
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
        let summary = run_check(&state.args).instrument(span).await;
        after_check(&myself, state, &summary);
        if let Some(reply) = reply {
            let _ = reply.send(summary);
        }
        Ok(())
    }
}

/// Arms the automatic timer, replacing any earlier one.
fn schedule(myself: &ActorRef<AccountMsg>, state: &mut AccountState, delay: Duration) {
    state.timer_generation += 1;
    let generation = state.timer_generation;
    myself.send_after(delay, move || AccountMsg::Tick(generation));
}

/// Sets the next automatic check: the interval after a success, backoff after a failure.
fn after_check(myself: &ActorRef<AccountMsg>, state: &mut AccountState, summary: &CheckSummary) {
    let ok = summary.error.is_none();
    if ok {
        start_watcher(myself, state);
    }
    let account = &state.args.account;
    let delay = if ok {
        state.backoff.reset();
        account.check_interval
    } else {
        let mut d = state.backoff.next_delay();
        if state.args.status.get().last_stage == Some(Stage::Auth) {
            d = d.max(AUTH_RETRY);
        }
        d.min(account.check_interval.max(AUTH_RETRY))
    };
    let automatic = state.args.automatic();
    state.args.status.set_state(if !ok {
        AccountRunState::Failing
    } else if automatic {
        AccountRunState::Waiting
    } else {
        AccountRunState::Idle
    });
    if automatic {
        schedule(myself, state, delay);
    }
}

/// One check with its bookkeeping: status, metrics, the outcome in the ledger.
async fn run_check(args: &AccountArgs) -> CheckSummary {
    args.status.set_state(AccountRunState::Checking);
    let started = Instant::now();
    let mut summary = CheckSummary {
        account: args.account.name.clone(),
        ..Default::default()
    };
    let _ticker = AbortOnDrop(log_progress(args));
    let limit = args.account.check_timeout;
    let result = match tokio::time::timeout(limit, check_once(args, &mut summary)).await {
        Ok(result) => result,
        Err(_) => Err(CheckError::new(
            Stage::Fetch,
            format!(
                "the check did not finish within check_timeout ({}) and was stopped; what it stored is kept, the rest follows in the next check",
                humantime::format_duration(limit)
            ),
        )),
    };
    record_outcome(args, &mut summary, result, started.elapsed()).await;
    summary
}

/// A task that is aborted when this is dropped: the tasks an actor starts end with it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens a session and runs the check into a fresh sink. A session the server ended
/// because its login expired (an OAuth2 token) is opened once more with a fresh login and
/// the check goes on from where it stopped: what was stored is known, what was not is
/// fetched again, and only acknowledged messages were deleted.
async fn check_once(args: &AccountArgs, summary: &mut CheckSummary) -> Result<(), CheckError> {
    let server = &args.parts.server;
    let mut fresh_login = false;
    loop {
        let ahead = check::ahead(&args.account, args.parts.ledger.as_ref()).await?;
        tracing::debug!(account = %args.account.name, ?ahead, "connecting");
        let session = server.open(ahead).await?;
        tracing::debug!(account = %args.account.name, "logged in");
        let progress = args.status.progress.clone();
        let mut sink = args.parts.destination.sink(&args.account, progress.clone());
        let ledger = args.parts.ledger.as_ref();
        let result = check::run(
            &args.account,
            session,
            sink.as_mut(),
            ledger,
            &progress,
            summary,
        )
        .await;
        if let (Err(e), Some(_)) = (&result, ahead)
            && let Err(not_noted) = check::ahead_failed(&args.account, ledger, e).await
        {
            tracing::debug!(account = %args.account.name, error = %not_noted, "cannot note a failure of what was asked ahead");
        }
        match result {
            Err(e) if e.failure == Failure::LoginExpired && !fresh_login => {
                tracing::info!(account = %args.account.name, error = %e, "the session's login expired; logging in again");
                server.login_expired().await;
                fresh_login = true;
            }
            other => return other,
        }
    }
}

/// Counts a finished check in the metrics, the live status and the ledger.
async fn record_outcome(
    args: &AccountArgs,
    summary: &mut CheckSummary,
    result: Result<(), CheckError>,
    elapsed: Duration,
) {
    let name = &args.account.name;
    metrics::histogram!(m::CHECK_DURATION, "account" => name.clone()).record(elapsed.as_secs_f64());
    let mut stage = None;
    let needs_consent = matches!(&result, Err(e) if e.failure == Failure::NeedsConsent);
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
    let ok = summary.error.is_none();
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!(m::CHECKS, "account" => name.clone(), "outcome" => outcome).increment(1);
    args.status
        .record_check(stage, summary.error.clone(), needs_consent);
    metrics::gauge!(m::ACCOUNT_UP, "account" => name.clone()).set(if ok { 1.0 } else { 0.0 });
    if ok {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        metrics::gauge!(m::LAST_SUCCESS, "account" => name.clone()).set(now);
        tracing::info!(account = %name, fetched = summary.fetched, stored = summary.stored, deleted = summary.deleted, skipped = summary.skipped, seconds = elapsed.as_secs_f64(), "check done");
    }
    let pending = args
        .parts
        .ledger
        .record_check(name, summary.error.clone(), needs_consent)
        .await
        .unwrap_or(0);
    metrics::gauge!(m::PENDING_DELETES, "account" => name.clone()).set(pending as f64);
}

/// Logs a progress line every 10 s while a check has a backlog to download.
fn log_progress(args: &AccountArgs) -> tokio::task::JoinHandle<()> {
    let progress = args.status.progress.clone();
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

/// Starts the IDLE watcher after a successful automatic check, when the account wants it.
fn start_watcher(myself: &ActorRef<AccountMsg>, state: &mut AccountState) {
    let args = &state.args;
    let wanted = args.automatic() && args.account.idle && args.account.protocol == Protocol::Imap;
    if !wanted || state.watcher.as_ref().is_some_and(|w| !w.is_finished()) {
        return;
    }
    let name = args.account.name.clone();
    let server = args.parts.server.clone();
    let me = myself.clone();
    let pending = state.wake_pending.clone();
    let wake = move || {
        if !pending.swap(true, Ordering::SeqCst) {
            let _ = me.send_message(AccountMsg::MailArrived);
        }
    };
    let span = tracing::info_span!("account", account = %name, idle = true);
    state.watcher = Some(AbortOnDrop(tokio::spawn(
        watch(name, server, wake).instrument(span),
    )));
}

/// Watches the server in IDLE until it says it cannot, reconnecting with backoff.
async fn watch(name: String, server: Arc<dyn MailServer>, wake: impl Fn() + Send + Sync) {
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        match server.watch(&wake).await {
            WatchEnd::Unsupported => {
                tracing::info!(account = %name, "server does not offer IDLE; polling every check_interval");
                return;
            }
            WatchEnd::Failed(e) => {
                if started.elapsed() > IDLE_HEALTHY {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                tracing::info!(account = %name, error = %e, retry_in = ?delay, "IDLE connection ended; reconnecting");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
