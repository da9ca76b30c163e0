//! The ingest benchmark (issue: performance). Starts the test support's private Dovecot,
//! seeds a mailbox of N messages (deterministic mix: ~70 % 1-4 KB plain text, ~20 % 10-30 KB
//! multipart/alternative HTML, ~10 % with a 100-300 KB attachment), and times, interleaved
//! over several repetitions, whole processes from start to exit:
//!
//! - a raw reference client (IMAPS: one `UID FETCH 1:* (BODY.PEEK[])` read to nowhere;
//!   POP3S: pipelined RETR read to nowhere; every command in one write), in this process; to
//!   delete, it sends its deletes once the download has arrived (`delete`), or blindly in
//!   the same write (`delete blind`);
//! - `mail-ingest check` (release binary) for IMAPS and POP3S, keep_copy true and false,
//!   direct and through a SOCKS5 proxy (dante);
//! - fetchmail, getmail6 and mpop doing the same download, where installed.
//!
//! It prints medians of wall time, messages/s, MB/s and peak RSS, and each one's ratio to
//! the raw reference doing the same (keep, or delete after the download). `BENCH_RTT_MS`
//! puts every client behind a proxy that delays each direction by half of it. Run:
//! `scripts/bench.sh`, `scripts/bench.sh latency` (or `cargo bench --bench ingest -- N REPS`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A seeded mailbox kept as a template; every run gets a fresh hard-linked copy.
struct Template {
    dir: PathBuf,
    bytes: u64,
    count: usize,
}

fn seed_template(n: usize) -> Template {
    let dir = std::env::temp_dir().join(format!("mail-ingest-bench-template-v2-{n}"));
    let mut rng = fastrand::Rng::with_seed(2026);
    let mut bytes = 0;
    if !dir.join("done").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            let m = support::bench::mixed_message(i, &mut rng);
            std::fs::write(
                // As Dovecot's LDA names them: S= physical size, W= RFC822 (CRLF) size,
                // the same here as the messages already end lines in CRLF.
                dir.join(format!(
                    "{}.M{i}P1.bench,S={},W={}",
                    1_700_000_000 + i,
                    m.len(),
                    m.len()
                )),
                &m,
            )
            .unwrap();
        }
        std::fs::write(dir.join("done"), "").unwrap();
    }
    let mut count = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "done" {
            bytes += e.metadata().unwrap().len();
            count += 1;
        }
    }
    Template { dir, bytes, count }
}

/// Gives `user` a fresh copy of the template (hard links, so no data is copied).
fn fill(d: &support::Dovecot, user: &str, t: &Template) {
    let new = d.maildir(user).join("new");
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(d.maildir(user).join(sub)).unwrap() {
            let _ = std::fs::remove_file(e.unwrap().path());
        }
    }
    let _ = std::fs::remove_dir_all(d.maildir(user).join("dovecot.index.cache"));
    for e in std::fs::read_dir(&t.dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "done" {
            std::fs::hard_link(e.path(), new.join(e.file_name())).unwrap();
        }
    }
    let _ = Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(d.maildir(user))
        .status();
}

fn tls_connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&support::certs().ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

type Reader = BufReader<tokio_rustls::client::TlsStream<TcpStream>>;

/// An implicit-TLS connection to the test Dovecot, its greeting read (left in the line).
async fn connect(port: u16) -> (Reader, Vec<u8>) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let tls = tls_connector()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut s = BufReader::with_capacity(256 * 1024, tls);
    let mut line = Vec::new();
    s.read_until(b'\n', &mut line).await.unwrap();
    (s, line)
}

/// How a raw reference client deletes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RawDelete {
    /// It keeps everything.
    No,
    /// Once the whole download has arrived (IMAP: STORE, then EXPUNGE once STORE is
    /// answered; POP3: every DELE and QUIT in one write): the least a client can wait that
    /// deletes only what it has received.
    AfterDownload,
    /// With the download's commands, in the same write, before anything has arrived: a
    /// lower bound no client that deletes only what it holds can reach.
    Blind,
}

impl RawDelete {
    fn of(scenario: &str) -> RawDelete {
        if scenario.ends_with("delete blind") {
            RawDelete::Blind
        } else if scenario.ends_with("delete") {
            RawDelete::AfterDownload
        } else {
            RawDelete::No
        }
    }
}

/// The raw IMAPS reference: LOGIN, SELECT, one UID FETCH 1:* (BODY.PEEK[]) read to nowhere
/// and LOGOUT, in one write; deletes (UID STORE and UID EXPUNGE of 1:*) as `delete` says.
async fn raw_imap(port: u16, user: &str, delete: RawDelete) -> u64 {
    let (mut s, mut line) = connect(port).await;
    let store = "x UID STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n";
    let expunge = "y UID EXPUNGE 1:*\r\nd LOGOUT\r\n";
    // After the download, EXPUNGE waits for STORE's answer, as RFC 3501 (5.5) asks of a
    // command that depends on another's result; blind, everything goes at once.
    let first = match delete {
        RawDelete::No => "d LOGOUT\r\n".to_string(),
        RawDelete::Blind => format!("{store}{expunge}"),
        RawDelete::AfterDownload => String::new(),
    };
    let after = |line: &[u8]| match delete {
        RawDelete::AfterDownload if line.starts_with(b"c OK") => Some(store),
        RawDelete::AfterDownload if line.starts_with(b"x OK") => Some(expunge),
        _ => None,
    };
    s.get_mut()
        .write_all(
            format!(
                "a LOGIN {user} pw\r\nb SELECT INBOX\r\nc UID FETCH 1:* (BODY.PEEK[])\r\n{first}"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut total = 0u64;
    loop {
        line.clear();
        if s.read_until(b'\n', &mut line).await.unwrap() == 0 {
            break;
        }
        total += line.len() as u64;
        if line.starts_with(b"d OK") {
            break;
        }
        if let Some(next) = after(&line) {
            s.get_mut().write_all(next.as_bytes()).await.unwrap();
        }
        if let Some(open) = line.iter().rposition(|b| *b == b'{')
            && line.ends_with(b"}\r\n")
        {
            let n: u64 = std::str::from_utf8(&line[open + 1..line.len() - 3])
                .unwrap()
                .parse()
                .unwrap();
            let copied = tokio::io::copy(&mut (&mut s).take(n), &mut tokio::io::sink())
                .await
                .unwrap();
            total += copied;
        }
    }
    total
}

/// The raw POP3S reference: USER, PASS and every RETR in one write, bodies read to nowhere;
/// every DELE and QUIT as `delete` says.
async fn raw_pop3(port: u16, user: &str, count: usize, delete: RawDelete) -> u64 {
    let (s, _greeting) = connect(port).await;
    let mut cmds = format!("USER {user}\r\nPASS pw\r\n");
    for i in 1..=count {
        cmds.push_str(&format!("RETR {i}\r\n"));
    }
    let mut deletes = String::new();
    if delete != RawDelete::No {
        for i in 1..=count {
            deletes.push_str(&format!("DELE {i}\r\n"));
        }
    }
    deletes.push_str("QUIT\r\n");
    if delete != RawDelete::AfterDownload {
        cmds.push_str(&std::mem::take(&mut deletes));
    }
    let (mut r, w) = tokio::io::split(s);
    let task = tokio::spawn(async move {
        let mut w = w;
        w.write_all(cmds.as_bytes()).await.unwrap();
        w
    });
    let mut total = 0u64;
    let mut buf = Vec::new();
    let mut br = BufReader::with_capacity(256 * 1024, &mut r);
    // USER and PASS answers, then per RETR a status line and a body up to ".", then QUIT.
    for _ in 0..2 {
        buf.clear();
        br.read_until(b'\n', &mut buf).await.unwrap();
    }
    for _ in 0..count {
        buf.clear();
        br.read_until(b'\n', &mut buf).await.unwrap();
        assert!(
            buf.starts_with(b"+OK"),
            "RETR answer {:?}",
            String::from_utf8_lossy(&buf)
        );
        loop {
            buf.clear();
            if br.read_until(b'\n', &mut buf).await.unwrap() == 0 || buf == b".\r\n" {
                break;
            }
            total += buf.len() as u64;
        }
    }
    let mut w = task.await.unwrap();
    if !deletes.is_empty() {
        w.write_all(deletes.as_bytes()).await.unwrap();
    }
    // The DELE answers and QUIT's, which comes once the deletes are made.
    for _ in 0..if delete == RawDelete::No {
        0
    } else {
        count + 1
    } {
        buf.clear();
        br.read_until(b'\n', &mut buf).await.unwrap();
        assert!(
            buf.starts_with(b"+OK"),
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    total
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    secs: f64,
    rss_kib: u64,
    /// Busy CPU seconds of the whole machine during the sample (client and Dovecot).
    cpu: f64,
    /// CPU seconds (user and system) of the client alone.
    client_cpu: f64,
}

/// CPU seconds (user and system) this process has used so far: the raw clients run in it.
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends in `)`): utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// Busy CPU seconds of the whole machine so far (user, nice, system, irq, softirq).
fn busy_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy: f64 = [0, 1, 2, 5, 6].iter().filter_map(|i| fields.get(*i)).sum();
    busy / 100.0
}

/// Runs a command under /usr/bin/time and returns wall time and peak RSS, or its output
/// when it failed.
fn timed(cmd: &mut Command) -> Result<Sample, String> {
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .arg("-f")
        .arg("%M %U %S")
        .arg("-o")
        .arg(rss_file.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        wrapped.current_dir(d);
    }
    let started = Instant::now();
    let out = wrapped.output().unwrap();
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}{}",
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    // GNU time's last line: peak RSS in KiB, user and system seconds.
    let report = std::fs::read_to_string(rss_file.path()).unwrap();
    let fields: Vec<f64> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    Ok(Sample {
        secs,
        rss_kib: fields.first().copied().unwrap_or(0.0) as u64,
        cpu: 0.0,
        client_cpu: fields.iter().skip(1).sum(),
    })
}

/// The ports the clients connect to: Dovecot's own, or a delaying proxy's in front of them.
#[derive(Clone, Copy)]
struct Ports {
    imaps: u16,
    pop3s: u16,
}

fn ingest_config(
    dir: &Path,
    ports: Ports,
    user: &str,
    pop3: bool,
    keep: bool,
    socks: Option<u16>,
) -> PathBuf {
    let port = if pop3 { ports.pop3s } else { ports.imaps };
    let connector = socks
        .map(|p| format!("connector = \"dante\"\n[connectors.dante]\nsocks5 = \"127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    let cfg = format!(
        "[store]\npath = \"store.redb\"\n[credentials.c]\nusername = \"{user}\"\npassword = {{ value = \"pw\" }}\n[accounts.bench]\nprotocol = \"{}\"\naddress = \"localhost\"\nport = {port}\ncredential = \"c\"\nca_file = \"{}\"\nkeep_copy = {keep}\nautomatic_check = false\n{connector}",
        if pop3 { "pop3" } else { "imap" },
        support::certs().ca.display()
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn which(cmd: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        .iter()
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.exists())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let [n, reps] = support::bench::args([5000, 3]);
    let binary = support::bench::release_binary();
    let d = support::Dovecot::start_with("mail_fsync = never\n");
    let dante = support::Socks::dante();
    // BENCH_RTT_MS: every client reaches Dovecot through a proxy that delays each direction
    // by half of it (set-up costs a round trip as TCP's does).
    let rtt_ms: u64 = std::env::var("BENCH_RTT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let one_way = Duration::from_micros(rtt_ms * 500);
    let proxies = (rtt_ms > 0).then(|| {
        (
            support::delay::DelayProxy::start(d.ports.imaps, one_way),
            support::delay::DelayProxy::start(d.ports.pop3s, one_way),
        )
    });
    let ports = match &proxies {
        Some((imaps, pop3s)) => Ports {
            imaps: imaps.port,
            pop3s: pop3s.port,
        },
        None => Ports {
            imaps: d.ports.imaps,
            pop3s: d.ports.pop3s,
        },
    };
    if rtt_ms > 0 {
        eprintln!("every client through a proxy of {rtt_ms} ms round trip");
    }
    let template = seed_template(n);
    eprintln!(
        "mailbox: {} messages, {:.1} MB",
        template.count,
        template.bytes as f64 / 1e6
    );

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let scenarios: Vec<&str> = vec![
        "raw imaps",
        "raw imaps delete",
        "raw imaps delete blind",
        "raw pop3s",
        "raw pop3s delete",
        "raw pop3s delete blind",
        "mail-ingest imaps keep",
        "mail-ingest imaps delete",
        "mail-ingest pop3s keep",
        "mail-ingest pop3s delete",
        "mail-ingest imaps keep via socks5",
        "fetchmail imaps",
        "fetchmail pop3s",
        "getmail6 imaps",
        "mpop pop3s",
        "mpop pop3s delete",
    ]
    .into_iter()
    // BENCH_ONLY: comma-separated parts of scenario names; `=name` matches one name exactly.
    .filter(|s| {
        only.is_empty()
            || only.split(',').any(|o| match o.strip_prefix('=') {
                Some(exact) => *s == exact,
                None => s.contains(o),
            })
    })
    .collect();
    // BENCH_COMPARE=BINARY: every mail-ingest scenario again, right after it, with that
    // binary (an A/B run on the same machine in the same minutes).
    let compare = std::env::var_os("BENCH_COMPARE").map(std::path::PathBuf::from);
    let scenarios: Vec<String> = scenarios
        .into_iter()
        .flat_map(|s| {
            let twin = (compare.is_some() && s.starts_with("mail-ingest"))
                .then(|| format!("{s} [compare]"));
            std::iter::once(s.to_string()).chain(twin)
        })
        .collect();
    let users: Vec<String> = (0..scenarios.len() * reps)
        .map(|i| format!("bench{i}"))
        .collect();
    for u in &users {
        d.add_user(u, "pw");
    }
    std::thread::sleep(Duration::from_millis(1100));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut results: Vec<(String, Vec<Sample>)> = scenarios
        .iter()
        .map(|s| (s.to_string(), Vec::new()))
        .collect();
    let mut failures = vec![0usize; scenarios.len()];
    let mut user_i = 0;
    for rep in 0..reps {
        for (si, name) in scenarios.iter().enumerate() {
            let user = &users[user_i];
            user_i += 1;
            fill(&d, user, &template);
            let dir = tempfile::tempdir().unwrap();
            let cpu_before = busy_cpu();
            let sample = match name.as_str() {
                s if s.starts_with("raw ") => {
                    let how = RawDelete::of(s);
                    let delete = how != RawDelete::No;
                    let (t, own) = (Instant::now(), own_cpu());
                    let bytes = if s.contains("imaps") {
                        rt.block_on(raw_imap(ports.imaps, user, how))
                    } else {
                        rt.block_on(raw_pop3(ports.pop3s, user, template.count, how))
                    };
                    assert!(bytes >= template.bytes, "{s} read {bytes} bytes");
                    let left = d.remaining(user).len();
                    assert_eq!(left, if delete { 0 } else { template.count }, "{s}: messages left on the server");
                    Some(Ok(Sample { secs: t.elapsed().as_secs_f64(), rss_kib: 0, cpu: 0.0, client_cpu: own_cpu() - own }))
                }
                s if s.starts_with("mail-ingest") => {
                    let pop3 = s.contains("pop3s");
                    let keep = s.contains("keep");
                    let socks = s.contains("socks5").then_some(dante.port);
                    let cfg = ingest_config(dir.path(), ports, user, pop3, keep, socks);
                    // mail-ingest failing is a finding; the other clients' failures are counted.
                    let binary = match &compare {
                        Some(other) if s.ends_with("[compare]") => other,
                        _ => &binary,
                    };
                    let sample = timed(Command::new(binary).arg("-c").arg(&cfg).args(["check", "bench"]).env("RUST_LOG", std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()))).unwrap_or_else(|e| panic!("{e}"));
                    let left = d.remaining(user).len();
                    assert_eq!(left, if keep { template.count } else { 0 }, "{s}: messages left on the server");
                    Some(Ok(sample))
                }
                "fetchmail imaps" | "fetchmail pop3s" => which("fetchmail").map(|bin| {
                    let pop3 = name.contains("pop3");
                    let rc = dir.path().join("fetchmailrc");
                    std::fs::write(&rc, format!("poll localhost protocol {} port {} user \"{user}\" password \"pw\" ssl sslcertfile \"{}\" sslcertck keep fetchall mda \"/bin/cat > /dev/null\"\n", if pop3 { "pop3" } else { "imap" }, if pop3 { ports.pop3s } else { ports.imaps }, support::certs().ca.display())).unwrap();
                    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
                    timed(Command::new(bin).args(["-f"]).arg(&rc).args(["--nosyslog", "-s"]).env("HOME", dir.path()))
                }),
                "getmail6 imaps" => which("getmail").map(|bin| {
                    let maildir = dir.path().join("Maildir");
                    for sub in ["cur", "new", "tmp"] {
                        std::fs::create_dir_all(maildir.join(sub)).unwrap();
                    }
                    std::fs::write(dir.path().join("getmailrc"), format!("[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = localhost\nport = {}\nusername = {user}\npassword = pw\nca_certs = {}\n[destination]\ntype = MDA_external\npath = /bin/sh\narguments = (\"-c\", \"cat > /dev/null\")\nallow_root_commands = true\n[options]\nread_all = true\ndelete = false\nverbose = 0\n", ports.imaps, support::certs().ca.display())).unwrap();
                    let _ = maildir;
                    timed(Command::new(bin).arg("--getmaildir").arg(dir.path()).arg("--rcfile").arg("getmailrc"))
                }),
                "mpop pop3s" | "mpop pop3s delete" => which("mpop").map(|bin| {
                    let rc = dir.path().join("mpoprc");
                    let keep = if name.ends_with("delete") { "off" } else { "on" };
                    std::fs::write(&rc, format!("account bench\nhost localhost\nport {}\ntls on\ntls_starttls off\ntls_trust_file {}\nuser {user}\npassword pw\nkeep {keep}\nonly_new off\ndelivery mda \"/bin/cat > /dev/null\"\nuidls_file {}/uidls\n", ports.pop3s, support::certs().ca.display(), dir.path().display())).unwrap();
                    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
                    timed(Command::new(bin).arg("-C").arg(&rc).arg("bench"))
                }),
                _ => None,
            };
            let cpu = busy_cpu() - cpu_before;
            let sample = match sample {
                Some(Err(e)) => {
                    failures[si] += 1;
                    eprintln!(
                        "rep {rep} {name}: failed, left out: {}",
                        e.lines().last().unwrap_or("")
                    );
                    None
                }
                other => other.and_then(Result::ok),
            };
            if let Some(mut s) = sample {
                s.cpu = cpu;
                results[si].1.push(s);
                // The store file's size: what redb's page layout makes of the mail's bytes.
                let store = std::fs::metadata(dir.path().join("store.redb"))
                    .map(|m| format!(", store {:.1} MB", m.len() as f64 / 1e6))
                    .unwrap_or_default();
                eprintln!(
                    "rep {rep} {name}: {:.2}s, peak RSS {} KiB, machine CPU {cpu:.2}s, client CPU {:.2}s{store}",
                    s.secs, s.rss_kib, s.client_cpu
                );
            }
        }
    }
    let reference = |raw: &str| -> f64 {
        let mut v: Vec<f64> = results
            .iter()
            .find(|(n, _)| n == raw)
            .map(|(_, s)| s.iter().map(|x| x.secs).collect())
            .unwrap_or_default();
        if v.is_empty() {
            f64::NAN
        } else {
            median(&mut v)
        }
    };

    println!(
        "\n{n} messages, {:.1} MB, {reps} repetitions (medians){}\n",
        template.bytes as f64 / 1e6,
        if rtt_ms > 0 {
            format!(", {rtt_ms} ms round trip")
        } else {
            String::new()
        }
    );
    println!(
        "| client | wall s | wall s range | msg/s | MB/s | peak RSS MiB | machine CPU s | client CPU s | x raw |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((name, samples), failed) in results.iter().zip(&failures) {
        if samples.is_empty() {
            let why = if *failed > 0 {
                "failed"
            } else {
                "not installed"
            };
            println!("| {name} | {why} | | | | | | | |");
            continue;
        }
        let name = if *failed > 0 {
            format!("{name} ({failed} of {reps} runs failed)")
        } else {
            name.clone()
        };
        let mut secs: Vec<f64> = samples.iter().map(|s| s.secs).collect();
        let mut rss: Vec<f64> = samples.iter().map(|s| s.rss_kib as f64).collect();
        let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
        let mut client_cpu: Vec<f64> = samples.iter().map(|s| s.client_cpu).collect();
        let t = median(&mut secs);
        // Sorted by `median`: the spread shows how much this shared machine moved.
        let range = format!("{:.2}-{:.2}", secs[0], secs[secs.len() - 1]);
        let r = median(&mut rss);
        let c = median(&mut cpu);
        let cc = median(&mut client_cpu);
        // Each against the raw client doing the same: keep or delete, over the same protocol.
        let proto = if name.contains("pop3") {
            "pop3s"
        } else {
            "imaps"
        };
        let base = if name.contains("delete") {
            reference(&format!("raw {proto} delete"))
        } else {
            reference(&format!("raw {proto}"))
        };
        let rss_text = if r > 0.0 {
            format!("{:.1}", r / 1024.0)
        } else {
            "-".into()
        };
        println!(
            "| {name} | {t:.2} | {range} | {:.0} | {:.1} | {rss_text} | {c:.2} | {cc:.2} | {:.2} |",
            template.count as f64 / t,
            template.bytes as f64 / 1e6 / t,
            t / base
        );
    }
}
