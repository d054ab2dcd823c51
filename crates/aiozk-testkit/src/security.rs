//! TLS and SASL set-ups for test servers: a certificate authority made for the run with a
//! server and a client certificate ([`TestPki`], [`ServerConfig::tls`]), and DIGEST-MD5
//! users ([`ServerConfig::sasl_digest_user`]).

use std::io;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

use crate::config::ServerConfig;

/// A certificate authority made for one run, with a server and a client certificate for
/// `localhost` and `127.0.0.1`, all as PEM.
#[derive(Clone)]
pub struct TestPki {
    /// The authority's certificate.
    pub ca_pem: String,
    /// The server's certificate.
    pub server_cert_pem: String,
    /// The server's private key.
    pub server_key_pem: String,
    /// A client certificate, for mutual TLS.
    pub client_cert_pem: String,
    /// The client certificate's private key.
    pub client_key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are test keys, but a log is no place for keys.
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// Makes a new authority named `name` and issues the two certificates.
    ///
    /// # Errors
    /// When a key cannot be generated or a certificate signed.
    pub fn generate(name: &str) -> io::Result<Self> {
        let ca_key = KeyPair::generate().map_err(other)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = params.self_signed(&ca_key).map_err(other)?;
        let (server_cert_pem, server_key_pem) = issue("localhost", &ca, &ca_key)?;
        let (client_cert_pem, client_key_pem) = issue("zkclient", &ca, &ca_key)?;
        Ok(Self {
            ca_pem: ca.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        })
    }
}

/// A certificate for `localhost` and `127.0.0.1` named `cn`, signed by the authority.
fn issue(cn: &str, ca: &rcgen::Certificate, ca_key: &KeyPair) -> io::Result<(String, String)> {
    let key = KeyPair::generate().map_err(other)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().map_err(other)?),
        SanType::IpAddress([127, 0, 0, 1].into()),
    ];
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, ca, ca_key).map_err(other)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl ServerConfig {
    /// A TLS client port as well (see [`Ensemble::secure_client_port`]), with the server
    /// certificate of `pki`; client certificates signed by its authority are accepted but
    /// not required.
    ///
    /// [`Ensemble::secure_client_port`]: crate::Ensemble::secure_client_port
    pub fn tls(self, pki: &TestPki) -> Self {
        self.secure_client_port(true)
            .file(
                "server.pem",
                format!("{}{}", pki.server_cert_pem, pki.server_key_pem),
            )
            .file("ca.pem", pki.ca_pem.clone())
            .cfg_lines([
                "ssl.keyStore.location={dir}/server.pem",
                "ssl.keyStore.type=PEM",
                "ssl.trustStore.location={dir}/ca.pem",
                "ssl.trustStore.type=PEM",
                "ssl.clientAuth=want",
            ])
    }

    /// SASL DIGEST-MD5 authentication with one user, `user` with `password`.
    pub fn sasl_digest_user(self, user: &str, password: &str) -> Self {
        let jaas = format!(
            "Server {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
             user_{user}=\"{password}\";\n}};\n"
        );
        self.file("jaas.conf", jaas)
            .cfg_line("authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
            .jvm_flag("-Djava.security.auth.login.config={dir}/jaas.conf")
    }
}
