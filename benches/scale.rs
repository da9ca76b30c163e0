//! The scale benchmark (issue: performance, item 4): many accounts on the test support's
//! private Dovecot (its process and client limits raised), run by the daemon
//! (`mail-ingest run`, release binary) with `check_interval = "60s"`.
//!
//! 1. ACCOUNTS accounts (default 1,000; half IMAPS, half POP3S; 3 messages each): the time
//!    until every account finished its first check, the daemon's CPU and memory between
//!    checks, and the next round (no new mail): when it began and ended, and the CPU it took.
//! 2. MIXED accounts (default 500) of which 10 % are broken: a third with a wrong password,
//!    a third pointed at a loopback listener that never answers, a third at a server that
//!    stalls in the middle of a message. It reports the healthy accounts' time to finish
//!    their first check against two controls: the same healthy accounts alone, and beside
//!    as many working (empty) accounts as there were broken ones, which isolates what the
//!    failures themselves cost the healthy accounts.
//!
//! Run: `scripts/bench.sh scale` (or `cargo bench --bench scale -- ACCOUNTS MIXED`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Dovecot;
use support::daemon::IngestDaemon;
use support::fake::{FakeServer, Kind, Quirks};

/// One account of a generated config.
struct Account {
    name: String,
    user: String,
    password: String,
    protocol: &'static str,
    port: u16,
    tls: &'static str,
}

/// What the API says of one account.
#[derive(Clone, Debug, Default, PartialEq)]
struct Status {
    last_check: Option<String>,
    last_success: Option<String>,
    last_error: Option<String>,
    stored: u64,
}

fn write_config(dir: &Path, accounts: &[Account]) -> PathBuf {
    let mut cfg =
        String::from("[store]\npath = \"store.redb\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
    let ca = support::certs().ca.display().to_string();
    for a in accounts {
        cfg.push_str(&format!(
            "[credentials.{name}]\nusername = \"{user}\"\npassword = {{ value = \"{pw}\" }}\n\
             [accounts.{name}]\nprotocol = \"{proto}\"\naddress = \"localhost\"\nport = {port}\n\
             tls = \"{tls}\"\ncredential = \"{name}\"\nca_file = \"{ca}\"\ncheck_interval = \"60s\"\n",
            name = a.name,
            user = a.user,
            pw = a.password,
            proto = a.protocol,
            port = a.port,
            tls = a.tls,
        ));
    }
    let path = dir.join("scale.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn start(dir: &Path, accounts: &[Account]) -> IngestDaemon {
    let cfg = write_config(dir, accounts);
    IngestDaemon::start(
        &support::bench::release_binary(),
        &cfg,
        &dir.join("store.redb"),
        &[("RUST_LOG", "warn")],
        None,
        Duration::from_secs(60),
    )
}

fn statuses(d: &IngestDaemon) -> HashMap<String, Status> {
    let (code, body) = d.request("GET", "/api/accounts", true);
    assert_eq!(code, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_string);
    list.iter()
        .map(|a| {
            (
                text(a, "name").unwrap(),
                Status {
                    last_check: text(a, "last_check"),
                    last_success: text(a, "last_success"),
                    last_error: text(a, "last_error"),
                    stored: a["messages_stored"].as_u64().unwrap_or(0),
                },
            )
        })
        .collect()
}

/// Polls until `done` holds for every account in `names`; returns the elapsed time since
/// `since` and the last statuses.
fn wait_for(
    d: &IngestDaemon,
    names: &[String],
    since: Instant,
    limit: Duration,
    done: impl Fn(&Status) -> bool,
) -> (Duration, HashMap<String, Status>) {
    loop {
        let s = statuses(d);
        if names.iter().all(|n| s.get(n).is_some_and(&done)) {
            return (since.elapsed(), s);
        }
        assert!(
            since.elapsed() < limit,
            "accounts not done after {limit:?}: {}",
            names
                .iter()
                .filter(|n| !s.get(*n).is_some_and(&done))
                .count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// User and system CPU seconds the process used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// (resident, peak resident) in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn message(user: &str, i: usize) -> Vec<u8> {
    format!(
        "From: Sender <s@example.com>\r\nTo: {user}@example.com\r\nSubject: scale {i}\r\nMessage-ID: <scale-{user}-{i}@example.com>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nmessage {i} for {user}\r\n"
    )
    .into_bytes()
}

/// `n` healthy accounts named `{prefix}{i}`, alternating IMAPS and POP3S, 3 messages each.
fn healthy(d: &Dovecot, prefix: &str, n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            let user = format!("{prefix}{i}");
            d.add_user(&user, "pw");
            for m in 0..3 {
                d.deliver(&user, &message(&user, m));
            }
            let imap = i % 2 == 0;
            Account {
                name: user.clone(),
                user,
                password: "pw".into(),
                protocol: if imap { "imap" } else { "pop3" },
                port: if imap { d.ports.imaps } else { d.ports.pop3s },
                tls: "implicit",
            }
        })
        .collect()
}

fn names(accounts: &[Account]) -> Vec<String> {
    accounts.iter().map(|a| a.name.clone()).collect()
}

fn many_accounts(n: usize) {
    let d = Dovecot::start();
    let accounts = healthy(&d, "scale", n);
    std::thread::sleep(Duration::from_millis(1100)); // Dovecot re-reads its users once a second
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let daemon = start(dir.path(), &accounts);
    let pid = daemon.child.id();
    let all = names(&accounts);
    let (first_round, round1) = wait_for(&daemon, &all, started, Duration::from_secs(300), |s| {
        s.last_success.is_some()
    });
    let stored: u64 = round1.values().map(|s| s.stored).sum();
    assert_eq!(stored, 3 * n as u64, "every message stored once");
    let cpu_round1 = cpu_seconds(pid);
    let (rss_after_round, peak_round1) = memory_mib(pid);
    println!(
        "{n} accounts: every first check done {:.1} s after start ({stored} messages); daemon CPU {cpu_round1:.1} s so far; RSS {rss_after_round:.0} MiB (peak {peak_round1:.0} MiB)",
        first_round.as_secs_f64()
    );

    // Between checks: the next round begins 60 s after each account's first check ended.
    std::thread::sleep(Duration::from_secs(2));
    let window = Duration::from_secs(60)
        .saturating_sub(first_round + Duration::from_secs(8))
        .min(Duration::from_secs(30));
    let cpu0 = cpu_seconds(pid);
    std::thread::sleep(window);
    let idle_cpu = cpu_seconds(pid) - cpu0;
    let (rss_idle, _) = memory_mib(pid);
    println!(
        "between checks ({:.0} s window): daemon CPU {:.2} % of one core, RSS {rss_idle:.0} MiB",
        window.as_secs_f64(),
        idle_cpu / window.as_secs_f64() * 100.0
    );

    // The second round, no new mail: wait until every last_check moved on.
    let cpu_before = cpu_seconds(pid);
    let mut first_seen: Option<Duration> = None;
    let round2 = loop {
        let s = statuses(&daemon);
        let moved = all
            .iter()
            .filter(|n| s[*n].last_check != round1[*n].last_check)
            .count();
        if moved > 0 && first_seen.is_none() {
            first_seen = Some(started.elapsed());
        }
        if moved == all.len() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(400),
            "second round stuck at {moved}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let failed = statuses(&daemon)
        .values()
        .filter(|s| s.last_error.is_some())
        .count();
    let (rss, peak) = memory_mib(pid);
    println!(
        "second round (no new mail): first check seen at {:.1} s, all {n} done at {:.1} s; daemon CPU {:.2} s for the round; {failed} failed; RSS {rss:.0} MiB, peak {peak:.0} MiB",
        first_seen.unwrap_or_default().as_secs_f64(),
        round2.as_secs_f64(),
        cpu_seconds(pid) - cpu_before
    );
    daemon.stop();
}

/// Times the first check of `healthy` accounts, alone or beside broken ones.
fn healthy_finish(accounts: Vec<Account>, healthy: &[String], label: &str) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let daemon = start(dir.path(), &accounts);
    let (took, s) = wait_for(&daemon, healthy, started, Duration::from_secs(300), |s| {
        s.last_success.is_some()
    });
    let failing = s.values().filter(|s| s.last_error.is_some()).count();
    println!(
        "{label}: {} healthy accounts done {:.1} s after start ({failing} accounts failing by then)",
        healthy.len(),
        took.as_secs_f64()
    );
    daemon.stop();
    took
}

/// `n` working accounts on Dovecot with empty mailboxes.
fn empty(d: &Dovecot, prefix: &str, n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            let user = format!("{prefix}{i}");
            d.add_user(&user, "pw");
            Account {
                name: user.clone(),
                user,
                password: "pw".into(),
                protocol: "imap",
                port: d.ports.imaps,
                tls: "implicit",
            }
        })
        .collect()
}

/// Broken accounts of the three kinds, `n` in all.
fn broken(d: &Dovecot, n: usize, round: usize, hole_port: u16, stall_port: u16) -> Vec<Account> {
    (0..n)
        .map(|i| {
            let (kind, port, tls, password) = match i % 3 {
                0 => ("badpw", d.ports.imaps, "implicit", "wrong"),
                1 => ("blackhole", hole_port, "implicit", "pw"),
                _ => ("stall", stall_port, "none", "pw"),
            };
            let user = format!("{kind}{round}x{i}");
            if kind == "badpw" {
                d.add_user(&user, "pw");
            }
            Account {
                name: user.clone(),
                user,
                password: password.into(),
                protocol: "imap",
                port,
                tls,
            }
        })
        .collect()
}

fn broken_accounts(total: usize, rt: &tokio::runtime::Runtime) {
    const ROUNDS: usize = 3;
    let broken_n = total / 10;
    let healthy_n = total - broken_n;
    let d = Dovecot::start();
    // A listener nobody accepts from: connections open and then hear nothing.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = black_hole.local_addr().unwrap().port();
    // A server that stops in the middle of the first message body.
    let staller = rt.block_on(async {
        let s = FakeServer::start(Kind::Imap, vec![vec![b'x'; 100_000]]).await;
        s.set_quirks(Quirks {
            stall_in_body: true,
            ..Default::default()
        });
        s
    });
    // Fresh users for every run (each first check has mail to fetch), all added before the
    // first login: Dovecot re-reads its users at most once a second.
    let runs: Vec<[Vec<Account>; 3]> = (0..ROUNDS)
        .map(|r| {
            let alone = healthy(&d, &format!("alone{r}x"), healthy_n);
            let mut control = healthy(&d, &format!("control{r}x"), healthy_n);
            control.extend(empty(&d, &format!("empty{r}x"), broken_n));
            let mut mixed = healthy(&d, &format!("mixed{r}x"), healthy_n);
            mixed.extend(broken(&d, broken_n, r, hole_port, staller.port));
            [alone, control, mixed]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1100));
    let labels = [
        "healthy only".to_string(),
        format!("beside {broken_n} working, empty accounts"),
        format!("beside {broken_n} broken (wrong password, silent listener, stall mid-message)"),
    ];
    let mut times: [Vec<Duration>; 3] = Default::default();
    for run in runs {
        for (i, accounts) in run.into_iter().enumerate() {
            let measured = names(&accounts[..healthy_n]);
            times[i].push(healthy_finish(accounts, &measured, &labels[i]));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let [a, c, m] = times.map(|mut t| median(&mut t));
    println!(
        "{healthy_n} healthy accounts, first check, median of {ROUNDS}: {a:.1} s alone, {c:.1} s beside {broken_n} working accounts, {m:.1} s beside {broken_n} broken ones ({:.2}x the working control)",
        m / c
    );
    drop(black_hole);
}

fn main() {
    let [n, mixed] = support::bench::args([1000, 500]);
    support::bench::release_binary();
    let rt = tokio::runtime::Runtime::new().unwrap();
    if n > 0 {
        many_accounts(n);
    }
    if mixed > 0 {
        broken_accounts(mixed, &rt);
    }
}
