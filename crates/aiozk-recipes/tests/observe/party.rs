//! Party on a real server.

use std::time::Duration;

use aiozk::Error;
use aiozk_recipes::Party;

use crate::common::{
    base, children, connect, connect_via, eventually, expire_session, proxy, within,
};

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn members_join_leave_and_see_changes() {
    let zk = connect().await;
    let b = base(&zk, "party").await;
    let alice = Party::new(&zk, &b, "alice").unwrap();
    assert_eq!(
        alice.wait_for_change().await.unwrap_err(),
        Error::InvalidArgument("the party was not joined".into())
    );
    alice.join().await.unwrap();
    alice.join().await.unwrap(); // idempotent
    assert_eq!(alice.members(), vec!["alice".to_owned()]);

    let other = connect().await;
    let bob = Party::new(&other, &b, "bob").unwrap();
    let change = alice.wait_for_change();
    let (changed, joined) = tokio::join!(within(10, change), bob.join());
    joined.unwrap();
    assert_eq!(changed.unwrap(), vec!["alice".to_owned(), "bob".to_owned()]);
    assert_eq!(bob.members(), vec!["alice".to_owned(), "bob".to_owned()]);

    let (changed, left) = tokio::join!(within(10, bob.wait_for_change()), alice.leave());
    left.unwrap();
    assert_eq!(changed.unwrap(), vec!["bob".to_owned()]);
    bob.leave().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    assert!(Party::new(&zk, &b, "a/b").is_err());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn many_concurrent_members() {
    let zk = connect().await;
    let b = base(&zk, "party-many").await;
    let observer = Party::new(&zk, &b, "observer").unwrap();
    observer.join().await.unwrap();
    let mut parties = Vec::new();
    let mut clients = Vec::new();
    for c in 0..4 {
        let client = connect().await;
        for i in 0..5 {
            parties.push(Party::new(&client, &b, &format!("m{c}-{i}")).unwrap());
        }
        clients.push(client);
    }
    let joins: Vec<_> = parties.iter().map(|p| p.join()).collect();
    for j in joins {
        j.await.unwrap();
    }
    let mut members = observer.members();
    while members.len() < 21 {
        members = within(10, observer.wait_for_change()).await.unwrap();
    }
    let mut want: Vec<String> = parties.iter().map(|p| p.name().to_owned()).collect();
    want.push("observer".into());
    assert_eq!(sorted(members), sorted(want));
    // Members are listed in joining order: the observer first.
    assert_eq!(observer.members()[0], "observer");
    for p in &parties {
        p.leave().await.unwrap();
    }
    eventually(10, "members left", || async {
        observer.members().len() == 1
    })
    .await;
    observer.leave().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn dropped_join_leaves_no_node() {
    let zk = connect().await;
    let b = base(&zk, "party-drop").await;
    for _ in 0..10 {
        let p = Party::new(&zk, &b, "ghost").unwrap();
        // The timer may let a join finish (tokio's resolution is a millisecond): a member
        // that did join leaves; only the dropped joins are under test.
        if let Ok(joined) = tokio::time::timeout(Duration::from_micros(300), p.join()).await {
            joined.unwrap();
            p.leave().await.unwrap();
        }
    }
    eventually(10, "no ghost left", || async {
        children(&zk, &b).await.is_empty()
    })
    .await;
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn wait_for_change_survives_a_connection_cut() {
    let zk = connect().await;
    let b = base(&zk, "party-cut").await;
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(10)).await;
    let watcher = Party::new(&proxied, &b, "watcher").unwrap();
    watcher.join().await.unwrap();
    let wait = tokio::spawn(async move {
        let members = watcher.wait_for_change().await;
        (watcher, members)
    });
    tokio::task::yield_now().await;
    proxy.stall();
    let late = Party::new(&zk, &b, "late").unwrap();
    late.join().await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    let (watcher, members) = within(30, wait).await.unwrap();
    assert_eq!(
        members.unwrap(),
        vec!["watcher".to_owned(), "late".to_owned()]
    );
    watcher.leave().await.unwrap();
    late.leave().await.unwrap();
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn rejoins_after_session_expiry() {
    let zk = connect().await;
    let b = base(&zk, "party-expire").await;
    let observer = Party::new(&zk, &b, "observer").unwrap();
    observer.join().await.unwrap();
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(2)).await;
    let member = Party::new(&proxied, &b, "phoenix").unwrap();
    member.join().await.unwrap();
    let first_node = member.own_node().unwrap();
    eventually(10, "observer sees phoenix", || async {
        observer.members().len() == 2
    })
    .await;
    expire_session(&proxied, &proxy).await;
    // The old node went with the old session; a new one appears in the new session.
    eventually(30, "phoenix rejoined", || async {
        member.own_node().is_some_and(|n| n != first_node) && observer.members().len() == 2
    })
    .await;
    let node = member.own_node().unwrap();
    let stat = zk.exists(&node).await.unwrap().expect("new node exists");
    assert_eq!(stat.ephemeral_owner, proxied.session_id());
    assert_eq!(zk.exists(&first_node).await.unwrap(), None);
    member.leave().await.unwrap();
    observer.leave().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}
