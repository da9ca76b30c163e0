//! TLS trust beyond a CA file, against a real Dovecot: a pinned certificate fingerprint
//! (the right pin connects, a wrong one fails naming the fingerprint seen), a client
//! certificate for a Dovecot that requires one, and the system's trust store.

mod support;

use std::process::Command;

use mail_ingest::config::{Fingerprint, Protocol, TlsMode};
use support::config::{account, config, on_demand};
use support::{Dovecot, certs, corpus};

/// The server certificate's fingerprint as openssl prints it (`AB:CD:...`).
fn openssl_fingerprint() -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&certs().cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_fingerprint_is_the_trust_and_a_wrong_one_names_the_one_seen() {
    let d = Dovecot::start();
    d.add_user("pin", "pw");
    d.deliver("pin", &corpus::sample(0));
    let seen = openssl_fingerprint();
    for (protocol, tls) in [
        (Protocol::Imap, TlsMode::Implicit),
        (Protocol::Pop3, TlsMode::Starttls),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut a = account("pin", &d, protocol, tls);
        a.ca_file = None; // only the pin vouches for the test CA's certificate
        a.tls_fingerprint = Some(Fingerprint::parse(&seen.to_lowercase()).unwrap());
        let ingest = on_demand(config(dir.path(), vec![a.clone()], "pw")).await;
        let s = ingest.check_now("pin").await.unwrap();
        assert_eq!(s.error, None, "{protocol:?}: the right pin connects: {s:?}");
        ingest.shutdown().await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        a.tls_fingerprint = Some(Fingerprint([7; 32]));
        let ingest = on_demand(config(dir.path(), vec![a], "pw")).await;
        let error = ingest.check_now("pin").await.unwrap().error.unwrap();
        assert!(
            error.contains(&format!("its fingerprint is sha256:{seen}")),
            "{protocol:?}: {error}"
        );
        assert!(
            error.contains("tls_fingerprint pins sha256:07:07"),
            "{error}"
        );
        ingest.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_a_client_certificate_takes_ours_and_says_when_it_is_missing() {
    let c = certs();
    let d = Dovecot::start_with(&format!(
        "ssl_ca = <{}\nssl_verify_client_cert = yes\nssl_require_crl = no\nauth_ssl_require_client_cert = yes\n",
        c.ca.display()
    ));
    d.add_user("mtls", "pw");
    d.deliver("mtls", &corpus::sample(0));
    for (protocol, tls) in [
        (Protocol::Imap, TlsMode::Implicit),
        (Protocol::Pop3, TlsMode::Implicit),
        (Protocol::Imap, TlsMode::Starttls),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut a = account("mtls", &d, protocol, tls);
        a.client_certificate = Some(c.client_cert.clone());
        a.client_key = Some(c.client_key.clone());
        let ingest = on_demand(config(dir.path(), vec![a.clone()], "pw")).await;
        let s = ingest.check_now("mtls").await.unwrap();
        assert_eq!(
            s.error,
            None,
            "{protocol:?} {tls:?} with the certificate: {s:?}\n{}",
            d.log()
        );
        ingest.shutdown().await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        a.client_certificate = None;
        a.client_key = None;
        let ingest = on_demand(config(dir.path(), vec![a], "pw")).await;
        let error = ingest.check_now("mtls").await.unwrap().error.unwrap();
        assert!(
            error.contains("the server asked for a client certificate during the TLS handshake and none is configured: set client_certificate and client_key"),
            "{protocol:?} {tls:?} without: {error}"
        );
        ingest.shutdown().await.unwrap();
    }
}

/// `test ACCOUNT` through the binary, with `env`: its exit status and output.
fn test_command(config: &std::path::Path, env: &[(&str, &std::path::Path)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mail-ingest"));
    cmd.arg("-c").arg(config).args(["test", "acct"]);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn certificates_are_checked_against_the_system_trust_store() {
    let d = Dovecot::start();
    d.add_user("sys", "pw");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mail-ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"store.redb\"\n[credentials.acct]\nusername = \"sys\"\npassword = {{ value = \"pw\" }}\n[accounts.acct]\nprotocol = \"imap\"\naddress = \"localhost\"\nport = {}\ncredential = \"acct\"\n",
            d.ports.imaps
        ),
    )
    .unwrap();
    // The test CA is not in the distribution's bundle: refused, with the ways out named.
    let (ok, out) = test_command(&config, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("failed at tls"), "{out}");
    assert!(
        out.contains("trust its CA with ca_file, pin it with tls_fingerprint"),
        "{out}"
    );
    // A system trust store that holds the CA (OpenSSL's SSL_CERT_FILE names it) is used.
    let (ok, out) = test_command(&config, &[("SSL_CERT_FILE", &certs().ca)]);
    assert!(ok, "{out}");
    assert!(out.contains("logged in as sys with password"), "{out}");
}
