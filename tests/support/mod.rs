//! Test support: real servers on free loopback ports in a temporary folder, stopped and
//! removed when the test ends. Never the system's Dovecot service or config.
//!
//! - [`Dovecot`]: IMAP and POP3, plain+STARTTLS on one port each and implicit TLS on another
//!   each, a certificate for localhost signed by a CA made for the test, passwd-file users,
//!   Maildir. Helpers put messages in a mailbox and read what remains.
//! - [`Socks`]: dante-server without authentication, microsocks with username/password.
//!
//! A missing server program fails the test with the command that installs it.

#![allow(dead_code)]

pub mod bench;
pub mod browser;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod daemon;
pub mod delay;
pub mod fake;
pub mod fault;
pub mod oauth;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const INSTALL: &str = "apt-get install -y dovecot-imapd dovecot-pop3d dante-server microsocks mpop chromium chromium-driver (or run ./scripts/test.sh, which installs them)";

/// Fails loudly when a server program is missing.
pub fn require(program: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("`{program}` is not installed; these tests need a real server: {INSTALL}");
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a daemon on `n` freshly chosen ports (`spawn` gets them) and waits until it listens
/// on all of them. A port chosen free can be taken by another test before the daemon binds
/// it; the daemon then exits, and it is started again on other ports.
fn spawn_listening(
    what: &str,
    n: usize,
    log: &Path,
    mut spawn: impl FnMut(&[u16]) -> Daemon,
) -> (Daemon, Vec<u16>) {
    for _ in 0..5 {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut daemon = spawn(&ports);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let exited = matches!(daemon.child.try_wait(), Ok(Some(_)));
            if exited {
                break;
            }
            if ports
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return (daemon, ports);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !matches!(daemon.child.try_wait(), Ok(Some(_))) {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} did not listen on ports {ports:?} within 15 s; its log:\n{log}");
        }
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{what} exited at start five times (ports taken?); its log:\n{log}");
}

/// A child process in its own process group, killed with its children on drop.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn spawn(cmd: &mut Command) -> Daemon {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Daemon { child }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id();
        // Kill the whole group only when the child really leads its own group.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let pgrp = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        if pgrp == Some(pid) {
            let _ = Command::new("pkill")
                .args(["-KILL", "-g", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder everyone may enter (Dovecot's processes run as other users).
fn open_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The test CA and the localhost certificate it signed (made once per test process).
pub struct Certs {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client certificate the CA signed, and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

pub fn certs() -> &'static Certs {
    static CERTS: std::sync::OnceLock<Certs> = std::sync::OnceLock::new();
    CERTS.get_or_init(|| {
        let base = option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("mail-ingest-test-certs-{}", std::process::id()));
        open_dir(&dir);
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=mail-ingest test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
        std::fs::write(dir.join("ext.cnf"), "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n").unwrap();
        run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "30", "-extfile", "ext.cnf"]);
        run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=mail-ingest test client"]);
        std::fs::write(dir.join("client.cnf"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n").unwrap();
        run(&["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "30", "-extfile", "client.cnf"]);
        for f in ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"] {
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Certs { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key"), client_cert: dir.join("client.pem"), client_key: dir.join("client.key"), dir }
    })
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// Ports of a Dovecot instance.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// IMAP: plain and STARTTLS.
    pub imap: u16,
    /// IMAP over implicit TLS.
    pub imaps: u16,
    /// POP3: plain and STLS.
    pub pop3: u16,
    /// POP3 over implicit TLS.
    pub pop3s: u16,
}

/// A private Dovecot.
pub struct Dovecot {
    pub dir: tempfile::TempDir,
    /// Folders its config names besides `dir`, removed with it.
    extra_dirs: Vec<tempfile::TempDir>,
    pub ports: Ports,
    _daemon: Daemon,
    mail_uid: u32,
    mail_gid: u32,
}

/// The uid and gid of the `mail` user that owns the test mailboxes.
fn mail_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("mail:"))
        .expect("a `mail` user exists");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

impl Dovecot {
    /// Starts a Dovecot with no users.
    pub fn start() -> Dovecot {
        Self::start_with("")
    }

    /// Starts a Dovecot with extra config lines.
    pub fn start_with(extra: &str) -> Dovecot {
        Self::start_custom("plain login", extra)
    }

    /// Starts a Dovecot that also takes OAuth2 tokens (XOAUTH2 and OAUTHBEARER), asking
    /// `introspection_url` whether each is active (its oauth2 passdb, no cache), with extra
    /// config lines.
    pub fn start_oauth2(introspection_url: &str, extra: &str) -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("mail-ingest-oauth2-")
            .tempdir()
            .unwrap();
        open_dir(dir.path());
        let conf = dir.path().join("dovecot-oauth2.conf.ext");
        std::fs::write(
            &conf,
            format!("introspection_url = {introspection_url}\nintrospection_mode = post\nforce_introspection = yes\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n"),
        )
        .unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let extra = format!(
            "auth_cache_size = 0\npassdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n{extra}",
            conf.display()
        );
        let mut dovecot = Self::start_custom("plain login xoauth2 oauthbearer", &extra);
        dovecot.extra_dirs.push(dir);
        dovecot
    }

    /// Starts a Dovecot offering these SASL mechanisms, with extra config lines.
    fn start_custom(mechanisms: &str, extra: &str) -> Dovecot {
        let dovecot = require("dovecot");
        let certs = certs();
        let dir = tempfile::Builder::new()
            .prefix("mail-ingest-dovecot-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        open_dir(root);
        for sub in ["run", "state", "mail", "home"] {
            open_dir(&root.join(sub));
        }
        let (mail_uid, mail_gid) = mail_ids();
        chown(root.join("mail"), Some(mail_uid), Some(mail_gid)).unwrap();
        chown(root.join("home"), Some(mail_uid), Some(mail_gid)).unwrap();
        std::fs::write(root.join("users"), "").unwrap();
        std::fs::set_permissions(root.join("users"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let log = root.join("dovecot.log");
        let (daemon, ports) = spawn_listening("dovecot", 4, &log, |ports| {
            let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
            let conf = format!(
                r#"
instance_name = mi-test-{pid}-{n}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
pop3_uidl_format = %08Xu%08Xv
mailbox_idle_check_interval = 1 secs
mail_max_userip_connections = 2000
default_process_limit = 2000
default_client_limit = 4000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = passwd-file
  args = {root}/users
  default_fields = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
  process_min_avail = 1
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
  process_min_avail = 1
}}
service anvil {{
  chroot =
  client_limit = 8000
  # No auth penalty: a test's wrong password must not slow every other login from 127.0.0.1.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  client_limit = 8000
}}
{extra}
"#,
                pid = std::process::id(),
                root = root.display(),
                cert = certs.cert.display(),
                key = certs.key.display(),
                imap = ports[0],
                imaps = ports[1],
                pop3 = ports[2],
                pop3s = ports[3],
            );
            let conf_path = root.join("dovecot.conf");
            std::fs::write(&conf_path, conf).unwrap();
            Daemon::spawn(
                Command::new(&dovecot)
                    .arg("-F")
                    .arg("-c")
                    .arg(&conf_path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
        });
        let ports = Ports {
            imap: ports[0],
            imaps: ports[1],
            pop3: ports[2],
            pop3s: ports[3],
        };
        Dovecot {
            dir,
            extra_dirs: Vec::new(),
            ports,
            _daemon: daemon,
            mail_uid,
            mail_gid,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a user with a plain-text password and an empty Maildir.
    ///
    /// Dovecot re-reads its passwd-file at most once a second: add the users a test needs
    /// before the first login, or wait a second before logging in as a newer one.
    pub fn add_user(&self, user: &str, password: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.root().join("users"))
            .unwrap();
        writeln!(f, "{user}:{password}::::::").unwrap();
        let md = self.maildir(user);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        for p in [md.clone(), md.join("cur"), md.join("new"), md.join("tmp")] {
            chown(&p, Some(self.mail_uid), Some(self.mail_gid)).unwrap();
        }
    }

    /// Gives `user` a new password. Dovecot re-reads its passwd-file at most once a second:
    /// this waits that long, so the next login sees the change.
    pub fn set_password(&self, user: &str, password: &str) {
        let path = self.root().join("users");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                if l.split(':').next() == Some(user) {
                    format!("{user}:{password}::::::")
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root().join("mail").join(user)
    }

    /// Puts a message in the user's INBOX (Maildir `new/`), as a delivery agent would.
    pub fn deliver(&self, user: &str, raw: &[u8]) {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let md = self.maildir(user);
        let name = format!(
            "{}.M{}P{}.test",
            1_700_000_000 + SEQ.fetch_add(1, Ordering::Relaxed),
            SEQ.load(Ordering::Relaxed),
            std::process::id()
        );
        let tmp = md.join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        chown(&tmp, Some(self.mail_uid), Some(self.mail_gid)).unwrap();
        std::fs::rename(&tmp, md.join("new").join(&name)).unwrap();
    }

    /// Every message still in the user's INBOX, sorted by content (test messages are
    /// unique, so a duplicate is a file seen twice while Dovecot moved it).
    pub fn remaining(&self, user: &str) -> Vec<Vec<u8>> {
        let md = self.maildir(user);
        // Dovecot moves files from new/ to cur/ and renames them in cur/ to set flags, also
        // after a client has gone (a POP3 QUIT nobody waits for), and a directory read during
        // a rename may miss the file. So the names are read until two reads 30 ms apart
        // agree, and the whole read is done again when a file vanished meanwhile.
        let names = || {
            let mut names: Vec<_> = ["new", "cur"]
                .iter()
                .flat_map(|sub| std::fs::read_dir(md.join(sub)).unwrap())
                .map(|entry| entry.unwrap().path())
                .collect();
            names.sort();
            names
        };
        'settle: loop {
            let mut before = names();
            loop {
                std::thread::sleep(std::time::Duration::from_millis(30));
                let now = names();
                if now == before {
                    break;
                }
                before = now;
            }
            let mut out = Vec::new();
            for path in before {
                match std::fs::read(path) {
                    Ok(bytes) => out.push(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'settle,
                    Err(e) => panic!("cannot read the test mailbox: {e}"),
                }
            }
            out.sort();
            return out;
        }
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("dovecot.log")).unwrap_or_default()
    }
}

/// A SOCKS5 proxy on loopback.
pub struct Socks {
    pub port: u16,
    /// Username and password, when the proxy requires them.
    pub auth: Option<(String, String)>,
    _dir: tempfile::TempDir,
    _daemon: Daemon,
}

impl Socks {
    /// dante-server without authentication.
    pub fn dante() -> Socks {
        let danted = require("danted");
        let dir = tempfile::tempdir().unwrap();
        open_dir(dir.path());
        let log = dir.path().join("danted.log");
        let (daemon, ports) = spawn_listening("danted", 1, &log, |ports| {
            let conf = format!(
                "logoutput: {log}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\nsocksmethod: none\nclientmethod: none\nuser.privileged: root\nuser.unprivileged: nobody\nclient pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\nsocks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n",
                log = log.display(),
                port = ports[0]
            );
            let conf_path = dir.path().join("danted.conf");
            std::fs::write(&conf_path, conf).unwrap();
            Daemon::spawn(
                Command::new(&danted)
                    .arg("-f")
                    .arg(&conf_path)
                    .arg("-p")
                    .arg(dir.path().join("danted.pid"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
        });
        let port = ports[0];
        Socks {
            port,
            auth: None,
            _dir: dir,
            _daemon: daemon,
        }
    }

    /// microsocks with username/password.
    pub fn microsocks(user: &str, password: &str) -> Socks {
        let bin = require("microsocks");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("microsocks.log");
        let (daemon, ports) = spawn_listening("microsocks", 1, &log, |ports| {
            let logf = std::fs::File::create(&log).unwrap();
            Daemon::spawn(
                Command::new(&bin)
                    .args([
                        "-i",
                        "127.0.0.1",
                        "-p",
                        &ports[0].to_string(),
                        "-u",
                        user,
                        "-P",
                        password,
                    ])
                    .stdout(Stdio::null())
                    .stderr(logf),
            )
        });
        let port = ports[0];
        Socks {
            port,
            auth: Some((user.into(), password.into())),
            _dir: dir,
            _daemon: daemon,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Fails when an error meant for people shows a Rust value's debug print (`Some(`, `None`,
/// a struct's `{ `) instead of words.
pub fn assert_reads_as_words(error: &str, context: &str) {
    for artefact in ["Some(", "None", "{ ", "Error {", "kind: "] {
        assert!(
            !error.contains(artefact),
            "{context}: the error shows `{artefact}` of a debug print: {error}"
        );
    }
}

/// Shows the library's logs in test output when RUST_LOG is set.
pub fn logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
