//! ACLs and authentication against a real server: digest ids, `add_auth`, credentials given
//! to the builder, the `auth` scheme, ip ids and whoami.

mod common;

use aiozk::acl::{creator_all_acl, digest, read_acl_unsafe, world_read_creator_all};
use aiozk::{Acl, Client, ClientInfo, CreateOptions, Error, Perms};
use common::{base, connect, exists_needs_read, server, version};

fn info(scheme: &str, user: &str) -> ClientInfo {
    ClientInfo {
        auth_scheme: scheme.to_owned(),
        user: user.to_owned(),
    }
}

async fn bob_node(zk: &Client, b: &str) -> String {
    let p = format!("{b}/secret");
    zk.create_with(
        &p,
        b"hidden",
        &CreateOptions::new().acl(vec![Acl::digest(Perms::ALL, "bob", "secret").unwrap()]),
    )
    .await
    .unwrap();
    p
}

#[tokio::test]
async fn digest_acl_needs_the_credentials() {
    let zk = connect("").await;
    let b = base(&zk, "acl-digest").await;
    let p = bob_node(&zk, &b).await;

    let anon = connect("").await;
    assert_eq!(anon.get_data(&p).await.unwrap_err(), Error::NoAuth);
    assert_eq!(
        anon.set_data(&p, b"x", None).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(anon.get_children(&p).await.unwrap_err(), Error::NoAuth);
    assert_eq!(anon.get_acl(&p).await.unwrap_err(), Error::NoAuth);
    assert_eq!(
        anon.create(&format!("{p}/kid"), b"").await.unwrap_err(),
        Error::NoAuth
    );
    // exists needs READ from 3.8.4 and 3.9.2 (ZOOKEEPER-2590); before, it checks no ACL.
    if exists_needs_read(version()) {
        assert_eq!(anon.exists(&p).await.unwrap_err(), Error::NoAuth);
    } else {
        let stat = anon.exists(&p).await.unwrap().expect("exists");
        assert_eq!(stat.data_length, 6);
    }
    // A wrong password is accepted by the server but grants nothing.
    anon.add_auth("digest", b"bob:wrong").await.unwrap();
    assert_eq!(anon.get_data(&p).await.unwrap_err(), Error::NoAuth);

    anon.add_auth("digest", b"bob:secret").await.unwrap();
    let (data, _) = anon.get_data(&p).await.unwrap();
    assert_eq!(&data[..], b"hidden");
    anon.set_data(&p, b"seen", None).await.unwrap();
    let (acl, stat) = anon.get_acl(&p).await.unwrap();
    assert_eq!(
        acl,
        vec![Acl::new(Perms::ALL, "digest", digest("bob", "secret"))]
    );
    assert_eq!(stat.version, 1);
    anon.close().await;

    // Credentials given to the builder are sent before the first request.
    let bob = Client::builder(&server().connect_string())
        .auth("digest", b"bob:secret")
        .connect()
        .await
        .unwrap();
    let (data, _) = bob.get_data(&p).await.unwrap();
    assert_eq!(&data[..], b"seen");
    bob.delete(&p, None).await.unwrap();
    bob.close().await;
    zk.close().await;
}

#[tokio::test]
async fn whoami_lists_the_connection_ids() {
    let zk = connect("").await;
    assert_eq!(zk.whoami().await.unwrap(), vec![info("ip", "127.0.0.1")]);
    zk.add_auth("digest", b"bob:secret").await.unwrap();
    let mut ids = zk.whoami().await.unwrap();
    ids.sort_by(|a, b| a.auth_scheme.cmp(&b.auth_scheme));
    assert_eq!(ids, vec![info("digest", "bob"), info("ip", "127.0.0.1")]);
    zk.add_auth("digest", b"alice:pw").await.unwrap();
    let ids = zk.whoami().await.unwrap();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&info("digest", "alice")), "{ids:?}");
    zk.close().await;

    let built = Client::builder(&server().connect_string())
        .auth("digest", b"carol:pw")
        .connect()
        .await
        .unwrap();
    let ids = built.whoami().await.unwrap();
    assert!(ids.contains(&info("digest", "carol")), "{ids:?}");
    assert!(ids.contains(&info("ip", "127.0.0.1")), "{ids:?}");
    built.close().await;
}

#[tokio::test]
async fn creator_acls_need_an_authenticated_session() {
    let zk = connect("").await;
    let b = base(&zk, "acl-creator").await;
    let p = format!("{b}/mine");
    let opts = CreateOptions::new().acl(creator_all_acl());
    assert_eq!(
        zk.create_with(&p, b"", &opts).await.unwrap_err(),
        Error::InvalidAcl
    );
    assert_eq!(zk.exists(&p).await.unwrap(), None);
    // set_acl with the auth scheme is refused the same way.
    zk.create(&p, b"").await.unwrap();
    assert_eq!(
        zk.set_acl(&p, &creator_all_acl(), None).await.unwrap_err(),
        Error::InvalidAcl
    );
    zk.delete(&p, None).await.unwrap();

    zk.add_auth("digest", b"bob:secret").await.unwrap();
    zk.create_with(&p, b"x", &opts).await.unwrap();
    // The server stored the creator's digest id.
    let (acl, _) = zk.get_acl(&p).await.unwrap();
    assert_eq!(
        acl,
        vec![Acl::new(Perms::ALL, "digest", digest("bob", "secret"))]
    );
    let anon = connect("").await;
    assert_eq!(anon.get_data(&p).await.unwrap_err(), Error::NoAuth);

    // world-readable, creator-all: anyone reads, only bob writes.
    let q = format!("{b}/public");
    zk.create_with(
        &q,
        b"r",
        &CreateOptions::new().acl(world_read_creator_all()),
    )
    .await
    .unwrap();
    assert_eq!(&anon.get_data(&q).await.unwrap().0[..], b"r");
    assert_eq!(
        anon.set_data(&q, b"w", None).await.unwrap_err(),
        Error::NoAuth
    );
    zk.set_data(&q, b"w", None).await.unwrap();
    anon.close().await;
    zk.close().await;
}

#[tokio::test]
async fn the_default_acl_of_the_builder_is_used() {
    let zk = connect("").await;
    let b = base(&zk, "acl-default").await;
    let ro = Client::builder(&server().connect_string())
        .default_acl(read_acl_unsafe())
        .connect()
        .await
        .unwrap();
    let p = format!("{b}/ro");
    ro.create(&p, b"r").await.unwrap();
    let (acl, _) = zk.get_acl(&p).await.unwrap();
    assert_eq!(acl, vec![Acl::world(Perms::READ)]);
    assert_eq!(zk.set_data(&p, b"", None).await.unwrap_err(), Error::NoAuth);
    // Deleting needs DELETE on the parent, which is open.
    zk.delete(&p, None).await.unwrap();
    // ensure_path uses it too, for every level: so it cannot go deeper than one level
    // below an open node (the read-only node it made refuses children).
    assert_eq!(
        ro.ensure_path(&format!("{b}/x/y")).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(
        zk.get_acl(&format!("{b}/x")).await.unwrap().0,
        vec![Acl::world(Perms::READ)]
    );
    // An explicit ACL wins over the default.
    let q = format!("{b}/open");
    ro.create_with(&q, b"", &CreateOptions::new().acl(vec![Acl::anyone_all()]))
        .await
        .unwrap();
    zk.set_data(&q, b"ok", None).await.unwrap();
    // An empty ACL is refused before sending.
    assert!(matches!(
        ro.create_with(&q, b"", &CreateOptions::new().acl(vec![]))
            .await
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        Client::builder(&server().connect_string())
            .default_acl(vec![])
            .connect()
            .await
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    ro.close().await;
    zk.close().await;
}

#[tokio::test]
async fn ip_acls_match_the_peer_address() {
    let zk = connect("").await;
    let b = base(&zk, "acl-ip").await;
    let local = format!("{b}/local");
    let remote = format!("{b}/remote");
    let block = format!("{b}/block");
    zk.create_with(
        &local,
        b"l",
        &CreateOptions::new().acl(vec![Acl::ip(Perms::ALL, "127.0.0.1").unwrap()]),
    )
    .await
    .unwrap();
    zk.create_with(
        &remote,
        b"r",
        &CreateOptions::new().acl(vec![Acl::ip(Perms::ALL, "10.1.2.3").unwrap()]),
    )
    .await
    .unwrap();
    zk.create_with(
        &block,
        b"b",
        &CreateOptions::new().acl(vec![Acl::ip(Perms::READ, "127.0.0.0/8").unwrap()]),
    )
    .await
    .unwrap();
    assert_eq!(&zk.get_data(&local).await.unwrap().0[..], b"l");
    assert_eq!(zk.get_data(&remote).await.unwrap_err(), Error::NoAuth);
    assert_eq!(&zk.get_data(&block).await.unwrap().0[..], b"b");
    assert_eq!(
        zk.set_data(&block, b"", None).await.unwrap_err(),
        Error::NoAuth
    );
    let (acl, _) = zk.get_acl(&block).await.unwrap();
    assert_eq!(acl, vec![Acl::new(Perms::READ, "ip", "127.0.0.0/8")]);
    zk.close().await;
}

#[tokio::test]
async fn get_acl_with_read_but_no_admin() {
    // getACL needs READ or ADMIN; without ADMIN, digest hashes are masked.
    let zk = connect("").await;
    let b = base(&zk, "acl-getacl").await;
    let p = format!("{b}/n");
    let acl = vec![
        Acl::world(Perms::READ),
        Acl::digest(Perms::ALL, "bob", "secret").unwrap(),
    ];
    zk.create_with(&p, b"", &CreateOptions::new().acl(acl.clone()))
        .await
        .unwrap();
    let (got, stat) = zk.get_acl(&p).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], Acl::world(Perms::READ));
    assert_eq!(got[1].perms, Perms::ALL);
    assert_eq!(got[1].id.scheme, "digest");
    // Without ADMIN the server masks the digest hash.
    assert_eq!(got[1].id.id, "bob:x");
    assert_eq!(stat.aversion, 0);
    // Without ADMIN the ACL cannot be changed.
    assert_eq!(
        zk.set_acl(&p, &[Acl::anyone_all()], None)
            .await
            .unwrap_err(),
        Error::NoAuth
    );
    zk.add_auth("digest", b"bob:secret").await.unwrap();
    let (got, _) = zk.get_acl(&p).await.unwrap();
    assert_eq!(got, acl);
    let stat = zk.set_acl(&p, &[Acl::anyone_all()], Some(0)).await.unwrap();
    assert_eq!(stat.aversion, 1);
    zk.close().await;
}
