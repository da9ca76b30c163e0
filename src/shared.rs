//! What the accounts of one config share, and a reload keeps for the accounts whose
//! settings did not change: one handle per connector (so its `max_connections` counts every
//! tunnel) and one token manager per OAuth2 credential (so its accounts share one token and
//! one refresh at a time).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{AccountConfig, Config};
use crate::metrics as m;
use crate::net::ConnectorHandle;
use crate::oauth2::{RefreshTokens, TokenManager};
use crate::server::Authority;

/// Connectors and token managers by name.
#[derive(Clone, Default)]
pub struct Shared {
    connectors: HashMap<String, ConnectorHandle>,
    tokens: HashMap<String, Arc<TokenManager>>,
}

impl Shared {
    /// What `new` shares. What has the same settings in `old` is kept from `was`; token
    /// managers keep rotated refresh tokens in `kept`.
    pub fn build(
        old: Option<(&Config, &Shared)>,
        new: &Config,
        kept: &Arc<dyn RefreshTokens>,
    ) -> Shared {
        let connectors: HashMap<String, ConnectorHandle> = new
            .connectors
            .values()
            .map(|c| {
                m::register_connector(&c.name);
                let same = old
                    .filter(|(config, _)| {
                        config.connector_settings(&c.name) == new.connector_settings(&c.name)
                    })
                    .and_then(|(_, was)| was.connectors.get(&c.name).cloned());
                (
                    c.name.clone(),
                    same.unwrap_or_else(|| ConnectorHandle::of(new, c)),
                )
            })
            .collect();
        let tokens = new
            .credentials
            .iter()
            .filter_map(|(name, credential)| {
                let oauth2 = credential.oauth2()?;
                let same = old
                    .filter(|(config, _)| {
                        config.credential_settings(name) == new.credential_settings(name)
                    })
                    .and_then(|(_, was)| was.tokens.get(name).cloned());
                let manager = same.unwrap_or_else(|| {
                    let connector = oauth2
                        .grant
                        .endpoint()
                        .and_then(|e| e.connector.as_ref())
                        .and_then(|c| connectors.get(c).cloned());
                    Arc::new(TokenManager::new(
                        name,
                        &credential.username,
                        oauth2.clone(),
                        connector,
                        kept.clone(),
                    ))
                });
                Some((name.clone(), manager))
            })
            .collect();
        Shared { connectors, tokens }
    }

    /// The connector `account` goes through, if any.
    pub fn connector(&self, account: &AccountConfig) -> Option<ConnectorHandle> {
        account
            .connector
            .as_ref()
            .and_then(|c| self.connectors.get(c).cloned())
    }

    /// How `account` logs in under `config`.
    pub fn authority(&self, config: &Config, account: &AccountConfig) -> Authority {
        match config.credentials.get(&account.credential) {
            None => Authority::Missing,
            Some(c) => match self.tokens.get(&account.credential) {
                Some(tokens) if c.oauth2().is_some() => Authority::Tokens(tokens.clone()),
                _ => Authority::Password(c.clone()),
            },
        }
    }

    /// The token manager of credential `name`, if it uses OAuth2.
    pub fn tokens(&self, name: &str) -> Option<&Arc<TokenManager>> {
        self.tokens.get(name)
    }
}
