//! The actor tree: supervisor, one account actor per enabled account, the parser and the
//! store. See DESIGN.md's diagram; each actor has one message enum.

pub mod account;
pub mod parser;
pub mod store;
pub mod supervisor;

/// Turns a `CallResult` into a plain result: a dropped reply means "not done".
pub trait CallResultExt<T> {
    /// The reply, or why none came.
    fn into_done(self) -> Result<T, String>;
}

impl<T> CallResultExt<T> for ractor::rpc::CallResult<T> {
    fn into_done(self) -> Result<T, String> {
        match self {
            ractor::rpc::CallResult::Success(v) => Ok(v),
            ractor::rpc::CallResult::Timeout => Err("timed out".into()),
            ractor::rpc::CallResult::SenderError => {
                Err("the actor stopped before answering".into())
            }
        }
    }
}
