//! The Accounts and Inbox reports, built the same way whether the daemon serves them over
//! HTTP or the CLI reads the store itself: config plus stored state plus (when running)
//! live state.

use crate::actors::registry::Registry;
use crate::config::Config;
use crate::model::{AccountReport, AccountRunState, MessageDetail, MessageMeta};
use crate::store::{Found, Store, StoreError};
use crate::text::{cell, printable, printable_line};

/// Default and largest page of the Inbox report.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page of the Inbox report.
pub const MAX_LIMIT: usize = 10_000;

/// One row per configured account, in name order.
pub fn accounts(
    config: &Config,
    store: Option<&Store>,
    live: Option<&Registry>,
) -> Result<Vec<AccountReport>, StoreError> {
    config
        .accounts
        .values()
        .map(|a| account(config, &a.name, store, live).map(|r| r.expect("configured")))
        .collect()
}

/// One account's row, or `None` when no such account is configured.
pub fn account(
    config: &Config,
    name: &str,
    store: Option<&Store>,
    live: Option<&Registry>,
) -> Result<Option<AccountReport>, StoreError> {
    let Some(a) = config.accounts.get(name) else {
        return Ok(None);
    };
    let stored = match store {
        Some(s) => s.account_state(name)?,
        None => Default::default(),
    };
    let pending = match store {
        Some(s) => s.pending_delete_count(name)?,
        None => 0,
    };
    let live = live.and_then(|r| r.live(name));
    let state = match (&live, a.enabled) {
        (_, false) => AccountRunState::Disabled,
        (Some(l), _) => l.state,
        (None, _) if stored.last_error.is_some() => AccountRunState::Failing,
        (None, _) => AccountRunState::Idle,
    };
    // The live error is the latest: the store may not have taken it (a full disk).
    let last_error = match &live {
        Some(l) if l.last_error.is_some() || l.state == AccountRunState::Failing => {
            l.last_error.clone().or(stored.last_error)
        }
        _ => stored.last_error,
    };
    Ok(Some(AccountReport {
        name: a.name.clone(),
        protocol: a.protocol.as_str().into(),
        address: a.address.clone(),
        port: a.port,
        tls: a.tls.as_str().into(),
        connector: a.connector.clone(),
        enabled: a.enabled,
        automatic_check: a.automatic_check,
        keep_copy: a.keep_copy,
        state,
        last_check: stored.last_check,
        last_success: stored.last_success,
        last_error,
        messages_stored: stored.messages_stored,
        pending_deletes: pending,
        oversize: stored.oversize,
        size_mismatch: stored.size_mismatch,
        delete_error: stored.delete_error,
        auth: match config
            .credentials
            .get(&a.credential)
            .and_then(|c| c.oauth2())
        {
            Some(o) => o.mechanism.as_str().into(),
            None => "password".into(),
        },
        needs_consent: match &live {
            Some(l) => l.needs_consent,
            None => stored.needs_consent,
        },
    }))
}

/// An account's messages, newest first.
pub fn inbox(
    store: &Store,
    account: &str,
    limit: Option<usize>,
    before: Option<u64>,
) -> Result<Vec<MessageMeta>, StoreError> {
    store.list_messages(
        account,
        limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
        before,
    )
}

/// Messages the Inbox report's search looks at for one page at most: a search through a
/// large store goes on page by page instead of reading it all at once.
pub const SEARCH_SCAN: usize = 20_000;

/// A page of an account's messages, newest first, whose sender or subject contains `query`
/// (any case; every message when it is empty).
pub fn search(
    store: &Store,
    account: &str,
    query: &str,
    limit: usize,
    before: Option<u64>,
) -> Result<Found, StoreError> {
    let query = query.trim().to_lowercase();
    let contains = |field: &Option<String>| {
        field
            .as_deref()
            .is_some_and(|f| f.to_lowercase().contains(&query))
    };
    store.find_messages(account, limit.min(MAX_LIMIT), before, SEARCH_SCAN, |m| {
        query.is_empty() || contains(&m.from) || contains(&m.subject)
    })
}

/// One message with addressees and text.
pub fn message(store: &Store, id: u64) -> Result<Option<MessageDetail>, StoreError> {
    let Some(rec) = store.record(id)? else {
        return Ok(None);
    };
    let raw = store.raw(id)?.unwrap_or_default();
    Ok(Some(MessageDetail {
        meta: rec.meta,
        to: rec.to,
        cc: rec.cc,
        text: crate::parse::text_of(&raw),
    }))
}

/// The Accounts report as a table.
pub fn accounts_table(rows: &[AccountReport]) -> String {
    let mut t = Table::new(&[
        "ACCOUNT",
        "PROTOCOL",
        "SERVER",
        "TLS",
        "CONNECTOR",
        "STATE",
        "STORED",
        "PENDING DEL",
        "LAST SUCCESS",
        "LAST ERROR",
    ]);
    for r in rows {
        t.row(vec![
            r.name.clone(),
            r.protocol.clone(),
            format!("{}:{}", r.address, r.port),
            r.tls.clone(),
            r.connector.clone().unwrap_or_else(|| "-".into()),
            format!("{:?}", r.state).to_lowercase(),
            r.messages_stored.to_string(),
            r.pending_deletes.to_string(),
            r.last_success.clone().unwrap_or_else(|| "never".into()),
            r.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t.render()
}

/// The Inbox report as a table.
pub fn inbox_table(rows: &[MessageMeta]) -> String {
    let mut t = Table::new(&["ID", "DATE", "FROM", "SUBJECT", "SIZE", "ATT", "ON SERVER"]);
    for m in rows {
        t.row(vec![
            m.id.to_string(),
            m.date.clone().unwrap_or_else(|| "-".into()),
            cell(m.from.as_deref().unwrap_or("-"), 32),
            cell(
                m.subject.as_deref().unwrap_or(if m.parsed {
                    "(no subject)"
                } else {
                    "(unparseable)"
                }),
                48,
            ),
            m.size.to_string(),
            m.attachments.to_string(),
            serde_json::to_value(m.on_server)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        ]);
    }
    t.render()
}

/// One message as text for a terminal: headers, then the body text; what the sender wrote
/// is made printable (no control characters or escape sequences).
pub fn message_text(m: &MessageDetail) -> String {
    let header = |value: &str| printable_line(value);
    let mut s = String::new();
    s.push_str(&format!("Id:       {}\n", m.meta.id));
    s.push_str(&format!("Account:  {}\n", m.meta.account));
    s.push_str(&format!(
        "Date:     {}\n",
        m.meta.date.as_deref().unwrap_or("-")
    ));
    s.push_str(&format!(
        "From:     {}\n",
        header(m.meta.from.as_deref().unwrap_or("-"))
    ));
    s.push_str(&format!("To:       {}\n", header(&m.to.join(", "))));
    if !m.cc.is_empty() {
        s.push_str(&format!("Cc:       {}\n", header(&m.cc.join(", "))));
    }
    s.push_str(&format!(
        "Subject:  {}\n",
        header(m.meta.subject.as_deref().unwrap_or("-"))
    ));
    s.push_str(&format!(
        "Size:     {} bytes, {} attachment(s){}\n\n",
        m.meta.size,
        m.meta.attachments,
        if m.meta.parsed { "" } else { ", unparseable" }
    ));
    s.push_str(&printable(&m.text));
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// A plain text table with aligned columns.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row; every cell is made printable and kept on one line.
    fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|c| printable_line(c)).collect());
    }

    fn render(&self) -> String {
        let cols = self.rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}
