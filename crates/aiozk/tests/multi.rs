//! Transactions (multi) and multi_read against a real server.

mod common;

use std::time::Duration;

use aiozk::{CreateOptions, Error, OpResult, ReadOp, ReadResult};
use common::{base, connect, multi_create_has_stat, version};

#[tokio::test]
async fn transaction_commits_every_op_in_order() {
    let zk = connect("").await;
    let b = base(&zk, "multi-ok").await;
    let existing = format!("{b}/existing");
    let doomed = format!("{b}/doomed");
    zk.create(&existing, b"v0").await.unwrap();
    zk.create(&doomed, b"").await.unwrap();
    let new = format!("{b}/new");
    let results = zk
        .transaction()
        .check_version(&existing, 0)
        .create(&new, b"n", &CreateOptions::new())
        .set_data(&existing, b"v1", 0)
        .delete(&doomed, -1)
        .create(
            &format!("{b}/seq-"),
            b"",
            &CreateOptions::new().sequential(),
        )
        .create(&format!("{new}/kid"), b"", &CreateOptions::new())
        .commit()
        .await
        .unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0], OpResult::Checked);
    match &results[1] {
        OpResult::Created { path, stat } => {
            assert_eq!(*path, new);
            // The Stat of a plain create comes with 3.8.2 and 3.9.0 (ZOOKEEPER-4026).
            assert_eq!(stat.is_some(), multi_create_has_stat(version()), "{stat:?}");
            if let Some(stat) = stat {
                assert_eq!(stat.data_length, 1);
            }
        }
        other => panic!("{other:?}"),
    }
    match &results[2] {
        OpResult::Updated(stat) => {
            assert_eq!(stat.version, 1);
            assert_eq!(stat.data_length, 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(results[3], OpResult::Deleted);
    match &results[4] {
        OpResult::Created { path, .. } => {
            assert!(path.starts_with(&format!("{b}/seq-")), "{path}");
            assert!(path[path.len() - 10..].bytes().all(|c| c.is_ascii_digit()));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&results[5], OpResult::Created { path, .. } if *path == format!("{new}/kid")));
    // Everything took effect.
    assert_eq!(&zk.get_data(&existing).await.unwrap().0[..], b"v1");
    assert_eq!(&zk.get_data(&new).await.unwrap().0[..], b"n");
    assert_eq!(zk.exists(&doomed).await.unwrap(), None);
    // All ops of a transaction share one zxid.
    let s_new = zk.exists(&new).await.unwrap().unwrap();
    let s_existing = zk.exists(&existing).await.unwrap().unwrap();
    assert_eq!(s_new.czxid, s_existing.mzxid);
    zk.close().await;
}

#[tokio::test]
async fn failed_transaction_reports_every_op_and_changes_nothing() {
    let zk = connect("").await;
    let b = base(&zk, "multi-fail").await;
    let existing = format!("{b}/existing");
    zk.create(&existing, b"v0").await.unwrap();
    let new = format!("{b}/new");

    // The failing op in the middle: NoNode.
    let err = zk
        .transaction()
        .create(&new, b"", &CreateOptions::new())
        .set_data(&existing, b"v1", -1)
        .delete(&format!("{b}/missing"), -1)
        .check_version(&existing, 0)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::TransactionFailed {
            index: 2,
            error: Box::new(Error::NoNode),
            results: vec![
                Error::RolledBack,
                Error::RolledBack,
                Error::NoNode,
                Error::RuntimeInconsistency,
            ],
        }
    );
    assert_eq!(zk.exists(&new).await.unwrap(), None);
    let (data, stat) = zk.get_data(&existing).await.unwrap();
    assert_eq!(&data[..], b"v0");
    assert_eq!(stat.version, 0);

    // BadVersion from a check.
    let err = zk
        .transaction()
        .create(&new, b"", &CreateOptions::new())
        .check_version(&existing, 5)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::TransactionFailed {
            index: 1,
            error: Box::new(Error::BadVersion),
            results: vec![Error::RolledBack, Error::BadVersion],
        }
    );
    assert_eq!(zk.exists(&new).await.unwrap(), None);

    // NodeExists from the first op.
    let err = zk
        .transaction()
        .create(&existing, b"", &CreateOptions::new())
        .create(&new, b"", &CreateOptions::new())
        .set_data(&new, b"", -1)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::TransactionFailed {
            index: 0,
            error: Box::new(Error::NodeExists),
            results: vec![
                Error::NodeExists,
                Error::RuntimeInconsistency,
                Error::RuntimeInconsistency,
            ],
        }
    );
    assert_eq!(zk.exists(&new).await.unwrap(), None);

    // A set_data with a wrong version as the last op.
    let err = zk
        .transaction()
        .create(&new, b"", &CreateOptions::new())
        .set_data(&existing, b"x", 3)
        .commit()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::TransactionFailed { index: 1, error, .. } if **error == Error::BadVersion),
        "{err:?}"
    );
    assert_eq!(zk.exists(&new).await.unwrap(), None);

    // A later op that depends on an earlier one in the same transaction sees it.
    let results = zk
        .transaction()
        .create(&new, b"", &CreateOptions::new())
        .check_version(&new, 0)
        .set_data(&new, b"1", 0)
        .set_data(&new, b"2", 1)
        .delete(&new, 2)
        .commit()
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(zk.exists(&new).await.unwrap(), None);
    zk.close().await;
}

#[tokio::test]
async fn empty_transaction_needs_no_round_trip() {
    let zk = connect("").await;
    let before = zk.stats().requests;
    assert_eq!(zk.transaction().commit().await.unwrap(), vec![]);
    assert_eq!(zk.stats().requests, before);
    let txn = zk.transaction();
    assert!(txn.is_empty());
    let txn = txn.check_version("/", -1);
    assert_eq!(txn.len(), 1);
    assert_eq!(txn.commit().await.unwrap(), vec![OpResult::Checked]);
    assert!(zk.stats().requests > before);
    zk.close().await;
}

#[tokio::test]
async fn transaction_with_container_ttl_and_ephemeral_creates() {
    let zk = connect("").await;
    let b = base(&zk, "multi-modes").await;
    let results = zk
        .transaction()
        .create(&format!("{b}/c"), b"", &CreateOptions::new().container())
        .create(
            &format!("{b}/t"),
            b"",
            &CreateOptions::new().ttl(Duration::from_secs(3600)),
        )
        .create(&format!("{b}/e"), b"e", &CreateOptions::new().ephemeral())
        .commit()
        .await
        .unwrap();
    assert!(matches!(
        &results[0],
        OpResult::Created { stat: Some(_), .. }
    ));
    assert!(matches!(
        &results[1],
        OpResult::Created { stat: Some(_), .. }
    ));
    let e = zk.exists(&format!("{b}/e")).await.unwrap().unwrap();
    assert_eq!(e.ephemeral_owner, zk.session_id());
    let stat = Some(e).filter(|_| multi_create_has_stat(version()));
    assert!(matches!(&results[2], OpResult::Created { stat: s, .. } if *s == stat));
    assert_eq!(zk.get_ephemerals(&b).await.unwrap(), vec![format!("{b}/e")]);
    zk.close().await;
}

#[tokio::test]
async fn invalid_arguments_fail_the_transaction_before_sending() {
    let zk = connect("").await;
    let b = base(&zk, "multi-invalid").await;
    let before = zk.stats().requests;
    let err = zk
        .transaction()
        .create(&format!("{b}/ok"), b"", &CreateOptions::new())
        .create("bad-path", b"", &CreateOptions::new())
        .commit()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPath { .. }), "{err:?}");
    let err = zk
        .transaction()
        .create(&format!("{b}/ok"), b"", &CreateOptions::new().acl(vec![]))
        .commit()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert_eq!(zk.stats().requests, before);
    assert_eq!(zk.exists(&format!("{b}/ok")).await.unwrap(), None);
    zk.close().await;
}

#[tokio::test]
async fn multi_read_gives_one_result_per_read() {
    let zk = connect("").await;
    let b = base(&zk, "multi-read").await;
    let a = format!("{b}/a");
    let e = format!("{b}/empty");
    zk.create(&a, b"alpha").await.unwrap();
    zk.create(&format!("{a}/k1"), b"").await.unwrap();
    zk.create(&format!("{a}/k2"), b"").await.unwrap();
    zk.create(&e, b"").await.unwrap();
    let missing = format!("{b}/missing");
    let results = zk
        .multi_read(&[
            ReadOp::GetData(a.clone()),
            ReadOp::GetChildren(a.clone()),
            ReadOp::GetData(missing.clone()),
            ReadOp::GetChildren(missing.clone()),
            ReadOp::GetData(e.clone()),
            ReadOp::GetChildren(e.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 6);
    match &results[0] {
        Ok(ReadResult::Data(data, stat)) => {
            assert_eq!(&data[..], b"alpha");
            assert_eq!(stat.num_children, 2);
        }
        other => panic!("{other:?}"),
    }
    match &results[1] {
        Ok(ReadResult::Children(c)) => {
            let mut c = c.clone();
            c.sort();
            assert_eq!(c, vec!["k1", "k2"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(results[2], Err(Error::NoNode));
    assert_eq!(results[3], Err(Error::NoNode));
    assert!(matches!(&results[4], Ok(ReadResult::Data(d, _)) if d.is_empty()));
    assert_eq!(results[5], Ok(ReadResult::Children(vec![])));
    // An empty read list and an invalid path.
    assert_eq!(zk.multi_read(&[]).await.unwrap(), vec![]);
    assert!(matches!(
        zk.multi_read(&[ReadOp::GetData("x".into())])
            .await
            .unwrap_err(),
        Error::InvalidPath { .. }
    ));
    zk.close().await;
}
