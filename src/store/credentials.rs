//! What the store keeps for credentials: the latest refresh token of each OAuth2 credential
//! with the `refresh_token` grant (providers rotate them; the one configured is only the
//! first), with the basis it grew from, so a new seed from the operator takes over again.

use redb::TableError;

use super::Store;
use super::error::{Result, db_err};
use super::records::{KeptRefreshToken, decode, encode};
use super::schema::REFRESH_TOKENS;

impl Store {
    /// The refresh token kept for `credential`, if any.
    pub fn refresh_token(&self, credential: &str) -> Result<Option<KeptRefreshToken>> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(REFRESH_TOKENS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err("open refresh tokens")(e)),
        };
        match table
            .get(credential)
            .map_err(db_err("read a refresh token"))?
        {
            Some(v) => Ok(Some(decode(0, v.value())?)),
            None => Ok(None),
        }
    }

    /// Keeps `token` for `credential`; durable when it returns.
    pub fn keep_refresh_token(&self, credential: &str, token: &KeptRefreshToken) -> Result<()> {
        self.write(|| {
            let txn = self.begin_write()?;
            {
                let mut table = txn
                    .open_table(REFRESH_TOKENS)
                    .map_err(db_err("open refresh tokens"))?;
                table
                    .insert(credential, encode(token).as_slice())
                    .map_err(db_err("keep a refresh token"))?;
            }
            txn.commit().map_err(db_err("commit a refresh token"))
        })
    }
}
