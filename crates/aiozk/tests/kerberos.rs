//! Kerberos (SASL GSSAPI) against a real KDC and a real server that requires SASL: one
//! session lives through at least five renewals of a two-minute ticket and at least three
//! forced reconnects (the last ones after its first ticket expired) without an
//! authentication failure; a client that does not renew fails to authenticate after its
//! ticket expired, which shows that the expiry is real and renewal is what keeps the first
//! one going; a ticket cache filled once by `kinit` is renewed in place and still
//! authenticates after its first ticket expired; a client without SASL is refused by the
//! server.
//!
//! Built with the `gssapi` feature only. It needs MIT's KDC (`krb5-kdc`,
//! `krb5-admin-server`; scripts/install-zookeeper.sh installs them) and takes a little over
//! two minutes, most of it waiting for tickets to age.

use std::time::{Duration, Instant};

use aiozk::{Acl, Client, CreateOptions, Error, Gssapi, Perms, SessionState};
use aiozk_testkit::{Ensemble, FaultProxy, Kdc, ServerConfig, TEST_REALM};

/// The lifetime of the client principal's tickets.
const TICKET_LIFE: Duration = Duration::from_secs(120);
/// Renewals the session must live through.
const RENEWALS: u64 = 5;

async fn state(client: &Client, want: SessionState, secs: u64, what: &str) {
    let mut rx = client.state_watch();
    tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: no {want:?} within {secs} s (now {:?})",
                client.state()
            )
        })
        .expect("the client is gone");
}

/// A session through `proxy` authenticated by `gss`. `localhost`: the server's principal is
/// made from the host as written, zookeeper/localhost@AIOZK.TEST.
async fn connect(proxy: &FaultProxy, gss: &Gssapi) -> Client {
    Client::builder(&format!("localhost:{}", proxy.addr().port()))
        .session_timeout(Duration::from_secs(20))
        .sasl_gssapi(gss.clone())
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect with {gss:?}: {e}"))
}

async fn cut_and_reconnect(client: &Client, proxy: &FaultProxy, what: &str) {
    proxy.cut_rst().await;
    state(client, SessionState::Disconnected, 30, what).await;
    state(client, SessionState::Connected, 30, what).await;
}

// Over two minutes, nearly all of it waiting: scripts/test.sh runs it beside the suite's
// first leg (`cargo test --features gssapi --test kerberos -- --ignored` runs it alone).
#[ignore = "two minutes of waiting for tickets to age; scripts/test.sh runs it beside the first leg"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_its_tickets_through_renewals_and_reconnects() {
    let kdc = Kdc::start().expect("start the KDC");
    // Before anything reads the Kerberos configuration: the only test of this binary, and
    // nothing else here reads the environment.
    std::env::set_var("KRB5_CONFIG", kdc.krb5_conf());
    let keytab = kdc
        .add_principal("app", Some(TICKET_LIFE))
        .expect("the client principal");
    let principal = format!("app@{TEST_REALM}");
    let config = ServerConfig::new()
        .min_session_timeout_ms(1000)
        .sasl_kerberos(&kdc, true)
        .expect("the server principal");
    let zk = Ensemble::start_async(1, config)
        .await
        .expect("start ZooKeeper");
    let upstream = zk.addrs()[0];
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let control_proxy = FaultProxy::start(upstream).await.expect("proxy");

    // Without SASL the server closes the session.
    let plain = Client::builder(&zk.connect_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect without SASL");
    let refused = plain
        .with_retry(aiozk::RetryPolicy::none())
        .create("/plain", b"")
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::SessionClosedRequireSaslAuth | Error::ConnectionLoss)
        ),
        "a client without SASL must be refused, got {refused:?}"
    );
    drop(plain);

    let started = Instant::now();
    let kerberos = Gssapi::keytab(&principal, &keytab).renew_at(0.2);
    let client = connect(&proxy, &kerberos).await;
    // A ticket cache filled once by kinit with a renewable ticket: the client renews it in
    // place.
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let cache = format!("FILE:{}", cache_dir.path().join("cc").display());
    let kinit = std::process::Command::new("kinit")
        .args(["-r", "1h", "-k", "-t"])
        .arg(&keytab)
        .args(["-c", &cache, &principal])
        .output()
        .expect("run kinit (Debian's krb5-user)");
    assert!(kinit.status.success(), "kinit: {kinit:?}");
    let cache_proxy = FaultProxy::start(upstream).await.expect("proxy");
    let cached = Gssapi::ticket_cache().ccache(&cache).renew_at(0.2);
    let from_cache = connect(&cache_proxy, &cached).await;
    let cache_session = from_cache.session_id();
    let control = Gssapi::keytab(&principal, &keytab).renew(false);
    let unrenewed = connect(&control_proxy, &control).await;
    let session = client.session_id();
    let first = kerberos.stats();
    println!(
        "authenticated as {:?}; ticket valid for {:?}",
        first.principal, first.ticket_valid_for
    );
    assert_eq!(first.principal.as_deref(), Some(principal.as_str()));
    let valid = first.ticket_valid_for.expect("a keytab login has a ticket");
    assert!(
        valid <= TICKET_LIFE && valid > TICKET_LIFE / 2,
        "the ticket's lifetime is the principal's maximum: {valid:?}"
    );

    // The node only the authenticated principal may touch: the server identifies the
    // session as `sasl:app`.
    let _ = client.delete("/kerberos", None).await;
    client
        .create_with(
            "/kerberos",
            b"0",
            &CreateOptions::new().acl(vec![Acl::sasl(Perms::ALL, "app")]),
        )
        .await
        .expect("create a node for sasl:app");

    let mut writes = 0u64;
    let mut lost = 0u64;
    let mut reconnects = 0u64;
    let mut renewals_seen = 0;
    let deadline = started + TICKET_LIFE * 3;
    // Reconnect after every renewal, and once more after the first ticket expired.
    loop {
        match client
            .set_data("/kerberos", writes.to_string().as_bytes(), None)
            .await
        {
            Ok(_) => writes += 1,
            Err(Error::ConnectionLoss) => lost += 1,
            Err(e) => panic!("a write failed other than by a connection loss: {e:?}"),
        }
        let renewals = kerberos.stats().renewals;
        let past_expiry = started.elapsed() > TICKET_LIFE + Duration::from_secs(10);
        if renewals > renewals_seen {
            renewals_seen = renewals;
            cut_and_reconnect(
                &client,
                &proxy,
                &format!("reconnect after renewal {renewals}"),
            )
            .await;
            reconnects += 1;
            println!(
                "renewal {renewals} at {:.0?}: reconnected and authenticated again",
                started.elapsed()
            );
        }
        if renewals_seen >= RENEWALS && past_expiry {
            cut_and_reconnect(&client, &proxy, "reconnect after the first ticket expired").await;
            reconnects += 1;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {renewals_seen} renewals after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let data = client
        .get_data("/kerberos")
        .await
        .expect("read after the last reconnect");
    assert_eq!(data.0, (writes - 1).to_string().as_bytes());

    // The ticket cache's ticket was renewed in place: a new connection authenticates.
    cut_and_reconnect(&from_cache, &cache_proxy, "the ticket cache's client").await;
    let cache_stats = cached.stats();
    println!(
        "ticket cache: {} renewals, {} authentications, {} failures; ticket valid for {:?}",
        cache_stats.renewals,
        cache_stats.authentications,
        cache_stats.failures,
        cache_stats.ticket_valid_for
    );
    assert!(cache_stats.renewals >= 4, "{cache_stats:?}");
    assert_eq!(cache_stats.failures, 0);
    assert_eq!(cache_stats.renewal_failures, 0);
    assert_eq!(from_cache.session_id(), cache_session);

    // The client that kept its first ticket cannot authenticate a new connection now.
    control_proxy.cut_rst().await;
    state(
        &unrenewed,
        SessionState::AuthFailed,
        60,
        "the client without renewals",
    )
    .await;

    let stats = kerberos.stats();
    let elapsed = started.elapsed();
    println!(
        "Kerberos: {} renewals, {} forced reconnects, {} authentications, {} failures, \
         {} renewal failures in {elapsed:.0?} (ticket lifetime {TICKET_LIFE:?}); {writes} writes, \
         {lost} lost to cuts; the client without renewals: {:?} after its ticket expired",
        stats.renewals,
        reconnects,
        stats.authentications,
        stats.failures,
        stats.renewal_failures,
        unrenewed.state()
    );
    assert!(stats.renewals >= RENEWALS);
    assert!(reconnects >= 3);
    assert_eq!(stats.failures, 0, "no authentication failure");
    assert_eq!(stats.renewal_failures, 0);
    assert_eq!(stats.authentications, reconnects + 1);
    assert_eq!(client.state(), SessionState::Connected);
    assert_eq!(client.session_id(), session, "the same session throughout");
    assert!(control.stats().failures >= 1);
    assert_eq!(control.stats().renewals, 0);
    client
        .delete("/kerberos", None)
        .await
        .expect("delete as sasl:app");
}
