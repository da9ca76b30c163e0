//! The shapes that leave the crate: a message's summary and stored metadata, the Accounts
//! and Inbox report rows, and check summaries. Their JSON is the API's (DESIGN.md), so the CLI's
//! `--format json` prints exactly what `/api/...` returns.

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Where a stored message stands on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnServer {
    /// The account keeps a copy on the server.
    Kept,
    /// Deleted on the server after the store committed it.
    Deleted,
    /// Committed here; the delete on the server is owed and will be retried.
    DeletePending,
}

/// One stored message as the Inbox report and `/api/accounts/{name}/messages` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Unique in the store, increasing in store order.
    pub id: u64,
    /// The account it came from.
    pub account: String,
    /// When it was stored (RFC 3339 UTC).
    pub received_at: String,
    /// The `Date:` header in RFC 3339 UTC, when it parsed.
    pub date: Option<String>,
    /// The first `From:` address, as `Name <addr>`.
    pub from: Option<String>,
    /// The decoded `Subject:`.
    pub subject: Option<String>,
    /// Exact size of the raw bytes.
    pub size: u64,
    /// Number of attachments.
    pub attachments: u32,
    /// The `Message-ID:` without angle brackets.
    pub message_id: Option<String>,
    /// False when the message could not be parsed; it is still stored raw.
    pub parsed: bool,
    /// Where it stands on the server.
    pub on_server: OnServer,
}

/// What the reports need from a message's headers and structure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// `Date:` in RFC 3339 UTC.
    pub date: Option<String>,
    /// The first `From:` address.
    pub from: Option<String>,
    /// Addressees from `To:`.
    pub to: Vec<String>,
    /// Addressees from `Cc:`.
    pub cc: Vec<String>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// Number of attachments.
    pub attachments: u32,
    /// The Message-ID.
    pub message_id: Option<String>,
    /// False when the message has no parseable header.
    pub parsed: bool,
}

impl Summary {
    /// The metadata record for a message stored under `id`.
    pub fn to_meta(
        &self,
        id: u64,
        account: &str,
        received_at: &str,
        size: u64,
        on_server: OnServer,
    ) -> MessageMeta {
        MessageMeta {
            id,
            account: account.to_string(),
            received_at: received_at.to_string(),
            date: self.date.clone(),
            from: self.from.clone(),
            subject: self.subject.clone(),
            size,
            attachments: self.attachments,
            message_id: self.message_id.clone(),
            parsed: self.parsed,
            on_server,
        }
    }
}

/// One message with its addressees and text: `/api/messages/{id}` and `show ID`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDetail {
    /// The metadata the Inbox report shows.
    #[serde(flatten)]
    pub meta: MessageMeta,
    /// Addressees from `To:`.
    pub to: Vec<String>,
    /// Addressees from `Cc:`.
    pub cc: Vec<String>,
    /// The readable text (first text part, HTML converted).
    pub text: String,
}

/// What an account is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountRunState {
    /// Enabled and between checks (no automatic checks).
    Idle,
    /// A check is running.
    Checking,
    /// Waiting for its next automatic check.
    Waiting,
    /// The last check failed; it is retried with backoff.
    Failing,
    /// `enabled = false`: never connects.
    Disabled,
}

/// One row of the Accounts report: `/api/accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReport {
    /// The table's name: the identity used in reports, metrics and the API.
    pub name: String,
    /// "Protocol": IMAP or POP3.
    pub protocol: String,
    /// "Address": the server's host name (also the TLS server name).
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// "Use safe connection" and "Secure connection type".
    pub tls: String,
    /// Name of the `[connectors.NAME]` to route through; direct when `None`.
    pub connector: Option<String>,
    /// "Enabled": false keeps the account in the reports but never connects.
    pub enabled: bool,
    /// "Automatic check": checked every `check_interval` (else only on demand).
    pub automatic_check: bool,
    /// "Keep copy in server": false deletes each message after it is durably stored.
    pub keep_copy: bool,
    /// What the account is doing now.
    pub state: AccountRunState,
    /// When the last check ended.
    pub last_check: Option<String>,
    /// When the last successful check ended.
    pub last_success: Option<String>,
    /// The last check's error, if it failed.
    pub last_error: Option<String>,
    /// Messages stored for this account in all.
    pub messages_stored: u64,
    /// Deletes owed on the server.
    pub pending_deletes: u64,
    /// Messages the last check left on the server for being larger than `max_message_size`.
    pub oversize: u64,
    /// Messages the last check left on the server because their body did not match the
    /// size the server listed (never deleted: what came may not be what is there).
    pub size_mismatch: u64,
    /// Why the server refuses the owed deletes (a read-only mailbox, missing rights), while
    /// it does; ingestion goes on meanwhile.
    pub delete_error: Option<String>,
    /// How it logs in: `password`, `xoauth2` or `oauthbearer`.
    pub auth: String,
    /// True while its OAuth2 credential needs new consent (the token endpoint answered
    /// `invalid_grant` or `invalid_client`): nothing is asked of the endpoint until the
    /// credential's seed, secret or config changes.
    pub needs_consent: bool,
}

/// The outcome of one check of one account: a line of `check`, the answer of
/// `POST /api/accounts/{name}/check`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The account it came from.
    pub account: String,
    /// Messages downloaded from the server.
    pub fetched: u64,
    /// Messages newly committed to the store.
    pub stored: u64,
    /// Messages deleted on the server.
    pub deleted: u64,
    /// Messages left alone: already stored, over `max_message_size`, or before a "new" backfill.
    pub skipped: u64,
    /// Messages or steps that failed.
    pub errors: u64,
    /// Why the check failed, when it did.
    pub error: Option<String>,
}

impl CheckSummary {
    /// The one-line text form of `check`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}: fetched {}, stored {}, deleted {}, skipped {}, errors {}",
            self.account, self.fetched, self.stored, self.deleted, self.skipped, self.errors
        );
        if let Some(e) = &self.error {
            s.push_str(&format!(" ({})", crate::text::printable_line(e)));
        }
        s
    }
}

/// A time in RFC 3339 UTC with seconds, as every API time is written.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Now, in RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}
