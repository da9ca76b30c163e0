//! Command-line parsing and dispatch. Exit codes: 0 success, 1 an account or operation
//! failed, 2 usage or config error.

mod commands;
mod daemon;
mod progress;
mod reports;
mod source;

use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Output format of reports and summaries.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
    /// One stored message: headers and text, or with --raw its exact bytes on stdout.
    Show {
        /// The message id.
        id: u64,
        /// Print the exact stored bytes.
        #[arg(long)]
        raw: bool,
    },
}

/// What a command ended with.
pub enum Outcome {
    Ok,
    Failed,
    Usage,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // Few blocking threads: they parse and commit in turn, and every extra thread would get
    // its own malloc arena (memory that grows with the mailbox instead of staying bounded).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(4)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(commands::dispatch(cli));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::from(1),
        Outcome::Usage => ExitCode::from(2),
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // async-imap traces every command it encodes, LOGIN with its password included: never
    // let that through, whatever RUST_LOG asks for.
    let filter = filter.add_directive(
        "async_imap::imap_stream=info"
            .parse()
            .expect("valid directive"),
    );
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
