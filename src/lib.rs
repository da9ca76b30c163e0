//! mail-ingest: fetches e-mail from IMAP and POP3 accounts into an embedded redb store.
pub mod actors;
pub mod backoff;
pub mod check;
pub mod config;
pub mod error;
pub mod imap;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod net;
pub mod parse;
pub mod pop3;
pub mod registry;
pub mod report;
pub mod secret;
pub mod store;

pub use config::Config;
pub use ingest::{Feed, FeedMessage, IngestError, MailIngest, Options};
pub mod http;
