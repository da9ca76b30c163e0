//! Opening an IMAP session: TCP, TLS, the greeting and STARTTLS by hand (so injected bytes
//! are caught), LOGIN with SELECT and the listing sent right behind it (one round trip), and
//! their answers read through the connection's own reader.

use async_imap::imap_proto::Status as ProtoStatus;
use async_imap::{Client, Session as ImapConn};

use super::words::{describe, describe_read};
use super::{command, greeting, sasl};
use crate::config::{AccountConfig, Login, TlsMode};
use crate::error::{CheckError, Failure, Stage};
use crate::net::{self, ANSWER_BUDGET, BoxStream, ConnectorHandle, Timed};
use crate::protocol::ServerMessage;
use crate::protocol::keys::imap_key;
use crate::sasl::MailLogin;
use crate::text::excerpt;

pub type Conn = ImapConn<Timed<BoxStream>>;

/// What any command may bring beyond the data it asked for (status lines, flags, untagged
/// updates).
pub const BUDGET_SLACK: u64 = 1 << 20;

/// A listing as read: the messages kept, and whether the mailbox held more than one listing
/// keeps.
pub struct Listed {
    pub messages: Vec<ServerMessage>,
    pub too_many: bool,
}

/// Tags of the commands sent behind the login: CAPABILITY (behind SASL), SELECT, the
/// listing, and the FETCH asked ahead of the listing's answer.
pub const CAPABILITY_TAG: &str = "mc1";
pub const SELECT_TAG: &str = "ms1";
pub const LISTING_TAG: &str = "ml1";
pub const AHEAD_TAG: &str = "ma1";

/// TCP (direct or through the connector), TLS, the greeting and STARTTLS when asked for;
/// with `capabilities`, also what the server offers before login (from the greeting when
/// it says, else from a CAPABILITY command).
pub async fn connect(
    account: &AccountConfig,
    connector: Option<&ConnectorHandle>,
    capabilities: bool,
) -> Result<(Client<Timed<BoxStream>>, Vec<String>), CheckError> {
    let mut stream = net::open(account, connector).await?;
    stream.set_read_budget(Some(ANSWER_BUDGET));
    let mut greeting = greeting::read_greeting(&mut stream).await?;
    if account.tls == TlsMode::Starttls {
        stream.set_read_budget(Some(ANSWER_BUDGET));
        greeting::starttls(&mut stream).await?;
        stream = net::starttls(stream, account).await?;
        greeting.clear(); // what it announced before TLS no longer holds
    }
    stream.set_limit(account.io_timeout);
    let mut offered = Vec::new();
    if capabilities {
        offered = greeting::announced_capabilities(&greeting);
        if offered.is_empty() {
            stream.set_read_budget(Some(ANSWER_BUDGET));
            offered = sasl::capabilities(&mut stream).await?;
        }
    }
    // For the login's answer.
    stream.set_read_budget(Some(ANSWER_BUDGET));
    Ok((Client::new(stream), offered))
}

/// LOGIN; a refusal is an authentication failure, with the password scrubbed from
/// anything the server echoed. Gives the capabilities when the answer names them.
pub async fn log_in(
    client: Client<Timed<BoxStream>>,
    login: &Login,
) -> Result<(Conn, Option<Vec<String>>), CheckError> {
    let (conn, capabilities) = client
        .login_with_capabilities(&login.username, login.password.expose())
        .await
        .map_err(|(e, client)| {
            let refused = matches!(e, async_imap::error::Error::No(_));
            let mut text = describe(&e).replace(login.password.expose(), "***");
            if refused {
                match client.get_ref().certificate_hint() {
                    "" => text.push_str(&format!(
                        " (check the username `{}` and the password of the account's credential)",
                        login.username
                    )),
                    hint => text.push_str(hint),
                }
                return CheckError::new(Stage::Auth, format!("login failed: {text}"))
                    .because(Failure::LoginRefused);
            }
            CheckError::new(Stage::Connect, format!("login failed: {text}"))
        })?;
    Ok((conn, capabilities.map(|c| capability_words(c.iter()))))
}

/// A mailbox name as an IMAP quoted string.
pub fn quoted(mailbox: &str) -> Result<String, CheckError> {
    if mailbox.contains(['\r', '\n', '\0']) {
        return Err(CheckError::new(
            Stage::Fetch,
            "the mailbox name contains a line break or NUL; fix `mailbox` in the account",
        ));
    }
    Ok(format!(
        "\"{}\"",
        mailbox.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// What SELECT said, the listing sent behind it when there was one, and the capabilities
/// when they were asked for with it.
pub struct Selection {
    pub uidvalidity: u32,
    pub exists: u32,
    pub uidnext: Option<u32>,
    pub listed: Option<Listed>,
    pub capabilities: Option<Vec<String>>,
}

/// Reads the answers to the SELECT (and the listing) sent behind the login, through the
/// connection's own reader: its buffer may hold them already.
pub async fn read_selection(
    conn: &mut Conn,
    account: &AccountConfig,
    list: bool,
    login: &MailLogin,
) -> Result<Selection, CheckError> {
    use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response, ResponseCode};
    let mailbox = &account.mailbox;
    let select_failed = format!("cannot select mailbox `{mailbox}`");
    conn.get_mut().set_read_budget(Some(ANSWER_BUDGET));
    let (mut exists, mut uidvalidity, mut uidnext) = (0, None, None);
    let mut listed = list.then(|| Listed {
        messages: Vec::new(),
        too_many: false,
    });
    let mut selected = false;
    let mut capabilities = None;
    loop {
        let what = if selected {
            "listing failed"
        } else {
            &select_failed
        };
        let failed = |words: String| {
            CheckError::new(Stage::Fetch, format!("{what}: {}", login.scrub(&words)))
        };
        let response = match conn.read_response().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(failed("the server closed the connection".into())),
            Err(e) => return Err(failed(describe_read(&e))),
        };
        match response.parsed() {
            Response::MailboxData(MailboxDatum::Exists(n)) => exists = *n,
            Response::Capabilities(caps) if !selected => {
                capabilities = Some(
                    caps.iter()
                        .map(|c| clean_capability(&format!("{c:?}")))
                        .collect(),
                );
            }
            Response::Data { status, outcome } => match (status, &outcome.code) {
                (ProtoStatus::Bye, _) => {
                    let text = outcome.information.as_deref().unwrap_or_default();
                    return Err(CheckError::ended_by_server(Stage::Fetch, &excerpt(text)));
                }
                (_, Some(ResponseCode::UidValidity(v))) => uidvalidity = Some(*v),
                (_, Some(ResponseCode::UidNext(n))) => uidnext = Some(*n),
                _ => {}
            },
            Response::Fetch(_, attributes) if selected => {
                let uid = attributes.iter().find_map(|a| match a {
                    AttributeValue::Uid(u) => Some(*u),
                    _ => None,
                });
                let size = attributes.iter().find_map(|a| match a {
                    AttributeValue::Rfc822Size(s) => Some(*s),
                    _ => None,
                });
                if let (Some(l), Some(uid), Some(size), Some(validity)) =
                    (listed.as_mut(), uid, size, uidvalidity)
                {
                    if l.messages.len() >= account.max_listed {
                        l.too_many = true;
                    } else {
                        l.messages.push(ServerMessage {
                            handle: uid,
                            key: Some(imap_key(mailbox, validity, uid)),
                            size: u64::from(size),
                        });
                    }
                }
            }
            Response::Done {
                tag,
                status,
                outcome,
            } => {
                let refusal = command::Status::of(status, outcome.information.as_deref())
                    .refusal()
                    .map(|r| login.scrub(&r));
                if tag.0 == SELECT_TAG {
                    if let Some(refusal) = refusal {
                        return Err(failed(refusal));
                    }
                    if uidvalidity.is_none() {
                        return Err(CheckError::new(
                            Stage::Fetch,
                            format!(
                                "the server gave no UIDVALIDITY for `{mailbox}`; messages cannot be tracked"
                            ),
                        ));
                    }
                    selected = true;
                    if !list {
                        break;
                    }
                    // The listing's budget, now that the count is known.
                    conn.get_mut()
                        .set_read_budget(Some(u64::from(exists) * 256 + BUDGET_SLACK));
                } else if tag.0 == LISTING_TAG {
                    // An empty mailbox may have no UID to list: any answer means none.
                    if let Some(refusal) = refusal.filter(|_| exists > 0) {
                        return Err(failed(refusal));
                    }
                    break;
                }
            }
            _ => {}
        }
    }
    Ok(Selection {
        uidvalidity: uidvalidity.unwrap_or_default(),
        exists,
        uidnext,
        listed,
        capabilities,
    })
}

/// Capabilities as the server names them.
pub fn capability_words<'a>(
    caps: impl Iterator<Item = &'a async_imap::types::Capability>,
) -> Vec<String> {
    caps.map(|c| clean_capability(&format!("{c:?}"))).collect()
}

/// `Atom("IDLE")` -> `IDLE`, `Auth("PLAIN")` -> `AUTH=PLAIN`, `Imap4rev1` -> `IMAP4rev1`.
pub fn clean_capability(debug: &str) -> String {
    if let Some(inner) = debug
        .strip_prefix("Atom(\"")
        .and_then(|s| s.strip_suffix("\")"))
    {
        inner.to_string()
    } else if let Some(inner) = debug
        .strip_prefix("Auth(\"")
        .and_then(|s| s.strip_suffix("\")"))
    {
        format!("AUTH={inner}")
    } else {
        debug.to_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_plainly() {
        assert_eq!(clean_capability("Atom(\"IDLE\")"), "IDLE");
        assert_eq!(clean_capability("Auth(\"PLAIN\")"), "AUTH=PLAIN");
        assert_eq!(clean_capability("Imap4rev1"), "IMAP4REV1");
    }
}
