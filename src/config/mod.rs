//! The configuration: the TOML file of DESIGN.md read into checked domain types.
//!
//! Loading never stops at the first problem: [`Config::parse`] returns every error and
//! warning with the path of the key and how to fix it. Validation does no network I/O; it
//! only looks at files the config names (password files, CA files).
//!
//! The domain types are in `domain.rs`, the problems in `issues.rs`, the TOML reader in
//! `read.rs` (key by key, through `fields.rs`), the cross-section checks in `validate.rs`;
//! `edit.rs` changes the file in place for the web console and `account set`.

mod domain;
pub mod edit;
mod fields;
mod fingerprint;
mod issues;
mod load;
mod oauth2;
mod read;
mod secrets;
pub mod units;
mod validate;

pub use domain::*;
pub use fingerprint::Fingerprint;
pub use issues::{ConfigError, Issue, Issues, Severity};
pub use load::Loaded;

#[cfg(test)]
mod tests;
