//! How a mail session logs in: with a password (IMAP LOGIN, POP3 USER/PASS) or with an
//! OAuth2 access token over SASL, `XOAUTH2` (Google's and Microsoft's) or `OAUTHBEARER`
//! (RFC 7628). Here are the messages of the two SASL mechanisms, the answer each wants to a
//! failure challenge, and the scrubbing of a secret from what a server echoes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::{Login, Mechanism};
use crate::secret::Secret;
use crate::text::excerpt;

/// What a mail session logs in with.
#[derive(Clone, Debug)]
pub enum MailLogin {
    /// A username and password.
    Password(Login),
    /// A username and an OAuth2 access token.
    Bearer(BearerLogin),
}

/// A username and an OAuth2 access token, and the SASL mechanism that carries them.
#[derive(Clone, Debug)]
pub struct BearerLogin {
    /// The mailbox (the SASL user).
    pub username: String,
    /// The access token.
    pub token: Secret,
    /// XOAUTH2 or OAUTHBEARER.
    pub mechanism: Mechanism,
}

impl MailLogin {
    /// The login name.
    pub fn username(&self) -> &str {
        match self {
            MailLogin::Password(l) => &l.username,
            MailLogin::Bearer(b) => &b.username,
        }
    }

    /// `password`, `xoauth2` or `oauthbearer`: the `mechanism` label of the metrics.
    pub fn mechanism(&self) -> &'static str {
        match self {
            MailLogin::Password(_) => "password",
            MailLogin::Bearer(b) => b.mechanism.as_str(),
        }
    }

    /// `text` with the secret, and any base64 word carrying it, replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let secret = match self {
            MailLogin::Password(l) => l.password.expose(),
            MailLogin::Bearer(b) => b.token.expose(),
        };
        if secret.is_empty() {
            return text.to_string();
        }
        text.replace(secret, "***")
            .split(' ')
            .map(|word| {
                let carries = STANDARD
                    .decode(word)
                    .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(secret));
                if carries { "***" } else { word }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl BearerLogin {
    /// The mechanism's first message (the token inside): XOAUTH2's
    /// `user=U^Aauth=Bearer T^A^A`, or OAUTHBEARER's GS2 header and key-value pairs with the
    /// server's host and port.
    pub fn initial_response(&self, server: Option<(&str, u16)>) -> Secret {
        let token = self.token.expose();
        Secret::new(match self.mechanism {
            Mechanism::Xoauth2 => {
                format!("user={}\x01auth=Bearer {token}\x01\x01", self.username)
            }
            Mechanism::OAuthBearer => {
                let mut text = format!("n,a={},", gs2_name(&self.username));
                if let Some((host, port)) = server {
                    text.push_str(&format!("\x01host={host}\x01port={port}"));
                }
                text.push_str(&format!("\x01auth=Bearer {token}\x01\x01"));
                text
            }
        })
    }

    /// [`BearerLogin::initial_response`] in base64, as it goes on the wire.
    pub fn encoded_response(&self, server: Option<(&str, u16)>) -> Secret {
        Secret::new(STANDARD.encode(self.initial_response(server).expose()))
    }

    /// The answer to a failure challenge: XOAUTH2 wants an empty response, OAUTHBEARER the
    /// single byte 0x01 (RFC 7628 section 3.2.3); the server then sends its refusal.
    pub fn failure_response(&self) -> &'static [u8] {
        match self.mechanism {
            Mechanism::Xoauth2 => b"",
            Mechanism::OAuthBearer => b"\x01",
        }
    }
}

/// A SASL name in a GS2 header: `,` and `=` escaped (RFC 5801 section 4).
fn gs2_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// A server's failure challenge (a JSON object such as `{"status":"401","schemes":"bearer"}`
/// once base64-decoded), in words for an error message.
pub fn describe_challenge(decoded: &[u8]) -> String {
    excerpt(&String::from_utf8_lossy(decoded))
}

/// The bytes of a challenge as it came on the wire (base64; kept as it came when it is not).
pub fn decode_challenge(wire: &str) -> Vec<u8> {
    STANDARD
        .decode(wire.trim())
        .unwrap_or_else(|_| wire.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(mechanism: Mechanism) -> BearerLogin {
        BearerLogin {
            username: "a,b=c@example.com".into(),
            token: Secret::new("tok123"),
            mechanism,
        }
    }

    #[test]
    fn messages_are_as_the_mechanisms_define_them() {
        let x = bearer(Mechanism::Xoauth2).initial_response(None);
        assert_eq!(
            x.expose(),
            "user=a,b=c@example.com\x01auth=Bearer tok123\x01\x01"
        );
        let o = bearer(Mechanism::OAuthBearer).initial_response(Some(("imap.example.com", 993)));
        assert_eq!(
            o.expose(),
            "n,a=a=2Cb=3Dc@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer tok123\x01\x01"
        );
        assert_eq!(bearer(Mechanism::Xoauth2).failure_response(), b"");
        assert_eq!(bearer(Mechanism::OAuthBearer).failure_response(), b"\x01");
    }

    #[test]
    fn scrubbing_removes_the_token_and_its_encodings() {
        let login = MailLogin::Bearer(bearer(Mechanism::Xoauth2));
        let wire = bearer(Mechanism::OAuthBearer).encoded_response(Some(("h", 1)));
        let echoed = format!("NO bad tok123 in {}", wire.expose());
        assert_eq!(login.scrub(&echoed), "NO bad *** in ***");
    }

    #[test]
    fn challenges_read_as_their_json() {
        let c = STANDARD.encode(r#"{"status":"401","schemes":"bearer","scope":"mail"}"#);
        assert_eq!(
            describe_challenge(&decode_challenge(&c)),
            r#"{"status":"401","schemes":"bearer","scope":"mail"}"#
        );
        assert_eq!(decode_challenge("not base64!"), b"not base64!");
        assert_eq!(describe_challenge(b"bad\x1b[31m"), "bad");
    }
}
