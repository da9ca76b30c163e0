//! POP3 `AUTH` with an OAuth2 access token (RFC 5034), always in two steps: the mechanism
//! first, the initial response after the server's empty challenge, since a token is longer
//! than the 255 octets a POP3 command line may be. A failure challenge is answered as the
//! mechanism wants; the server's error is kept, without the token, as the last error.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::client::{Capabilities, Pop3Client, SaslAnswer};
use super::words::{auth_error, describe};
use crate::config::AccountConfig;
use crate::error::{CheckError, Failure, Stage};
use crate::net::{ANSWER_BUDGET, BoxStream, Timed};
use crate::sasl::{BearerLogin, MailLogin, decode_challenge, describe_challenge};

/// Logs in with `login`'s token.
pub async fn authenticate(
    client: &mut Pop3Client<Timed<BoxStream>>,
    login: &BearerLogin,
    capabilities: &Capabilities,
    account: &AccountConfig,
) -> Result<(), CheckError> {
    let mechanism = login.mechanism.sasl_name();
    let offered: Vec<String> = capabilities
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("SASL "))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect();
    if !offered.iter().any(|m| m.eq_ignore_ascii_case(mechanism)) {
        return Err(CheckError::new(
            Stage::Auth,
            format!(
                "the server does not offer {mechanism} (its CAPA names {}); choose another mechanism in the credential's [oauth2] table, or another server",
                if offered.is_empty() {
                    "no SASL mechanism".to_string()
                } else {
                    offered.join(", ")
                }
            ),
        ));
    }
    let mail_login = MailLogin::Bearer(login.clone());
    let hint = client.get_mut().certificate_hint();
    let failed = |e| auth_error(&e, &mail_login, hint);
    let step = |client: &mut Pop3Client<Timed<BoxStream>>| {
        client.get_mut().set_read_budget(Some(ANSWER_BUDGET));
    };
    step(client);
    match client
        .command_continued(&format!("AUTH {mechanism}"))
        .await
        .map_err(failed)?
    {
        SaslAnswer::Challenge(_) => {}
        SaslAnswer::Done(_) => return Ok(()),
    }
    step(client);
    let initial = login.encoded_response(Some((&account.address, account.port)));
    let challenge = match client
        .command_continued(initial.expose())
        .await
        .map_err(failed)?
    {
        SaslAnswer::Done(_) => return Ok(()),
        SaslAnswer::Challenge(c) => c,
    };
    step(client);
    let answer = STANDARD.encode(login.failure_response());
    let said = mail_login.scrub(&describe_challenge(&decode_challenge(&challenge)));
    let refused = match client.command_continued(&answer).await {
        Err(e) => mail_login.scrub(&describe(&e)),
        Ok(_) => "the server went on after its failure challenge".to_string(),
    };
    Err(CheckError::new(
        Stage::Auth,
        format!(
            "{mechanism} login as {} refused: {refused} (its error: {said})",
            login.username
        ),
    )
    .because(Failure::LoginRefused))
}
