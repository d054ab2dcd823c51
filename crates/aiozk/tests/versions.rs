//! What changed for clients between ZooKeeper 3.8 and 3.9, one test per change. Each test
//! runs on whichever release `ZK_VERSION` chooses and asserts that release's behaviour (CI
//! runs them on 3.9.5, on the newest 3.8.x and on Debian's 3.8.0).
//!
//! Some tests speak the wire protocol directly (with `aiozk-proto`) to show what the server
//! itself does; the others show that the client behaves correctly on that server.

mod common;

use std::time::{Duration, Instant};

use aiozk::acl::{creator_all_acl, read_acl_unsafe};
use aiozk::{Client, CreateOptions, Error, OpResult};
use aiozk_proto::{
    frame, ConnectRequest, ConnectResponse, Decode, Encode, OpCode, ReplyHeader, Request,
    RequestHeader,
};
use aiozk_testkit::{FaultProxy, ServerVersion};
use bytes::{Bytes, BytesMut};
use common::{base, connect, exists_needs_read, server, version, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn v(major: u32, minor: u32, patch: u32) -> ServerVersion {
    ServerVersion::new(major, minor, patch)
}

/// Whether the server is one of `x.y.a` to `x.y.b` (same minor).
fn in_line(version: ServerVersion, from: ServerVersion, to: ServerVersion) -> bool {
    version >= from && version <= to
}

// ------------------------------------------------------------------ raw protocol helpers

/// One connection that speaks the protocol by hand.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    async fn open() -> Raw {
        let stream = TcpStream::connect(server().member_addr(0))
            .await
            .expect("connect");
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, body: impl FnOnce(&mut BytesMut)) {
        let mut out = BytesMut::new();
        let start = frame::begin_frame(&mut out);
        body(&mut out);
        frame::finish_frame(&mut out, start);
        self.stream.write_all(&out).await.expect("write");
    }

    async fn frame(&mut self) -> Bytes {
        loop {
            if let Some(f) = frame::split_frame(&mut self.buf, 1 << 20).expect("framing") {
                return f;
            }
            let n = within(10, self.stream.read_buf(&mut self.buf))
                .await
                .expect("read");
            assert!(n > 0, "the server closed the connection");
        }
    }

    /// The handshake; `read_only_byte` false sends the ConnectRequest without its last byte,
    /// as clients before 3.4 did. Returns the ConnectResponse's bytes.
    async fn handshake(&mut self, read_only_byte: bool) -> Bytes {
        let request = ConnectRequest {
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            password: &[0; 16],
            read_only: false,
        };
        self.send(|b| {
            request.encode(b);
            if !read_only_byte {
                b.truncate(b.len() - 1);
            }
        })
        .await;
        self.frame().await
    }

    /// Sends one request (without waiting for its reply).
    async fn request(&mut self, xid: i32, op: OpCode, request: &Request<'_>) {
        self.send(|b| {
            RequestHeader {
                xid,
                op: op.as_i32(),
            }
            .encode(b);
            request.encode(b);
        })
        .await;
    }

    /// The next reply's header.
    async fn reply(&mut self) -> ReplyHeader {
        let mut reply = self.frame().await;
        ReplyHeader::decode(&mut reply).expect("reply header")
    }
}

// ------------------------------------------------------------------ the handshake

/// Both the 36-byte ConnectResponse (no read-only flag) and the 37-byte one are accepted.
/// A server answers 37 bytes to a client that sent the read-only byte, as this client always
/// does. To a client that left it out, 3.9.0 to 3.9.2 still answer 37 bytes; other releases
/// answer 36 (ZOOKEEPER-4814 restored that in 3.9.3).
#[tokio::test]
async fn connect_response_of_36_or_37_bytes() {
    let version = version();
    let mut raw = Raw::open().await;
    let with_byte = raw.handshake(true).await;
    assert_eq!(with_byte.len(), 37, "{version}");
    let mut raw = Raw::open().await;
    let without = raw.handshake(false).await;
    let expected = if in_line(version, v(3, 9, 0), v(3, 9, 2)) {
        37
    } else {
        36
    };
    assert_eq!(without.len(), expected, "{version}");
    for mut bytes in [with_byte, without] {
        let response = ConnectResponse::decode(&mut bytes).expect("either length decodes");
        assert!(response.timeout_ms > 0 && response.session_id != 0);
        assert!(!response.read_only);
    }
    // And the client gets its session on this server.
    let zk = connect("").await;
    assert!(zk.session_id() != 0);
    zk.close().await;
}

// ------------------------------------------------------------------ version checks

/// A version check alone is never sent as opcode 13: 3.8.5+ and 3.9.3+ answer UNIMPLEMENTED
/// to it (ZOOKEEPER-2623), older servers never answer it at all; inside a multi it works
/// everywhere. A transaction of one check is still a multi.
#[tokio::test]
async fn a_version_check_alone_goes_inside_a_multi() {
    let version = version();
    let zk = connect("").await;
    let b = base(&zk, "versions-check").await;
    let node = format!("{b}/n");
    zk.create(&node, b"").await.unwrap();

    let mut raw = Raw::open().await;
    raw.handshake(true).await;
    let check = Request::Check {
        path: &node,
        version: 0,
    };
    // The check, then an exists whose reply shows whether the check got one before it.
    raw.request(1, OpCode::Check, &check).await;
    let probe = Request::Exists {
        path: "/",
        watch: false,
    };
    raw.request(2, OpCode::Exists, &probe).await;
    let first = raw.reply().await;
    let refused = version >= v(3, 9, 3) || (version.minor == 8 && version >= v(3, 8, 5));
    if refused {
        assert_eq!(
            (first.xid, Some(first.err)),
            (1, Error::Unimplemented.code()),
            "{version}: opcode 13 alone"
        );
        // (3.8 closes the connection after that answer.)
    } else {
        // Older servers never answer it.
        assert_eq!((first.xid, first.err), (2, 0), "{version}: opcode 13 alone");
    }

    let ok = zk.transaction().check_version(&node, 0).commit().await;
    assert_eq!(ok.unwrap(), vec![OpResult::Checked], "{version}");
    let bad = zk.transaction().check_version(&node, 7).commit().await;
    match bad.unwrap_err() {
        Error::TransactionFailed { index, error, .. } => {
            assert_eq!((index, *error), (0, Error::BadVersion), "{version}")
        }
        other => panic!("{version}: {other:?}"),
    }
    zk.close().await;
}

// ------------------------------------------------------------------ multi

/// Creates inside a multi are sent as create2 (15). From 3.8.2 and 3.9.0 the server answers
/// with a Create2 result carrying the new node's Stat (ZOOKEEPER-4026); before, with a plain
/// create result, and the client reports no Stat. Container and TTL creates carry it always.
#[tokio::test]
async fn multi_creates_carry_their_stat_from_3_8_2() {
    let version = version();
    let zk = connect("").await;
    let b = base(&zk, "versions-multi").await;
    let plain = format!("{b}/plain");
    let eph = format!("{b}/eph");
    let container = format!("{b}/container");
    let results = zk
        .transaction()
        .create(&plain, b"abc", &CreateOptions::new())
        .create(&eph, b"", &CreateOptions::new().ephemeral())
        .create(&container, b"", &CreateOptions::new().container())
        .commit()
        .await
        .unwrap();
    let stats: Vec<Option<aiozk::Stat>> = results
        .into_iter()
        .map(|r| match r {
            OpResult::Created { stat, .. } => stat,
            other => panic!("{other:?}"),
        })
        .collect();
    let with_stat = version >= v(3, 9, 0) || (version.minor == 8 && version >= v(3, 8, 2));
    let read = |p: String| {
        let zk = zk.clone();
        async move { zk.exists(&p).await.unwrap().expect("created") }
    };
    let (plain_now, eph_now, container_now) =
        (read(plain).await, read(eph).await, read(container).await);
    if with_stat {
        assert_eq!(stats[0], Some(plain_now), "{version}");
        assert_eq!(stats[1], Some(eph_now), "{version}");
        assert_eq!(eph_now.ephemeral_owner, zk.session_id());
    } else {
        assert_eq!(stats[..2], [None, None], "{version}");
    }
    assert_eq!(stats[2], Some(container_now), "{version}");
    zk.close().await;
}

// ------------------------------------------------------------------ persistent watches

/// Changes `node` through `zk` and says whether the raw connection was notified: an exists
/// (with this `xid`) sent after the change is answered after any notification it caused.
async fn changed_and_notified(raw: &mut Raw, zk: &Client, node: &str, xid: i32) -> bool {
    zk.set_data(node, b"x", None).await.unwrap();
    let probe = Request::Exists {
        path: "/",
        watch: false,
    };
    raw.request(xid, OpCode::Exists, &probe).await;
    let first = raw.reply().await;
    if first.xid == -1 {
        assert_eq!(raw.reply().await.xid, xid);
        true
    } else {
        assert_eq!(first.xid, xid);
        false
    }
}

/// What the server does with a persistent watch and a one-shot data watch on one path and
/// connection. From 3.9 the two coexist (ZOOKEEPER-4466): the persistent watch outlives the
/// data watch's firing, and removeWatches with type Persistent (4, ZOOKEEPER-4472) removes it.
/// On 3.6–3.8 the data watch replaces the persistent one, which is gone once it fired, and
/// type 4 is answered with MARSHALLINGERROR (the connection stays usable); there only type
/// Any (3) removes a persistent watch.
#[tokio::test]
async fn persistent_and_oneshot_watches_coexist_from_3_9() {
    let version = version();
    let v39 = version >= v(3, 9, 0);
    let zk = connect("").await;
    let b = base(&zk, "versions-modes").await;
    let node = format!("{b}/n");
    zk.create(&node, b"").await.unwrap();

    let mut raw = Raw::open().await;
    raw.handshake(true).await;
    let add = Request::AddWatch {
        path: &node,
        mode: aiozk_proto::AddWatchMode::Persistent,
    };
    raw.request(1, OpCode::AddWatch, &add).await;
    assert_eq!(raw.reply().await.err, 0);
    let read = Request::GetData {
        path: &node,
        watch: true,
    };
    raw.request(2, OpCode::GetData, &read).await;
    assert_eq!(raw.reply().await.err, 0);

    assert!(
        changed_and_notified(&mut raw, &zk, &node, 11).await,
        "{version}"
    );
    assert_eq!(
        changed_and_notified(&mut raw, &zk, &node, 12).await,
        v39,
        "{version}: the persistent watch after the data watch fired"
    );

    let remove = Request::RemoveWatches {
        path: &node,
        watcher_type: aiozk_proto::WatcherType::Persistent,
    };
    raw.request(3, OpCode::RemoveWatches, &remove).await;
    let removed = raw.reply().await;
    let expected = if v39 {
        Some(0)
    } else {
        Error::MarshallingError.code()
    };
    assert_eq!((removed.xid, Some(removed.err)), (3, expected), "{version}");
    assert!(
        !changed_and_notified(&mut raw, &zk, &node, 13).await,
        "{version}: removed"
    );
    zk.close().await;
}

/// The client removes the server watch of its last persistent watcher with the type the
/// server takes, learned from the server without `srvr`: Persistent (4) on 3.9, at once;
/// on 3.6–3.8 the server's MARSHALLINGERROR turns it into Any (3), sent once the one-shot
/// watch on the same path has fired. Either way the one-shot watch fires, the connection
/// stays, and in the end the server holds no watch of the session on the path.
#[tokio::test]
async fn dropping_a_persistent_watcher_removes_its_server_watch_on_every_release() {
    let version = version();
    let zk = connect("").await;
    let writer = connect("").await;
    let b = base(&zk, "versions-drop").await;
    let node = format!("{b}/n");
    zk.create(&node, b"").await.unwrap();
    let persistent = zk.add_watch(&node, false).await.unwrap();
    let (_, _, once) = zk.get_data_watched(&node).await.unwrap();
    drop(persistent);
    writer.set_data(&node, b"x", None).await.unwrap();
    let event = within(10, once).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (aiozk::EventType::NodeDataChanged, node.as_str()),
        "{version}"
    );
    let session = format!("0x{:x}", zk.session_id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let wchc = server().four_letter_async(0, "wchc").await.unwrap();
        let mine = wchc
            .split("\n0x")
            .map(|s| format!("0x{}", s.trim_start_matches("0x")))
            .find(|s| s.starts_with(&session))
            .unwrap_or_default();
        if !mine.lines().any(|l| l.trim() == node) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{version}: the server still holds a watch on {node}: {mine}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(zk.stats().disconnects, 0, "{version}");
    // And a new persistent watch on the path works.
    let mut again = zk.add_watch(&node, false).await.unwrap();
    writer.set_data(&node, b"y", None).await.unwrap();
    let event = within(10, again.next()).await.expect("an event");
    assert_eq!(event.path, node);
    writer.close().await;
    zk.close().await;
}

// ------------------------------------------------------------------ ACLs

/// `exists` needs READ permission from 3.8.4 and 3.9.2 (ZOOKEEPER-2590): NoAuth instead of
/// the Stat. A missing node is still reported as missing. Notifications are filtered by ACL
/// (ZOOKEEPER-4799, 3.8.4/3.9.2, and Debian's 3.8.0 through its backport): a recursive
/// watcher without READ on a node hears nothing of its changes, and what it may read still
/// arrives, in order.
#[tokio::test]
async fn exists_needs_read_and_events_are_filtered_by_acl() {
    let version = version();
    let owner = connect("").await;
    owner.add_auth("digest", b"owner:pw").await.unwrap();
    let b = base(&owner, "versions-acl").await;
    let open = format!("{b}/open");
    let closed = format!("{b}/closed");
    owner.create(&open, b"").await.unwrap();
    owner
        .create_with(&closed, b"", &CreateOptions::new().acl(creator_all_acl()))
        .await
        .unwrap();

    let other = connect("").await;
    let exists = other.exists(&closed).await;
    if exists_needs_read(version) {
        assert_eq!(exists.unwrap_err(), Error::NoAuth, "{version}");
    } else {
        assert!(exists.unwrap().is_some(), "{version}");
    }
    assert_eq!(other.exists(&format!("{closed}x")).await.unwrap(), None);

    let mut watcher = other.add_watch(&b, true).await.unwrap();
    owner.set_data(&closed, b"1", None).await.unwrap();
    owner.set_data(&open, b"1", None).await.unwrap();
    let first = within(10, watcher.next()).await.expect("an event");
    let filters = exists_needs_read(version) || server().install().name() == "debian";
    if filters {
        assert_eq!(
            first.path, open,
            "{version}: the unreadable change is dropped"
        );
    } else {
        assert_eq!(first.path, closed, "{version}: no filtering before 3.8.4");
        let second = within(10, watcher.next()).await.expect("an event");
        assert_eq!(second.path, open);
    }

    // A node readable by anyone stays visible to exists either way.
    owner
        .set_acl(&closed, &read_acl_unsafe(), None)
        .await
        .unwrap();
    assert!(other.exists(&closed).await.unwrap().is_some());
    drop(watcher);
    other.close().await;
    owner.close().await;
}

// ------------------------------------------------------------------ local expiry

/// Local expiry applies only to an established session and never to a first connect
/// (ZOOKEEPER-4921, 3.9.4): a first connect that takes longer than the session timeout
/// still succeeds within its own bound (the connect timeout), and one that cannot succeed
/// fails with NoHosts at that bound, not with an expiry. Client behaviour, the same on
/// every release.
#[tokio::test]
async fn first_connect_has_its_own_bound_not_local_expiry() {
    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    proxy.blackhole(true);
    let session = Duration::from_millis(1500);

    // Unreachable for three session timeouts, then reachable: the connect succeeds.
    let t0 = Instant::now();
    let connecting = tokio::spawn(
        Client::builder(&proxy.addr().to_string())
            .session_timeout(session)
            .connect_timeout(Duration::from_secs(20))
            .connect(),
    );
    tokio::time::sleep(session * 3).await;
    proxy.blackhole(false);
    let client = within(30, connecting)
        .await
        .expect("join")
        .expect("a first connect outlives the session timeout");
    assert!(t0.elapsed() >= session * 3);
    assert!(client.session_id() != 0);
    client.close().await;

    // Never reachable: NoHosts once the connect timeout is over, not before.
    proxy.blackhole(true);
    let bound = Duration::from_secs(4);
    let t0 = Instant::now();
    let err = Client::builder(&proxy.addr().to_string())
        .session_timeout(session)
        .connect_timeout(bound)
        .connect()
        .await
        .expect_err("nothing answers");
    let took = t0.elapsed();
    assert!(matches!(err, Error::NoHosts(_)), "{err:?}");
    assert!(
        took >= bound && took < bound + Duration::from_secs(3),
        "{took:?}"
    );
}
