//! Metric names, written down once, and their descriptions with units.
//!
//! The library only records through the `metrics` facade; nothing is exported unless the
//! host installs a recorder (the binary installs the Prometheus one).

/// Counter: messages by account and outcome.
pub const MESSAGES: &str = "mail_ingest_messages_total";
/// Counter: bytes downloaded by account.
pub const FETCHED_BYTES: &str = "mail_ingest_fetched_bytes_total";
/// Counter: errors by account and stage.
pub const ERRORS: &str = "mail_ingest_errors_total";
/// Counter: checks by account and outcome.
pub const CHECKS: &str = "mail_ingest_checks_total";
/// Histogram: seconds per check by account.
pub const CHECK_DURATION: &str = "mail_ingest_check_duration_seconds";
/// Gauge: 1 when the account's last check succeeded.
pub const ACCOUNT_UP: &str = "mail_ingest_account_up";
/// Gauge: Unix time of the last successful check.
pub const LAST_SUCCESS: &str = "mail_ingest_last_success_timestamp_seconds";
/// Gauge: deletes owed on the server.
pub const PENDING_DELETES: &str = "mail_ingest_pending_deletes";
/// Gauge: 1 when the account skips certificate checks or uses no TLS.
pub const INSECURE_TLS: &str = "mail_ingest_insecure_tls";
/// Counter: restarts of the account's actor.
pub const ACCOUNT_RESTARTS: &str = "mail_ingest_account_restarts_total";
/// Counter: tunnels opened by connector and outcome.
pub const CONNECTOR_CONNECTIONS: &str = "mail_ingest_connector_connections_total";
/// Histogram: seconds per store commit.
pub const STORE_COMMIT_DURATION: &str = "mail_ingest_store_commit_duration_seconds";
/// Gauge: 1 while the store can be written, 0 after a failed write (disk full) until it can.
pub const STORE_WRITABLE: &str = "mail_ingest_store_writable";
/// Histogram: messages per store commit.
pub const STORE_BATCH_MESSAGES: &str = "mail_ingest_store_batch_messages";
/// Counter: token endpoint requests by credential, grant and outcome (ok, refused, failed).
pub const OAUTH2_TOKEN_REQUESTS: &str = "mail_ingest_oauth2_token_requests_total";
/// Gauge: Unix time the credential's current access token expires.
pub const OAUTH2_TOKEN_EXPIRY: &str = "mail_ingest_oauth2_token_expiry_timestamp_seconds";
/// Gauge: 1 while the credential needs new consent (`invalid_grant`, `invalid_client`).
pub const OAUTH2_NEEDS_CONSENT: &str = "mail_ingest_oauth2_needs_consent";
/// Counter: logins the server refused, by account and mechanism (password, xoauth2,
/// oauthbearer).
pub const LOGINS_REFUSED: &str = "mail_ingest_logins_refused_total";

/// Counter: messages retention removed from the store, by account.
pub const RETENTION_REMOVED: &str = "mail_ingest_retention_removed_total";
/// Counter: raw bytes retention removed from the store, by account.
pub const RETENTION_REMOVED_BYTES: &str = "mail_ingest_retention_removed_bytes_total";
/// Gauge: messages retention would remove but keeps (a Feed subscriber has not acknowledged
/// them, or their delete on the server is owed), by account, as of the last run.
pub const RETENTION_HELD: &str = "mail_ingest_retention_held_messages";

/// Exports an account's counters at zero from its start, so dashboards and alerts see a
/// series (and `rate()` a first sample) before anything has happened.
pub fn register_account(account: &str) {
    let a = account.to_string();
    metrics::counter!(ACCOUNT_RESTARTS, "account" => a.clone()).increment(0);
    for stage in crate::error::Stage::ALL {
        metrics::counter!(ERRORS, "account" => a.clone(), "stage" => stage.as_str()).increment(0);
    }
    metrics::counter!(FETCHED_BYTES, "account" => a.clone()).increment(0);
    for outcome in ["ok", "failed"] {
        metrics::counter!(CHECKS, "account" => a.clone(), "outcome" => outcome).increment(0);
    }
    for outcome in [
        "fetched",
        "stored",
        "deleted",
        "duplicate",
        "oversize",
        "size_mismatch",
        "unparseable",
    ] {
        metrics::counter!(MESSAGES, "account" => a.clone(), "outcome" => outcome).increment(0);
    }
}

/// Exports a connector's counters at zero from its start.
pub fn register_connector(connector: &str) {
    for outcome in ["ok", "failed"] {
        metrics::counter!(CONNECTOR_CONNECTIONS, "connector" => connector.to_string(), "outcome" => outcome)
            .increment(0);
    }
}

/// Registers the description and unit of every metric with the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        MESSAGES,
        Unit::Count,
        "Messages by outcome: fetched, stored, deleted, duplicate, oversize, size_mismatch, unparseable"
    );
    describe_counter!(
        FETCHED_BYTES,
        Unit::Bytes,
        "Bytes of message data downloaded"
    );
    describe_counter!(
        ERRORS,
        Unit::Count,
        "Errors by stage: connect, proxy, tls, auth, fetch, store, delete"
    );
    describe_counter!(CHECKS, Unit::Count, "Checks by outcome: ok, failed");
    describe_histogram!(
        CHECK_DURATION,
        Unit::Seconds,
        "Duration of one check of one account"
    );
    describe_gauge!(
        ACCOUNT_UP,
        "1 when the account's last check succeeded, 0 when it is failing"
    );
    describe_gauge!(
        LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the account's last successful check"
    );
    describe_gauge!(
        PENDING_DELETES,
        Unit::Count,
        "Messages stored but not yet deleted on the server"
    );
    describe_gauge!(
        INSECURE_TLS,
        "1 when the account skips certificate checks or uses no TLS"
    );
    describe_counter!(
        ACCOUNT_RESTARTS,
        Unit::Count,
        "Restarts of the account's actor after a failure"
    );
    describe_counter!(
        CONNECTOR_CONNECTIONS,
        Unit::Count,
        "Tunnels opened through a connector, by outcome"
    );
    describe_histogram!(
        STORE_COMMIT_DURATION,
        Unit::Seconds,
        "Duration of one store commit (with fsync)"
    );
    describe_gauge!(
        STORE_WRITABLE,
        "1 while the store can be written, 0 after a failed write (a full disk) until it can"
    );
    describe_counter!(
        OAUTH2_TOKEN_REQUESTS,
        Unit::Count,
        "Requests to an OAuth2 token endpoint (or token command), by credential, grant and outcome: ok, refused, failed"
    );
    describe_gauge!(
        OAUTH2_TOKEN_EXPIRY,
        Unit::Seconds,
        "Unix time the credential's current OAuth2 access token expires"
    );
    describe_gauge!(
        OAUTH2_NEEDS_CONSENT,
        "1 while the OAuth2 credential needs new consent (the endpoint answered invalid_grant or invalid_client)"
    );
    describe_counter!(
        RETENTION_REMOVED,
        Unit::Count,
        "Messages retention removed from the store (keep_for, keep_max), by account"
    );
    describe_counter!(
        RETENTION_REMOVED_BYTES,
        Unit::Bytes,
        "Raw bytes retention removed from the store, by account"
    );
    describe_gauge!(
        RETENTION_HELD,
        Unit::Count,
        "Messages due for removal but kept: unacknowledged by a Feed subscriber or with a delete owed, by account"
    );
    describe_counter!(
        LOGINS_REFUSED,
        Unit::Count,
        "Logins the mail server refused, by account and mechanism: password, xoauth2, oauthbearer"
    );
    describe_histogram!(
        STORE_BATCH_MESSAGES,
        Unit::Count,
        "Messages per store commit"
    );
}
