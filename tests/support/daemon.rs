//! A `mail-ingest run` daemon started from a config file, found through its address file
//! (`<store>.addr`), with plain HTTP requests to its API and a clean stop (SIGTERM).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running daemon; stopped (and its exit checked) by [`IngestDaemon::stop`].
pub struct IngestDaemon {
    pub child: Child,
    /// The API's `host:port`.
    pub addr: String,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
    token: Option<String>,
}

/// The binary under test (Cargo names it for tests and benchmarks, not for examples).
pub const BIN: &str = match option_env!("CARGO_BIN_EXE_mail-ingest") {
    Some(bin) => bin,
    None => "mail-ingest",
};

impl IngestDaemon {
    /// Starts the binary under test with `config`, whose store is `store.redb` beside it,
    /// with the token the daemon makes (`<store>.token`), allowing 15 s to start.
    pub fn beside(config: &Path) -> IngestDaemon {
        let store = config.with_file_name("store.redb");
        Self::start(
            Path::new(BIN),
            config,
            &store,
            &[],
            None,
            Duration::from_secs(15),
        )
    }

    /// The token this client sends.
    pub fn token(&self) -> &str {
        self.token.as_deref().unwrap_or("")
    }

    /// Starts `bin -c config run` with `env`, logging to `dir/daemon.log`, and waits (up to
    /// `startup`) for the API address in `store`'s address file. `token` is sent as bearer;
    /// without one, the token the daemon made in `<store>.token` is.
    pub fn start(
        bin: &Path,
        config: &Path,
        store: &Path,
        env: &[(&str, &str)],
        token: Option<&str>,
        startup: Duration,
    ) -> IngestDaemon {
        let log = config.with_file_name("daemon.log");
        let mut cmd = Command::new(bin);
        cmd.arg("-c")
            .arg(config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let addr_file = PathBuf::from(format!("{}.addr", store.display()));
        let deadline = Instant::now() + startup;
        while !addr_file.exists() {
            assert!(
                Instant::now() < deadline,
                "daemon did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let addr = std::fs::read_to_string(&addr_file)
            .unwrap()
            .trim()
            .to_string();
        let token = token.map(str::to_string).or_else(|| {
            std::fs::read_to_string(format!("{}.token", store.display()))
                .ok()
                .map(|t| t.trim().to_string())
        });
        IngestDaemon {
            child,
            addr,
            log,
            token,
        }
    }

    /// (status, body) of a request, with the token unless `with_token` is false.
    pub fn request(&self, method: &str, path: &str, with_token: bool) -> (u16, String) {
        let (status, _, body) = self.exchange(method, path, with_token);
        (status, body)
    }

    /// (status, response head, body) of a request, with the token unless `with_token` is
    /// false.
    pub fn exchange(&self, method: &str, path: &str, with_token: bool) -> (u16, String, String) {
        let host = format!("Host: {}\r\n", self.addr);
        self.raw_exchange(method, path, with_token, &host)
    }

    /// Like [`IngestDaemon::exchange`], with these header lines (each ending in CRLF) instead
    /// of the usual Host.
    pub fn raw_exchange(
        &self,
        method: &str,
        path: &str,
        with_token: bool,
        headers: &str,
    ) -> (u16, String, String) {
        self.send(method, path, with_token, headers, "")
    }

    /// Like [`IngestDaemon::raw_exchange`], with this body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        with_token: bool,
        headers: &str,
        body: &str,
    ) -> (u16, String, String) {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        let auth = match (&self.token, with_token) {
            (Some(t), true) => format!("Authorization: Bearer {t}\r\n"),
            _ => String::new(),
        };
        let length = body.len();
        write!(s, "{method} {path} HTTP/1.1\r\n{headers}{auth}Content-Length: {length}\r\nConnection: close\r\n\r\n{body}").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        (status, head.to_string(), body.to_string())
    }

    /// Stops it with SIGTERM, asserts a clean exit, and returns its log.
    pub fn stop(mut self) -> String {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "daemon exit");
        std::fs::read_to_string(&self.log).unwrap()
    }
}
