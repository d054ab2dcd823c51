//! The fault proxy in front of a real ZooKeeper server.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aiozk_testkit::{four_letter_word_async, Ensemble, FaultProxy, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PING: [u8; 12] = [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0x0b];
const T: Duration = Duration::from_secs(5);

/// A ConnectRequest frame: protocol 0, lastZxid 0, timeout 10000, session 0, 16-byte zero
/// password, readOnly false.
fn connect_request() -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&0i32.to_be_bytes());
    payload.extend_from_slice(&0i64.to_be_bytes());
    payload.extend_from_slice(&10_000i32.to_be_bytes());
    payload.extend_from_slice(&0i64.to_be_bytes());
    payload.extend_from_slice(&16i32.to_be_bytes());
    payload.extend_from_slice(&[0; 16]);
    payload.push(0);
    assert_eq!(payload.len(), 45);
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend(payload);
    frame
}

async fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Opens a session through `addr` and returns the connection.
async fn session(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&connect_request()).await.expect("send connect");
    let resp = tokio::time::timeout(T, read_frame(&mut s))
        .await
        .expect("connect response in time")
        .expect("connect response");
    assert_eq!(resp.len(), 37, "ConnectResponse");
    let session_id = i64::from_be_bytes(resp[8..16].try_into().expect("8 bytes"));
    assert_ne!(session_id, 0);
    s
}

/// Sends a ping and reads its reply (xid -2).
async fn ping(s: &mut TcpStream) -> io::Result<()> {
    s.write_all(&PING).await?;
    let reply = tokio::time::timeout(T, read_frame(s))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no ping reply"))??;
    assert_eq!(reply.len(), 16);
    assert_eq!(&reply[..4], &[0xff, 0xff, 0xff, 0xfe]);
    Ok(())
}

/// Polls `f` every 20 ms until it is true, panicking after 5 s.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn server() -> Ensemble {
    Ensemble::start_async(1, ServerConfig::new())
        .await
        .expect("start ZooKeeper")
}

#[tokio::test]
async fn forwards_and_cuts() {
    let zk = server().await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.expect("proxy");
    assert_eq!(proxy.upstream(), zk.member_addr(0));

    let ruok = four_letter_word_async(proxy.addr(), "ruok", T).await;
    assert_eq!(ruok.expect("ruok through the proxy"), "imok");
    assert_eq!(proxy.accepted(), 1);
    until("the 4lw connection to close", || proxy.connections() == 0).await;

    // RST: the client's next read fails with a reset.
    let mut s = session(proxy.addr()).await;
    ping(&mut s).await.expect("ping");
    assert_eq!(proxy.connections(), 1);
    proxy.cut_rst().await;
    assert_eq!(proxy.connections(), 0);
    let mut buf = [0u8; 16];
    let err = s.read(&mut buf).await.expect_err("read after RST");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

    // FIN: the client reads end of stream.
    let mut s = session(proxy.addr()).await;
    proxy.cut_fin().await;
    assert_eq!(s.read(&mut buf).await.expect("read after FIN"), 0);

    // Cuts only affect connections that were open.
    let mut s = session(proxy.addr()).await;
    ping(&mut s).await.expect("ping on a new connection");

    // A new upstream for new connections; the open one keeps its server.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    proxy.set_upstream(dead);
    assert!(four_letter_word_async(proxy.addr(), "ruok", T)
        .await
        .is_err());
    ping(&mut s).await.expect("old connection still forwarded");
    proxy.set_upstream(zk.member_addr(0));
    assert_eq!(
        four_letter_word_async(proxy.addr(), "ruok", T)
            .await
            .expect("ruok"),
        "imok"
    );
}

#[tokio::test]
async fn refuse_blackhole_and_stall() {
    let zk = server().await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.expect("proxy");

    proxy.refuse(true);
    assert!(proxy.is_refusing());
    let refused = four_letter_word_async(proxy.addr(), "ruok", T).await;
    assert!(refused.is_err(), "refused connection answered: {refused:?}");
    assert_eq!(proxy.accepted(), 1);
    assert_eq!(proxy.connections(), 0);
    proxy.refuse(false);
    assert_eq!(
        four_letter_word_async(proxy.addr(), "ruok", T)
            .await
            .expect("ruok"),
        "imok"
    );

    let mut before = session(proxy.addr()).await;
    proxy.blackhole(true);
    let err = four_letter_word_async(proxy.addr(), "ruok", Duration::from_millis(500))
        .await
        .expect_err("black-holed 4lw");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let mut during = TcpStream::connect(proxy.addr()).await.expect("connect");
    during.write_all(&connect_request()).await.expect("write");
    until("the black-holed connection", || proxy.connections() == 2).await;
    // The connection from before gets no answer while the black hole is on...
    before.write_all(&PING).await.expect("write ping");
    let mut len = [0u8; 4];
    let silent =
        tokio::time::timeout(Duration::from_millis(300), before.read_exact(&mut len)).await;
    assert!(silent.is_err(), "black hole forwarded a reply");
    proxy.blackhole(false);
    // ...and gets it afterwards, while the one accepted during the black hole is reset.
    let reply = tokio::time::timeout(T, async {
        before.read_exact(&mut len).await?;
        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
        before.read_exact(&mut rest).await.map(|_| rest)
    })
    .await
    .expect("reply after the black hole")
    .expect("reply");
    assert_eq!(&reply[..4], &[0xff, 0xff, 0xff, 0xfe]);
    let mut buf = [0u8; 8];
    let err = tokio::time::timeout(T, during.read(&mut buf))
        .await
        .expect("reset in time")
        .expect_err("connection from the black hole is reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

    // Stall holds the reply back until resume.
    proxy.stall();
    before.write_all(&PING).await.expect("write ping");
    let silent =
        tokio::time::timeout(Duration::from_millis(300), before.read_exact(&mut len)).await;
    assert!(silent.is_err(), "stalled proxy forwarded a reply");
    proxy.resume();
    let reply = tokio::time::timeout(T, async {
        before.read_exact(&mut len).await?;
        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
        before.read_exact(&mut rest).await.map(|_| rest)
    })
    .await
    .expect("reply after resume")
    .expect("reply");
    assert_eq!(reply.len(), 16);
}

#[tokio::test]
async fn cut_after_requests_counts_frames() {
    let zk = server().await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.expect("proxy");

    // An open connection: frames before arming do not count.
    let mut s = session(proxy.addr()).await;
    ping(&mut s).await.expect("ping before arming");
    proxy.cut_after_requests(3);
    assert!(proxy.cut_after_requests_armed());
    ping(&mut s).await.expect("ping 1");
    ping(&mut s).await.expect("ping 2");
    let cut = ping(&mut s).await.expect_err("ping 3 is cut");
    assert_ne!(cut.kind(), io::ErrorKind::TimedOut, "{cut}");
    assert!(!proxy.cut_after_requests_armed());
    until("the cut connection to close", || proxy.connections() == 0).await;

    // Disarmed after firing: a new connection is not cut.
    let mut s = session(proxy.addr()).await;
    for _ in 0..5 {
        ping(&mut s).await.expect("ping after the cut fired");
    }
    drop(s);

    // Armed before connecting: the ConnectRequest is not counted.
    proxy.cut_after_requests(2);
    let mut s = session(proxy.addr()).await;
    ping(&mut s).await.expect("ping 1");
    let cut = ping(&mut s).await.expect_err("ping 2 is cut");
    assert_ne!(cut.kind(), io::ErrorKind::TimedOut, "{cut}");
    assert!(!proxy.cut_after_requests_armed());
}
