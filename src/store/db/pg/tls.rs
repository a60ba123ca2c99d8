//! TLS to the database: the rustls client settings each `sslmode` calls for, and the
//! certificate checks behind them, with libpq's meanings: `require` encrypts without checking
//! the certificate (unless a CA file is given), `verify-ca` checks the chain but not the name,
//! `verify-full` checks both.

use super::{Config, SslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::sync::{Arc, OnceLock};

/// Which checks the certificate gets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    /// Encrypt only: libpq's `require` (and `prefer`) without a CA file.
    None,
    /// Chain to a trusted root, any name: `verify-ca`.
    Chain,
    /// Chain and name: `verify-full`.
    Full,
}

fn check_for(config: &Config) -> Check {
    match config.sslmode {
        SslMode::VerifyFull => Check::Full,
        SslMode::VerifyCa => Check::Chain,
        // As libpq: a CA file that is given is used, so `require` with one checks the chain.
        SslMode::Require | SslMode::Prefer | SslMode::Disable if config.ca_file.is_some() => {
            Check::Chain
        }
        SslMode::Require | SslMode::Prefer | SslMode::Disable => Check::None,
    }
}

/// The system's roots, read once per process: reading and parsing the store costs more than
/// a connection does.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                // A machine (or container) without a CA store still gets the public roots.
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

fn roots(config: &Config) -> Result<Arc<RootCertStore>, String> {
    let Some(path) = &config.ca_file else {
        return Ok(system_roots());
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cannot read the CA file {} (sslrootcert): {e}",
                path.display()
            )
        })?;
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        return Err(format!(
            "the CA file {} (sslrootcert) holds no usable PEM certificate",
            path.display()
        ));
    }
    Ok(Arc::new(roots))
}

/// The rustls settings for `config`'s sslmode and CA file.
pub fn client_config(config: &Config) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match check_for(config) {
        Check::None => Arc::new(AcceptAnyCert(provider.clone())),
        check => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots(config)?, provider.clone())
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?;
            if check == Check::Full {
                webpki
            } else {
                Arc::new(IgnoreName(webpki))
            }
        }
    };
    let mut settings = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // PostgreSQL 17 checks the protocol name when a client sends one; older servers ignore it.
    settings.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(settings))
}

/// The name the certificate is checked against (for `verify-full`) and sent as SNI.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a host name TLS can check a certificate against"))
}

/// Accepts any certificate, but still checks the handshake signatures with the provider's
/// algorithms: the session is encrypted to whoever holds the presented key, as libpq's
/// `sslmode=require` does.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
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
        verify_tls12_signature(
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
        verify_tls13_signature(
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

/// The full check minus the name: webpki checks the chain first and the name last, so a
/// name error means the chain was good.
#[derive(Debug)]
struct IgnoreName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
