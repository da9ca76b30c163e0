//! Where rotated refresh tokens are kept: the store, behind [`RefreshTokens`] so the token
//! manager can be tested with an in-memory keeper.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::chain;
use crate::store::{KeptRefreshToken, Store};

/// Keeps the latest refresh token of each credential.
#[async_trait]
pub trait RefreshTokens: Send + Sync {
    /// The token kept for `credential`; the error in words.
    async fn load(&self, credential: &str) -> Result<Option<KeptRefreshToken>, String>;
    /// Keeps `token` for `credential`, durably before it returns.
    async fn keep(&self, credential: &str, token: KeptRefreshToken) -> Result<(), String>;
}

/// Refresh tokens kept in the store.
pub struct StoreRefreshTokens(pub Arc<Store>);

#[async_trait]
impl RefreshTokens for StoreRefreshTokens {
    async fn load(&self, credential: &str) -> Result<Option<KeptRefreshToken>, String> {
        let (store, credential) = (self.0.clone(), credential.to_string());
        tokio::task::spawn_blocking(move || store.refresh_token(&credential))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| chain(&e))
    }

    async fn keep(&self, credential: &str, token: KeptRefreshToken) -> Result<(), String> {
        let (store, credential) = (self.0.clone(), credential.to_string());
        tokio::task::spawn_blocking(move || store.keep_refresh_token(&credential, &token))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| chain(&e))
    }
}

/// Refresh tokens kept in memory (tests, and embedders that keep none).
#[derive(Clone, Default)]
pub struct MemoryRefreshTokens {
    tokens: Arc<Mutex<HashMap<String, KeptRefreshToken>>>,
    /// When set, every `keep` fails with this (a full disk).
    pub failing: Arc<Mutex<Option<String>>>,
}

#[async_trait]
impl RefreshTokens for MemoryRefreshTokens {
    async fn load(&self, credential: &str) -> Result<Option<KeptRefreshToken>, String> {
        Ok(self
            .tokens
            .lock()
            .expect("not poisoned")
            .get(credential)
            .cloned())
    }

    async fn keep(&self, credential: &str, token: KeptRefreshToken) -> Result<(), String> {
        if let Some(why) = self.failing.lock().expect("not poisoned").clone() {
            return Err(why);
        }
        self.tokens
            .lock()
            .expect("not poisoned")
            .insert(credential.to_string(), token);
        Ok(())
    }
}
