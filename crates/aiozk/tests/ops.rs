//! Every basic operation of the client against a real server: create modes, ensure_path,
//! deleteall, delete/set with versions, reads, ACL reads and writes, sync and the session
//! accessors.

mod common;

use std::time::{Duration, Instant};

use aiozk::{Acl, Client, CreateOptions, Error, Perms, SessionState};
use aiozk_testkit::FaultProxy;
use common::{base, connect, server, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Polls `exists(path)` every 100 ms until the node is gone; panics after `secs` seconds.
async fn wait_gone(zk: &Client, path: &str, secs: u64) -> Duration {
    let start = Instant::now();
    loop {
        if zk.exists(path).await.unwrap().is_none() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{path} still exists after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last 10 characters of a sequential node's name, which must all be digits.
fn seq_suffix(path: &str) -> u64 {
    let suffix = &path[path.len() - 10..];
    assert!(suffix.bytes().all(|b| b.is_ascii_digit()), "{path}");
    suffix.parse().unwrap()
}

#[tokio::test]
async fn create_persistent_returns_path_and_stat() {
    let zk = connect("").await;
    let b = base(&zk, "ops-persistent").await;
    let p = format!("{b}/node");
    let (path, stat) = zk.create(&p, b"abc").await.unwrap();
    assert_eq!(path, p);
    assert_eq!(stat.data_length, 3);
    assert_eq!(stat.version, 0);
    assert_eq!(stat.num_children, 0);
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(stat.czxid, stat.mzxid);
    assert!(stat.ctime > 0);
    let (data, stat2) = zk.get_data(&p).await.unwrap();
    assert_eq!(&data[..], b"abc");
    assert_eq!(stat2, stat);
    assert_eq!(zk.create(&p, b"").await.unwrap_err(), Error::NodeExists);
    assert_eq!(
        zk.create(&format!("{b}/missing/child"), b"")
            .await
            .unwrap_err(),
        Error::NoNode
    );
    // A create without a persistent flag is visible to another session.
    let other = connect("").await;
    assert_eq!(other.exists(&p).await.unwrap(), Some(stat));
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn ephemeral_is_deleted_promptly_on_close() {
    let zk = connect("").await;
    let b = base(&zk, "ops-ephemeral").await;
    let owner = connect("").await;
    let p = format!("{b}/eph");
    let (path, stat) = owner
        .create_with(&p, b"e", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    assert_eq!(path, p);
    assert_ne!(owner.session_id(), 0);
    assert_eq!(stat.ephemeral_owner, owner.session_id());
    assert_eq!(stat.data_length, 1);
    let seen = zk
        .exists(&p)
        .await
        .unwrap()
        .expect("visible to another client");
    assert_eq!(seen.ephemeral_owner, owner.session_id());
    owner.close().await;
    // close() waits for the server's reply to closeSession, by which time the ephemeral
    // node is gone: no polling needed.
    zk.sync(&b).await.unwrap();
    assert_eq!(zk.exists(&p).await.unwrap(), None);
    zk.close().await;
}

#[tokio::test]
async fn sequential_creates_get_ten_digit_suffixes() {
    let zk = connect("").await;
    let b = base(&zk, "ops-seq").await;
    let opts = CreateOptions::new().sequential();
    let (p1, s1) = zk
        .create_with(&format!("{b}/job-"), b"1", &opts)
        .await
        .unwrap();
    let (p2, _) = zk
        .create_with(&format!("{b}/job-"), b"2", &opts)
        .await
        .unwrap();
    assert!(p1.starts_with(&format!("{b}/job-")), "{p1}");
    assert_eq!(p1.len(), format!("{b}/job-").len() + 10);
    assert!(seq_suffix(&p2) > seq_suffix(&p1));
    assert_eq!(s1.ephemeral_owner, 0);
    assert_eq!(s1.data_length, 1);
    let (data, _) = zk.get_data(&p2).await.unwrap();
    assert_eq!(&data[..], b"2");
    let mut children = zk.get_children(&b).await.unwrap();
    children.sort();
    assert_eq!(
        children,
        vec![p1[b.len() + 1..].to_owned(), p2[b.len() + 1..].to_owned()]
    );

    // Ephemeral sequential: owned by the session, gone after close.
    let owner = connect("").await;
    let (e1, es) = owner
        .create_with(
            &format!("{b}/eph-"),
            b"",
            &CreateOptions::new().ephemeral().sequential(),
        )
        .await
        .unwrap();
    seq_suffix(&e1);
    assert_eq!(es.ephemeral_owner, owner.session_id());
    // Same as sequential().ephemeral().
    let (e2, _) = owner
        .create_with(
            &format!("{b}/eph-"),
            b"",
            &CreateOptions::new().sequential().ephemeral(),
        )
        .await
        .unwrap();
    assert!(seq_suffix(&e2) > seq_suffix(&e1));
    assert!(zk.exists(&e1).await.unwrap().is_some());
    owner.close().await;
    assert_eq!(zk.exists(&e1).await.unwrap(), None);
    assert_eq!(zk.exists(&e2).await.unwrap(), None);
    zk.close().await;
}

#[tokio::test]
async fn ephemeral_nodes_cannot_have_children() {
    let zk = connect("").await;
    let b = base(&zk, "ops-ephkids").await;
    let p = format!("{b}/eph");
    zk.create_with(&p, b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    assert_eq!(
        zk.create(&format!("{p}/kid"), b"").await.unwrap_err(),
        Error::NoChildrenForEphemerals
    );
    assert_eq!(
        zk.ensure_path(&format!("{p}/a/b")).await.unwrap_err(),
        Error::NoChildrenForEphemerals
    );
    zk.close().await;
}

#[tokio::test]
async fn protected_sequential_names_carry_a_guid() {
    let zk = connect("").await;
    let b = base(&zk, "ops-protected").await;
    let check = |path: &str, prefix: &str| {
        let name = &path[b.len() + 1..];
        // _c_<32 hex>-<prefix><10 digits>
        assert!(name.starts_with("_c_"), "{name}");
        let guid = &name[3..35];
        assert!(guid.bytes().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert_eq!(&name[35..36], "-", "{name}");
        assert_eq!(&name[36..36 + prefix.len()], prefix, "{name}");
        assert_eq!(name.len(), 36 + prefix.len() + 10, "{name}");
        seq_suffix(path);
        guid.to_owned()
    };
    let opts = CreateOptions::new().sequential().protected();
    let (p1, s1) = zk
        .create_with(&format!("{b}/lock-"), b"x", &opts)
        .await
        .unwrap();
    let (p2, _) = zk
        .create_with(&format!("{b}/lock-"), b"x", &opts)
        .await
        .unwrap();
    let g1 = check(&p1, "lock-");
    let g2 = check(&p2, "lock-");
    assert_ne!(g1, g2, "each create gets its own id");
    assert_eq!(s1.ephemeral_owner, 0);
    assert!(zk.exists(&p1).await.unwrap().is_some());

    let eopts = CreateOptions::new().ephemeral().sequential().protected();
    let (p3, s3) = zk
        .create_with(&format!("{b}/e-"), b"", &eopts)
        .await
        .unwrap();
    check(&p3, "e-");
    assert_eq!(s3.ephemeral_owner, zk.session_id());

    // A protected create that is not sequential is a plain create.
    let (p4, _) = zk
        .create_with(
            &format!("{b}/plain"),
            b"",
            &CreateOptions::new().protected(),
        )
        .await
        .unwrap();
    assert_eq!(p4, format!("{b}/plain"));
    zk.close().await;
}

#[tokio::test]
async fn container_is_reaped_after_its_last_child_goes() {
    let zk = connect("").await;
    let b = base(&zk, "ops-container").await;
    let c = format!("{b}/c");
    let unused = format!("{b}/unused");
    let copts = CreateOptions::new().container();
    let (path, stat) = zk.create_with(&c, b"", &copts).await.unwrap();
    assert_eq!(path, c);
    assert_eq!(stat.num_children, 0);
    zk.create_with(&unused, b"", &copts).await.unwrap();
    zk.create(&format!("{c}/kid"), b"").await.unwrap();
    zk.delete(&format!("{c}/kid"), None).await.unwrap();
    let took = wait_gone(&zk, &c, 15).await;
    println!("container reaped {took:?} after its last child was deleted");
    // A container that never had a child is kept.
    assert!(zk.exists(&unused).await.unwrap().is_some());

    // ensure_path_with(container) creates container nodes.
    let deep = format!("{b}/cc/x");
    zk.ensure_path_with(&deep, &copts).await.unwrap();
    zk.delete(&deep, None).await.unwrap();
    wait_gone(&zk, &format!("{b}/cc"), 15).await;
    zk.close().await;
}

#[tokio::test]
async fn ttl_nodes_disappear_after_their_ttl() {
    let zk = connect("").await;
    let b = base(&zk, "ops-ttl").await;
    let ttl = CreateOptions::new().ttl(Duration::from_millis(500));
    let p = format!("{b}/ttl");
    let (path, stat) = zk.create_with(&p, b"t", &ttl).await.unwrap();
    assert_eq!(path, p);
    assert_eq!(stat.data_length, 1);
    let (sp, _) = zk
        .create_with(
            &format!("{b}/ttlseq-"),
            b"",
            &CreateOptions::new()
                .sequential()
                .ttl(Duration::from_millis(500)),
        )
        .await
        .unwrap();
    seq_suffix(&sp);
    // Same mode built the other way round.
    let (sp2, _) = zk
        .create_with(
            &format!("{b}/ttlseq-"),
            b"",
            &CreateOptions::new()
                .ttl(Duration::from_millis(500))
                .sequential(),
        )
        .await
        .unwrap();
    seq_suffix(&sp2);
    assert!(zk.exists(&p).await.unwrap().is_some());
    let created = Instant::now();
    let took = wait_gone(&zk, &p, 15).await;
    assert!(created.elapsed() >= Duration::from_millis(400), "{took:?}");
    wait_gone(&zk, &sp, 15).await;
    wait_gone(&zk, &sp2, 15).await;

    // A TTL without a TTL mode, and a zero TTL, are refused before sending.
    assert!(matches!(
        zk.create_with(
            &format!("{b}/bad"),
            b"",
            &CreateOptions::new().ttl(Duration::ZERO)
        )
        .await
        .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        zk.create_with(
            &format!("{b}/bad"),
            b"",
            &CreateOptions::new().ttl(Duration::from_secs(1)).ephemeral()
        )
        .await
        .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    zk.close().await;
}

#[tokio::test]
async fn ensure_path_creates_deep_paths_and_tolerates_concurrency() {
    let zk = connect("").await;
    let zk2 = connect("").await;
    let b = base(&zk, "ops-ensure").await;
    let deep = format!("{b}/a/b/c/d/e/f");
    zk.ensure_path(&deep).await.unwrap();
    assert!(zk.exists(&deep).await.unwrap().is_some());
    // Existing path: fine, no error, nothing changes.
    let before = zk.exists(&deep).await.unwrap();
    zk.ensure_path(&deep).await.unwrap();
    assert_eq!(zk.exists(&deep).await.unwrap(), before);
    zk.ensure_path("/").await.unwrap();

    let deep2 = format!("{b}/x/y/z/w/v");
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = if i % 2 == 0 { zk.clone() } else { zk2.clone() };
        let p = deep2.clone();
        tasks.push(tokio::spawn(async move { c.ensure_path(&p).await }));
    }
    for t in tasks {
        within(10, t).await.unwrap().unwrap();
    }
    let (children, _) = zk.get_children_stat(&format!("{b}/x/y/z/w")).await.unwrap();
    assert_eq!(children, vec!["v".to_owned()]);
    assert_eq!(
        zk.get_all_children_number(&format!("{b}/x")).await.unwrap(),
        4
    );
    zk2.close().await;
    zk.close().await;
}

#[tokio::test]
async fn deleteall_removes_a_whole_subtree() {
    let zk = connect("").await;
    let b = base(&zk, "ops-deleteall").await;
    let root = format!("{b}/tree");
    // 1 + 3 + 12 + 48 = 64 nodes, created pipelined level by level.
    zk.create(&root, b"").await.unwrap();
    let mut level = vec![root.clone()];
    for fanout in [3, 4, 4] {
        let mut next = Vec::new();
        let futs: Vec<_> = level
            .iter()
            .flat_map(|p| (0..fanout).map(move |i| format!("{p}/n{i}")))
            .map(|p| {
                next.push(p.clone());
                zk.create(&p, b"d")
            })
            .collect();
        for f in futs {
            f.await.unwrap();
        }
        level = next;
    }
    assert_eq!(zk.get_all_children_number(&root).await.unwrap(), 63);
    let report = within(20, zk.deleteall(&root)).await.unwrap();
    assert_eq!(report.deleted, 64);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(zk.exists(&root).await.unwrap(), None);
    assert_eq!(zk.get_children(&b).await.unwrap(), Vec::<String>::new());

    // A missing path: nothing to do.
    let report = zk.deleteall(&format!("{b}/nothing")).await.unwrap();
    assert_eq!(report.deleted, 0);
    assert!(report.failed.is_empty());
    // An invalid path is the only error.
    assert!(matches!(
        zk.deleteall("no-slash").await.unwrap_err(),
        Error::InvalidPath { .. }
    ));
    zk.close().await;
}

#[tokio::test]
async fn deleteall_reports_what_it_cannot_delete() {
    let zk = connect("").await;
    let b = base(&zk, "ops-deleteall-noauth").await;
    let root = format!("{b}/tree");
    let locked = format!("{root}/locked");
    let kid = format!("{locked}/kid");
    zk.create(&root, b"").await.unwrap();
    zk.create_with(
        &locked,
        b"",
        &CreateOptions::new().acl(vec![Acl::world(Perms::ALL - Perms::DELETE)]),
    )
    .await
    .unwrap();
    zk.create(&kid, b"").await.unwrap();
    for i in 0..5 {
        zk.ensure_path(&format!("{root}/free{i}/x")).await.unwrap();
    }
    let report = zk.deleteall(&root).await.unwrap();
    // The 10 free nodes went; kid cannot be deleted (no DELETE on its parent), so its
    // ancestors are not empty.
    assert_eq!(report.deleted, 10, "{report:?}");
    assert!(
        report.failed.contains(&(kid.clone(), Error::NoAuth)),
        "{report:?}"
    );
    assert!(
        report.failed.contains(&(locked.clone(), Error::NotEmpty)),
        "{report:?}"
    );
    assert!(
        report.failed.contains(&(root.clone(), Error::NotEmpty)),
        "{report:?}"
    );
    assert_eq!(report.failed.len(), 3, "{report:?}");
    assert_eq!(
        zk.get_children(&root).await.unwrap(),
        vec!["locked".to_owned()]
    );
    assert!(zk.exists(&kid).await.unwrap().is_some());
    // Give DELETE back and clean up.
    zk.set_acl(&locked, &[Acl::anyone_all()], None)
        .await
        .unwrap();
    let report = zk.deleteall(&root).await.unwrap();
    assert_eq!(report.deleted, 3);
    assert!(report.failed.is_empty());
    zk.close().await;
}

#[tokio::test]
async fn delete_checks_versions_and_children() {
    let zk = connect("").await;
    let b = base(&zk, "ops-delete").await;
    let p = format!("{b}/n");
    zk.create(&p, b"0").await.unwrap();
    let stat = zk.set_data(&p, b"1", None).await.unwrap();
    assert_eq!(stat.version, 1);
    assert_eq!(zk.delete(&p, Some(0)).await.unwrap_err(), Error::BadVersion);
    assert_eq!(zk.delete(&p, Some(7)).await.unwrap_err(), Error::BadVersion);
    assert!(zk.exists(&p).await.unwrap().is_some());
    zk.delete(&p, Some(1)).await.unwrap();
    assert_eq!(zk.exists(&p).await.unwrap(), None);
    assert_eq!(zk.delete(&p, None).await.unwrap_err(), Error::NoNode);
    assert_eq!(zk.delete(&p, Some(1)).await.unwrap_err(), Error::NoNode);

    let parent = format!("{b}/parent");
    zk.ensure_path(&format!("{parent}/kid")).await.unwrap();
    assert_eq!(zk.delete(&parent, None).await.unwrap_err(), Error::NotEmpty);
    zk.delete(&format!("{parent}/kid"), None).await.unwrap();
    zk.delete(&parent, None).await.unwrap();
    // Reserved nodes cannot be deleted.
    assert_eq!(
        zk.delete("/zookeeper", None).await.unwrap_err(),
        Error::BadArguments
    );
    assert_eq!(zk.delete("/", None).await.unwrap_err(), Error::BadArguments);
    zk.close().await;
}

/// Creates `path` with null data (a -1 buffer length) by talking the wire protocol
/// directly, as another client would, independently of this client's encoder.
async fn create_with_null_data(path: &str) {
    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    async fn read_frame(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        let len = s.read_i32().await.unwrap();
        let mut buf = vec![0; len as usize];
        s.read_exact(&mut buf).await.unwrap();
        buf
    }
    let mut s = tokio::net::TcpStream::connect(server().member_addr(0))
        .await
        .unwrap();
    // ConnectRequest: protocol 0, lastZxid 0, timeout, session 0, 16-byte password, ro.
    let mut c = Vec::new();
    c.extend_from_slice(&0i32.to_be_bytes());
    c.extend_from_slice(&0i64.to_be_bytes());
    c.extend_from_slice(&10_000i32.to_be_bytes());
    c.extend_from_slice(&0i64.to_be_bytes());
    c.extend_from_slice(&16i32.to_be_bytes());
    c.extend_from_slice(&[0; 16]);
    c.push(0);
    s.write_all(&frame(&c)).await.unwrap();
    read_frame(&mut s).await;
    // create: header (xid 1, op 1), path, data = -1 (null), [31 world:anyone], flags 0.
    let mut r = Vec::new();
    r.extend_from_slice(&1i32.to_be_bytes());
    r.extend_from_slice(&1i32.to_be_bytes());
    string(&mut r, path);
    r.extend_from_slice(&(-1i32).to_be_bytes());
    r.extend_from_slice(&1i32.to_be_bytes());
    r.extend_from_slice(&31i32.to_be_bytes());
    string(&mut r, "world");
    string(&mut r, "anyone");
    r.extend_from_slice(&0i32.to_be_bytes());
    s.write_all(&frame(&r)).await.unwrap();
    let reply = read_frame(&mut s).await;
    assert_eq!(&reply[0..4], &1i32.to_be_bytes(), "xid");
    assert_eq!(&reply[12..16], &0i32.to_be_bytes(), "err of the raw create");
    // closeSession
    let mut close = Vec::new();
    close.extend_from_slice(&2i32.to_be_bytes());
    close.extend_from_slice(&(-11i32).to_be_bytes());
    s.write_all(&frame(&close)).await.unwrap();
    read_frame(&mut s).await;
}

#[tokio::test]
async fn exists_and_get_data_of_null_and_empty_data() {
    let zk = connect("").await;
    let b = base(&zk, "ops-data").await;
    let empty = format!("{b}/empty");
    let null = format!("{b}/null");
    assert_eq!(zk.exists(&empty).await.unwrap(), None);
    assert_eq!(zk.get_data(&empty).await.unwrap_err(), Error::NoNode);
    let (_, created) = zk.create(&empty, b"").await.unwrap();
    let stat = zk.exists(&empty).await.unwrap().expect("exists");
    assert_eq!(stat, created);
    assert_eq!(stat.data_length, 0);
    let (data, _) = zk.get_data(&empty).await.unwrap();
    assert!(data.is_empty());

    create_with_null_data(&null).await;
    let (data, stat) = zk.get_data(&null).await.unwrap();
    assert!(data.is_empty());
    assert_eq!(stat.data_length, 0);
    // get_data_opt tells the two apart.
    assert_eq!(zk.get_data_opt(&null).await.unwrap().0, None);
    assert_eq!(
        zk.get_data_opt(&empty).await.unwrap().0.as_deref(),
        Some(&b""[..])
    );
    // The client is still fine after decoding a null buffer.
    assert_eq!(zk.get_children(&b).await.unwrap().len(), 2);
    zk.close().await;
}

#[tokio::test]
async fn null_data_is_created_set_and_read_apart_from_empty_data() {
    let zk = connect("").await;
    let b = base(&zk, "ops-null").await;
    let null = format!("{b}/null");
    let empty = format!("{b}/empty");
    let full = format!("{b}/full");
    let (_, s_null) = zk
        .create_opt(&null, None, &CreateOptions::new())
        .await
        .unwrap();
    zk.create_opt(&empty, Some(b""), &CreateOptions::new())
        .await
        .unwrap();
    zk.create_opt(&full, Some(b"x"), &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    assert_eq!(s_null.data_length, 0);

    let (data, stat) = zk.get_data_opt(&null).await.unwrap();
    assert_eq!(data, None);
    assert_eq!(stat, s_null);
    let (data, _) = zk.get_data_opt(&empty).await.unwrap();
    assert_eq!(data.as_deref(), Some(&b""[..]));
    let (data, _) = zk.get_data_opt(&full).await.unwrap();
    assert_eq!(data.as_deref(), Some(&b"x"[..]));
    // get_data keeps reading null data as empty.
    for p in [&null, &empty] {
        let (data, stat) = zk.get_data(p).await.unwrap();
        assert!(data.is_empty());
        assert_eq!(stat.data_length, 0);
    }
    assert_eq!(
        zk.get_data_opt(&format!("{b}/missing")).await.unwrap_err(),
        Error::NoNode
    );

    // set_data_opt: null replaces data, and data replaces null.
    let s = zk.set_data_opt(&full, None, Some(0)).await.unwrap();
    assert_eq!((s.version, s.data_length), (1, 0));
    assert_eq!(zk.get_data_opt(&full).await.unwrap().0, None);
    zk.set_data_opt(&null, Some(b""), None).await.unwrap();
    assert_eq!(
        zk.get_data_opt(&null).await.unwrap().0.as_deref(),
        Some(&b""[..])
    );
    zk.set_data(&null, b"y", None).await.unwrap();
    assert_eq!(
        zk.get_data_opt(&null).await.unwrap().0.as_deref(),
        Some(&b"y"[..])
    );

    // The watched variant reads the same and its watch fires on a change.
    let (data, _, watcher) = zk.get_data_opt_watched(&full).await.unwrap();
    assert_eq!(data, None);
    zk.set_data(&full, b"z", None).await.unwrap();
    let event = within(10, watcher).await;
    assert_eq!(event.event_type, aiozk::EventType::NodeDataChanged);
    assert_eq!(event.path, full);

    // ensure_path creates its nodes without data.
    let deep = format!("{b}/d1/d2");
    zk.ensure_path(&deep).await.unwrap();
    assert_eq!(zk.get_data_opt(&deep).await.unwrap().0, None);
    assert_eq!(zk.get_data_opt(&format!("{b}/d1")).await.unwrap().0, None);

    // Inside a transaction.
    let t_null = format!("{b}/t-null");
    let t_empty = format!("{b}/t-empty");
    zk.transaction()
        .create_opt(&t_null, None, &CreateOptions::new())
        .create(&t_empty, b"", &CreateOptions::new())
        .set_data_opt(&empty, None, -1)
        .commit()
        .await
        .unwrap();
    assert_eq!(zk.get_data_opt(&t_null).await.unwrap().0, None);
    assert_eq!(
        zk.get_data_opt(&t_empty).await.unwrap().0.as_deref(),
        Some(&b""[..])
    );
    assert_eq!(zk.get_data_opt(&empty).await.unwrap().0, None);
    zk.close().await;
}

#[tokio::test]
async fn set_data_with_and_without_version() {
    let zk = connect("").await;
    let b = base(&zk, "ops-set").await;
    let p = format!("{b}/n");
    let (_, s0) = zk.create(&p, b"a").await.unwrap();
    let s1 = zk.set_data(&p, b"bb", None).await.unwrap();
    assert_eq!(s1.version, 1);
    assert_eq!(s1.data_length, 2);
    assert!(s1.mzxid > s0.mzxid);
    assert_eq!(s1.czxid, s0.czxid);
    let s2 = zk.set_data(&p, b"ccc", Some(1)).await.unwrap();
    assert_eq!(s2.version, 2);
    assert_eq!(
        zk.set_data(&p, b"x", Some(1)).await.unwrap_err(),
        Error::BadVersion
    );
    assert_eq!(
        zk.set_data(&p, b"x", Some(5)).await.unwrap_err(),
        Error::BadVersion
    );
    let s3 = zk.set_data(&p, b"dddd", Some(2)).await.unwrap();
    assert_eq!(s3.version, 3);
    let (data, stat) = zk.get_data(&p).await.unwrap();
    assert_eq!(&data[..], b"dddd");
    assert_eq!(stat, s3);
    assert_eq!(
        zk.set_data(&format!("{b}/missing"), b"", None)
            .await
            .unwrap_err(),
        Error::NoNode
    );
    zk.close().await;
}

#[tokio::test]
async fn get_children_and_children_stat() {
    let zk = connect("").await;
    let b = base(&zk, "ops-children").await;
    let names = ["delta", "alpha", "charlie", "bravo", "echo"];
    for n in names {
        zk.create(&format!("{b}/{n}"), b"").await.unwrap();
    }
    zk.create(&format!("{b}/alpha/sub"), b"").await.unwrap();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let mut children = zk.get_children(&b).await.unwrap();
    children.sort();
    assert_eq!(children, expected);
    let (mut children, stat) = zk.get_children_stat(&b).await.unwrap();
    children.sort();
    assert_eq!(children, expected);
    assert_eq!(stat.num_children, 5);
    assert_eq!(stat.cversion, 5);
    assert_eq!(stat, zk.exists(&b).await.unwrap().unwrap());
    zk.delete(&format!("{b}/echo"), None).await.unwrap();
    let (children, stat) = zk.get_children_stat(&b).await.unwrap();
    assert_eq!(children.len(), 4);
    assert_eq!(stat.num_children, 4);
    assert_eq!(stat.cversion, 6);
    assert_eq!(
        zk.get_children(&format!("{b}/alpha")).await.unwrap(),
        vec!["sub".to_owned()]
    );
    assert!(zk
        .get_children(&format!("{b}/bravo"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        zk.get_children(&format!("{b}/zulu")).await.unwrap_err(),
        Error::NoNode
    );
    assert_eq!(
        zk.get_children_stat(&format!("{b}/zulu"))
            .await
            .unwrap_err(),
        Error::NoNode
    );
    let root = zk.get_children("/").await.unwrap();
    assert!(root.contains(&"zookeeper".to_owned()), "{root:?}");
    zk.close().await;
}

#[tokio::test]
async fn get_acl_and_set_acl_track_the_acl_version() {
    let zk = connect("").await;
    let b = base(&zk, "ops-acl").await;
    let p = format!("{b}/n");
    zk.create(&p, b"").await.unwrap();
    let (acl, stat) = zk.get_acl(&p).await.unwrap();
    assert_eq!(acl, vec![Acl::anyone_all()]);
    assert_eq!(stat.aversion, 0);
    let read_write = vec![Acl::world(Perms::READ | Perms::WRITE | Perms::ADMIN)];
    let s1 = zk.set_acl(&p, &read_write, Some(0)).await.unwrap();
    assert_eq!(s1.aversion, 1);
    assert_eq!(s1.version, 0, "setACL leaves the data version alone");
    assert_eq!(
        zk.set_acl(&p, &read_write, Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    let (acl, stat) = zk.get_acl(&p).await.unwrap();
    assert_eq!(acl, read_write);
    assert_eq!(stat.aversion, 1);
    // The ACL is enforced: no CREATE.
    assert_eq!(
        zk.create(&format!("{p}/kid"), b"").await.unwrap_err(),
        Error::NoAuth
    );
    let s2 = zk.set_acl(&p, &[Acl::anyone_all()], None).await.unwrap();
    assert_eq!(s2.aversion, 2);
    zk.create(&format!("{p}/kid"), b"").await.unwrap();
    assert!(matches!(
        zk.set_acl(&p, &[], None).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert_eq!(
        zk.get_acl(&format!("{b}/missing")).await.unwrap_err(),
        Error::NoNode
    );
    zk.close().await;
}

#[tokio::test]
async fn sync_then_read_sees_another_clients_write() {
    let zk = connect("").await;
    let other = connect("").await;
    let b = base(&zk, "ops-sync").await;
    let p = format!("{b}/n");
    other.create(&p, b"from other").await.unwrap();
    zk.sync(&p).await.unwrap();
    let (data, _) = zk.get_data(&p).await.unwrap();
    assert_eq!(&data[..], b"from other");
    zk.sync("/").await.unwrap();
    assert!(matches!(
        zk.sync("bad").await.unwrap_err(),
        Error::InvalidPath { .. }
    ));
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn session_accessors_and_close_from_a_clone() {
    let zk = connect("").await;
    assert_ne!(zk.session_id(), 0);
    assert_eq!(zk.session_password().len(), 16);
    // Asked for 10 s; the server's bounds are 1 s to 40 s (20 ticks of 2 s).
    assert_eq!(zk.session_timeout(), Duration::from_secs(10));
    assert_eq!(zk.state(), SessionState::Connected);
    assert!(zk.connected_server().is_some());
    assert_eq!(zk.chroot(), None);
    let before = zk.stats().requests;
    zk.exists("/").await.unwrap();
    zk.get_children("/").await.unwrap();
    assert!(zk.stats().requests >= before + 2, "{:?}", zk.stats());
    assert!(zk.stats().sessions >= 1);

    // A short session timeout is negotiated too.
    let short = Client::builder(&server().connect_string())
        .session_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    assert_eq!(short.session_timeout(), Duration::from_secs(2));
    assert_ne!(short.session_id(), zk.session_id());
    short.close().await;

    let clone = zk.clone();
    clone.close().await;
    assert_eq!(zk.state(), SessionState::Closed);
    assert_eq!(zk.exists("/").await.unwrap_err(), Error::Closed);
    assert_eq!(clone.get_data("/").await.unwrap_err(), Error::Closed);
    assert_eq!(zk.create("/x", b"").await.unwrap_err(), Error::Closed);
    // Closing again is harmless.
    within(5, zk.close()).await;
}

#[tokio::test]
async fn resume_session_reuses_the_session() {
    let zk = connect("").await;
    let b = base(&zk, "ops-resume").await;
    // The first owner goes through a proxy that is then shut, so that it cannot reconnect
    // and take the session back from the resumed client.
    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    let owner = Client::builder(&proxy.addr().to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let eph = format!("{b}/eph");
    owner
        .create_with(&eph, b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    let id = owner.session_id();
    let password = owner.session_password();
    proxy.refuse(true);
    proxy.cut_rst().await;
    let resumed = Client::builder(&server().connect_string())
        .session_timeout(Duration::from_secs(10))
        .resume_session(id, password)
        .connect()
        .await
        .unwrap();
    assert_eq!(resumed.session_id(), id);
    assert_eq!(
        resumed.get_ephemerals("/").await.unwrap(),
        vec![eph.clone()]
    );
    assert_eq!(
        resumed.exists(&eph).await.unwrap().unwrap().ephemeral_owner,
        id
    );
    // Closing the resumed handle ends the session: the ephemeral goes.
    resumed.close().await;
    assert_eq!(zk.exists(&eph).await.unwrap(), None);
    within(5, owner.close()).await;
    zk.close().await;
}

#[tokio::test]
async fn calls_made_before_the_connection_is_up_are_queued() {
    let root = connect("").await;
    let b = base(&root, "ops-start").await;
    let zk = Client::builder(&server().connect_string()).start().unwrap();
    // Issued at once, before the handshake; sent afterwards, in call order.
    let p = format!("{b}/early");
    let create = zk.create(&p, b"1");
    let set = zk.set_data(&p, b"2", Some(0));
    let get = zk.get_data(&p);
    assert_eq!(within(10, create).await.unwrap().0, p);
    assert_eq!(within(10, set).await.unwrap().version, 1);
    assert_eq!(&within(10, get).await.unwrap().0[..], b"2");
    assert_eq!(zk.state(), SessionState::Connected);
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn state_changes_report_the_close() {
    let zk = Client::connect(&server().connect_string()).await.unwrap();
    let mut events = zk.state_changes();
    let mut state = zk.state_watch();
    assert_eq!(*state.borrow_and_update(), SessionState::Connected);
    zk.close().await;
    within(10, state.wait_for(|s| *s == SessionState::Closed))
        .await
        .unwrap();
    let ev = within(10, events.recv()).await.unwrap();
    assert!(
        matches!(
            ev,
            aiozk::SessionEvent::State(SessionState::Closed, aiozk::StateCause::UserClose)
        ),
        "{ev:?}"
    );
}

#[tokio::test]
async fn persistent_watcher_is_a_stream() {
    use futures_core::Stream;
    use std::pin::Pin;
    let zk = connect("").await;
    let b = base(&zk, "ops-stream").await;
    let mut w = zk.add_watch(&b, true).await.unwrap();
    zk.create(&format!("{b}/x"), b"").await.unwrap();
    let ev = within(
        10,
        std::future::poll_fn(|cx| Pin::new(&mut w).poll_next(cx)),
    )
    .await
    .unwrap();
    assert_eq!(ev.event_type, aiozk::EventType::NodeCreated);
    assert_eq!(ev.path, format!("{b}/x"));
    zk.close().await;
}

#[tokio::test]
async fn requests_queued_before_close_are_carried_out() {
    let zk = connect("").await;
    let b = base(&zk, "ops-close-queued").await;
    let other = connect("").await;
    let futs: Vec<_> = (0..100)
        .map(|i| zk.create(&format!("{b}/n{i}"), b""))
        .collect();
    // close() is queued after the creates, so the server runs them first.
    within(10, zk.close()).await;
    for f in futs {
        within(10, f).await.unwrap();
    }
    assert_eq!(other.get_children(&b).await.unwrap().len(), 100);
    other.close().await;
}
