//! TLS, mutual TLS, SASL DIGEST-MD5, digest ACLs and secret redaction, on real servers.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aiozk::{Acl, Client, ClientInfo, Error, Perms, TlsOptions};
use aiozk_testkit::{Ensemble, FaultProxy, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

/// A CA with a server and a client certificate, all generated for this test run.
struct Pki {
    ca_pem: String,
    server_pem: String, // certificate chain + PKCS#8 key, ZooKeeper's PEM key store
    client_cert: String,
    client_key: String,
    other_ca_pem: String,
}

fn issue(
    sans: Vec<SanType>,
    cn: &str,
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

fn make_ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn pki(server_sans: Vec<SanType>) -> Pki {
    let (ca, ca_key) = make_ca("aiozk test CA");
    let (server_cert, server_key) = issue(server_sans, "localhost", &ca, &ca_key);
    let (client_cert, client_key) = issue(
        vec![SanType::IpAddress("127.0.0.1".parse().unwrap())],
        "zkclient",
        &ca,
        &ca_key,
    );
    let (other, _) = make_ca("some other CA");
    Pki {
        ca_pem: ca.pem(),
        server_pem: format!("{server_cert}{server_key}"),
        client_cert,
        client_key,
        other_ca_pem: other.pem(),
    }
}

const JAAS: &str = "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_bob=\"bobsecret\";\n};\n";

fn tls_server(pki: &Pki, client_auth: &str) -> Ensemble {
    let config = ServerConfig::new()
        .secure_client_port(true)
        .file("server.pem", pki.server_pem.clone())
        .file("ca.pem", pki.ca_pem.clone())
        .file("jaas.conf", JAAS)
        .cfg_lines([
            "ssl.keyStore.location={dir}/server.pem".to_owned(),
            "ssl.keyStore.type=PEM".to_owned(),
            "ssl.trustStore.location={dir}/ca.pem".to_owned(),
            "ssl.trustStore.type=PEM".to_owned(),
            format!("ssl.clientAuth={client_auth}"),
            "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider".to_owned(),
        ])
        .jvm_flag("-Djava.security.auth.login.config={dir}/jaas.conf");
    Ensemble::start(1, config).expect("start a TLS ZooKeeper")
}

fn sans() -> Vec<SanType> {
    vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ]
}

/// One PKI and one server with optional client certificates, shared by the tests here.
fn shared() -> &'static (Pki, Ensemble) {
    static S: OnceLock<(Pki, Ensemble)> = OnceLock::new();
    S.get_or_init(|| {
        let pki = pki(sans());
        let server = tls_server(&pki, "want");
        (pki, server)
    })
}

fn tls_addr(server: &Ensemble) -> String {
    format!("127.0.0.1:{}", server.secure_client_port(0).unwrap())
}

fn ca_opts(pki: &Pki) -> TlsOptions {
    TlsOptions::new().ca_pem(pki.ca_pem.as_bytes()).unwrap()
}

/// Connects, for a connection that must succeed: a generous bound, as a TLS handshake with a
/// busy JVM can take seconds.
async fn sure(builder: aiozk::ClientBuilder) -> Client {
    builder
        .connect_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect")
}

/// Connects with a short bound, for a connection that must fail.
async fn quick(builder: aiozk::ClientBuilder) -> aiozk::Result<Client> {
    builder
        .connect_timeout(Duration::from_secs(4))
        .connect()
        .await
}

#[tokio::test]
async fn tls_connect_and_basic_operations() {
    let (pki, server) = shared();
    let zk = sure(Client::builder(&tls_addr(server)).tls(ca_opts(pki))).await;
    zk.deleteall("/tls").await.unwrap();
    zk.create("/tls", b"over tls").await.unwrap();
    let (data, _) = zk.get_data("/tls").await.unwrap();
    assert_eq!(&data[..], b"over tls");
    zk.set_data("/tls", b"again", Some(0)).await.unwrap();
    assert!(zk
        .get_children("/")
        .await
        .unwrap()
        .contains(&"tls".to_owned()));
    zk.delete("/tls", None).await.unwrap();
    // The scheme in the connect string works as well as the builder option.
    let zk2 = sure(Client::builder(&format!("tls://{}", tls_addr(server))).tls(ca_opts(pki))).await;
    assert!(zk2.exists("/").await.unwrap().is_some());
    zk.close().await;
    zk2.close().await;
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let (pki, server) = shared();
    let opts = ca_opts(pki)
        .client_identity_pem(pki.client_cert.as_bytes(), pki.client_key.as_bytes())
        .unwrap();
    let zk = sure(Client::builder(&tls_addr(server)).tls(opts)).await;
    let ids = zk.whoami().await.unwrap();
    assert!(
        ids.iter()
            .any(|i| i.auth_scheme == "x509" && i.user.contains("zkclient")),
        "{ids:?}"
    );
    zk.close().await;
}

#[tokio::test]
async fn mutual_tls_required_and_missing() {
    let pki = pki(sans());
    let server = tls_server(&pki, "need");
    let opts = ca_opts(&pki)
        .client_identity_pem(pki.client_cert.as_bytes(), pki.client_key.as_bytes())
        .unwrap();
    let zk = sure(Client::builder(&tls_addr(&server)).tls(opts)).await;
    assert!(zk.exists("/").await.unwrap().is_some());
    zk.close().await;
    let err = quick(Client::builder(&tls_addr(&server)).tls(ca_opts(&pki)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoHosts(_)), "{err:?}");
}

#[tokio::test]
async fn untrusted_certificate_is_refused_clearly() {
    let (pki, server) = shared();
    let wrong = TlsOptions::new()
        .ca_pem(pki.other_ca_pem.as_bytes())
        .unwrap();
    let err = quick(Client::builder(&tls_addr(server)).tls(wrong))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("TLS") && text.to_lowercase().contains("certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn plaintext_client_on_tls_port_fails_without_hanging() {
    let (_, server) = shared();
    let err = quick(Client::builder(&tls_addr(server))).await.unwrap_err();
    assert!(matches!(err, Error::NoHosts(_)), "{err:?}");
}

#[tokio::test]
async fn hostname_mismatch_is_refused_unless_disabled() {
    let pki = pki(vec![SanType::DnsName("wrong.example".try_into().unwrap())]);
    let server = tls_server(&pki, "none");
    let err = quick(Client::builder(&tls_addr(&server)).tls(ca_opts(&pki)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    let lax = ca_opts(&pki).danger_disable_hostname_verification();
    let zk = sure(Client::builder(&tls_addr(&server)).tls(lax)).await;
    assert!(zk.exists("/").await.unwrap().is_some());
    zk.close().await;
}

fn has(ids: &[ClientInfo], scheme: &str, user: &str) -> bool {
    ids.iter()
        .any(|i| i.auth_scheme == scheme && i.user == user)
}

#[tokio::test]
async fn sasl_digest_md5_success_and_acl() {
    let (_, server) = shared();
    let plain = server.connect_string();
    let zk = sure(Client::builder(&plain).sasl_digest_md5("bob", "bobsecret")).await;
    assert!(has(&zk.whoami().await.unwrap(), "sasl", "bob"));
    zk.deleteall("/sasl-only").await.unwrap();
    let opts = aiozk::CreateOptions::new().acl(vec![Acl::sasl(Perms::ALL, "bob")]);
    zk.create_with("/sasl-only", b"s", &opts).await.unwrap();
    let anon = sure(Client::builder(&plain)).await;
    assert_eq!(
        anon.get_data("/sasl-only").await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(&zk.get_data("/sasl-only").await.unwrap().0[..], b"s");
    zk.delete("/sasl-only", None).await.unwrap();
    zk.close().await;
    anon.close().await;
}

#[tokio::test]
async fn sasl_wrong_password_is_auth_failed() {
    let (_, server) = shared();
    let err = quick(Client::builder(&server.connect_string()).sasl_digest_md5("bob", "nope"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::AuthFailed);
}

#[tokio::test]
async fn digest_acl_is_enforced() {
    let (_, server) = shared();
    let plain = server.connect_string();
    let owner = sure(Client::builder(&plain).auth("digest", b"alice:pw1")).await;
    owner.deleteall("/digest-only").await.unwrap();
    let acl = vec![Acl::digest(Perms::ALL, "alice", "pw1").unwrap()];
    owner
        .create_with("/digest-only", b"d", &aiozk::CreateOptions::new().acl(acl))
        .await
        .unwrap();
    let other = sure(Client::builder(&plain)).await;
    assert_eq!(
        other.get_data("/digest-only").await.unwrap_err(),
        Error::NoAuth
    );
    other.add_auth("digest", b"alice:pw1").await.unwrap();
    assert_eq!(&other.get_data("/digest-only").await.unwrap().0[..], b"d");
    assert!(has(&other.whoami().await.unwrap(), "digest", "alice"));
    owner.delete("/digest-only", None).await.unwrap();
    owner.close().await;
    other.close().await;
}

#[tokio::test]
async fn reconnect_over_tls_with_sasl_keeps_the_identity() {
    let (pki, server) = shared();
    let secure: std::net::SocketAddr = tls_addr(server).parse().unwrap();
    let proxy = FaultProxy::start(secure).await.unwrap();
    let zk = sure(
        Client::builder(&proxy.addr().to_string())
            .tls(ca_opts(pki))
            .sasl_digest_md5("bob", "bobsecret")
            .auth("digest", b"carol:pw"),
    )
    .await;
    let before = zk.whoami().await.unwrap();
    assert!(
        has(&before, "sasl", "bob") && has(&before, "digest", "carol"),
        "{before:?}"
    );
    let session = zk.session_id();
    let mut states = zk.state_watch();
    proxy.cut_rst().await;
    tokio::time::timeout(Duration::from_secs(20), async {
        states
            .wait_for(|s| *s == aiozk::SessionState::Disconnected)
            .await
            .unwrap();
        states.wait_for(|s| s.is_connected()).await.unwrap();
    })
    .await
    .expect("reconnected");
    assert_eq!(zk.session_id(), session);
    let after = zk.whoami().await.unwrap();
    assert!(
        has(&after, "sasl", "bob") && has(&after, "digest", "carol"),
        "{after:?}"
    );
    zk.close().await;
}

/// A writer that keeps everything logged.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output_or_logs() {
    let (pki, server) = shared();
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let opts = ca_opts(pki)
        .client_identity_pem(pki.client_cert.as_bytes(), pki.client_key.as_bytes())
        .unwrap();
    let builder = Client::builder(&tls_addr(server))
        .tls(opts.clone())
        .sasl_digest_md5("bob", "bobsecret")
        .auth("digest", b"dave:hunter2");
    let zk = sure(builder.clone()).await;
    zk.add_auth("digest", b"erin:swordfish").await.unwrap();
    zk.exists("/").await.unwrap();
    let password = zk.session_password();
    let resumed = sure(
        builder
            .clone()
            .resume_session(zk.session_id(), password.clone()),
    )
    .await;
    resumed.exists("/").await.unwrap();

    let mut text = format!("{builder:?}\n{opts:?}\n{zk:?}\n{resumed:?}\n");
    text.push_str(&String::from_utf8_lossy(&capture.0.lock().unwrap()));
    assert!(
        text.contains("handshake complete"),
        "logs were not captured"
    );
    let key_body: String = pki.client_key.lines().nth(1).unwrap().to_owned();
    let password_hex: String = password.iter().map(|b| format!("{b:02x}")).collect();
    for secret in [
        "bobsecret",
        "hunter2",
        "swordfish",
        &key_body,
        &password_hex,
    ] {
        assert!(!text.contains(secret), "secret {secret:?} leaked");
    }
    resumed.close().await;
}

/// Waits for the state `state` among `rx`'s events (at most 60 s) and returns its cause.
async fn wait_for_state(
    rx: &mut tokio::sync::broadcast::Receiver<aiozk::SessionEvent>,
    state: aiozk::SessionState,
) -> aiozk::StateCause {
    let wait = async {
        loop {
            match rx.recv().await.expect("session events") {
                aiozk::SessionEvent::State(s, cause) if s == state => return cause,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("no {state:?} within 60 s"))
}

/// A TLS-only ensemble in read-only mode loses its majority and gets it back: the client,
/// on the read-only survivor, finds the read-write servers again through its `isro` probe,
/// which speaks TLS with the client's TLS options (a plaintext probe gets no answer from a
/// TLS port; ZOOKEEPER-4819 fixed the same in the Java client in 3.9.4).
///
/// The survivor is reached through a proxy that is stalled before the quorum comes back, so
/// that only the probe can end the read-only connection before the read timeout (40 s)
/// would.
#[tokio::test]
async fn read_only_probe_speaks_tls() {
    use aiozk::{SessionState, StateCause};
    let pki = pki(sans());
    let config = ServerConfig::new()
        .tick_time_ms(500)
        .cfg_line("initLimit=4")
        .cfg_line("localSessionsEnabled=true")
        .max_session_timeout_ms(60_000)
        .read_only_mode(true)
        .secure_client_port(true)
        .file("server.pem", pki.server_pem.clone())
        .file("ca.pem", pki.ca_pem.clone())
        .cfg_lines([
            "ssl.keyStore.location={dir}/server.pem",
            "ssl.keyStore.type=PEM",
            "ssl.trustStore.location={dir}/ca.pem",
            "ssl.trustStore.type=PEM",
            "ssl.clientAuth=none",
        ])
        // Three JVMs with TLS on a busy machine.
        .startup_timeout(Duration::from_secs(90));
    let zk = Ensemble::start_async(3, config).await.expect("start");
    let tls_port = |i: usize| format!("127.0.0.1:{}", zk.secure_client_port(i).unwrap());
    let survivor = std::net::SocketAddr::from(([127, 0, 0, 1], zk.secure_client_port(0).unwrap()));
    let proxy = FaultProxy::start(survivor).await.unwrap();
    let servers = format!("{},{},{}", proxy.addr(), tls_port(1), tls_port(2));
    let client = Client::builder(&servers)
        .tls(ca_opts(&pki))
        .session_timeout(Duration::from_secs(60))
        .allow_read_only(true)
        .connect()
        .await
        .unwrap();
    client.create("/ro-tls", b"data").await.unwrap();
    let mut events = client.state_changes();

    // Wherever the client is, it ends up on the survivor, which goes read-only.
    for i in 1..3 {
        zk.kill(i).unwrap();
    }
    wait_for_state(&mut events, SessionState::ConnectedReadOnly).await;
    assert_eq!(client.connected_server(), Some(proxy.addr().to_string()));
    let (data, _) = client.get_data("/ro-tls").await.unwrap();
    assert_eq!(&data[..], b"data");

    proxy.stall();
    let stalled = std::time::Instant::now();
    zk.restart_async(1).await.unwrap();
    zk.restart_async(2).await.unwrap();
    let cause = wait_for_state(&mut events, SessionState::Disconnected).await;
    let took = stalled.elapsed();
    // Dropped by the client on the probe's finding, long before the read timeout (40 s)
    // would have ended the stalled connection.
    assert_eq!(cause, StateCause::ConnectionLost(Error::ConnectionLoss));
    assert!(took < Duration::from_secs(30), "{took:?}");
    wait_for_state(&mut events, SessionState::Connected).await;
    let server = client.connected_server().unwrap();
    assert!(server == tls_port(1) || server == tls_port(2), "{server}");
    client.create("/ro-tls2", b"").await.unwrap();
    client.close().await;
}
