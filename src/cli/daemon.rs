//! `run`: the daemon. Metrics recorder and HTTP endpoint on, the address file written,
//! SIGHUP reloads, SIGTERM/SIGINT stop cleanly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mail_ingest::MailIngest;
use mail_ingest::config::Config;
use mail_ingest::error::chain;
use mail_ingest::http::files::{addr_file, load_or_create_token, token_file, write_private};
use mail_ingest::http::hosts::Hosts;
use mail_ingest::http::{self, HttpState};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::signal::unix::{SignalKind, signal};

use super::args::Outcome;

pub async fn run(config_path: &Path, config: Config) -> Outcome {
    // Read before the store is opened: a token the config names but cannot give is a config
    // error, found before anything starts.
    let configured_token = match &config.http.token {
        Some(src) => match src.resolve().await {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: http.token: {}", chain(&e));
                return Outcome::Usage;
            }
        },
        None => None,
    };
    let Some(metrics) = install_metrics() else {
        return Outcome::Failed;
    };
    let listener = match tokio::net::TcpListener::bind(config.http.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {}: {e} (change [http] listen)",
                config.http.listen
            );
            return Outcome::Failed;
        }
    };
    let ingest = match MailIngest::start(config.clone()).await {
        Ok(i) => Arc::new(i),
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            return Outcome::Failed;
        }
    };
    // Made (when the config sets none) only once this process holds the store.
    let token = match configured_token {
        Some(t) => t,
        None => match load_or_create_token(&token_file(&config.store.path)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "error: cannot make the API token file `{}`: {e} (or set [http] token)",
                    token_file(&config.store.path).display()
                );
                return Outcome::Failed;
            }
        },
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let addr_path = publish_address(&listener, &config);
    let upkeep = keep_metrics(metrics.clone());
    let hosts = Hosts {
        names: config.http.allowed_hosts.clone(),
        port,
    };
    let state = HttpState::new(
        ingest.clone(),
        token,
        hosts,
        Some(metrics),
        Some(config_path.to_path_buf()),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, state, async {
        let _ = stop_rx.await;
    }));

    wait_for_stop(config_path, &ingest).await;
    tracing::info!("stopping");
    let _ = stop_tx.send(());
    let _ = server.await;
    upkeep.abort();
    let _ = std::fs::remove_file(&addr_path);
    match Arc::try_unwrap(ingest) {
        Ok(ingest) => {
            let _ = ingest.shutdown().await;
        }
        Err(_) => tracing::warn!("HTTP requests still running at shutdown"),
    }
    Outcome::Ok
}

/// The Prometheus recorder, with the buckets of the check and commit histograms.
fn install_metrics() -> Option<PrometheusHandle> {
    let buckets = [
        0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ];
    match PrometheusBuilder::new()
        .set_buckets(&buckets)
        .and_then(|b| b.install_recorder())
    {
        Ok(h) => {
            mail_ingest::metrics::describe();
            Some(h)
        }
        Err(e) => {
            eprintln!("error: cannot install the metrics recorder: {e}");
            None
        }
    }
}

/// Writes the bound address beside the store, for the report commands; returns its path.
fn publish_address(listener: &tokio::net::TcpListener, config: &Config) -> PathBuf {
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let addr_path = addr_file(&config.store.path);
    if let Err(e) = write_private(&addr_path, &bound) {
        tracing::warn!(file = %addr_path.display(), error = %e, "cannot write the address file; report commands will not find this daemon");
    }
    tracing::info!(listen = %bound, accounts = config.accounts.len(), "mail-ingest running");
    addr_path
}

/// Runs the recorder's upkeep (histogram buckets) every 5 s.
fn keep_metrics(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            handle.run_upkeep();
        }
    })
}

/// Waits for SIGTERM or SIGINT, reloading the config on each SIGHUP meanwhile.
async fn wait_for_stop(config_path: &Path, ingest: &MailIngest) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => reload(config_path, ingest).await,
        }
    }
}

async fn reload(config_path: &Path, ingest: &MailIngest) {
    match Config::load(config_path) {
        Ok(loaded) => match ingest.reload(loaded.config).await {
            Ok(changed) => tracing::info!(?changed, "SIGHUP: config reloaded"),
            Err(e) => {
                tracing::error!(error = %chain(&e), "SIGHUP: reload refused; the running config stays")
            }
        },
        Err(e) => {
            tracing::error!(error = %chain(&e), "SIGHUP: the new config is invalid; the running config stays")
        }
    }
}
