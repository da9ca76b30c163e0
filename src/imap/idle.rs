//! IMAP IDLE as a wake-up signal: a second connection waits in IDLE and tells the account
//! actor when the server reports a change; the actor then runs a normal check. Polling at
//! `check_interval` goes on beside it as the fallback and resync.
//!
//! IDLE is re-issued every `min(io_timeout, 29 min)` (RFC 2177 asks for less than 30
//! minutes); a DONE that gets no answer within `io_timeout` means the connection is dead,
//! and the watcher reconnects.

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;

use super::{ImapSession, imap_err};
use crate::config::AccountConfig;
use crate::error::{CheckError, Stage};
use crate::net::ConnectorHandle;
use crate::protocol::WatchEnd;
use crate::sasl::MailLogin;

/// The longest wait in one IDLE command.
pub fn reissue_period(account: &AccountConfig) -> Duration {
    account.io_timeout.min(Duration::from_secs(29 * 60))
}

/// Connects, selects the mailbox and waits in IDLE, calling `wake` on every change the
/// server reports. Returns only when IDLE is unsupported or the connection fails.
pub async fn watch(
    account: &AccountConfig,
    connector: Option<&ConnectorHandle>,
    login: &MailLogin,
    wake: &(dyn Fn() + Send + Sync),
) -> WatchEnd {
    let session = match ImapSession::open_to_watch(account, connector, login).await {
        Ok(s) => s,
        Err(e) => return WatchEnd::Failed(e),
    };
    if !session.has_idle() {
        return WatchEnd::Unsupported;
    }
    let period = reissue_period(account);
    let mut conn = session.conn;
    loop {
        let mut idle = conn.idle();
        if let Err(e) = idle.init().await {
            return WatchEnd::Failed(imap_err(Stage::Fetch, "IDLE failed")(e));
        }
        // While idling the server may rightly stay silent: the inactivity limit covers the
        // whole wait, and the DONE below is held to io_timeout again.
        idle.as_mut().set_limit(period + account.io_timeout);
        idle.as_mut().set_read_budget(Some(super::BUDGET_SLACK * 4));
        let outcome = {
            let (wait, _stop) = idle.wait_with_timeout(period);
            tokio::time::timeout(period, wait).await
        };
        match outcome {
            Ok(Ok(IdleResponse::NewData(_))) => wake(),
            Ok(Ok(IdleResponse::Timeout)) | Err(_) => {}
            Ok(Ok(IdleResponse::ManualInterrupt)) => {
                return WatchEnd::Failed(CheckError::new(
                    Stage::Fetch,
                    "the server closed the IDLE connection",
                ));
            }
            Ok(Err(e)) => return WatchEnd::Failed(imap_err(Stage::Fetch, "IDLE failed")(e)),
        }
        idle.as_mut().set_limit(account.io_timeout);
        conn = match idle.done().await {
            Ok(c) => c,
            Err(e) => return WatchEnd::Failed(imap_err(Stage::Fetch, "IDLE DONE failed")(e)),
        };
    }
}
