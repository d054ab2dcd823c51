//! Chrooted clients: every path goes in with the chroot and comes back without it.

mod common;

use std::time::Duration;

use aiozk::{Client, CreateOptions, Error, EventType, OpResult, ReadOp, ReadResult};
use aiozk_testkit::FaultProxy;
use common::{connect, multi_create_has_stat, server, version, within};

/// Creates a fresh, empty chroot node `/<name>` (and its parents) with a root client.
async fn make_chroot(root: &Client, name: &str) -> String {
    let chroot = format!("/{name}");
    root.deleteall(&chroot).await.unwrap();
    root.ensure_path(&chroot).await.unwrap();
    chroot
}

#[tokio::test]
async fn paths_are_relative_to_the_chroot() {
    let root = connect("").await;
    let chroot = make_chroot(&root, "app-x").await;
    let zk = connect(&chroot).await;
    assert_eq!(zk.chroot(), Some(chroot.as_str()));

    let (path, stat) = zk.create("/a", b"data").await.unwrap();
    assert_eq!(path, "/a");
    assert_eq!(stat.data_length, 4);
    let (seq, _) = zk
        .create_with("/s-", b"", &CreateOptions::new().sequential())
        .await
        .unwrap();
    assert!(seq.starts_with("/s-") && seq.len() == 13, "{seq}");
    let (prot, _) = zk
        .create_with("/p-", b"", &CreateOptions::new().sequential().protected())
        .await
        .unwrap();
    assert!(prot.starts_with("/_c_"), "{prot}");
    // The root client sees them under the chroot.
    let (data, _) = root.get_data(&format!("{chroot}/a")).await.unwrap();
    assert_eq!(&data[..], b"data");
    assert!(root
        .exists(&format!("{chroot}{seq}"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(root.exists("/a").await.unwrap(), None);

    let mut children = zk.get_children("/").await.unwrap();
    children.sort();
    assert_eq!(children.len(), 3);
    assert_eq!(children[0], prot[1..]);
    assert_eq!(children[1], "a");
    assert_eq!(children[2], seq[1..]);
    // "/" is the chroot node itself.
    assert_eq!(
        zk.exists("/").await.unwrap(),
        root.exists(&chroot).await.unwrap()
    );
    let (_, stat) = zk.get_children_stat("/").await.unwrap();
    assert_eq!(stat.num_children, 3);
    assert_eq!(zk.get_all_children_number("/").await.unwrap(), 3);

    // Writes, ACLs, sync and ensure_path/deleteall all work on chroot paths.
    zk.set_data("/a", b"new", Some(0)).await.unwrap();
    assert_eq!(
        &root.get_data(&format!("{chroot}/a")).await.unwrap().0[..],
        b"new"
    );
    zk.get_acl("/a").await.unwrap();
    zk.set_acl("/a", &[aiozk::Acl::anyone_all()], Some(0))
        .await
        .unwrap();
    zk.sync("/a").await.unwrap();
    zk.ensure_path("/deep/er/path").await.unwrap();
    assert!(root
        .exists(&format!("{chroot}/deep/er/path"))
        .await
        .unwrap()
        .is_some());
    let report = zk.deleteall("/deep").await.unwrap();
    assert_eq!(report.deleted, 3);
    zk.delete("/a", None).await.unwrap();
    assert_eq!(root.exists(&format!("{chroot}/a")).await.unwrap(), None);

    // multi_read paths go through the chroot.
    zk.create("/r", b"r").await.unwrap();
    let reads = zk
        .multi_read(&[
            ReadOp::GetData("/r".into()),
            ReadOp::GetChildren("/".into()),
        ])
        .await
        .unwrap();
    assert!(matches!(&reads[0], Ok(ReadResult::Data(d, _)) if &d[..] == b"r"));
    assert!(matches!(&reads[1], Ok(ReadResult::Children(c)) if c.contains(&"r".to_owned())));

    // get_config is never chrooted.
    let (cfg, cfg_stat) = zk.get_config().await.unwrap();
    let (root_cfg, root_cfg_stat) = root.get_config().await.unwrap();
    assert_eq!((cfg, cfg_stat), (root_cfg, root_cfg_stat));
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn watch_event_paths_have_no_chroot() {
    let root = connect("").await;
    let chroot = make_chroot(&root, "app-watch").await;
    let zk = connect(&chroot).await;

    let (stat, created) = zk.exists_watched("/w").await.unwrap();
    assert_eq!(stat, None);
    let (_, _, children) = zk.get_children_watched("/").await.unwrap();
    // On another session: one connection holds one watch mode per path (3.8), and this one
    // already has a child watch on "/".
    let zk2 = connect(&chroot).await;
    let mut recursive = zk2.add_watch("/", true).await.unwrap();
    root.create(&format!("{chroot}/w"), b"").await.unwrap();

    let ev = within(10, created).await;
    assert_eq!(ev.event_type, EventType::NodeCreated);
    assert_eq!(ev.path, "/w");
    let ev = within(10, children).await;
    assert_eq!(ev.event_type, EventType::NodeChildrenChanged);
    assert_eq!(ev.path, "/");
    let ev = within(10, recursive.next()).await.unwrap();
    assert_eq!(ev.event_type, EventType::NodeCreated);
    assert_eq!(ev.path, "/w");

    let (_, _, data) = zk.get_data_watched("/w").await.unwrap();
    root.set_data(&format!("{chroot}/w"), b"x", None)
        .await
        .unwrap();
    let ev = within(10, data).await;
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/w");
    let ev = within(10, recursive.next()).await.unwrap();
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/w");

    // A change of the chroot node itself is reported as "/".
    root.set_data(&chroot, b"c", None).await.unwrap();
    let ev = within(10, recursive.next()).await.unwrap();
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/");
    drop(recursive);
    zk2.close().await;
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn transaction_results_have_no_chroot() {
    let root = connect("").await;
    let chroot = make_chroot(&root, "app-multi").await;
    let zk = connect(&chroot).await;
    let results = zk
        .transaction()
        .create("/m1", b"1", &CreateOptions::new())
        .create("/seq-", b"", &CreateOptions::new().sequential())
        .create("/c", b"", &CreateOptions::new().container())
        .create(
            "/ttl",
            b"",
            &CreateOptions::new().ttl(Duration::from_secs(60)),
        )
        .set_data("/m1", b"2", 0)
        .check_version("/m1", 1)
        .delete("/m1", 1)
        .commit()
        .await
        .unwrap();
    assert_eq!(results.len(), 7);
    // Plain creates carry their Stat from 3.8.2 and 3.9.0 (ZOOKEEPER-4026).
    let with_stat = multi_create_has_stat(version());
    match &results[0] {
        OpResult::Created { path, stat } => {
            assert_eq!(path, "/m1");
            assert_eq!(stat.is_some(), with_stat, "{stat:?}");
        }
        other => panic!("{other:?}"),
    }
    match &results[1] {
        OpResult::Created { path, stat } => {
            assert!(path.starts_with("/seq-") && path.len() == 15, "{path}");
            assert_eq!(stat.is_some(), with_stat, "{stat:?}");
        }
        other => panic!("{other:?}"),
    }
    // Container and TTL creates come back with a Stat.
    match &results[2] {
        OpResult::Created {
            path,
            stat: Some(_),
        } => assert_eq!(path, "/c"),
        other => panic!("{other:?}"),
    }
    match &results[3] {
        OpResult::Created {
            path,
            stat: Some(_),
        } => assert_eq!(path, "/ttl"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&results[4], OpResult::Updated(s) if s.version == 1));
    assert_eq!(results[5], OpResult::Checked);
    assert_eq!(results[6], OpResult::Deleted);
    assert!(root.exists(&format!("{chroot}/c")).await.unwrap().is_some());
    assert!(root
        .exists(&format!("{chroot}/m1"))
        .await
        .unwrap()
        .is_none());

    // A failed transaction in a chroot: nothing happened.
    let err = zk
        .transaction()
        .create("/n", b"", &CreateOptions::new())
        .delete("/missing", -1)
        .commit()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::TransactionFailed { index: 1, error, .. } if **error == Error::NoNode),
        "{err:?}"
    );
    assert_eq!(zk.exists("/n").await.unwrap(), None);
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn get_ephemerals_in_a_chroot() {
    let root = connect("").await;
    let chroot = make_chroot(&root, "app-eph").await;
    let zk = connect(&chroot).await;
    let other = connect(&chroot).await;
    let eph = CreateOptions::new().ephemeral();
    zk.ensure_path("/sub").await.unwrap();
    zk.create_with("/e1", b"", &eph).await.unwrap();
    zk.create_with("/sub/e2", b"", &eph).await.unwrap();
    zk.create_with("/other-e3", b"", &eph).await.unwrap();
    other.create_with("/not-mine", b"", &eph).await.unwrap();
    // The root client's own ephemeral, outside the chroot.
    root.create_with(&format!("{chroot}-sibling"), b"", &eph)
        .await
        .unwrap();

    let mut all = zk.get_ephemerals("/").await.unwrap();
    all.sort();
    assert_eq!(all, vec!["/e1", "/other-e3", "/sub/e2"]);
    let mut all = zk.get_ephemerals("").await.unwrap();
    all.sort();
    assert_eq!(all, vec!["/e1", "/other-e3", "/sub/e2"]);
    assert_eq!(zk.get_ephemerals("/sub").await.unwrap(), vec!["/sub/e2"]);
    // A plain string prefix, not a path prefix.
    let mut e = zk.get_ephemerals("/e").await.unwrap();
    e.sort();
    assert_eq!(e, vec!["/e1"]);
    assert_eq!(other.get_ephemerals("/").await.unwrap(), vec!["/not-mine"]);
    assert!(zk.get_ephemerals("/nothing").await.unwrap().is_empty());
    assert!(matches!(
        zk.get_ephemerals("sub").await.unwrap_err(),
        Error::InvalidPath { .. }
    ));
    other.close().await;
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn get_ephemerals_stays_inside_the_chroot() {
    // One session used through two chroots: the session's ephemerals next to the chroot
    // (whose names start with the chroot's name) are not the chrooted handle's business.
    let root = connect("").await;
    let base = make_chroot(&root, "app-eph2").await;
    let chroot = format!("{base}/app");
    root.create(&chroot, b"").await.unwrap();
    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    let owner = Client::builder(&proxy.addr().to_string())
        .connect()
        .await
        .unwrap();
    let eph = CreateOptions::new().ephemeral();
    owner
        .create_with(&format!("{base}/apple"), b"", &eph)
        .await
        .unwrap();
    owner
        .create_with(&format!("{chroot}/in"), b"", &eph)
        .await
        .unwrap();
    let id = owner.session_id();
    let password = owner.session_password();
    proxy.refuse(true);
    proxy.cut_rst().await;
    let zk = Client::builder(&format!("{}{chroot}", server().connect_string()))
        .resume_session(id, password)
        .connect()
        .await
        .unwrap();
    assert_eq!(zk.session_id(), id);
    assert_eq!(zk.get_ephemerals("/").await.unwrap(), vec!["/in"]);
    zk.close().await;
    within(5, owner.close()).await;
    root.close().await;
}

#[tokio::test]
async fn slash_chroot_means_the_root() {
    let zk = connect("/").await;
    assert_eq!(zk.chroot(), None);
    let children = zk.get_children("/").await.unwrap();
    assert!(children.contains(&"zookeeper".to_owned()), "{children:?}");
    let (path, _) = zk.create("/t-slash-chroot", b"").await.unwrap();
    assert_eq!(path, "/t-slash-chroot");
    let root = connect("").await;
    assert!(root.exists("/t-slash-chroot").await.unwrap().is_some());
    zk.delete("/t-slash-chroot", None).await.unwrap();
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn invalid_chroots_are_refused() {
    for suffix in ["/bad/", "/a//b", "/a/./b"] {
        let err = Client::builder(&format!("{}{suffix}", server().connect_string()))
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidPath { .. }),
            "{suffix}: {err:?}"
        );
    }
}

#[tokio::test]
async fn missing_chroot_gives_no_node_and_is_never_created() {
    let root = connect("").await;
    root.deleteall("/app-missing").await.unwrap();
    let zk = connect("/app-missing").await;
    assert_eq!(zk.exists("/").await.unwrap(), None);
    assert_eq!(zk.get_children("/").await.unwrap_err(), Error::NoNode);
    assert_eq!(zk.get_data("/").await.unwrap_err(), Error::NoNode);
    assert_eq!(zk.create("/a", b"").await.unwrap_err(), Error::NoNode);
    assert_eq!(zk.ensure_path("/a/b").await.unwrap_err(), Error::NoNode);
    assert_eq!(
        zk.set_data("/", b"", None).await.unwrap_err(),
        Error::NoNode
    );
    assert_eq!(root.exists("/app-missing").await.unwrap(), None);
    // Once the chroot exists, the same handle works.
    root.create("/app-missing", b"").await.unwrap();
    let (p, _) = zk.create("/a", b"").await.unwrap();
    assert_eq!(p, "/a");
    root.deleteall("/app-missing").await.unwrap();
    zk.close().await;
    root.close().await;
}

#[tokio::test]
async fn the_chroot_node_cannot_be_deleted_through_the_chroot() {
    let root = connect("").await;
    let chroot = make_chroot(&root, "app-del").await;
    let zk = connect(&chroot).await;
    zk.create("/kid", b"").await.unwrap();
    zk.delete("/kid", None).await.unwrap();
    assert_eq!(zk.delete("/", None).await.unwrap_err(), Error::BadArguments);
    assert_eq!(
        zk.delete("/", Some(0)).await.unwrap_err(),
        Error::BadArguments
    );
    assert!(root.exists(&chroot).await.unwrap().is_some());

    // deleteall("/") empties the chroot but keeps the chroot node.
    zk.ensure_path("/x/y").await.unwrap();
    zk.create("/z", b"").await.unwrap();
    let report = zk.deleteall("/").await.unwrap();
    assert_eq!(report.deleted, 3, "{report:?}");
    assert_eq!(report.failed, vec![("/".to_owned(), Error::BadArguments)]);
    assert!(root.exists(&chroot).await.unwrap().is_some());
    assert!(root.get_children(&chroot).await.unwrap().is_empty());
    // Neither can a transaction delete it.
    let err = zk.transaction().delete("/", -1).commit().await.unwrap_err();
    assert!(matches!(err, Error::TransactionFailed { .. }), "{err:?}");
    assert!(root.exists(&chroot).await.unwrap().is_some());
    zk.close().await;
    root.close().await;
}
