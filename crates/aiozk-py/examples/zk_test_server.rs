//! The ZooKeeper server of the Python package's own tests (`tests/conftest.py`).
//!
//! Starts one standalone server with TTL nodes enabled (`extendedTypesEnabled`), SASL
//! DIGEST-MD5 (user `bob`, password `bobsecret`) and a TLS port (optional client
//! certificates) with a certificate authority made for this run. Prints one JSON line:
//! `{"plain": "127.0.0.1:P", "tls": "127.0.0.1:Q", "ca_pem": ..., "client_cert_pem": ...,
//! "client_key_pem": ..., "pid": JVM_PID}`, then runs until stdin reaches end of file.

use std::io::{self, BufRead, Write};

use aiozk_testkit::{Ensemble, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

const JAAS: &str = "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
                    user_bob=\"bobsecret\";\n};\n";

fn issue(
    sans: Vec<SanType>,
    cn: &str,
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> (String, String) {
    let key = KeyPair::generate().expect("generate a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("certificate parameters");
    params.subject_alt_names = sans;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params
        .signed_by(&key, ca, ca_key)
        .expect("sign a certificate");
    (cert.pem(), key.serialize_pem())
}

fn main() -> io::Result<()> {
    let ca_key = KeyPair::generate().expect("generate the CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "aiozk-py test CA");
    let ca = params.self_signed(&ca_key).expect("self-sign the CA");
    let local = || {
        vec![
            SanType::DnsName("localhost".try_into().expect("a DNS name")),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ]
    };
    let (server_cert, server_key) = issue(local(), "localhost", &ca, &ca_key);
    let (client_cert, client_key) = issue(local(), "zkclient", &ca, &ca_key);
    let config = ServerConfig::new()
        .extended_types(true)
        .secure_client_port(true)
        .file("server.pem", format!("{server_cert}{server_key}"))
        .file("ca.pem", ca.pem())
        .file("jaas.conf", JAAS)
        .cfg_lines([
            "ssl.keyStore.location={dir}/server.pem",
            "ssl.keyStore.type=PEM",
            "ssl.trustStore.location={dir}/ca.pem",
            "ssl.trustStore.type=PEM",
            "ssl.clientAuth=want",
            "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
        ])
        .jvm_flag("-Djava.security.auth.login.config={dir}/jaas.conf");
    let zk = Ensemble::start(1, config)?;
    let tls = zk
        .secure_client_port(0)
        .map(|p| format!("127.0.0.1:{p}"))
        .unwrap_or_default();
    let line = serde_json::json!({
        "plain": zk.connect_string(),
        "tls": tls,
        "ca_pem": ca.pem(),
        "client_cert_pem": client_cert,
        "client_key_pem": client_key,
        "pid": zk.pid(0),
    });
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    // Runs until the test session closes our stdin (or dies).
    for line in io::stdin().lock().lines() {
        line?;
    }
    drop(zk);
    Ok(())
}
