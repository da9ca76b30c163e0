//! The actor tree: the supervisor, one account actor per enabled account, the parser and
//! the store; the registry of live account state they publish; and the wiring that gives
//! each account its mail server, its sink and its ledger. See `docs/architecture.md`.

pub mod account;
pub mod ledger;
pub mod parser;
pub mod pipeline;
pub mod registry;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod wiring;

#[cfg(test)]
mod tests;

/// Why an actor gave no answer to a call: it is "not done", never "done".
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer within the call's timeout.
    #[error("the actor did not answer in time")]
    Timeout,
    /// The actor stopped, or dropped the reply, before answering.
    #[error("the actor stopped before answering")]
    Stopped,
}

/// Turns a `CallResult` into a plain result: a dropped reply means "not done".
pub trait CallResultExt<T> {
    /// The reply, or why none came.
    fn into_done(self) -> Result<T, CallError>;
}

impl<T> CallResultExt<T> for ractor::rpc::CallResult<T> {
    fn into_done(self) -> Result<T, CallError> {
        match self {
            ractor::rpc::CallResult::Success(v) => Ok(v),
            ractor::rpc::CallResult::Timeout => Err(CallError::Timeout),
            ractor::rpc::CallResult::SenderError => Err(CallError::Stopped),
        }
    }
}
