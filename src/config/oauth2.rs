//! `[credentials.NAME.oauth2]`: a credential that logs in with an OAuth2 access token
//! (SASL XOAUTH2 or OAUTHBEARER) instead of a password, the grant that gets the token, and
//! the token endpoint it is asked at. Read and checked here; used by `crate::oauth2`.

use std::path::{Path, PathBuf};

use toml::Table;

use super::fields::Fields;
use super::issues::Issues;
use super::secrets::{check_program, read_command, read_secret};
use crate::secret::SecretSource;

/// How a credential's access token is had.
#[derive(Clone, Debug, PartialEq)]
pub enum Grant {
    /// `client_credentials`: the application's own identity (Microsoft 365 app-only access).
    ClientCredentials {
        /// Where tokens are asked for.
        endpoint: TokenEndpoint,
        /// The application's secret.
        client_secret: SecretSource,
    },
    /// `refresh_token`: a user's consent, given once; each rotated refresh token is kept in
    /// the store (Google; Microsoft 365 delegated access).
    RefreshToken {
        /// Where tokens are asked for.
        endpoint: TokenEndpoint,
        /// The application's secret, when its kind of client has one.
        client_secret: Option<SecretSource>,
        /// The first refresh token (the seed); a new seed takes over from a kept one.
        refresh_token: SecretSource,
    },
    /// `command`: an external helper prints an access token (run at every connection).
    Command(SecretSource),
}

impl Grant {
    /// The config spelling, also the `grant` label of the metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::Command(_) => "command",
        }
    }

    /// The token endpoint, for the two grants that have one.
    pub fn endpoint(&self) -> Option<&TokenEndpoint> {
        match self {
            Grant::ClientCredentials { endpoint, .. } | Grant::RefreshToken { endpoint, .. } => {
                Some(endpoint)
            }
            Grant::Command(_) => None,
        }
    }
}

/// The SASL mechanism that carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Google's and Microsoft's `XOAUTH2`.
    Xoauth2,
    /// RFC 7628 `OAUTHBEARER`.
    OAuthBearer,
}

impl Mechanism {
    /// The SASL name (`XOAUTH2`, `OAUTHBEARER`).
    pub fn sasl_name(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The config spelling, also the `mechanism` label of the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "xoauth2",
            Mechanism::OAuthBearer => "oauthbearer",
        }
    }
}

/// A token endpoint and what is sent to it besides the grant.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenEndpoint {
    /// `token_url`.
    pub url: TokenUrl,
    /// `client_id`: the application registered with the provider.
    pub client_id: String,
    /// `scope`, when the grant sends one.
    pub scope: Option<String>,
    /// The `[connectors.NAME]` the endpoint is reached through (direct when `None`).
    pub connector: Option<String>,
    /// A PEM file of extra CAs trusted for the endpoint (besides the system's).
    pub ca_file: Option<PathBuf>,
}

/// An `https://` URL (or `http://` on a loopback address), split for the HTTP client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUrl {
    /// The URL as configured.
    pub text: String,
    /// True for `https`.
    pub https: bool,
    /// Host name or address (no brackets).
    pub host: String,
    /// Port (443 / 80 unless given).
    pub port: u16,
    /// Path and query, e.g. `/TENANT/oauth2/v2.0/token`.
    pub path: String,
}

impl TokenUrl {
    /// Reads `text`; only `https`, or `http` on a loopback address.
    pub fn parse(text: &str) -> Result<TokenUrl, String> {
        let bad = |why: &str| format!("`{text}` {why}");
        let uri: hyper::Uri = text
            .parse()
            .map_err(|_| bad("is not a URL like \"https://login.example.com/oauth2/token\""))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("is not an https:// URL")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !https && !is_loopback(&host) {
            return Err(bad(
                "is not https; tokens and client secrets go only over TLS (plain http is allowed on a loopback address only)",
            ));
        }
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        Ok(TokenUrl {
            text: text.to_string(),
            https,
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            host,
            path,
        })
    }
}

/// True for `localhost` and loopback addresses.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[credentials.NAME.oauth2]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuth2Config {
    /// How the token is had.
    pub grant: Grant,
    /// How it is sent to the mail server.
    pub mechanism: Mechanism,
}

/// The keys each grant takes besides `grant` and `mechanism`.
const ENDPOINT_KEYS: [&str; 6] = [
    "token_url",
    "client_id",
    "client_secret",
    "scope",
    "connector",
    "ca_file",
];

/// Reads `[credentials.NAME.oauth2]` at `path`.
pub(super) fn read_oauth2(
    table: &Table,
    path: String,
    base: &Path,
    issues: &mut Issues,
) -> Option<OAuth2Config> {
    let mut f = Fields::new(table, path, issues);
    let grant_name = f.choice(
        "grant",
        &["client_credentials", "refresh_token", "command"],
        "",
    );
    if f.raw("grant").is_none() {
        f.error("grant", "is required; set grant = \"client_credentials\" (Microsoft 365 app-only), \"refresh_token\" (Google, Microsoft 365 delegated) or \"command\"");
    }
    let mechanism = match f.choice("mechanism", &["xoauth2", "oauthbearer"], "xoauth2") {
        "oauthbearer" => Mechanism::OAuthBearer,
        _ => Mechanism::Xoauth2,
    };
    let grant = match grant_name {
        "command" => read_command_grant(&mut f),
        "client_credentials" | "refresh_token" => read_endpoint_grant(&mut f, grant_name, base),
        _ => None,
    };
    f.finish();
    Some(OAuth2Config {
        grant: grant?,
        mechanism,
    })
}

fn read_command_grant(f: &mut Fields) -> Option<Grant> {
    for key in ENDPOINT_KEYS.into_iter().chain(["refresh_token"]) {
        if f.raw(key).is_some() {
            f.error(key, "is not used with grant = \"command\" (the command prints the access token); remove it");
        }
    }
    let Some(value) = f.raw("command") else {
        f.error("command", "is required with grant = \"command\"; e.g. command = [\"oama\", \"access\", \"alerts@example.com\"]");
        return None;
    };
    let argv = read_command(f, "command", value)?;
    check_program(f, "command", &argv[0]);
    Some(Grant::Command(SecretSource::Command(argv)))
}

fn read_endpoint_grant(f: &mut Fields, grant: &str, base: &Path) -> Option<Grant> {
    if f.raw("command").is_some() {
        f.error(
            "command",
            format!("is used only with grant = \"command\", not \"{grant}\"; remove it"),
        );
    }
    let url = f
        .required_string(
            "token_url",
            "e.g. token_url = \"https://login.microsoftonline.com/TENANT/oauth2/v2.0/token\"",
        )
        .and_then(|text| match TokenUrl::parse(&text) {
            Ok(url) => Some(url),
            Err(e) => {
                f.error("token_url", e);
                None
            }
        });
    let client_id = f.required_string("client_id", "the application (client) id the provider gave");
    let client_secret = read_secret(f, "client_secret", base);
    let scope = f.string("scope").filter(|s| !s.trim().is_empty());
    let connector = f.string("connector");
    let ca_file = f.string("ca_file").map(|p| base.join(p));
    let refresh_token = read_secret(f, "refresh_token", base);
    let endpoint = TokenEndpoint {
        url: url?,
        client_id: client_id?,
        scope,
        connector,
        ca_file,
    };
    if grant == "client_credentials" {
        if refresh_token.is_some() {
            f.error(
                "refresh_token",
                "is used only with grant = \"refresh_token\"; remove it",
            );
        }
        if endpoint.scope.is_none() {
            f.error("scope", "is required with grant = \"client_credentials\"; for Microsoft 365: scope = \"https://outlook.office365.com/.default\"");
        }
        let Some(client_secret) = client_secret else {
            if f.raw("client_secret").is_none() {
                f.error("client_secret", "is required with grant = \"client_credentials\"; e.g. client_secret = { env = \"M365_CLIENT_SECRET\" }");
            }
            return None;
        };
        return Some(Grant::ClientCredentials {
            endpoint,
            client_secret,
        });
    }
    let Some(refresh_token) = refresh_token else {
        if f.raw("refresh_token").is_none() {
            f.error("refresh_token", "is required with grant = \"refresh_token\": the first refresh token, e.g. refresh_token = { file = \"secrets/gmail.rt\" }");
        }
        return None;
    };
    Some(Grant::RefreshToken {
        endpoint,
        client_secret,
        refresh_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls_are_https_or_loopback() {
        let u = TokenUrl::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (
                true,
                "login.microsoftonline.com",
                443,
                "/t/oauth2/v2.0/token"
            )
        );
        let u = TokenUrl::parse("http://127.0.0.1:8080/token?x=1").unwrap();
        assert_eq!(
            (u.https, u.port, u.path.as_str()),
            (false, 8080, "/token?x=1")
        );
        assert!(TokenUrl::parse("http://[::1]:9/t").is_ok());
        let e = TokenUrl::parse("http://idp.example.com/token").unwrap_err();
        assert!(e.contains("not https"), "{e}");
        assert!(TokenUrl::parse("ftp://x/y").is_err());
        assert!(TokenUrl::parse("not a url").is_err());
    }
}
