//! Command-line parsing and dispatch. Exit codes: 0 success, 1 an account or operation
//! failed, 2 usage or config error.

mod args;
mod commands;
mod daemon;
mod maintenance;
mod progress;
mod reports;
mod settings;
mod source;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, LogFormat, Outcome};

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
