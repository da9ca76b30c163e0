//! mail-ingest: fetches e-mail from IMAP and POP3 accounts into an embedded redb store.
pub mod config;
pub mod model;
pub mod parse;
pub mod secret;
pub mod store;
