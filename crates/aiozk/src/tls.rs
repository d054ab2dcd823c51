//! TLS (and mutual TLS) to ZooKeeper's `secureClientPort`, with rustls.

use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::{Error, Result};

/// TLS settings: which certificate authorities to trust, an optional client certificate,
/// and whether the server's name is checked.
///
/// `Debug` never shows the private key.
#[derive(Clone)]
pub struct TlsOptions {
    roots: Roots,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    verify_hostname: bool,
}

#[derive(Clone)]
enum Roots {
    System,
    Pem(Vec<CertificateDer<'static>>),
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field(
                "roots",
                &match &self.roots {
                    Roots::System => "system".to_owned(),
                    Roots::Pem(c) => format!("{} PEM certificate(s)", c.len()),
                },
            )
            .field(
                "client_certificate",
                &self.identity.as_ref().map(|_| "<present, key redacted>"),
            )
            .field("verify_hostname", &self.verify_hostname)
            .finish()
    }
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsOptions {
    /// Trust the operating system's certificate authorities; check the server's name.
    pub fn new() -> Self {
        Self {
            roots: Roots::System,
            identity: None,
            verify_hostname: true,
        }
    }

    /// Trust only the certificate authorities in this PEM bundle.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the bundle holds no certificate.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidArgument(format!("bad CA PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::InvalidArgument(
                "the CA PEM holds no certificate".into(),
            ));
        }
        self.roots = Roots::Pem(certs);
        Ok(self)
    }

    /// [`TlsOptions::ca_pem`] from a file.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the file cannot be read or holds no certificate.
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let pem = read(path.as_ref())?;
        self.ca_pem(&pem)
    }

    /// Present this certificate chain and private key (PEM; PKCS#8, PKCS#1 or SEC1) to
    /// servers that ask for one (mutual TLS).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for unreadable PEM.
    pub fn client_identity_pem(mut self, cert_chain: &[u8], key: &[u8]) -> Result<Self> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidArgument(format!("bad client certificate PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::InvalidArgument(
                "the client certificate PEM holds no certificate".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| Error::InvalidArgument(format!("bad client key PEM: {e}")))?;
        self.identity = Some((certs, Arc::new(key)));
        Ok(self)
    }

    /// [`TlsOptions::client_identity_pem`] from files.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a file cannot be read or parsed.
    pub fn client_identity_files(
        self,
        cert_chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self> {
        let certs = read(cert_chain.as_ref())?;
        let key = read(key.as_ref())?;
        self.client_identity_pem(&certs, &key)
    }

    /// Accept a server certificate issued for another name (it must still chain to a
    /// trusted authority). Only for test setups whose certificates lack the right name.
    pub fn danger_disable_hostname_verification(mut self) -> Self {
        self.verify_hostname = false;
        self
    }

    /// Builds the rustls configuration.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        match &self.roots {
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(Error::InvalidArgument(
                        "no system certificate authorities found; give a CA bundle".into(),
                    ));
                }
            }
            Roots::Pem(certs) => {
                for cert in certs {
                    roots
                        .add(cert.clone())
                        .map_err(|e| Error::InvalidArgument(format!("bad CA certificate: {e}")))?;
                }
            }
        }
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidArgument(format!("TLS setup: {e}")))?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::InvalidArgument(format!("TLS setup: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
        };
        let config = match &self.identity {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(|e| Error::InvalidArgument(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::InvalidArgument(format!("cannot read {}: {e}", path.display())))
}

/// The server's name, for SNI and certificate checks.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::InvalidArgument(format!("{host:?} is not a valid TLS server name")))
}

/// Checks the chain like the default verifier but accepts any server name.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
