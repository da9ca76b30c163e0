//! TLS client settings per account: web roots plus an optional private CA, TLS 1.2 at least,
//! SNI from the configured address, or (only when the account says so) no verification.

use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::AccountConfig;
use crate::error::{CheckError, Stage};

/// A connector for this account's TLS settings.
pub fn connector_for(account: &AccountConfig) -> Result<TlsConnector, CheckError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CheckError::new(Stage::Tls, format!("cannot set up TLS: {e}")))?;
    let config = if account.skip_certificate {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(account)?)
            .with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The server name sent as SNI and checked against the certificate.
pub fn server_name(address: &str) -> Result<ServerName<'static>, CheckError> {
    ServerName::try_from(address.to_string()).map_err(|_| {
        CheckError::new(
            Stage::Tls,
            format!("`{address}` is not a valid TLS server name"),
        )
    })
}

fn roots(account: &AccountConfig) -> Result<RootCertStore, CheckError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &account.ca_file {
        use rustls_pki_types::pem::PemObject;
        let bad = |e: String| {
            CheckError::new(
                Stage::Tls,
                format!("cannot read ca_file `{}`: {e}", path.display()),
            )
        };
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(roots)
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
