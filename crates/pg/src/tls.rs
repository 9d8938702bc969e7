//! TLS towards clients, with rustls (ring provider).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::{self, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read `{path}`: {message}")]
    Read { path: String, message: String },
    #[error("`{0}` holds no PEM certificate")]
    NoCertificate(String),
    #[error("`{0}` holds no PEM private key")]
    NoKey(String),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// Loads a PEM certificate chain and private key.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| TlsError::Read {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    let cert_pem = read(cert)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.display().to_string()));
    }
    let key_pem = read(key)?;
    let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| TlsError::Read {
            path: key.display().to_string(),
            message: e.to_string(),
        })?
        .ok_or_else(|| TlsError::NoKey(key.display().to_string()))?;
    // ring, not aws-lc-rs: no cmake to build it with. rustls 0.23.48 deprecates
    // ring's provider for lacking post-quantum key exchange; it stays supported.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}
