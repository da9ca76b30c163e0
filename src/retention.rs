//! Running retention: for every account with `keep_for` or `keep_max`, the due messages
//! leave the store step by step on a blocking thread, with a pause between steps so commits
//! of new mail go first. The daemon runs it every [`RETENTION_EVERY`]; the `retention`
//! command and `POST /api/retention` run it now.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Retained, Store, StoreError};

/// How often the daemon runs retention (and first, this long after it starts).
pub const RETENTION_EVERY: Duration = Duration::from_secs(15 * 60);
/// The pause between two steps: a commit waiting for the store goes first.
const BETWEEN_STEPS: Duration = Duration::from_millis(5);

/// What one run did for one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRun {
    /// The account.
    pub account: String,
    /// Messages removed.
    pub removed: u64,
    /// Their raw bytes.
    pub removed_bytes: u64,
    /// Due, but kept: a Feed subscriber has not acknowledged them.
    pub held_by_subscriber: u64,
    /// Due, but kept: their delete on the server is owed.
    pub held_by_delete: u64,
    /// The raw bytes the account holds after the run.
    pub held_bytes: u64,
}

/// Runs retention once for every account of `config` that has a policy.
pub async fn run_once(
    store: &Arc<Store>,
    config: &Config,
) -> Result<Vec<RetentionRun>, StoreError> {
    let mut runs = Vec::new();
    for account in config.accounts.values() {
        if account.keep_for.is_none() && account.keep_max.is_none() {
            continue;
        }
        let (name, keep_for, keep_max) = (account.name.clone(), account.keep_for, account.keep_max);
        let s = store.clone();
        let wanted = name.clone();
        let (due, total) =
            blocking(move || s.retention_due(&wanted, keep_for, keep_max, SystemTime::now()))
                .await?;
        let mut run = RetentionRun {
            account: name.clone(),
            ..RetentionRun::default()
        };
        let mut offset = 0;
        while offset < due.len() {
            let s = store.clone();
            let (wanted, rest) = (name.clone(), due[offset..].to_vec());
            let step: Retained = blocking(move || s.retention_step(&wanted, &rest)).await?;
            run.removed += step.removed;
            run.removed_bytes += step.bytes;
            run.held_by_subscriber += step.held_by_subscriber;
            run.held_by_delete += step.held_by_delete;
            if step.looked == 0 {
                break;
            }
            offset += step.looked as usize;
            tokio::time::sleep(BETWEEN_STEPS).await;
        }
        run.held_bytes = total - run.removed_bytes;
        let label = name.clone();
        metrics::counter!(crate::metrics::RETENTION_REMOVED, "account" => label.clone())
            .increment(run.removed);
        metrics::counter!(crate::metrics::RETENTION_REMOVED_BYTES, "account" => label.clone())
            .increment(run.removed_bytes);
        metrics::gauge!(crate::metrics::RETENTION_HELD, "account" => label)
            .set((run.held_by_subscriber + run.held_by_delete) as f64);
        if run.removed > 0 || run.held_by_subscriber > 0 {
            tracing::info!(
                account = %name,
                removed = run.removed,
                bytes = run.removed_bytes,
                held_by_subscriber = run.held_by_subscriber,
                held_by_delete = run.held_by_delete,
                "retention"
            );
        }
        runs.push(run);
    }
    Ok(runs)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| StoreError::Maintenance("a retention step failed".into()))?
}
