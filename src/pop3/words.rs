//! POP3 failures in words for people: the meaning of RFC 3206 response codes, and a refused
//! login with the secret scrubbed from anything the server echoed.

use super::client::Pop3Error;
use crate::error::{CheckError, Failure, Stage};
use crate::sasl::MailLogin;

/// Words for a POP3 failure, with the meaning of RFC 3206 response codes.
pub fn describe(e: &Pop3Error) -> String {
    match (e, e.code()) {
        (Pop3Error::Io(io), _) => crate::error::describe_io(io),
        (_, Some("IN-USE")) => {
            format!("{e} (the mailbox is locked by another POP3 session; it will be retried)")
        }
        (_, Some("AUTH")) => format!("{e} (wrong username or password)"),
        (_, Some("SYS/TEMP")) => format!("{e} (temporary server problem; it will be retried)"),
        (_, Some("SYS/PERM")) => format!("{e} (permanent server problem)"),
        _ => e.to_string(),
    }
}

/// An authentication failure, with the secret scrubbed from anything the server echoed,
/// and `hint` (about a client certificate) added.
pub fn auth_error(e: &Pop3Error, login: &MailLogin, hint: &str) -> CheckError {
    // The hint replaces the usual guess at a wrong username or password.
    let words = if hint.is_empty() {
        describe(e)
    } else {
        e.to_string()
    };
    let text = format!("login failed: {}{hint}", login.scrub(&words));
    if matches!(e, Pop3Error::Err(_)) {
        CheckError::new(Stage::Auth, text).because(Failure::LoginRefused)
    } else {
        CheckError::new(Stage::Connect, text)
    }
}
