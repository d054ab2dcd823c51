//! `zk` over TLS (`--tls-ca`, `tls://`, mutual TLS) and with SASL (`--sasl`), on a real
//! server with a secure client port and a JAAS login for SASL DIGEST-MD5.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiozk_testkit::{Ensemble, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use serde_json::Value;

const ZK: &str = env!("CARGO_BIN_EXE_zk");
const NO_AUTH: i32 = 7;
const CONNECTION: i32 = 8;

const JAAS: &str = "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
                    user_bob=\"bobsecret\";\n};\n";

/// The PEM files of this run and the server using them.
struct Setup {
    dir: PathBuf,
    server: Ensemble,
}

fn issue(
    cn: &str,
    sans: Vec<SanType>,
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "zk cli test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        let (server_cert, server_key) = issue(
            "localhost",
            vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
            ],
            &ca,
            &ca_key,
        );
        let (client_cert, client_key) = issue("zkclient", vec![], &ca, &ca_key);
        let dir = std::env::temp_dir().join(format!("zk-cli-security-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("client.pem"), client_cert).unwrap();
        std::fs::write(dir.join("client.key"), client_key).unwrap();
        let empty_crl = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&ca, &ca_key)
        .unwrap();
        std::fs::write(dir.join("empty.crl"), empty_crl.pem().unwrap()).unwrap();
        std::fs::write(dir.join("not-a.crl"), "no revocation list here\n").unwrap();
        let config = ServerConfig::new()
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
        let server = Ensemble::start(1, config).expect("start a TLS ZooKeeper");
        Setup { dir, server }
    })
}

fn file(name: &str) -> String {
    setup().dir.join(name).to_str().unwrap().to_owned()
}

fn secure() -> String {
    format!(
        "127.0.0.1:{}",
        setup().server.secure_client_port(0).unwrap()
    )
}

fn zk(args: &[&str]) -> Output {
    Command::new(ZK)
        .env_remove("ZK_SERVERS")
        .env_remove("ZK_AUTH")
        .env_remove("ZK_SASL")
        .args(["--timeout", "5"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = zk(&all);
    assert!(out.status.success(), "zk {}: {out:?}", all.join(" "));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn has(ids: &Value, scheme: &str, user_part: &str) -> bool {
    ids.as_array()
        .unwrap()
        .iter()
        .any(|i| i["scheme"] == scheme && i["user"].as_str().unwrap().contains(user_part))
}

#[test]
fn tls_ca_turns_tls_on_for_every_server() {
    let ca = file("ca.pem");
    let servers = secure();
    let v = ok_json(&[
        "--servers",
        &servers,
        "--tls-ca",
        &ca,
        "create",
        "/over-tls",
        "x",
    ]);
    assert_eq!(v["path"], "/over-tls");
    let v = ok_json(&["--servers", &servers, "--tls-ca", &ca, "get", "/over-tls"]);
    assert_eq!(v["data"], "x");
    // The tls:// prefix alone turns TLS on for that server, with the given authorities.
    let prefixed = format!("tls://{servers}");
    let v = ok_json(&["--servers", &prefixed, "--tls-ca", &ca, "rm", "/over-tls"]);
    assert_eq!(v["deleted"], true);
}

#[test]
fn tls_failures_are_connection_failures_within_the_timeout() {
    // Plain TCP to the TLS port, and TLS with the system's authorities (untrusted).
    for args in [
        vec!["--servers".to_owned(), secure()],
        vec!["--servers".to_owned(), format!("tls://{}", secure())],
    ] {
        let start = Instant::now();
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--timeout", "2", "exists", "/"]);
        let out = zk(&all);
        assert_eq!(out.status.code(), Some(CONNECTION), "{out:?}");
        assert!(start.elapsed() < Duration::from_secs(6));
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    let out = zk(&[
        "--tls-ca",
        "/no/such/ca.pem",
        "--servers",
        &secure(),
        "exists",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let ids = ok_json(&[
        "--servers",
        &secure(),
        "--tls-ca",
        &file("ca.pem"),
        "--tls-cert",
        &file("client.pem"),
        "--tls-key",
        &file("client.key"),
        "whoami",
    ]);
    assert!(has(&ids, "x509", "zkclient"), "{ids}");
}

#[test]
fn sasl_login() {
    let plain = setup().server.connect_string();
    let ids = ok_json(&["--servers", &plain, "--sasl", "bob:bobsecret", "whoami"]);
    assert!(has(&ids, "sasl", "bob"), "{ids}");
    // From the environment, so the password is not on the command line.
    let out = Command::new(ZK)
        .env("ZK_SASL", "bob:bobsecret")
        .args(["--servers", &plain, "--json", "whoami"])
        .output()
        .unwrap();
    let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(has(&ids, "sasl", "bob"), "{ids}");
    // Over TLS too.
    let ids = ok_json(&[
        "--servers",
        &secure(),
        "--tls-ca",
        &file("ca.pem"),
        "--sasl",
        "bob:bobsecret",
        "whoami",
    ]);
    assert!(has(&ids, "sasl", "bob"), "{ids}");
    let out = zk(&["--servers", &plain, "--sasl", "bob:wrong", "exists", "/"]);
    assert_eq!(out.status.code(), Some(NO_AUTH), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("wrong"), "the password leaked: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tls_crl_is_checked_and_must_parse() {
    let (ca, crl) = (file("ca.pem"), file("empty.crl"));
    let servers = secure();
    let v = ok_json(&[
        "--servers",
        &servers,
        "--tls-ca",
        &ca,
        "--tls-crl",
        &crl,
        "exists",
        "/",
    ]);
    assert_eq!(v["exists"], true, "{v}");
    let bad = file("not-a.crl");
    let out = zk(&[
        "--servers",
        &servers,
        "--tls-ca",
        &ca,
        "--tls-crl",
        &bad,
        "exists",
        "/",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-crl"), "{stderr}");
}

#[test]
fn the_java_client_configuration_file_sets_up_mutual_tls() {
    let dir = &setup().dir;
    let store = dir.join("client-store.pem");
    let pem = std::fs::read_to_string(file("client.pem")).unwrap()
        + &std::fs::read_to_string(file("client.key")).unwrap();
    std::fs::write(&store, pem).unwrap();
    let properties = dir.join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "# as for zkCli.sh -client-configuration\n\
             zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty\n\
             zookeeper.client.secure=true\n\
             zookeeper.ssl.keyStore.location={}\n\
             zookeeper.ssl.keyStore.type=PEM\n\
             zookeeper.ssl.trustStore.location={}\n\
             zookeeper.ssl.trustStore.type=PEM\n\
             zookeeper.request.timeout=5000\n\
             zookeeper.no.such.key=1\n",
            store.display(),
            file("ca.pem")
        ),
    )
    .unwrap();
    let config = properties.to_str().unwrap();
    let out = zk(&[
        "--servers",
        &secure(),
        "--client-config",
        config,
        "--json",
        "whoami",
    ]);
    assert!(out.status.success(), "{out:?}");
    let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(has(&ids, "x509", "zkclient"), "{ids}");
    // Each key that is not applied is one warning line, with the file and line.
    let err = String::from_utf8(out.stderr).unwrap();
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings[0].starts_with(&format!(
            "zk: warning: {config}:2: zookeeper.clientCnxnSocket: "
        )),
        "{err}"
    );
    assert_eq!(
        warnings[1],
        format!("zk: warning: {config}:9: zookeeper.no.such.key: unknown key; not applied")
    );

    // A Java keystore cannot be read: a usage error naming the key, before connecting.
    let jks = dir.join("jks.properties");
    std::fs::write(
        &jks,
        "zookeeper.client.secure=true\nzookeeper.ssl.keyStore.location=/etc/ks.jks\n",
    )
    .unwrap();
    let out = zk(&[
        "--servers",
        &secure(),
        "--client-config",
        jks.to_str().unwrap(),
        "exists",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(":2: zookeeper.ssl.keyStore.location: a JKS store"),
        "{err}"
    );
}
