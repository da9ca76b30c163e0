//! Config validation: every bad case names its path and the fix.

use super::*;
use crate::secret::SecretSource;
use std::path::Path;
use std::time::Duration;

fn errors_of(text: &str) -> Vec<String> {
    match Config::parse(text, Path::new("/base")) {
        Ok(_) => vec![],
        Err(e) => e
            .issues()
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| i.to_string())
            .collect(),
    }
}

const GOOD: &str = r#"
[credentials.helpdesk]
username = "helpdesk@example.com"
password = { value = "pw" }

[connectors.dmz]
socks5 = "proxy.example.com:1080"

[accounts.helpdesk]
protocol = "imap"
address = "imap.example.com"
credential = "helpdesk"
connector = "dmz"
"#;

#[test]
fn defaults_follow_the_design() {
    let loaded = Config::parse(GOOD, Path::new("/base")).unwrap();
    let c = loaded.config;
    assert_eq!(c.store.path, Path::new("/base/data/mail-ingest.redb"));
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9898");
    let a = &c.accounts["helpdesk"];
    assert_eq!(
        (a.port, a.tls, a.keep_copy, a.automatic_check, a.enabled),
        (993, TlsMode::Implicit, true, true, true)
    );
    assert!(!a.skip_certificate);
    assert_eq!(a.mailbox, "INBOX");
    assert_eq!(a.max_message_size, 50 << 20);
    assert_eq!(a.check_interval, Duration::from_secs(60));
    assert_eq!(a.io_timeout, Duration::from_secs(120));
    assert_eq!(c.connectors["dmz"].max_connections.get(), 64);
}

#[test]
fn port_defaults_by_protocol_and_tls() {
    let t = GOOD.replace(
        "protocol = \"imap\"",
        "protocol = \"pop3\"\ntls = \"starttls\"",
    );
    assert_eq!(
        Config::parse(&t, Path::new("/")).unwrap().config.accounts["helpdesk"].port,
        110
    );
}

#[test]
fn unknown_references_name_the_known_ones() {
    let t = GOOD.replace("connector = \"dmz\"", "connector = \"dmz2\"");
    assert_eq!(
        errors_of(&t),
        [
            "error: accounts.helpdesk.connector: unknown connector `dmz2` (known: dmz); did you mean `dmz`?"
        ]
    );
    let t = GOOD.replace("credential = \"helpdesk\"", "credential = \"nobody\"");
    assert!(errors_of(&t)[0].starts_with(
        "error: accounts.helpdesk.credential: unknown credential `nobody` (known: helpdesk)"
    ));
}

#[test]
fn every_problem_is_reported_at_once() {
    let t = format!(
        "{GOOD}\nport = 0\ncolour = \"blue\"\ncheck_interval = \"soon\"\nmax_message_size = \"big\"\n[store]\npatth = \"x\"\n"
    );
    let errs = errors_of(&t);
    let joined = errs.join("\n");
    assert!(
        joined.contains("accounts.helpdesk.port: 0 is not a port"),
        "{joined}"
    );
    assert!(
        joined.contains("accounts.helpdesk.colour: unknown key"),
        "{joined}"
    );
    assert!(
        joined.contains("accounts.helpdesk.check_interval: `soon` is not a duration"),
        "{joined}"
    );
    assert!(
        joined.contains("accounts.helpdesk.max_message_size: `big` is not a size"),
        "{joined}"
    );
    assert!(
        joined.contains("store.patth: unknown key; did you mean `path`?"),
        "{joined}"
    );
    assert_eq!(errs.len(), 5, "{joined}");
}

#[test]
fn port_out_of_range() {
    let t = GOOD.replace("connector = \"dmz\"", "port = 70000");
    assert!(errors_of(&t)[0].contains("accounts.helpdesk.port: 70000 is not a port"));
}

#[test]
fn mailbox_on_pop3_is_an_error() {
    let t = GOOD.replace(
        "protocol = \"imap\"",
        "protocol = \"pop3\"\nmailbox = \"INBOX\"",
    );
    assert!(errors_of(&t)[0].contains("accounts.helpdesk.mailbox: POP3 has only one mailbox"));
}

#[test]
fn names_must_be_plain_and_unique() {
    let t = format!(
        "{GOOD}\n[accounts.\"\"]\nprotocol = \"imap\"\naddress = \"a\"\ncredential = \"helpdesk\"\n"
    );
    assert!(
        errors_of(&t)
            .iter()
            .any(|e| e.contains("name must not be empty"))
    );
    let t = format!(
        "{GOOD}\n[accounts.HelpDesk]\nprotocol = \"imap\"\naddress = \"a\"\ncredential = \"helpdesk\"\n"
    );
    assert!(
        errors_of(&t).iter().any(|e| e.contains("duplicate of")),
        "{:?}",
        errors_of(&t)
    );
    let t = format!("{GOOD}\n[accounts.helpdesk]\nprotocol = \"imap\"\n");
    assert!(errors_of(&t)[0].contains("not valid TOML"));
}

#[test]
fn missing_required_keys() {
    let errs = errors_of("[accounts.x]\nenabled = true\n").join("\n");
    for key in ["protocol", "address", "credential"] {
        assert!(
            errs.contains(&format!("accounts.x.{key}: is required")),
            "{errs}"
        );
    }
}

#[test]
fn wrong_types_are_named() {
    let t = GOOD.replace("connector = \"dmz\"", "keep_copy = \"yes\"");
    assert_eq!(
        errors_of(&t),
        ["error: accounts.helpdesk.keep_copy: expected true or false, found string"]
    );
}

#[test]
fn non_loopback_http_needs_a_token() {
    let t = format!("[http]\nlisten = \"0.0.0.0:9898\"\n{GOOD}");
    assert!(errors_of(&t)[0].contains("http.listen: `0.0.0.0:9898` is not a loopback address"));
    let t = format!("[http]\nlisten = \"0.0.0.0:9898\"\ntoken = {{ value = \"t\" }}\n{GOOD}");
    assert!(errors_of(&t).is_empty());
}

#[test]
fn warnings_do_not_fail_the_config() {
    let t = GOOD
        .replace(
            "{ value = \"pw\" }",
            "{ env = \"MAIL_INGEST_TEST_UNSET_PW\" }",
        )
        .replace("connector = \"dmz\"", "tls = \"none\"");
    let loaded = Config::parse(&t, Path::new("/")).unwrap();
    let w: Vec<String> = loaded.warnings.iter().map(|i| i.to_string()).collect();
    assert!(w.iter().any(|w| w.contains("credentials.helpdesk.password: environment variable `MAIL_INGEST_TEST_UNSET_PW` is not set")), "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains("accounts.helpdesk.tls: tls = \"none\" sends the password")),
        "{w:?}"
    );
}

#[test]
fn world_readable_password_file_is_warned() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "x").unwrap();
    std::fs::set_permissions(
        dir.path().join("pw"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let t = GOOD.replace("{ value = \"pw\" }", "{ file = \"pw\" }");
    let loaded = Config::parse(&t, dir.path()).unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("readable by others"))
    );
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let t = GOOD.replace(
        "{ value = \"pw\" }",
        "{ value = \"canary-s3cret\", extra = 1 }",
    );
    let err = Config::parse(&t, Path::new("/")).unwrap_err();
    assert!(!err.to_string().contains("canary-s3cret"));
    let ok = Config::parse(&GOOD.replace("\"pw\"", "\"canary-s3cret\""), Path::new("/")).unwrap();
    assert!(!format!("{:?}", ok.config).contains("canary-s3cret"));
}

#[test]
fn the_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let loaded = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.config.accounts.contains_key("helpdesk"));
}

const M365: &str = r#"
[credentials.m365]
username = "alerts@contoso.com"
[credentials.m365.oauth2]
grant = "client_credentials"
token_url = "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret = { value = "s" }
scope = "https://outlook.office365.com/.default"

[accounts.alerts]
protocol = "imap"
address = "outlook.office365.com"
credential = "m365"
"#;

fn warnings_of(text: &str) -> Vec<String> {
    Config::parse(text, Path::new("/base"))
        .unwrap_or_else(|e| panic!("{e}"))
        .warnings
        .iter()
        .map(|i| i.to_string())
        .collect()
}

#[test]
fn an_oauth2_credential_reads_into_its_grant() {
    let c = Config::parse(M365, Path::new("/")).unwrap().config;
    let o = c.credentials["m365"].oauth2().unwrap();
    assert_eq!(o.mechanism, Mechanism::Xoauth2);
    let Grant::ClientCredentials { endpoint, .. } = &o.grant else {
        panic!("{o:?}")
    };
    assert_eq!(endpoint.url.host, "login.microsoftonline.com");
    assert_eq!(endpoint.client_id, "00000000-0000-0000-0000-000000000000");
    let google = M365.replace("client_credentials", "refresh_token").replace(
        "scope = \"https://outlook.office365.com/.default\"",
        "refresh_token = { file = \"rt\" }\nmechanism = \"oauthbearer\"",
    );
    let c = Config::parse(&google, Path::new("/base")).unwrap().config;
    let o = c.credentials["m365"].oauth2().unwrap();
    assert_eq!(o.mechanism, Mechanism::OAuthBearer);
    assert!(
        matches!(&o.grant, Grant::RefreshToken { refresh_token: SecretSource::File(p), .. } if p == Path::new("/base/rt"))
    );
}

#[test]
fn oauth2_mistakes_are_named_with_their_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "client_secret = { value = \"s\" }",
            "client_secret = { value = \"s\" }\nclient_sekret = 1",
            "credentials.m365.oauth2.client_sekret: unknown key; did you mean `client_secret`?",
        ),
        (
            "[credentials.m365.oauth2]",
            "password = { value = \"p\" }\n[credentials.m365.oauth2]",
            "credentials.m365.oauth2: a credential has either a password or an [oauth2] table, not both",
        ),
        (
            "grant = \"client_credentials\"\n",
            "",
            "credentials.m365.oauth2.grant: is required",
        ),
        (
            "grant = \"client_credentials\"",
            "grant = \"password\"",
            "credentials.m365.oauth2.grant: `password` is not one of client_credentials | refresh_token | command",
        ),
        (
            "scope = \"https://outlook.office365.com/.default\"\n",
            "",
            "credentials.m365.oauth2.scope: is required with grant = \"client_credentials\"",
        ),
        (
            "client_secret = { value = \"s\" }\n",
            "",
            "credentials.m365.oauth2.client_secret: is required with grant = \"client_credentials\"",
        ),
        (
            "https://login.microsoftonline.com",
            "http://login.microsoftonline.com",
            "is not https; tokens and client secrets go only over TLS",
        ),
        (
            "client_id = \"00000000-0000-0000-0000-000000000000\"\n",
            "",
            "credentials.m365.oauth2.client_id: is required",
        ),
        (
            "grant = \"client_credentials\"",
            "grant = \"client_credentials\"\nmechanism = \"plain\"",
            "mechanism: `plain` is not one of xoauth2 | oauthbearer",
        ),
        (
            "grant = \"client_credentials\"",
            "grant = \"client_credentials\"\nconnector = \"nope\"",
            "credentials.m365.oauth2.connector: unknown connector `nope`",
        ),
        (
            "grant = \"client_credentials\"",
            "grant = \"client_credentials\"\nca_file = \"missing.pem\"",
            "credentials.m365.oauth2.ca_file: file `/base/missing.pem` does not exist",
        ),
        (
            "grant = \"client_credentials\"",
            "grant = \"client_credentials\"\nrefresh_token = { value = \"r\" }",
            "refresh_token: is used only with grant = \"refresh_token\"",
        ),
    ];
    for (from, to, expected) in cases {
        let t = M365.replace(from, to);
        let errors = errors_of(&t);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{to:?}: {errors:?}"
        );
    }
    let command = M365.replace(
        "grant = \"client_credentials\"",
        "grant = \"command\"\ncommand = [\"oama\", \"access\"]",
    );
    let errors = errors_of(&command);
    assert!(
        errors.iter().any(|e| e
            .contains("credentials.m365.oauth2.token_url: is not used with grant = \"command\"")),
        "{errors:?}"
    );
    let refresh = M365.replace("client_credentials", "refresh_token");
    assert!(
        errors_of(&refresh)
            .iter()
            .any(|e| e.contains("refresh_token: is required with grant = \"refresh_token\""))
    );
}

#[test]
fn a_socks5_proxy_needs_a_password_credential() {
    let t = format!("{M365}\n[connectors.dmz]\nsocks5 = \"proxy:1080\"\ncredential = \"m365\"\n");
    let errors = errors_of(&t);
    assert!(errors.iter().any(|e| e.contains("connectors.dmz.credential: credentials.m365 uses oauth2, but a SOCKS5 proxy takes a username and password")), "{errors:?}");
}

#[test]
fn tls_keys_are_checked_together() {
    let with = |extra: &str| {
        GOOD.replace(
            "connector = \"dmz\"",
            &format!("connector = \"dmz\"\n{extra}"),
        )
    };
    let errors = errors_of(&with("tls_fingerprint = \"sha256:abcd\""));
    assert!(
        errors.iter().any(|e| e.contains(
            "accounts.helpdesk.tls_fingerprint: `sha256:abcd` is not a SHA-256 fingerprint"
        )),
        "{errors:?}"
    );
    let pin = format!("tls_fingerprint = \"sha256:{}\"", "ab".repeat(32));
    let c = Config::parse(&with(&pin), Path::new("/")).unwrap().config;
    assert_eq!(
        c.accounts["helpdesk"].tls_fingerprint,
        Some(Fingerprint([0xab; 32]))
    );
    let errors = errors_of(&with(&format!("{pin}\nskip_certificate = true")));
    assert!(
        errors
            .iter()
            .any(|e| e
                .contains("tls_fingerprint pins the certificate, skip_certificate accepts any")),
        "{errors:?}"
    );
    let errors = errors_of(&with("client_certificate = \"c.pem\""));
    assert!(
        errors.iter().any(
            |e| e.contains("accounts.helpdesk.client_key: is required with client_certificate")
        ),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e
            .contains("accounts.helpdesk.client_certificate: file `/base/c.pem` does not exist")),
        "{errors:?}"
    );
    let errors = errors_of(&with(&format!("{pin}\ntls = \"none\"")));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("tls_fingerprint needs TLS")),
        "{errors:?}"
    );
}

#[test]
fn command_and_systemd_secrets_are_read_and_checked() {
    let t = GOOD.replace(
        "{ value = \"pw\" }",
        "{ command = [\"pass\", \"show\", \"mail\"] }",
    );
    let c = Config::parse(&t, Path::new("/")).unwrap().config;
    assert!(
        matches!(&c.credentials["helpdesk"].auth, CredentialAuth::Password(SecretSource::Command(argv)) if argv == &["pass", "show", "mail"])
    );
    let missing = GOOD.replace(
        "{ value = \"pw\" }",
        "{ command = [\"surely-not-a-program-here\"] }",
    );
    assert!(
        warnings_of(&missing)
            .iter()
            .any(|w| w.contains("program `surely-not-a-program-here` is not found"))
    );
    let empty = GOOD.replace("{ value = \"pw\" }", "{ command = [] }");
    assert!(errors_of(&empty).iter().any(|e| {
        e.contains("credentials.helpdesk.password: expected a program and its arguments")
    }));
    let bad = GOOD.replace("{ value = \"pw\" }", "{ credential = \"../etc/shadow\" }");
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("is not a systemd credential name"))
    );
    let systemd = GOOD.replace("{ value = \"pw\" }", "{ credential = \"mail-password\" }");
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
        assert!(
            warnings_of(&systemd)
                .iter()
                .any(|w| w.contains("CREDENTIALS_DIRECTORY is not set"))
        );
    }
}
