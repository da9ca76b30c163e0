//! The check's ledger kept in the store: each step of [`Ledger`] a store read or write on
//! a blocking thread.

use std::sync::Arc;

use async_trait::async_trait;

use crate::check::{Known, Ledger, Leftovers, Settled};
use crate::error::{CheckError, Stage, chain};
use crate::model::now_rfc3339;
use crate::store::schema::SEEN_NOT_INGESTED;
use crate::store::{Store, StoreError};

/// The ledger kept in the store, each step on a blocking thread.
#[derive(Clone)]
pub struct StoreLedger(pub Arc<Store>);

impl StoreLedger {
    /// Runs a blocking store read or write off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CheckError> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| CheckError::new(Stage::Store, format!("store task failed: {e}")))?
            .map_err(|e| CheckError::new(Stage::Store, chain(&e)))
    }
}

#[async_trait]
impl Ledger for StoreLedger {
    async fn known(
        &self,
        account: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Known>>, CheckError> {
        let account = account.to_string();
        let found = self
            .blocking(move |s| s.lookup_keys(&account, &keys))
            .await?;
        Ok(found
            .into_iter()
            .map(|k| {
                k.map(|(id, size)| match id {
                    SEEN_NOT_INGESTED => Known::Seen,
                    id => Known::Stored { id, size },
                })
            })
            .collect())
    }

    async fn backfilled(&self, account: &str) -> Result<bool, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| Ok(s.account_state(&account)?.backfilled))
            .await
    }

    async fn planned(&self, account: &str, seen: Vec<(String, u64)>) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.mark_seen(&account, &seen)?;
            s.update_account_state_lazily(&account, |st| st.backfilled = true)
                .map(|_| ())
        })
        .await
    }

    async fn note_leftovers(&self, account: &str, leftovers: Leftovers) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.update_account_state_lazily(&account, |st| {
                st.oversize = leftovers.oversize;
                st.size_mismatch = leftovers.size_mismatch;
                st.delete_error = leftovers.delete_error;
            })
            .map(|_| ())
        })
        .await
    }

    async fn settle_listing(
        &self,
        account: &str,
        listed: Vec<String>,
    ) -> Result<Settled, CheckError> {
        let account = account.to_string();
        let s = self
            .blocking(move |s| s.settle_listing(&account, &listed))
            .await?;
        Ok(Settled {
            gone: s.gone,
            owed_done: s.owed_done,
        })
    }

    async fn listed_up_to(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError> {
        let account = account.to_string();
        let mark = self
            .blocking(move |s| Ok(s.account_state(&account)?.listed_up_to))
            .await?;
        Ok(mark.filter(|(e, _)| *e == epoch).map(|(_, handle)| handle))
    }

    async fn note_listed_up_to(
        &self,
        account: &str,
        epoch: u32,
        handle: u32,
    ) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.update_account_state_lazily(&account, |st| st.listed_up_to = Some((epoch, handle)))
                .map(|_| ())
        })
        .await
    }

    async fn new_from(&self, account: &str) -> Result<Option<u32>, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            let state = s.account_state(&account)?;
            Ok(state.new_from.filter(|_| !state.ahead_refused))
        })
        .await
    }

    async fn refuse_ahead(&self, account: &str, for_good: bool) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.update_account_state_lazily(&account, |st| {
                st.ahead_failures += 1;
                st.ahead_refused |= for_good || st.ahead_failures >= 2;
            })
            .map(|_| ())
        })
        .await
    }

    async fn note_new_from(&self, account: &str, handle: u32) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.update_account_state_lazily(&account, |st| {
                st.new_from = Some(handle);
                st.ahead_failures = 0;
            })
            .map(|_| ())
        })
        .await
    }

    async fn deleted(&self, account: &str, keys: Vec<String>) -> Result<(), CheckError> {
        let account = account.to_string();
        self.blocking(move |s| s.mark_deleted(&account, &keys))
            .await
    }

    async fn note_epoch(&self, account: &str, epoch: u32) -> Result<Option<u32>, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            let mut previous = None;
            s.update_account_state_lazily(&account, |st| {
                previous = st.uidvalidity;
                if st.uidvalidity.is_some_and(|v| v != epoch) {
                    st.uidvalidity_changes += 1;
                }
                st.uidvalidity = Some(epoch);
            })?;
            Ok(previous)
        })
        .await
    }

    async fn record_check(
        &self,
        account: &str,
        error: Option<String>,
        needs_consent: bool,
    ) -> Result<u64, CheckError> {
        let account = account.to_string();
        self.blocking(move |s| {
            s.update_account_state(&account, |st| {
                let now = now_rfc3339();
                st.last_check = Some(now.clone());
                if error.is_none() {
                    st.last_success = Some(now);
                }
                st.last_error = error;
                st.needs_consent = needs_consent;
            })?;
            s.pending_delete_count(&account)
        })
        .await
    }
}
