//! TLS (and mutual TLS) to ZooKeeper's `secureClientPort`, with rustls.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::{Error, Result};

/// TLS settings: which certificate authorities to trust, an optional client certificate,
/// optional certificate revocation lists, and whether the server's name is checked.
///
/// # Rotation
/// What is given as files ([`TlsOptions::ca_file`], [`TlsOptions::client_identity_files`],
/// [`TlsOptions::crl_file`]) is read again before each connection: when a file's contents
/// changed, the next connection uses the new authorities, certificate, key or lists; the
/// connection up stays as it is. A file that cannot be read or parsed at that moment (half
/// written, say) leaves the last good settings in force, with a warning in the log.
/// [`TlsOptions::reload_files`] turns this off.
///
/// `Debug` never shows the private key.
#[derive(Clone)]
pub struct TlsOptions {
    roots: Roots,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    verify_hostname: bool,
    files: Files,
}

/// The files the settings came from, to read again.
#[derive(Clone, Debug, Default)]
struct Files {
    ca: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
    crls: Vec<PathBuf>,
    reload: bool,
}

impl Files {
    fn any(&self) -> bool {
        self.reload && (self.ca.is_some() || self.identity.is_some() || !self.crls.is_empty())
    }

    /// Every file's contents, in a fixed order.
    fn read_all(&self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        if let Some(ca) = &self.ca {
            out.push(read(ca)?);
        }
        if let Some((cert, key)) = &self.identity {
            out.push(read(cert)?);
            out.push(read(key)?);
        }
        for crl in &self.crls {
            out.push(read(crl)?);
        }
        Ok(out)
    }
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
            .field("crls", &self.crls.len())
            .field("verify_hostname", &self.verify_hostname)
            .field("files", &self.files)
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
            crls: Vec::new(),
            verify_hostname: true,
            files: Files {
                reload: true,
                ..Files::default()
            },
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

    /// [`TlsOptions::ca_pem`] from a file, read again before each connection (see
    /// Rotation above).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the file cannot be read or holds no certificate.
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let pem = read(path.as_ref())?;
        let mut this = self.ca_pem(&pem)?;
        this.files.ca = Some(path.as_ref().to_path_buf());
        Ok(this)
    }

    /// Check the server's certificate chain against these certificate revocation lists
    /// (PEM, one or more `X509 CRL` blocks; may be called again to add more). A
    /// certificate that a list of its issuer revokes is refused; the status of a
    /// certificate whose issuer has no list here is taken as unknown and accepted.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the PEM holds no revocation list.
    pub fn crl_pem(mut self, pem: &[u8]) -> Result<Self> {
        let crls = CertificateRevocationListDer::pem_slice_iter(pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidArgument(format!("bad CRL PEM: {e}")))?;
        if crls.is_empty() {
            return Err(Error::InvalidArgument(
                "the CRL PEM holds no revocation list".into(),
            ));
        }
        self.crls.extend(crls);
        Ok(self)
    }

    /// [`TlsOptions::crl_pem`] from a file, read again before each connection.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the file cannot be read or holds no list.
    pub fn crl_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let pem = read(path.as_ref())?;
        let mut this = self.crl_pem(&pem)?;
        this.files.crls.push(path.as_ref().to_path_buf());
        Ok(this)
    }

    /// Whether the files given are read again before each connection (default true; see
    /// Rotation above).
    pub fn reload_files(mut self, reload: bool) -> Self {
        self.files.reload = reload;
        self
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
        let key_pem = read(key.as_ref())?;
        let mut this = self.client_identity_pem(&certs, &key_pem)?;
        this.files.identity = Some((
            cert_chain.as_ref().to_path_buf(),
            key.as_ref().to_path_buf(),
        ));
        Ok(this)
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
        let mut verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider);
        if !self.crls.is_empty() {
            verifier = verifier
                .with_crls(self.crls.iter().cloned())
                .allow_unknown_revocation_status();
        }
        let verifier = verifier
            .build()
            .map_err(|e| Error::InvalidArgument(format!("TLS setup: {e}")))?;
        let builder = if self.verify_hostname {
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
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

/// The TLS configuration of a client's connections, rebuilt when the files it came from
/// change (see [`TlsOptions`], Rotation).
pub(crate) struct TlsSource {
    state: Mutex<SourceState>,
}

struct SourceState {
    options: TlsOptions,
    /// The files' contents the configuration was built from.
    seen: Vec<Vec<u8>>,
    config: Arc<ClientConfig>,
}

impl TlsSource {
    /// The source of `options`' configuration.
    ///
    /// # Errors
    /// As for building the configuration (bad certificates, no system authorities).
    pub(crate) fn new(options: TlsOptions) -> Result<Self> {
        // The files as they are now, which may differ from what `options` read.
        let (options, config, seen) = if options.files.any() {
            let seen = options.files.read_all()?;
            let (options, config) = rebuild(&options, &seen)?;
            (options, config, seen)
        } else {
            let config = options.client_config()?;
            (options, config, Vec::new())
        };
        Ok(Self {
            state: Mutex::new(SourceState {
                options,
                seen,
                config,
            }),
        })
    }

    /// The configuration for the next connection: rebuilt first when a file changed. The
    /// files are small and local; they are read on the caller's thread.
    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        // A poisoned lock only means a reader panicked; the state is replaced whole.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.options.files.any() {
            return state.config.clone();
        }
        let contents = match state.options.files.read_all() {
            Ok(contents) => contents,
            Err(err) => {
                tracing::warn!(%err, "TLS files unreadable; keeping the current settings");
                return state.config.clone();
            }
        };
        if contents == state.seen {
            return state.config.clone();
        }
        match rebuild(&state.options, &contents) {
            Ok((options, config)) => {
                tracing::info!("TLS files changed; the next connections use them");
                state.options = options;
                state.config = config;
                state.seen = contents;
            }
            Err(err) => {
                tracing::warn!(%err, "TLS files changed but do not parse; keeping the current settings");
            }
        }
        state.config.clone()
    }
}

/// `options` with the roots, identity and lists of `contents` (as [`Files::read_all`] orders
/// them), and its configuration.
fn rebuild(options: &TlsOptions, contents: &[Vec<u8>]) -> Result<(TlsOptions, Arc<ClientConfig>)> {
    let mut next = options.clone();
    let mut parts = contents.iter();
    let mut part = || {
        parts
            .next()
            .ok_or_else(|| Error::InvalidArgument("TLS file list changed".into()))
    };
    if next.files.ca.is_some() {
        next = next.ca_pem(part()?)?;
    }
    if next.files.identity.is_some() {
        let cert = part()?;
        let key = part()?;
        next = next.client_identity_pem(cert, key)?;
    }
    if !next.files.crls.is_empty() {
        next.crls.clear();
        for _ in 0..next.files.crls.len() {
            next = next.crl_pem(part()?)?;
        }
    }
    let config = next.client_config()?;
    Ok((next, config))
}

fn read(path: &Path) -> Result<Vec<u8>> {
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
