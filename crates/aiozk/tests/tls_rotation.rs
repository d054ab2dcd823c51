//! Certificate rotation on a 3-member ensemble that clients reach over TLS only: the
//! clients' CA bundle and client certificate (PEM files) are replaced under load, the
//! servers are restarted one by one with a certificate of the new authority that trust
//! only the new one, and every session lives through it. Also: CRL checking.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiozk::{Client, TlsOptions};
use aiozk_testkit::{Ensemble, ServerConfig, TestPki};
use common::load::{load, watch_session, within, Tally};

async fn all_connected(clients: &[Client], what: &str) {
    within(90, what, async {
        while !clients.iter().all(|c| c.state().is_connected()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// Replaces `path` at once (write aside, then rename), as deployment tools do.
fn replace(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).expect("write");
    std::fs::rename(&aside, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_ca_and_client_certificate_under_load_loses_no_session() {
    let old = TestPki::generate("old authority").expect("PKI");
    let new = TestPki::generate("new authority").expect("PKI");
    // The servers start with the old authority's certificate and accept client
    // certificates of both authorities; a client certificate is required.
    let zk = Ensemble::start_async(
        3,
        ServerConfig::new()
            .tls(&old)
            .file("ca.pem", format!("{}{}", old.ca_pem, new.ca_pem))
            .cfg_line("ssl.clientAuth=need")
            .startup_timeout(Duration::from_secs(90)),
    )
    .await
    .expect("start ZooKeeper (scripts/install-zookeeper.sh installs it)");
    let tls_servers: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.1:{}", zk.secure_client_port(i).expect("TLS port")))
        .collect();
    let tls_servers = tls_servers.join(",");

    let files = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = (
        files.path().join("ca.pem"),
        files.path().join("client.pem"),
        files.path().join("client.key"),
    );
    replace(&ca, &old.ca_pem);
    replace(&cert, &old.client_cert_pem);
    replace(&key, &old.client_key_pem);
    let options = || {
        TlsOptions::new()
            .ca_file(&ca)
            .and_then(|o| o.client_identity_files(&cert, &key))
            .expect("TLS files")
    };

    const CLIENTS: usize = 12;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let c = Client::builder(&tls_servers)
            .tls(options())
            .session_timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(60))
            .connect()
            .await
            .expect("connect over TLS");
        let path = format!("/rotation-{i}");
        c.create(&path, b"").await.expect("create");
        watch_session(&c, tally.clone());
        load(c.clone(), path, stop.clone(), tally.clone());
        clients.push(c);
    }
    // A client that does not read its files again, for contrast.
    let stale = TlsOptions::new()
        .ca_pem(old.ca_pem.as_bytes())
        .and_then(|o| {
            o.client_identity_pem(
                old.client_cert_pem.as_bytes(),
                old.client_key_pem.as_bytes(),
            )
        })
        .expect("TLS");
    let sessions: Vec<i64> = clients.iter().map(Client::session_id).collect();

    // 1. The clients trust both authorities and present the new certificate.
    replace(&ca, &format!("{}{}", old.ca_pem, new.ca_pem));
    replace(&cert, &new.client_cert_pem);
    replace(&key, &new.client_key_pem);
    for c in &clients {
        c.reconnect();
    }
    all_connected(&clients, "reconnects after the client files changed").await;

    // 2. Each server in turn restarts with the new authority's certificate, trusting only
    // the new authority: an old client certificate is refused from now on.
    for i in 0..3 {
        let dir = zk.member_dir(i).to_path_buf();
        replace(
            &dir.join("server.pem"),
            &format!("{}{}", new.server_cert_pem, new.server_key_pem),
        );
        replace(&dir.join("ca.pem"), &new.ca_pem);
        zk.restart_async(i)
            .await
            .expect("restart with new certificates");
        all_connected(&clients, "reconnects after a server restart").await;
    }

    // 3. The clients drop the old authority.
    replace(&ca, &new.ca_pem);
    for c in &clients {
        c.reconnect();
    }
    all_connected(&clients, "reconnects after the old authority was dropped").await;
    let ok_before = tally.ok.load(Ordering::Relaxed);
    within(60, "requests after the rotation", async {
        while tally.ok.load(Ordering::Relaxed) < ok_before + 2 * CLIENTS as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);

    let now: Vec<i64> = clients.iter().map(Client::session_id).collect();
    assert_eq!(now, sessions, "every client kept its session");
    for c in &clients {
        assert_eq!(c.stats().sessions, 1);
        // Two forced reconnects at least, and one more for each restart of its server.
        assert!(c.stats().reconnects >= 2, "{:?}", c.stats());
    }
    let bad = tally.bad.lock().unwrap().clone();
    assert!(
        bad.is_empty(),
        "failures other than connection losses: {bad:?}"
    );
    println!(
        "requests: {} ok, {} connection losses",
        tally.ok.load(Ordering::Relaxed),
        tally.connection_losses.load(Ordering::Relaxed)
    );

    // The old settings no longer work: the servers refuse the old certificate (and the
    // client refuses the servers' new one).
    let refused = Client::builder(&tls_servers)
        .tls(stale)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await;
    assert!(refused.is_err(), "the old certificates still connect");
    for c in clients {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_server_certificate_is_refused_with_crl_checking() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa,
        KeyIdMethod, KeyPair, RevocationReason, RevokedCertParams, SanType, SerialNumber,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(DnType::CommonName, "crl authority");
    let ca = params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.serial_number = Some(SerialNumber::from(4242u64));
    let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let crl = |revoked: Vec<RevokedCertParams>, number: u64| {
        CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&ca, &ca_key)
        .unwrap()
        .pem()
        .unwrap()
    };
    let empty = crl(Vec::new(), 1);
    let revoking = crl(
        vec![RevokedCertParams {
            serial_number: SerialNumber::from(4242u64),
            revocation_time: rcgen::date_time_ymd(2024, 6, 1),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        2,
    );
    let zk = Ensemble::start_async(
        1,
        ServerConfig::new()
            .secure_client_port(true)
            .file(
                "server.pem",
                format!("{}{}", server.pem(), server_key.serialize_pem()),
            )
            .file("ca.pem", ca.pem())
            .cfg_lines([
                "ssl.keyStore.location={dir}/server.pem",
                "ssl.keyStore.type=PEM",
                "ssl.trustStore.location={dir}/ca.pem",
                "ssl.trustStore.type=PEM",
                "ssl.clientAuth=none",
            ])
            .startup_timeout(Duration::from_secs(90)),
    )
    .await
    .expect("start ZooKeeper");
    let addr = format!("127.0.0.1:{}", zk.secure_client_port(0).unwrap());
    let files = tempfile::tempdir().unwrap();
    let crl_path = files.path().join("ca.crl");
    replace(&crl_path, &empty);
    let options = TlsOptions::new()
        .ca_pem(ca.pem().as_bytes())
        .and_then(|o| o.crl_file(&crl_path))
        .expect("TLS");
    let zk_client = Client::builder(&addr)
        .tls(options.clone())
        .connect_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("not revoked: connects");
    // The list now revokes the server's certificate: the next connection is refused.
    replace(&crl_path, &revoking);
    zk_client.reconnect();
    // A new client with the same options reads the list as it is now.
    let failure = Client::builder(&addr)
        .tls(options.clone())
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect_err("a revoked certificate is accepted");
    println!("refused: {failure}");
    assert!(
        failure.to_string().to_lowercase().contains("revoked"),
        "{failure}"
    );
    assert!(
        !zk_client.state().is_connected(),
        "the revoked server is still used"
    );
    zk_client.close().await;
}
