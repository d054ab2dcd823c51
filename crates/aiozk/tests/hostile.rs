//! Servers a real ZooKeeper never is, scripted on 127.0.0.1: garbage replies and handshakes,
//! a 1 ms negotiated session timeout, requests that hang, ports where nothing listens. The
//! client must fail calls with the cause (and the server that sent it), never hang, never
//! retry forever, never reconnect in a busy loop.

use std::time::{Duration, Instant};

use aiozk::{Client, ClientBuilder, Error, RetryPolicy, SessionEvent, SessionState};
use aiozk_testkit::{ScriptedConn, ScriptedServer};

/// Waits for `fut` at most `secs` seconds.
async fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out waiting")
}

/// A client builder for a scripted server. Read coalescing is off: its probe (an empty
/// MultiRead after each handshake) would be the first request the script reads.
fn scripted_client(addr: &str) -> ClientBuilder {
    Client::builder(addr).coalesce_reads(false)
}

/// Garbage made for the request with this xid.
type Garbage = fn(i32) -> Vec<u8>;

/// What a server answers to the ConnectRequest.
type Handshake = fn(&mut ScriptedConn) -> std::io::Result<()>;

/// The first request's header, then `garbage` built from its xid; then silence.
fn answer_with(garbage: Garbage) -> impl Fn(ScriptedConn) -> std::io::Result<()> {
    move |mut conn| {
        conn.handshake(10_000, 0x51)?;
        let (xid, _, _) = conn.read_request()?;
        conn.write_raw(&garbage(xid))?;
        conn.drain()
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

fn header(xid: i32, err: i32) -> Vec<u8> {
    let mut h = xid.to_be_bytes().to_vec();
    h.extend_from_slice(&7i64.to_be_bytes());
    h.extend_from_slice(&err.to_be_bytes());
    h
}

/// A getData reply whose data buffer announces `len` bytes, followed by `rest`.
fn data_reply(xid: i32, len: i32, rest: &[u8]) -> Vec<u8> {
    let mut p = header(xid, 0);
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(rest);
    frame(&p)
}

#[tokio::test]
async fn every_kind_of_garbage_reaches_the_caller_with_its_cause_and_server() {
    let cases: [(&str, Garbage, &str); 6] = [
        (
            "negative frame length",
            |_| (-5i32).to_be_bytes().to_vec(),
            "negative",
        ),
        (
            "truncated buffer",
            |x| data_reply(x, 100, &[1; 10]),
            "getData",
        ),
        (
            "buffer length -5",
            |x| data_reply(x, -5, &[0; 68]),
            "getData",
        ),
        (
            "buffer length 2^31-1",
            |x| data_reply(x, i32::MAX, &[0; 68]),
            "getData",
        ),
        ("unknown xid", |x| frame(&header(x + 1000, 0)), "xid"),
        (
            "garbage notification",
            |_| {
                let mut p = header(-1, 0);
                p.extend_from_slice(&[0xde, 0xad, 0xbe]);
                frame(&p)
            },
            "notification",
        ),
    ];
    for (name, garbage, cause) in cases {
        let server = ScriptedServer::start(answer_with(garbage)).unwrap();
        let addr = server.addr().to_string();
        // Even a policy that retries forever must end: the call fails with the cause.
        let zk = scripted_client(&addr)
            .retry_policy(RetryPolicy::forever())
            .connect()
            .await
            .unwrap();
        let started = Instant::now();
        let err = within(10, zk.get_data("/x")).await.unwrap_err();
        println!("{name}: {err} after {:?}", started.elapsed());
        match &err {
            Error::ProtocolViolation(m) => {
                assert!(m.contains(&addr), "{name}: the server is named: {m}");
                assert!(
                    m.to_lowercase().contains(&cause.to_lowercase()),
                    "{name}: the cause is named: {m}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(!err.is_retryable(), "{name}");
        assert!(
            server.connections() <= 2,
            "{name}: {} connections",
            server.connections()
        );
        zk.close().await;
    }
}

#[tokio::test]
async fn garbage_or_oversized_handshakes_fail_with_the_cause_not_a_timeout() {
    let cases: [(&str, Handshake, &str); 3] = [
        (
            "garbage",
            |c| c.write_frame(&[1, 2, 3, 4, 5, 6, 7]),
            "connect response",
        ),
        (
            "oversized",
            |c| c.write_raw(&(16i32 << 20).to_be_bytes()),
            "exceeds",
        ),
        (
            "negative length",
            |c| c.write_raw(&(-9i32).to_be_bytes()),
            "negative",
        ),
    ];
    for (name, reply, cause) in cases {
        let server = ScriptedServer::start(move |mut conn| {
            conn.read_frame()?;
            reply(&mut conn)?;
            conn.drain()
        })
        .unwrap();
        let addr = server.addr().to_string();
        let started = Instant::now();
        let err = scripted_client(&addr)
            .connect_timeout(Duration::from_secs(60))
            .connect()
            .await
            .unwrap_err();
        let took = started.elapsed();
        println!(
            "{name} handshake: {err} after {took:?}, {} connections",
            server.connections()
        );
        assert!(
            matches!(&err, Error::ProtocolViolation(m) if m.contains(&addr) && m.to_lowercase().contains(cause)),
            "{name}: {err:?}"
        );
        assert!(took < Duration::from_secs(15), "{name}: {took:?}");
        // Two rounds through the one server, not more.
        assert!(
            (2..=3).contains(&server.connections()),
            "{name}: {}",
            server.connections()
        );

        // A call queued on a started client fails the same way, also under forever().
        let zk = scripted_client(&addr)
            .retry_policy(RetryPolicy::forever())
            .start()
            .unwrap();
        let err = within(15, zk.exists("/")).await.unwrap_err();
        assert!(
            matches!(&err, Error::ProtocolViolation(m) if m.contains(&addr)),
            "{err:?}"
        );
        // While every server keeps sending garbage, new calls fail at once.
        let again = Instant::now();
        assert!(matches!(
            zk.exists("/").await,
            Err(Error::ProtocolViolation(_))
        ));
        assert!(again.elapsed() < Duration::from_secs(1));
        zk.close().await;
    }
}

#[tokio::test]
async fn a_one_millisecond_session_timeout_makes_no_reconnect_storm() {
    let server = ScriptedServer::start(|mut conn| {
        conn.handshake(1, 0x52)?;
        conn.drain()
    })
    .unwrap();
    let zk = scripted_client(&server.addr().to_string()).start().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = server.connections();
    let times = server.accepted();
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    println!("1 ms session timeout: {n} connections in 3 s, gaps (ms) {gaps:?}");
    assert!(n >= 2, "it does reconnect: {n}");
    assert!(n <= 8, "{n} connections in 3 s");
    zk.close().await;

    // A server that closes every connection right after the handshake: the back-off holds.
    let server = ScriptedServer::start(|mut conn| conn.handshake(10_000, 0x53)).unwrap();
    let zk = scripted_client(&server.addr().to_string()).start().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = server.connections();
    println!("closed after the handshake: {n} connections in 3 s");
    assert!(n <= 6, "{n} connections in 3 s");
    zk.close().await;
}

/// Answers exists with NoNode, pings with a reply; nothing else.
fn exists_server(mut conn: ScriptedConn) -> std::io::Result<()> {
    conn.handshake(10_000, 0x54)?;
    loop {
        let (xid, op, _) = conn.read_request()?;
        match op {
            11 => conn.reply(xid, 0, 0, &[])?,
            3 => conn.reply(xid, 9, -101, &[])?,
            _ => {}
        }
    }
}

#[tokio::test]
async fn fail_eagerly_fails_once_every_server_refused_twice() {
    let ports = aiozk_testkit::free_ports(2).unwrap();
    let servers = format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);

    // connect(): at once, with the cause, instead of after the connect timeout.
    let started = Instant::now();
    let err = scripted_client(&servers)
        .fail_eagerly(true)
        .connect_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap_err();
    println!("fail eagerly: {err} after {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, Error::NoHosts(m) if m.contains("refused")),
        "{err:?}"
    );

    // A started client: calls fail fast while every server refuses...
    let eager = scripted_client(&servers)
        .fail_eagerly(true)
        .start()
        .unwrap();
    let err = within(8, eager.exists("/")).await.unwrap_err();
    assert!(matches!(err, Error::NoHosts(_)), "{err:?}");
    // ... while the default keeps trying, like the Java client.
    let patient = scripted_client(&servers)
        .retry_policy(RetryPolicy::forever())
        .start()
        .unwrap();
    let waiting = tokio::spawn({
        let patient = patient.clone();
        async move { patient.exists("/").await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!waiting.is_finished(), "the default client gave up");

    // A server comes up: both work again.
    let _server = ScriptedServer::start_on(ports[1], exists_server).unwrap();
    assert_eq!(within(15, waiting).await.unwrap(), Ok(None));
    let recovered = within(15, async {
        loop {
            match eager.exists("/").await {
                Ok(stat) => return stat,
                Err(Error::NoHosts(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await;
    assert_eq!(recovered, None);
    eager.close().await;
    patient.close().await;
}

#[tokio::test]
async fn call_timeout_bounds_a_whole_call_retries_included() {
    // Requests hang; pings are answered, so the connection itself stays up.
    let hung = ScriptedServer::start(|mut conn| {
        conn.handshake(10_000, 0x55)?;
        conn.answer_pings_only()
    })
    .unwrap();
    let zk = scripted_client(&hung.addr().to_string())
        .retry_policy(RetryPolicy::forever())
        .call_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let err = within(10, zk.get_data("/")).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err, Error::RequestTimeout);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let started = Instant::now();
    let short = zk.with_call_timeout(Duration::from_millis(300));
    assert_eq!(
        within(10, short.exists("/")).await,
        Err(Error::RequestTimeout)
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    zk.close().await;

    // A call queued while no server answers at all is bounded too.
    let port = aiozk_testkit::free_port().unwrap();
    let zk = scripted_client(&format!("127.0.0.1:{port}"))
        .retry_policy(RetryPolicy::forever())
        .call_timeout(Duration::from_secs(1))
        .start()
        .unwrap();
    let started = Instant::now();
    assert_eq!(within(10, zk.exists("/")).await, Err(Error::RequestTimeout));
    assert!(started.elapsed() < Duration::from_secs(3));
    zk.close().await;
}

#[tokio::test]
async fn last_heard_follows_the_answers_to_our_requests() {
    // Answers pings for 2 s, then nothing; refuses every later connection.
    let server = ScriptedServer::start(|mut conn| {
        if conn.index() > 0 {
            return Ok(());
        }
        conn.handshake(3_000, 0x56)?;
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            let (xid, op, _) = conn.read_request()?;
            if op == 11 {
                conn.reply(xid, 0, 0, &[])?;
            }
        }
        conn.drain()
    })
    .unwrap();
    let zk = scripted_client(&server.addr().to_string())
        .connect()
        .await
        .unwrap();
    let first = zk.last_heard().expect("heard at the handshake");
    let mut states = zk.state_changes();
    // Pings go every second on an idle 3 s session; their answers move it on.
    within(20, async {
        while zk.last_heard().unwrap() <= first {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Then the server is silent, and the connection is given up after 2 s (⅔ of the
    // session timeout) without an answer, while the pings go on unanswered: the last
    // answer must be at least that long before the disconnection is seen. A client that
    // took its own sends for answers would have heard something within the last second.
    within(30, async {
        loop {
            if let Ok(SessionEvent::State(SessionState::Disconnected, _)) = states.recv().await {
                break;
            }
        }
    })
    .await;
    let silent = zk.last_heard().unwrap().elapsed();
    assert!(silent >= Duration::from_millis(1900), "{silent:?}");
    zk.close().await;
}
