//! OAuth2 access tokens for mail logins (Microsoft 365 and Google take no passwords on IMAP
//! and POP3): the grants of `[credentials.NAME.oauth2]`, the token endpoint they are asked
//! at (`endpoint.rs`), the manager each credential has, shared by its accounts
//! (`manager.rs`), and where rotated refresh tokens are kept (`kept.rs`). The SASL side is
//! in [`crate::sasl`].

mod endpoint;
mod kept;
mod manager;

pub use endpoint::{EndpointError, Issued, TOKEN_TIMEOUT};
pub use kept::{MemoryRefreshTokens, RefreshTokens, StoreRefreshTokens};
pub use manager::{AccessToken, TokenError, TokenManager, TokenStatus};
