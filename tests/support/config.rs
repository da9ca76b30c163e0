//! Building mail-ingest configs that point at the test servers.

use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use mail_ingest::Config;
use mail_ingest::config::{
    AccountConfig, ConnectorConfig, Credential, CredentialAuth, Protocol, TlsMode,
};
use mail_ingest::secret::{Secret, SecretSource};

use super::{Dovecot, Socks, certs};

/// An account on the test Dovecot for `user`, verifying the server against the test CA.
pub fn account(name: &str, dovecot: &Dovecot, protocol: Protocol, tls: TlsMode) -> AccountConfig {
    let mut a = AccountConfig::new(name, protocol, "localhost", name);
    a.tls = tls;
    a.port = match (protocol, tls) {
        (Protocol::Imap, TlsMode::Implicit) => dovecot.ports.imaps,
        (Protocol::Imap, _) => dovecot.ports.imap,
        (Protocol::Pop3, TlsMode::Implicit) => dovecot.ports.pop3s,
        (Protocol::Pop3, _) => dovecot.ports.pop3,
    };
    a.ca_file = Some(certs().ca.clone());
    a.connect_timeout = Duration::from_secs(5);
    a.io_timeout = Duration::from_secs(10);
    a.automatic_check = false;
    a
}

/// A config storing under `dir` with these accounts; each account's credential is named
/// after it, with `password` (the user is the account name).
pub fn config(dir: &Path, accounts: Vec<AccountConfig>, password: &str) -> Config {
    let mut c = Config::new(dir.join("store.redb"));
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    for a in accounts {
        c.credentials.insert(
            a.credential.clone(),
            Credential {
                username: a.credential.clone(),
                auth: CredentialAuth::Password(SecretSource::Value(Secret::new(password))),
            },
        );
        c.accounts.insert(a.name.clone(), a);
    }
    c
}

/// Adds a connector for `socks` and routes `account` through it.
pub fn via(config: &mut Config, account: &str, name: &str, socks: &Socks) {
    let credential = socks.auth.as_ref().map(|(user, pw)| {
        let cred = format!("{name}-proxy");
        config.credentials.insert(
            cred.clone(),
            Credential {
                username: user.clone(),
                auth: CredentialAuth::Password(SecretSource::Value(Secret::new(pw))),
            },
        );
        cred
    });
    config.connectors.insert(
        name.into(),
        ConnectorConfig {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: socks.port,
            credential,
            max_connections: NonZeroUsize::new(8).unwrap(),
        },
    );
    config.accounts.get_mut(account).unwrap().connector = Some(name.into());
}

/// Starts mail-ingest on `config` with checks only on demand (no timers), as most tests want.
pub async fn on_demand(config: Config) -> mail_ingest::MailIngest {
    mail_ingest::MailIngest::start_with(
        config,
        mail_ingest::Options {
            automatic_checks: false,
        },
    )
    .await
    .unwrap()
}
