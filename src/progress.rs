//! Progress of a running check: the backlog it found and how much of it has been
//! downloaded, shared between the check, the CLI's progress bars and the daemon's progress
//! log lines. The counters are atomics (a download advances them per message without a
//! lock); only the start time sits behind a mutex, taken once per check and per snapshot.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One account's progress in its current check.
#[derive(Debug, Default)]
pub struct Progress {
    total_messages: AtomicU64,
    total_bytes: AtomicU64,
    done_messages: AtomicU64,
    done_bytes: AtomicU64,
    started: Mutex<Option<Instant>>,
}

/// A copy of the numbers at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// Messages to download in this check.
    pub total_messages: u64,
    /// Their bytes.
    pub total_bytes: u64,
    /// Messages downloaded so far.
    pub done_messages: u64,
    /// Bytes downloaded so far.
    pub done_bytes: u64,
    /// Time since the check listed its backlog.
    pub elapsed: Duration,
}

impl Snapshot {
    /// Bytes per second so far.
    pub fn rate(&self) -> f64 {
        self.done_bytes as f64 / self.elapsed.as_secs_f64().max(0.001)
    }

    /// Time left at the rate so far, once there is a rate.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (self.done_bytes > 0 && rate > 0.0).then(|| {
            Duration::from_secs_f64(self.total_bytes.saturating_sub(self.done_bytes) as f64 / rate)
        })
    }

    /// `1234/5000 msgs, 45.2/130.0 MB, 12.3 MB/s, ETA 7s`
    pub fn line(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        let eta = self
            .eta()
            .map(|d| format!(", ETA {}s", d.as_secs()))
            .unwrap_or_default();
        format!(
            "{}/{} msgs, {:.1}/{:.1} MB, {:.1} MB/s{eta}",
            self.done_messages,
            self.total_messages,
            mb(self.done_bytes),
            mb(self.total_bytes),
            self.rate() / 1e6
        )
    }
}

impl Progress {
    /// A new check found this backlog.
    pub fn begin(&self, messages: u64, bytes: u64) {
        self.total_messages.store(messages, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
        self.done_messages.store(0, Ordering::Relaxed);
        self.done_bytes.store(0, Ordering::Relaxed);
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// One message downloaded.
    pub fn advance(&self, bytes: u64) {
        self.done_messages.fetch_add(1, Ordering::Relaxed);
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The numbers now, or `None` before the first check listed its backlog.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let started = (*self.started.lock().unwrap_or_else(|e| e.into_inner()))?;
        Some(Snapshot {
            total_messages: self.total_messages.load(Ordering::Relaxed),
            total_bytes: self.total_bytes.load(Ordering::Relaxed),
            done_messages: self.done_messages.load(Ordering::Relaxed),
            done_bytes: self.done_bytes.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_formats() {
        let p = Progress::default();
        assert!(p.snapshot().is_none());
        p.begin(10, 10_000_000);
        p.advance(2_000_000);
        let s = p.snapshot().unwrap();
        assert_eq!((s.done_messages, s.done_bytes), (1, 2_000_000));
        assert!(
            s.line().starts_with("1/10 msgs, 2.0/10.0 MB"),
            "{}",
            s.line()
        );
        assert!(s.eta().is_some());
    }
}
