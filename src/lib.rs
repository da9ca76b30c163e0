//! mail-ingest fetches e-mail from IMAP and POP3 accounts, parses it, stores every message's
//! exact bytes durably in an embedded redb database and, for accounts that do not keep a
//! copy on the server, deletes each message there only after it is durably stored.
//!
//! # The delivery contract
//!
//! - A message is deleted on the server only after the redb transaction holding its raw
//!   bytes has committed. Not acknowledged is the default outcome: a store reply that never
//!   comes means "not stored", and nothing is deleted.
//! - Every message is stored exactly once per account, whatever crashes, reconnects or
//!   restarts happen: the key is (account, mailbox, UIDVALIDITY, UID) or (account, UIDL),
//!   and a content hash guards against UID reuse and UIDVALIDITY changes.
//! - Deletes owed when the process stopped are replayed at the next check (a pending-delete
//!   row is written in the same transaction as the message).
//! - A message that cannot be parsed is still stored raw, marked, counted and acknowledged.
//! - One failing account never stalls another: each account is its own actor, retried with
//!   capped, jittered exponential backoff.
//!
//! # Embedding
//!
//! Build a [`Config`] (from a file with [`Config::load`] or in code), start the pipeline,
//! and follow stored messages through a durable [`Feed`]:
//!
//! ```
//! use mail_ingest::config::{AccountConfig, Protocol};
//! use mail_ingest::secret::{Secret, SecretSource};
//! use mail_ingest::{Config, MailIngest, Options};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut helpdesk = AccountConfig::new("helpdesk", Protocol::Imap, "imap.example.com", "helpdesk");
//! helpdesk.automatic_check = false; // checked only on demand
//! let config = Config::new(dir.path().join("mail.redb"))
//!     .with_credential("helpdesk", "helpdesk@example.com", SecretSource::Value(Secret::new("pw")))
//!     .with_account(helpdesk);
//! config.validate()?;
//!
//! let ingest = MailIngest::start_with(config, Options { automatic_checks: false }).await?;
//! let accounts = ingest.accounts()?;
//! assert_eq!(accounts[0].name, "helpdesk");
//! assert_eq!(accounts[0].messages_stored, 0);
//!
//! let mut feed = ingest.subscribe("notifier")?; // durable cursor kept in the store
//! // while let Some(msg) = feed.next().await {  // at-least-once, in store order
//! //     notify(&msg).await?;
//! //     feed.ack(msg.id)?;                      // cumulative
//! // }
//! drop(feed);
//! ingest.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! The library installs no metrics recorder or tracing subscriber and serves no HTTP unless
//! asked ([`http::serve`]); the `mail-ingest` binary turns those on.
//!
//! Errors name what could not be done and keep their cause as their `source()`; to show one
//! to a person with its causes, use [`error::chain`] (or anyhow's `{:#}`).

#![warn(missing_docs)]

pub mod actors;
pub mod backoff;
pub mod check;
pub mod config;
pub mod error;
pub mod export;
pub mod feed;
pub mod http;
pub mod imap;
pub mod ingest;
pub mod metrics;
pub mod mime;
pub mod model;
pub mod net;
pub mod oauth2;
pub mod parse;
pub mod pop3;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod retention;
pub mod sasl;
pub mod secret;
pub mod server;
pub mod shared;
pub mod store;
pub mod text;

#[cfg(test)]
mod testing;

pub use config::Config;
pub use feed::{Feed, FeedMessage};
pub use ingest::{IngestError, MailIngest, Options};
