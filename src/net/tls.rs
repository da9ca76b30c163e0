//! TLS client settings, for mail servers and token endpoints alike: the system's trust
//! store plus an optional private CA, or a pinned certificate fingerprint, or (only when the
//! account says so) no verification; an optional client certificate; TLS 1.2 at least; SNI
//! from the configured address.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::ResolvesClientCert;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

use crate::config::{AccountConfig, Fingerprint};

/// How one TLS client checks the server and shows itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Accept any certificate (`skip_certificate`).
    pub skip_verify: bool,
    /// Extra CAs trusted beside the system's (`ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the certificate of this fingerprint, and nothing else.
    pub fingerprint: Option<Fingerprint>,
    /// A client certificate chain and its key (PEM files).
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl Trust {
    /// What `account` trusts and presents.
    pub fn of(account: &AccountConfig) -> Trust {
        Trust {
            skip_verify: account.skip_certificate,
            ca_file: account.ca_file.clone(),
            fingerprint: account.tls_fingerprint,
            identity: account
                .client_certificate
                .clone()
                .zip(account.client_key.clone()),
        }
    }

    /// A connector for these settings, and what its handshake will note when it presents
    /// no certificate; the error says which file or setting is wrong.
    pub fn connector(&self) -> Result<(TlsConnector, Arc<CertificateAsked>), String> {
        let asked = Arc::new(CertificateAsked::default());
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let verifying = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        } else if let Some(expected) = self.fingerprint {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                    expected,
                    provider,
                }))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match &self.identity {
            None => verifying.with_client_cert_resolver(asked.clone()),
            Some((cert, key)) => {
                let chain = read_certificates(cert, "client_certificate")?;
                let key = read_key(key)?;
                verifying.with_client_auth_cert(chain, key).map_err(|e| {
                    format!("client_certificate and client_key do not go together: {e}")
                })?
            }
        };
        Ok((TlsConnector::from(Arc::new(config)), asked))
    }

    /// The system's trust anchors, plus `ca_file`'s.
    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = system_roots().clone();
        if let Some(path) = &self.ca_file {
            for cert in read_certificates(path, "ca_file")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("cannot use ca_file `{}`: {e}", path.display()))?;
            }
        }
        Ok(roots)
    }
}

/// The system's trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else the distribution's
/// bundle, as OpenSSL finds it), read once. A system without one falls back to the Mozilla
/// roots built in, with a warning.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!(
                errors = found.errors.len(),
                "no system trust store found (install ca-certificates, or set SSL_CERT_FILE); using the Mozilla roots built in"
            );
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// The PEM certificates in `path` (the config key `key` names it, for errors).
fn read_certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let bad = |e: String| format!("cannot read {key} `{}`: {e}", path.display());
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The PEM private key in `path`.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    use rustls_pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        format!(
            "cannot read client_key `{}`: {e} (a PEM private key, PKCS#8, PKCS#1 or SEC1)",
            path.display()
        )
    })
}

/// Presents no client certificate, noting whether the server asked for one.
#[derive(Debug, Default)]
pub struct CertificateAsked(AtomicBool);

impl CertificateAsked {
    /// True when the server asked for a client certificate.
    pub fn asked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl ResolvesClientCert for CertificateAsked {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// The server name sent as SNI and checked against the certificate.
pub fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(address.to_string())
        .map_err(|_| format!("`{address}` is not a valid TLS server name"))
}

/// `tls_fingerprint`: the server's certificate must be this one; names and chains are not
/// checked (the pin is the trust), handshake signatures are.
#[derive(Debug)]
struct PinnedCertificate {
    expected: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = Fingerprint::of(end_entity);
        if seen == self.expected {
            return Ok(ServerCertVerified::assertion());
        }
        let why = format!(
            "its fingerprint is {seen}, but tls_fingerprint pins {} (if the server's certificate was renewed, set tls_fingerprint = \"{seen}\")",
            self.expected
        );
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(std::io::Error::other(why))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(&self.provider, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `skip_certificate = true`: accepts any certificate, still checking handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(&self.0, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(&self.0, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn verify_tls12(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

fn verify_tls13(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}
