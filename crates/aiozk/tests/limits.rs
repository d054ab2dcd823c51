//! Limits and bad input against a real server: large values, the frame limit in both
//! directions, many children, and invalid paths.

mod common;

use std::time::Duration;

use aiozk::{Client, CreateOptions, Error, ReadOp, SessionState};
use common::{base, connect, multi_create_has_stat, server, version, within};

/// A request refused before sending for the frame limit.
fn is_invalid_arg(r: &Error) -> bool {
    matches!(r, Error::FrameTooLarge { reply: false, .. })
}

#[tokio::test]
async fn a_one_megabyte_value_round_trips() {
    let zk = connect("").await;
    let b = base(&zk, "lim-big").await;
    let p = format!("{b}/big");
    let value: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (_, stat) = zk.create(&p, &value).await.unwrap();
    assert_eq!(stat.data_length, 1_000_000);
    let (data, _) = zk.get_data(&p).await.unwrap();
    assert_eq!(data.len(), value.len());
    assert!(data[..] == value[..]);
    let other: Vec<u8> = value.iter().rev().copied().collect();
    let stat = zk.set_data(&p, &other, Some(0)).await.unwrap();
    assert_eq!(stat.data_length, 1_000_000);
    let (data, _) = zk.get_data(&p).await.unwrap();
    assert!(data[..] == other[..]);
    // Also inside a transaction.
    let q = format!("{b}/big2");
    zk.transaction()
        .create(&q, &value, &CreateOptions::new())
        .commit()
        .await
        .unwrap();
    assert_eq!(zk.exists(&q).await.unwrap().unwrap().data_length, 1_000_000);
    zk.close().await;
}

#[tokio::test]
async fn data_over_the_frame_limit_fails_before_sending() {
    let zk = connect("").await;
    let b = base(&zk, "lim-over").await;
    let p = format!("{b}/n");
    zk.create(&p, b"small").await.unwrap();
    let huge = vec![1u8; 1_100_000];
    let before = zk.stats().requests;
    assert!(is_invalid_arg(
        &zk.create(&format!("{b}/huge"), &huge).await.unwrap_err()
    ));
    assert!(is_invalid_arg(
        &zk.set_data(&p, &huge, None).await.unwrap_err()
    ));
    assert!(is_invalid_arg(
        &zk.transaction()
            .set_data(&p, &huge, -1)
            .commit()
            .await
            .unwrap_err()
    ));
    // Two values that fit one by one but not together in one transaction.
    let half = vec![2u8; 600_000];
    assert!(is_invalid_arg(
        &zk.transaction()
            .create(&format!("{b}/h1"), &half, &CreateOptions::new())
            .create(&format!("{b}/h2"), &half, &CreateOptions::new())
            .commit()
            .await
            .unwrap_err()
    ));
    assert_eq!(zk.stats().requests, before, "nothing was sent");
    // The client still works and nothing changed.
    assert_eq!(zk.state(), SessionState::Connected);
    assert_eq!(&zk.get_data(&p).await.unwrap().0[..], b"small");
    assert_eq!(zk.exists(&format!("{b}/huge")).await.unwrap(), None);
    assert_eq!(zk.exists(&format!("{b}/h1")).await.unwrap(), None);
    assert_eq!(zk.stats().disconnects, 0);
    zk.close().await;
}

#[tokio::test]
async fn ten_thousand_children() {
    let zk = connect("").await;
    let b = base(&zk, "lim-children").await;
    let p = format!("{b}/many");
    zk.create(&p, b"").await.unwrap();
    // Pipelined: every request is queued when its future is made.
    let futs: Vec<_> = (0..10_000)
        .map(|i| zk.create(&format!("{p}/child-{i:05}"), b""))
        .collect();
    for f in futs {
        f.await.unwrap();
    }
    let mut children = within(30, zk.get_children(&p)).await.unwrap();
    assert_eq!(children.len(), 10_000);
    children.sort();
    let expected: Vec<String> = (0..10_000).map(|i| format!("child-{i:05}")).collect();
    assert_eq!(children, expected);
    let (children, stat) = zk.get_children_stat(&p).await.unwrap();
    assert_eq!(children.len(), 10_000);
    assert_eq!(stat.num_children, 10_000);
    assert_eq!(zk.get_all_children_number(&p).await.unwrap(), 10_000);
    zk.close().await;
}

const INVALID: &[&str] = &[
    "",
    "a",
    "/a/",
    "/a//b",
    "/a/./b",
    "/a/../b",
    "/a\u{0}b",
    "/a\u{1}",
    "//",
    "/.",
    "/a/\u{7f}",
    "/\u{e000}",
];

#[tokio::test]
async fn invalid_paths_are_refused_by_every_operation() {
    let zk = connect("").await;
    let b = base(&zk, "lim-paths").await;
    let before = zk.stats();
    for &bad in INVALID {
        let check = |what: &str, e: Error| {
            assert!(
                matches!(&e, Error::InvalidPath { path, .. } if path == bad),
                "{what}({bad:?}): {e:?}"
            );
        };
        check("exists", zk.exists(bad).await.unwrap_err());
        check("exists_watched", zk.exists_watched(bad).await.unwrap_err());
        check("get_data", zk.get_data(bad).await.unwrap_err());
        check(
            "get_data_watched",
            zk.get_data_watched(bad).await.unwrap_err(),
        );
        check("get_children", zk.get_children(bad).await.unwrap_err());
        check(
            "get_children_stat",
            zk.get_children_stat(bad).await.unwrap_err(),
        );
        check(
            "get_children_watched",
            zk.get_children_watched(bad).await.unwrap_err(),
        );
        check("get_acl", zk.get_acl(bad).await.unwrap_err());
        check(
            "set_acl",
            zk.set_acl(bad, &[aiozk::Acl::anyone_all()], None)
                .await
                .unwrap_err(),
        );
        check("set_data", zk.set_data(bad, b"", None).await.unwrap_err());
        check("create", zk.create(bad, b"").await.unwrap_err());
        check(
            "create ephemeral",
            zk.create_with(bad, b"", &CreateOptions::new().ephemeral())
                .await
                .unwrap_err(),
        );
        check("delete", zk.delete(bad, None).await.unwrap_err());
        check("deleteall", zk.deleteall(bad).await.unwrap_err());
        check("ensure_path", zk.ensure_path(bad).await.unwrap_err());
        check("sync", zk.sync(bad).await.unwrap_err());
        check("add_watch", zk.add_watch(bad, false).await.unwrap_err());
        check(
            "add_watch recursive",
            zk.add_watch(bad, true).await.unwrap_err(),
        );
        check(
            "get_all_children_number",
            zk.get_all_children_number(bad).await.unwrap_err(),
        );
        check(
            "multi_read",
            zk.multi_read(&[ReadOp::GetData("/".into()), ReadOp::GetChildren(bad.into())])
                .await
                .unwrap_err(),
        );
        check(
            "transaction create",
            zk.transaction()
                .create(bad, b"", &CreateOptions::new())
                .commit()
                .await
                .unwrap_err(),
        );
        check(
            "transaction delete",
            zk.transaction().delete(bad, -1).commit().await.unwrap_err(),
        );
        check(
            "transaction set_data",
            zk.transaction()
                .set_data(bad, b"", -1)
                .commit()
                .await
                .unwrap_err(),
        );
        check(
            "transaction check_version",
            zk.transaction()
                .check_version(bad, -1)
                .commit()
                .await
                .unwrap_err(),
        );
        if !["/a/", "/."].contains(&bad) {
            // (Those two are valid sequential prefixes: "/a/1" and "/.1".)
            check(
                "sequential create",
                zk.create_with(bad, b"", &CreateOptions::new().sequential())
                    .await
                    .unwrap_err(),
            );
        }
    }
    assert!(matches!(
        zk.get_ephemerals("a").await.unwrap_err(),
        Error::InvalidPath { .. }
    ));
    // Nothing went to the server and the client is fine.
    assert_eq!(zk.stats(), before);
    assert_eq!(zk.state(), SessionState::Connected);
    zk.create(&format!("{b}/fine"), b"").await.unwrap();
    assert_eq!(zk.get_children(&b).await.unwrap(), vec!["fine".to_owned()]);
    zk.close().await;
}

#[tokio::test]
async fn odd_but_valid_paths_work() {
    let zk = connect("").await;
    let b = base(&zk, "lim-odd").await;
    for name in [
        "..a",
        "a.",
        "...",
        "spa ce",
        "ünïcødé",
        "日本",
        "a:b,c=d",
        "-",
    ] {
        let p = format!("{b}/{name}");
        let (path, _) = zk.create(&p, name.as_bytes()).await.unwrap();
        assert_eq!(path, p);
        assert_eq!(zk.get_data(&p).await.unwrap().0, name.as_bytes());
    }
    assert_eq!(zk.get_children(&b).await.unwrap().len(), 8);
    zk.close().await;
}

#[tokio::test]
async fn a_trailing_slash_is_a_valid_sequential_prefix() {
    let zk = connect("").await;
    let b = base(&zk, "lim-seq").await;
    let q = format!("{b}/q");
    zk.create(&q, b"").await.unwrap();
    let opts = CreateOptions::new().sequential();
    let (p1, _) = zk.create_with(&format!("{q}/"), b"1", &opts).await.unwrap();
    let (p2, _) = zk.create_with(&format!("{q}/"), b"2", &opts).await.unwrap();
    assert_eq!(p1, format!("{q}/0000000000"));
    assert_eq!(p2, format!("{q}/0000000001"));
    let mut children = zk.get_children(&q).await.unwrap();
    children.sort();
    assert_eq!(children, vec!["0000000000", "0000000001"]);
    // In a transaction too.
    let results = zk
        .transaction()
        .create(&format!("{q}/"), b"", &opts)
        .commit()
        .await
        .unwrap();
    match &results[..] {
        [aiozk::OpResult::Created { path, stat }] => {
            assert_eq!(*path, format!("{q}/0000000002"));
            // The Stat comes from 3.8.2 and 3.9.0 (ZOOKEEPER-4026).
            assert_eq!(stat.is_some(), multi_create_has_stat(version()), "{stat:?}");
        }
        other => panic!("{other:?}"),
    }
    // But not for a plain create.
    assert!(matches!(
        zk.create(&format!("{q}/"), b"").await.unwrap_err(),
        Error::InvalidPath { .. }
    ));
    zk.close().await;
}

#[tokio::test]
async fn a_reply_over_the_clients_frame_limit() {
    let zk = connect("").await;
    let b = base(&zk, "lim-frame").await;
    let big = format!("{b}/big");
    let small = format!("{b}/small");
    zk.create(&big, &vec![3u8; 200_000]).await.unwrap();
    zk.create(&small, b"ok").await.unwrap();

    let tiny = Client::builder(&server().connect_string())
        .max_frame(64 * 1024)
        .connect()
        .await
        .unwrap();
    let session = tiny.session_id();
    tiny.create_with(&format!("{b}/eph"), b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    // Its own requests over the limit fail locally.
    assert!(is_invalid_arg(
        &tiny
            .set_data(&small, &vec![0u8; 70_000], None)
            .await
            .unwrap_err()
    ));
    assert_eq!(tiny.stats().disconnects, 0);

    // A reply over the limit: the client drops the connection (the stream cannot be read
    // past it) and fails the request with an error that no retry policy repeats.
    let err = within(10, tiny.get_data(&big)).await.unwrap_err();
    println!("oversized reply: {err:?}");
    assert!(
        matches!(
            &err,
            Error::FrameTooLarge {
                reply: true,
                limit: 65_536,
                size
            } if *size > 200_000
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_frame"), "{err}");
    assert!(!err.is_retryable());

    // It reconnects to the same session and small requests work again.
    let (data, _) = within(10, tiny.get_data(&small)).await.unwrap();
    assert_eq!(&data[..], b"ok");
    assert_eq!(tiny.session_id(), session);
    assert_eq!(tiny.state(), SessionState::Connected);
    let stats = tiny.stats();
    assert_eq!(stats.disconnects, 1, "{stats:?}");
    assert_eq!(stats.reconnects, 1, "{stats:?}");
    assert_eq!(stats.sessions, 1, "{stats:?}");
    // The ephemeral node survived the reconnects.
    assert!(zk.exists(&format!("{b}/eph")).await.unwrap().is_some());
    tiny.close().await;
    zk.close().await;
}

#[tokio::test]
async fn builder_arguments_are_checked() {
    for cs in ["", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:2181/bad/"] {
        let r = Client::builder(cs)
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await;
        assert!(
            matches!(
                r,
                Err(Error::InvalidArgument(_) | Error::InvalidPath { .. })
            ),
            "{cs:?}: {r:?}"
        );
    }
    // A server that is not there: NoHosts after the connect timeout.
    let port = aiozk_testkit::free_port().unwrap();
    let start = std::time::Instant::now();
    let r = Client::builder(&format!("127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await;
    assert!(matches!(r, Err(Error::NoHosts(_))), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
