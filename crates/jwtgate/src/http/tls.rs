//! Owns TLS on the listener: the certificate and key read from PEM files, the rustls server
//! configuration (aws-lc-rs, the one crypto backend; HTTP/2 and HTTP/1.1 offered by ALPN), and
//! reloading the pair on SIGHUP. Must not import the domain or sqlx.
//!
//! Reloading swaps what the resolver hands to the *next* handshake: connections already open
//! keep the certificate they began with and are never dropped. A pair that cannot be read, or
//! whose key does not match its certificate, is refused at start (the server does not start)
//! and on reload (the one in use stays, and the error is logged).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// The value of `Strict-Transport-Security` on every TLS answer: a year, the host alone (a
/// self-hosted server rarely owns every subdomain of its domain).
pub const HSTS: &str = "max-age=31536000";

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS key in {key} does not belong to the certificate in {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The certificate the listener presents, reloadable from its files.
#[derive(Debug)]
pub struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Reads the pair; an error names the file and what is wrong with it.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        Ok(Self {
            current: ArcSwap::from_pointee(read_pair(cert_file, key_file)?),
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
        })
    }

    /// Reads the files again; the next handshakes present what they hold now. On an error the
    /// certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.current
            .store(Arc::new(read_pair(&self.cert_file, &self.key_file)?));
        Ok(())
    }

    /// An acceptor offering HTTP/2 and HTTP/1.1, presenting whatever is current at each
    /// handshake.
    pub fn acceptor(self: &Arc<Self>) -> TlsAcceptor {
        let provider = Arc::new(aws_lc_rs::default_provider());
        // The provider's safe defaults: TLS 1.3 and 1.2 with forward-secret AEAD suites only.
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports its own default versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_pair(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let certificate = |reason: String| TlsError::Certificate {
        path: cert_file.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| certificate(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate("no CERTIFICATE block in it".to_owned()));
    }
    // The key's contents never reach an error message: only what kind of failure it was.
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Key {
        path: key_file.to_owned(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY block in it (PKCS#8, PKCS#1 or SEC1 PEM)".to_owned()
            }
            rustls::pki_types::pem::Error::Io(e) => e.to_string(),
            _ => "not a PEM private key".to_owned(),
        },
    })?;
    CertifiedKey::from_der(chain, key, &aws_lc_rs::default_provider()).map_err(|e| {
        TlsError::Mismatch {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
            reason: e.to_string(),
        }
    })
}
