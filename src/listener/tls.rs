//! The listener's TLS settings: the certificate chain and key read from `server.tls.*`, and
//! read again on SIGHUP. A renewed certificate serves every connection accepted after the
//! reload; connections already open keep the session they have. A reload that fails keeps the
//! certificate in use.

use crate::config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use std::sync::{Arc, RwLock};

/// The TLS settings new connections are accepted with.
pub struct Tls {
    files: config::Tls,
    current: RwLock<Arc<ServerConfig>>,
}

/// Reads the certificate chain and key and builds the server settings; the error says which
/// file is wrong and how.
fn load(files: &config::Tls) -> Result<ServerConfig, String> {
    let (cert, key) = (&files.cert, &files.key);
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cannot read the certificate chain {} (server.tls.cert): {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "{} (server.tls.cert) holds no PEM certificate",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "cannot read the private key {} (server.tls.key): {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut settings = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "the certificate {} and key {} do not make a usable pair: {e}",
                cert.display(),
                key.display()
            )
        })?;
    settings.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(settings)
}

impl Tls {
    /// Loads the files; start-up stops on an error.
    pub fn open(files: &config::Tls) -> Result<Tls, String> {
        Ok(Tls {
            current: RwLock::new(Arc::new(load(files)?)),
            files: files.clone(),
        })
    }

    /// Reads the files again; on an error the settings in use stay, and the error is returned
    /// for the log.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = Arc::new(load(&self.files)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The server side of a new session, on the settings in force now.
    pub fn accept(&self) -> Result<ServerConnection, rustls::Error> {
        let settings = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        ServerConnection::new(settings)
    }
}
