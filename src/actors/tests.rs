//! The actor layer on a paused clock: the real supervisor and account actors, the real
//! check, over scripted servers and in-memory parts ([`crate::testing`]). Virtual time
//! runs ahead whenever every task waits, so minutes of backoff take milliseconds.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::time::Instant;

use super::CallResultExt;
use super::account::AccountMsg;
use super::registry::Registry;
use super::supervisor::{HEALTHY_RUN, Supervisor, SupervisorArgs, SupervisorMsg};
use crate::config::{AccountConfig, Config, CredentialAuth, Protocol};
use crate::error::Stage;
use crate::model::CheckSummary;
use crate::secret::{Secret, SecretSource};
use crate::testing::{Gate, Open, ScriptedWiring, lock};

fn account(name: &str) -> AccountConfig {
    let mut a = AccountConfig::new(name, Protocol::Imap, "mail.example.com", name);
    a.idle = false;
    a
}

fn config(accounts: Vec<AccountConfig>) -> Config {
    let mut c = Config::new("/nowhere/store.redb");
    for a in accounts {
        c = c.with_credential(
            &a.credential,
            &a.credential,
            SecretSource::Value(Secret::new("pw")),
        );
        c = c.with_account(a);
    }
    c
}

/// Starts a supervisor over `wiring`, with automatic checks.
async fn start(config: Config, wiring: &ScriptedWiring) -> (ActorRef<SupervisorMsg>, Registry) {
    let registry = Registry::default();
    let args = SupervisorArgs {
        config,
        wiring: Arc::new(wiring.clone()),
        registry: registry.clone(),
        automatic: true,
    };
    let (supervisor, _) = Actor::spawn(None, Supervisor, args).await.unwrap();
    supervisor
        .call(SupervisorMsg::Ready, None)
        .await
        .unwrap()
        .into_done()
        .unwrap();
    (supervisor, registry)
}

/// Reloads `supervisor` with `config`; what it changed.
async fn reload(supervisor: &ActorRef<SupervisorMsg>, config: Config) -> Vec<String> {
    supervisor
        .call(|r| SupervisorMsg::Reload(Box::new(config), r), None)
        .await
        .unwrap()
        .into_done()
        .unwrap()
}

/// Lets virtual time run for `d` (every task gets to its next wait on the way).
async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Gaps between successive times, in seconds.
fn gaps(times: &[Instant]) -> Vec<f64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn restart_backoff_grows_then_starts_over_after_a_healthy_run() {
    let wiring = ScriptedWiring::default();
    let mailbox = wiring.mailbox("a");
    // Three crashes in a row, then four healthy checks two minutes apart; the check after
    // them (eight minutes of healthy running) crashes again.
    lock(&mailbox).opens = [
        Open::Panic,
        Open::Panic,
        Open::Panic,
        Open::Ok,
        Open::Ok,
        Open::Ok,
        Open::Ok,
        Open::Panic,
    ]
    .into();
    let mut a = account("a");
    a.check_interval = Duration::from_secs(120);
    let (_supervisor, _) = start(config(vec![a]), &wiring).await;
    run_for(Duration::from_secs(700)).await;
    let times = lock(&mailbox).open_times();
    assert!(times.len() >= 9, "{} connections", times.len());
    let g = gaps(&times[..9]);
    let within = |gap: f64, base: f64| gap >= base * 0.8 - 0.01 && gap <= base * 1.2 + 0.01;
    // Restart delays double: 1 s, 2 s, 4 s (each ±20 %).
    assert!(
        within(g[0], 1.0) && within(g[1], 2.0) && within(g[2], 4.0),
        "{g:?}"
    );
    // Healthy: the check interval.
    assert!(g[3..7].iter().all(|gap| within(*gap, 120.0)), "{g:?}");
    let healthy = times[7] - times[3];
    assert!(
        healthy > HEALTHY_RUN,
        "the actor ran {healthy:?} before it crashed"
    );
    // The crash after the healthy run restarts after the first delay again, not 8 s.
    assert!(within(g[7], 1.0), "restart after a healthy run: {g:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stale_timer_tick_starts_no_check() {
    let wiring = ScriptedWiring::default();
    let mailbox = wiring.mailbox("a");
    let (_supervisor, registry) = start(config(vec![account("a")]), &wiring).await;
    let t0 = Instant::now();
    // The first check ran at once and armed the timer for 60 s; a check on demand at 10 s
    // re-arms it for 70 s: the tick armed for 60 s is stale.
    run_for(Duration::from_secs(10)).await;
    let actor = registry.actor("a").unwrap();
    actor
        .call(|r| AccountMsg::Check(Some(r)), None)
        .await
        .unwrap()
        .into_done()
        .unwrap();
    run_for(Duration::from_secs(65)).await;
    let at: Vec<u64> = lock(&mailbox)
        .open_times()
        .iter()
        .map(|t| (*t - t0).as_secs())
        .collect();
    assert_eq!(at, [0, 10, 70], "checks at these seconds");
}

#[tokio::test(start_paused = true)]
async fn many_idle_wake_ups_during_a_check_make_one_more_check() {
    let wiring = ScriptedWiring::default();
    let mailbox = wiring.mailbox("a");
    let gate = Gate::new(false);
    {
        let mut m = lock(&mailbox);
        m.idle_wakes = Some(5);
        m.list_gate = gate.clone();
        m.gated_listing = Some(2);
    }
    let mut a = account("a");
    a.idle = true;
    a.check_interval = Duration::from_secs(600);
    let (_supervisor, _) = start(config(vec![a]), &wiring).await;
    // Check 1 succeeds and starts the watcher, whose first wake-up makes check 2; its
    // listing waits while the watcher reports five more changes.
    while lock(&mailbox).listings < 2 {
        run_for(Duration::from_millis(10)).await;
    }
    run_for(Duration::from_secs(5)).await;
    assert_eq!(
        lock(&mailbox).open_times().len(),
        2,
        "check 2 is still listing"
    );
    gate.set(true);
    run_for(Duration::from_secs(60)).await;
    let opens = lock(&mailbox).open_times().len();
    assert_eq!(
        opens, 3,
        "one check, one for the first news, one for the five during it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_restarts_exactly_the_accounts_that_changed() {
    let wiring = ScriptedWiring::default();
    let names = ["same", "moved", "gone", "renamed-user"];
    let old = config(names.iter().map(|n| account(n)).collect());
    let (supervisor, registry) = start(old.clone(), &wiring).await;
    run_for(Duration::from_secs(1)).await;
    let ids = |name: &str| registry.actor(name).map(|a| a.get_id());
    let same_before = ids("same");

    let mut new = old.clone();
    new.accounts.remove("gone");
    new.accounts.get_mut("moved").unwrap().address = "other.example.com".into();
    new.credentials.get_mut("renamed-user").unwrap().username = "someone-else".into();
    new = new.with_credential("added", "added", SecretSource::Value(Secret::new("pw")));
    new = new.with_account(account("added"));
    let mut changed = reload(&supervisor, new).await;
    changed.sort();
    assert_eq!(
        changed,
        [
            "accounts.added added",
            "accounts.gone removed",
            "accounts.moved restarted",
            "accounts.renamed-user restarted",
        ]
    );
    run_for(Duration::from_secs(1)).await;
    assert_eq!(
        ids("same"),
        same_before,
        "the unchanged account kept its actor"
    );
    assert!(registry.actor("gone").is_none());
    let mut started = wiring.started();
    started.sort();
    assert_eq!(
        started,
        [
            "added",
            "gone",
            "moved",
            "moved",
            "renamed-user",
            "renamed-user",
            "same"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_commit_deletes_nothing_and_ends() {
    let gate = Gate::new(false); // the sink never acknowledges
    let wiring = ScriptedWiring {
        gate: Some(gate),
        ..Default::default()
    };
    let mailbox = wiring.mailbox("a");
    lock(&mailbox).messages = (1..=3)
        .map(|uid| (uid, format!("Subject: {uid}\r\n\r\n").into_bytes()))
        .collect();
    let mut a = account("a");
    a.keep_copy = false;
    a.automatic_check = false;
    let (supervisor, registry) = start(config(vec![a]), &wiring).await;
    let actor = registry.actor("a").unwrap();
    let check = tokio::spawn(async move {
        actor
            .call(|r| AccountMsg::Check(Some(r)), None)
            .await
            .map(|r| r.into_done())
    });
    run_for(Duration::from_secs(1)).await;
    let started = Instant::now();
    supervisor
        .call(SupervisorMsg::Shutdown, None)
        .await
        .unwrap()
        .into_done()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(30) && took <= Duration::from_secs(31),
        "the running check had its 30 s to finish, then was stopped: {took:?}"
    );
    let answer: Option<CheckSummary> = check.await.unwrap().ok().and_then(Result::ok);
    assert!(
        answer.is_none(),
        "the interrupted check gives no summary: {answer:?}"
    );
    let m = lock(&mailbox);
    assert!(
        m.deleted().is_empty(),
        "nothing was acknowledged, nothing deleted"
    );
    assert_eq!(m.messages.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_authentication_failure_waits_at_least_a_minute() {
    let wiring = ScriptedWiring::default();
    let mailbox = wiring.mailbox("a");
    lock(&mailbox).opens = [Open::Fail(Stage::Auth), Open::Fail(Stage::Connect)].into();
    let (_supervisor, _) = start(config(vec![account("a")]), &wiring).await;
    run_for(Duration::from_secs(100)).await;
    let g = gaps(&lock(&mailbox).open_times());
    assert!(g.len() >= 2, "{g:?}");
    assert!(g[0] >= 60.0, "after a wrong password: {g:?}");
    assert!(
        g[1] < 5.0,
        "after a connect failure, the backoff's next delay: {g:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_restarts_an_account_whose_password_changed() {
    let wiring = ScriptedWiring::default();
    let old = config(vec![account("a"), account("b")]);
    let (supervisor, _) = start(old.clone(), &wiring).await;
    let mut new = old.clone();
    new.credentials.get_mut("a").unwrap().auth =
        CredentialAuth::Password(SecretSource::Value(Secret::new("rotated")));
    let changed = reload(&supervisor, new).await;
    assert_eq!(
        changed,
        ["accounts.a restarted"],
        "a new password is a change"
    );
}

#[tokio::test(start_paused = true)]
async fn accounts_of_one_connector_share_its_limit_across_reloads() {
    use crate::config::ConnectorConfig;
    let wiring = ScriptedWiring::default();
    let via = |name: &str| {
        let mut a = account(name);
        a.connector = Some("edge".into());
        a
    };
    let mut old = config(vec![via("a"), via("b"), account("direct")]);
    old = old.with_connector(ConnectorConfig {
        name: "edge".into(),
        host: "127.0.0.1".into(),
        port: 1080,
        credential: None,
        max_connections: std::num::NonZeroUsize::new(1).unwrap(),
    });
    let (supervisor, _) = start(old.clone(), &wiring).await;
    // `a` changes (and restarts); so does an unrelated credential; `b` stays as it is.
    let mut new = old.clone();
    new.accounts.get_mut("a").unwrap().check_interval = Duration::from_secs(90);
    new.credentials.get_mut("direct").unwrap().username = "someone".into();
    let changed = reload(&supervisor, new).await;
    assert!(
        changed.contains(&"accounts.a restarted".to_string()),
        "{changed:?}"
    );
    assert!(
        !changed.iter().any(|c| c.contains("accounts.b")),
        "{changed:?}"
    );
    let handles = wiring.connectors.lock().unwrap();
    let (a, b) = (
        handles["a"].as_ref().unwrap(),
        handles["b"].as_ref().unwrap(),
    );
    assert!(
        a.same_limit(b),
        "`a` and `b` must share the one max_connections of `edge`"
    );
}
