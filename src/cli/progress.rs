//! Progress bars for `check` on a terminal: one line per account on stderr, redrawn five
//! times a second (messages and bytes of the backlog, rate, ETA). Not drawn when stderr is
//! not a terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mail_ingest::MailIngest;

/// The drawing task; [`Bars::finish`] stops it and clears the lines.
pub struct Bars {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Bars {
    pub async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

/// Starts drawing bars for `names`; the ingest must outlive the returned [`Bars`].
pub fn draw(ingest: &MailIngest, names: &[String]) -> Bars {
    let stop = Arc::new(AtomicBool::new(false));
    let snapshots: Vec<_> = names
        .iter()
        .map(|n| (n.clone(), ingest.progress_handle(n)))
        .collect();
    let stop2 = stop.clone();
    let task = tokio::spawn(async move {
        let width = names_width(&snapshots);
        let mut drawn = 0;
        loop {
            let done = stop2.load(Ordering::Relaxed);
            let mut out = String::new();
            if drawn > 0 {
                out.push_str(&format!("\x1b[{drawn}A"));
            }
            for (name, progress) in &snapshots {
                out.push_str("\x1b[2K");
                if !done {
                    let line = match progress.as_ref().and_then(|p| p.snapshot()) {
                        Some(s) => format!(
                            "{name:<width$} {} {}",
                            bar(s.done_bytes, s.total_bytes),
                            s.line()
                        ),
                        None => format!("{name:<width$} connecting…"),
                    };
                    out.push_str(&line);
                }
                out.push('\n');
            }
            drawn = snapshots.len();
            if done {
                out.push_str(&format!("\x1b[{drawn}A"));
            }
            {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(out.as_bytes());
                let _ = err.flush();
            }
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Bars { stop, task }
}

fn names_width<T>(items: &[(String, T)]) -> usize {
    items
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
}

/// `[#########...........]`
fn bar(done: u64, total: u64) -> String {
    const WIDTH: usize = 20;
    let filled = if total == 0 {
        WIDTH
    } else {
        ((done as f64 / total as f64) * WIDTH as f64).round() as usize
    }
    .min(WIDTH);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(WIDTH - filled))
}
