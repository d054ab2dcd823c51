use std::path::PathBuf;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiozk-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keys(config: &ClientConfig) -> Vec<(usize, &str)> {
    config
        .warnings()
        .iter()
        .map(|w| (w.line, w.key.as_str()))
        .collect()
}

fn err(text: &str) -> String {
    match ClientConfig::parse(text) {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A CA and a client certificate, as PEM.
fn pems() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn the_applied_keys_are_read() {
    let config = ClientConfig::parse(
        "zookeeper.client.secure = TRUE\n\
         zookeeper.request.timeout=2500\n\
         jute.maxbuffer=4194304\n\
         zookeeper.ssl.hostnameVerification=false\n\
         zookeeper.ssl.protocol=TLSv1.3\n\
         zookeeper.ssl.enabledProtocols=TLSv1.3,TLSv1.2\n\
         zookeeper.sasl.client=false\n\
         zookeeper.disableAutoWatchReset=false\n",
    )
    .unwrap();
    assert!(config.secure());
    assert_eq!(config.request_timeout(), Some(Duration::from_millis(2500)));
    assert_eq!(config.max_frame(), Some(4 << 20));
    assert_eq!(config.hostname_verification, Some(false));
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    assert!(config.tls_options().unwrap().is_some());
    // Zero turns the request timeout off, as in Java.
    let config = ClientConfig::parse("zookeeper.request.timeout=0").unwrap();
    assert_eq!(config.request_timeout(), None);
    assert!(!config.secure());
    assert!(config.tls_options().unwrap().is_none());
}

#[test]
fn every_key_not_applied_is_a_warning_with_its_line() {
    let config = ClientConfig::parse(
        "# a Java client's file\n\
         zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty\n\
         zookeeper.sasl.client.username=zookeeper\n\
         zookeeper.ssl.crl=true\n\
         zookeeper.ssl.ciphersuites=TLS_AES_128_GCM_SHA256\n\
         zookeeper.ssl.protocol=TLSv1.1\n\
         zookeeper.ssl.enabledProtocols=TLSv1.3\n\
         zookeeper.disableAutoWatchReset=true\n\
         zookeeper.reqest.timeout=100\n\
         zookeeper.ssl.quorum.keyStore.location=/q.pem\n\
         zookeeper.ssl.trustStore.location=/ca.pem\n",
    )
    .unwrap();
    assert_eq!(
        keys(&config),
        vec![
            (2, "zookeeper.clientCnxnSocket"),
            (3, "zookeeper.sasl.client.username"),
            (4, "zookeeper.ssl.crl"),
            (5, "zookeeper.ssl.ciphersuites"),
            (6, "zookeeper.ssl.protocol"),
            (7, "zookeeper.ssl.enabledProtocols"),
            (8, "zookeeper.disableAutoWatchReset"),
            (9, "zookeeper.reqest.timeout"),
            (10, "zookeeper.ssl.quorum.keyStore.location"),
            // A store without zookeeper.client.secure=true is not used.
            (11, "zookeeper.ssl.trustStore.location"),
        ]
    );
    // The misspelt key is not applied.
    assert_eq!(config.request_timeout(), None);
    let shown = config.warnings()[7].to_string();
    assert_eq!(
        shown,
        "<text>:9: zookeeper.reqest.timeout: unknown key; not applied"
    );
    assert!(config.warnings()[1].message.contains("Kerberos"));
    assert!(config.warnings()[2].message.contains("revocation"));
}

#[test]
fn bad_values_are_errors_naming_the_line_and_key() {
    let m = err("\nzookeeper.client.secure=yes");
    assert!(
        m.starts_with("<text>:2: zookeeper.client.secure:") && m.contains("true or false"),
        "{m}"
    );
    assert!(err("zookeeper.request.timeout=soon").contains("milliseconds"));
    assert!(err("jute.maxbuffer=0").contains("bytes"));
    assert!(err("zookeeper.sasl.client=maybe").contains("true or false"));
    assert!(err("zookeeper.request.timeout=\\u12").contains("escape"));
}

#[test]
fn java_keystores_are_refused() {
    let m = err("zookeeper.client.secure=true\nzookeeper.ssl.keyStore.location=/k.jks");
    assert!(
        m.starts_with("<text>:2: zookeeper.ssl.keyStore.location: a JKS store"),
        "{m}"
    );
    let m = err("zookeeper.ssl.trustStore.location=/t.pem\nzookeeper.ssl.trustStore.type=pkcs12");
    assert!(
        m.starts_with("<text>:2: zookeeper.ssl.trustStore.type: a PKCS12 store"),
        "{m}"
    );
    // PEM by name or by type.
    ClientConfig::parse("zookeeper.ssl.keyStore.location=/k.p12\nzookeeper.ssl.keyStore.type=PEM")
        .unwrap();
}

#[test]
fn pem_stores_make_the_tls_options() {
    let dir = temp_dir("pem");
    let (ca, cert, key) = pems();
    std::fs::write(dir.join("ca.pem"), &ca).unwrap();
    std::fs::write(dir.join("client.pem"), format!("{cert}{key}")).unwrap();
    std::fs::write(dir.join("key-first.pem"), format!("{key}{cert}")).unwrap();
    let text = |store: &str| {
        format!(
            "zookeeper.client.secure=true\n\
             zookeeper.ssl.trustStore.location={}\n\
             zookeeper.ssl.trustStore.type=PEM\n\
             zookeeper.ssl.keyStore.location={}\n\
             zookeeper.ssl.keyStore.password=hunter2\n",
            dir.join("ca.pem").display(),
            dir.join(store).display()
        )
    };
    for store in ["client.pem", "key-first.pem"] {
        let config = ClientConfig::parse(&text(store)).unwrap();
        let tls = config.tls_options().unwrap().unwrap();
        let shown = format!("{tls:?}");
        assert!(shown.contains("1 PEM certificate(s)"), "{shown}");
        assert!(shown.contains("<present, key redacted>"), "{shown}");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    // A key store holding no key, or an unreadable one, is an error naming its key.
    std::fs::write(dir.join("cert-only.pem"), &cert).unwrap();
    for store in ["cert-only.pem", "missing.pem"] {
        let config = ClientConfig::parse(&text(store)).unwrap();
        let Err(Error::InvalidArgument(m)) = config.tls_options() else {
            panic!("{store}: expected an error");
        };
        assert!(
            m.starts_with("<text>:4: zookeeper.ssl.keyStore.location:"),
            "{m}"
        );
    }
    // An encrypted key is refused with advice.
    std::fs::write(
        dir.join("encrypted.pem"),
        format!("{cert}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
    )
    .unwrap();
    let config = ClientConfig::parse(&text("encrypted.pem")).unwrap();
    let Err(Error::InvalidArgument(m)) = config.tls_options() else {
        panic!("expected an error");
    };
    assert!(m.contains("encrypted"), "{m}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn from_file_names_the_file_and_reads_latin1() {
    let dir = temp_dir("file");
    let path = dir.join("client.properties");
    std::fs::write(&path, b"zookeeper.caf\xe9=1\n").unwrap();
    let config = ClientConfig::from_file(&path).unwrap();
    let w = &config.warnings()[0];
    assert_eq!(w.key, "zookeeper.café");
    assert_eq!(w.origin, path.display().to_string());
    let Err(Error::InvalidArgument(m)) = ClientConfig::from_file(dir.join("none")) else {
        panic!("expected an error");
    };
    assert!(m.contains("cannot read"), "{m}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn apply_sets_the_builder_options() {
    let config = ClientConfig::parse(
        "zookeeper.request.timeout=1500\njute.maxbuffer=2048\nzookeeper.client.secure=true",
    )
    .unwrap();
    let builder = config
        .apply(crate::Client::builder("127.0.0.1:2181"))
        .unwrap();
    let shown = format!("{builder:?}");
    assert!(shown.contains("request_timeout: Some(1.5s)"), "{shown}");
    assert!(shown.contains("max_frame: 2048"), "{shown}");
}
