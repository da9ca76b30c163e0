//! The command line: its global flags, its commands and their arguments, and what a
//! command ends with (the exit code).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Fetches e-mail from IMAP and POP3 accounts into an embedded redb store, deleting on the
/// server only after a durable commit.
#[derive(Parser, Debug)]
#[command(name = "mail-ingest", version, propagate_version = true)]
pub struct Cli {
    /// The config file.
    #[arg(
        short,
        long,
        global = true,
        env = "MAIL_INGEST_CONFIG",
        default_value = "mail-ingest.toml"
    )]
    pub config: PathBuf,
    /// Output format of reports and summaries: table (the default) or json; of `export`,
    /// the files it writes: maildir (the default), mbox or eml.
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// Log line format (logs go to stderr; filter with RUST_LOG, e.g. RUST_LOG=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// `export`: a Maildir (cur/, each message flagged seen); its default.
    Maildir,
    /// `export`: one mbox file, ACCOUNT.mbox (mboxrd).
    Mbox,
    /// `export`: one ID.eml file per message.
    Eml,
}

impl Format {
    /// True for the formats of reports (table, json).
    pub fn is_report(self) -> bool {
        matches!(self, Format::Table | Format::Json)
    }
}

impl Cli {
    /// The format reports and summaries print in.
    pub fn report_format(&self) -> Format {
        self.format.unwrap_or(Format::Table)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: every enabled account, automatic checks, HTTP endpoint, until
    /// SIGTERM/SIGINT; SIGHUP reloads the config.
    Run,
    /// Check the config file and print every problem; exit 0 (valid, maybe warnings) or 2.
    Validate,
    /// Connect to an account (connector, TLS, login) and report capabilities and message
    /// count; fetches nothing.
    Test {
        /// The account name.
        account: String,
    },
    /// Run one check now of the named accounts (or --all enabled ones), then exit.
    Check {
        /// Account names.
        accounts: Vec<String>,
        /// Check every enabled account.
        #[arg(long, conflicts_with = "accounts")]
        all: bool,
    },
    /// The Accounts report: every account with its state and counts.
    Accounts,
    /// An account's Inbox report, newest first.
    Inbox {
        /// The account name.
        account: String,
        /// How many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only messages with ids below this one (the next page).
        #[arg(long)]
        before: Option<u64>,
    },
    /// Change the config file's accounts in place (comments kept, checked like validate);
    /// a running daemon reloads.
    Account {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// One stored message: headers and text, or with --raw its exact bytes on stdout.
    Show {
        /// The message id.
        id: u64,
        /// Print the exact stored bytes.
        #[arg(long)]
        raw: bool,
    },
    /// Write an account's stored messages (exact bytes, file dates from the received time)
    /// into a Maildir, an mbox or .eml files.
    Export {
        /// The account name.
        account: String,
        /// The folder to write into (made when missing; nothing in it is overwritten).
        /// `--format maildir` (the default), `mbox` or `eml` says what to write.
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy the store to FILE, consistent as of its last commit, also while the daemon
    /// runs (its commits wait while the file is copied). Restore: stop the daemon, copy the
    /// file back.
    Backup {
        /// The new file (never overwritten).
        file: PathBuf,
    },
    /// Give the space of removed records back to the file system; prints the sizes.
    Compact,
    /// Run retention now (keep_for, keep_max): the oldest messages leave the store, never
    /// one a Feed subscriber has not acknowledged. The daemon runs it every 15 minutes.
    Retention,
    /// The Feed subscribers: the last id each acknowledged and how many messages it is
    /// behind (retention keeps them for it).
    Subscribers,
    /// Forget a Feed subscriber that will not come back: retention stops keeping messages
    /// for it.
    Unsubscribe {
        /// The subscriber's name.
        name: String,
    },
}

/// What `account` does.
#[derive(Subcommand, Debug)]
pub enum AccountAction {
    /// Set keys of `[accounts.NAME]` (made when missing): `key=value` as in TOML, or a
    /// bare string; `key=` removes the key.
    Set {
        /// The account name.
        name: String,
        /// `key=value` pairs.
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Remove `[accounts.NAME]` from the config file.
    Remove {
        /// The account name.
        name: String,
    },
}

/// What a command ended with.
pub enum Outcome {
    Ok,
    Failed,
    Usage,
}
