//! Administrative and introspection calls on a real server: get_ephemerals,
//! get_all_children_number, get_config, reconfig, and the four-letter words of
//! `aiozk::fourlw`.

mod common;

use std::time::Duration;

use aiozk::fourlw::{four_letter_word, parse_mntr, parse_srvr_mode, ruok, FourLetterWord};
use aiozk::{CreateOptions, Error, EventType};
use aiozk_testkit::FaultProxy;
use common::{base, connect, server, within};

fn addr() -> String {
    server().member_addr(0).to_string()
}

async fn word(w: FourLetterWord) -> String {
    four_letter_word(&addr(), w, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{w}: {e}"))
}

#[tokio::test]
async fn get_ephemerals_lists_this_sessions_nodes() {
    let zk = connect("").await;
    let b = base(&zk, "adm-eph").await;
    let other = connect("").await;
    let eph = CreateOptions::new().ephemeral();
    zk.ensure_path(&format!("{b}/x")).await.unwrap();
    zk.create_with(&format!("{b}/e1"), b"", &eph).await.unwrap();
    zk.create_with(&format!("{b}/x/e2"), b"", &eph)
        .await
        .unwrap();
    let (seq, _) = zk
        .create_with(&format!("{b}/s-"), b"", &eph.clone().sequential())
        .await
        .unwrap();
    other
        .create_with(&format!("{b}/theirs"), b"", &eph)
        .await
        .unwrap();
    zk.create(&format!("{b}/persistent"), b"").await.unwrap();

    let mut all = zk.get_ephemerals("/").await.unwrap();
    all.sort();
    let mut expected = vec![format!("{b}/e1"), seq.clone(), format!("{b}/x/e2")];
    expected.sort();
    assert_eq!(all, expected);
    let mut under = zk.get_ephemerals(&b).await.unwrap();
    under.sort();
    assert_eq!(under, expected);
    assert_eq!(
        zk.get_ephemerals(&format!("{b}/x")).await.unwrap(),
        vec![format!("{b}/x/e2")]
    );
    // A plain string prefix: "{b}/e" matches e1 only, "{b}/s" the sequential node.
    assert_eq!(
        zk.get_ephemerals(&format!("{b}/e")).await.unwrap(),
        vec![format!("{b}/e1")]
    );
    assert_eq!(
        zk.get_ephemerals(&format!("{b}/s")).await.unwrap(),
        vec![seq]
    );
    assert!(zk
        .get_ephemerals(&format!("{b}/persistent"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        other.get_ephemerals("/").await.unwrap(),
        vec![format!("{b}/theirs")]
    );
    zk.delete(&format!("{b}/e1"), None).await.unwrap();
    assert_eq!(zk.get_ephemerals("/").await.unwrap().len(), 2);
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn get_all_children_number_counts_every_descendant() {
    let zk = connect("").await;
    let b = base(&zk, "adm-count").await;
    assert_eq!(zk.get_all_children_number(&b).await.unwrap(), 0);
    for p in ["a/b/c", "a/b/d", "a/e", "f"] {
        zk.ensure_path(&format!("{b}/{p}")).await.unwrap();
    }
    // a, a/b, a/b/c, a/b/d, a/e, f
    assert_eq!(zk.get_all_children_number(&b).await.unwrap(), 6);
    assert_eq!(
        zk.get_all_children_number(&format!("{b}/a")).await.unwrap(),
        4
    );
    assert_eq!(
        zk.get_all_children_number(&format!("{b}/f")).await.unwrap(),
        0
    );
    assert_eq!(
        zk.get_all_children_number(&format!("{b}/missing"))
            .await
            .unwrap_err(),
        Error::NoNode
    );
    assert!(zk.get_all_children_number("/").await.unwrap() >= 8);
    zk.close().await;
}

#[tokio::test]
async fn get_config_works_on_a_standalone_server() {
    let zk = connect("").await;
    let (data, stat) = zk.get_config().await.unwrap();
    println!(
        "standalone /zookeeper/config: {:?}, version {}",
        String::from_utf8_lossy(&data),
        stat.version
    );
    assert_eq!(stat.data_length as usize, data.len());
    let (data2, _, w) = zk.get_config_watched().await.unwrap();
    assert_eq!(data2, data);
    drop(w);
    // The same node read by path.
    let (raw, raw_stat) = zk.get_data("/zookeeper/config").await.unwrap();
    assert_eq!((raw, raw_stat), (data, stat));
    zk.close().await;
}

#[tokio::test]
async fn reconfig_on_a_standalone_server_fails_cleanly() {
    let zk = connect("").await;
    let err = within(10, zk.reconfig("", "", "server.1=127.0.0.1:2888:3888", -1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ReconfigDisabled | Error::Unimplemented),
        "{err:?}"
    );
    let err = within(10, zk.reconfig("server.9=127.0.0.1:1:2;3", "", "", -1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ReconfigDisabled | Error::Unimplemented),
        "{err:?}"
    );
    println!("reconfig on standalone: {err:?}");
    // The session is unharmed.
    zk.exists("/").await.unwrap();
    zk.close().await;
}

#[tokio::test]
async fn four_letter_words_against_the_server() {
    let zk = connect("").await;
    let b = base(&zk, "adm-4lw").await;
    let eph = format!("{b}/eph");
    zk.create_with(&eph, b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    let (_, _, _w) = zk.get_data_watched(&b).await.unwrap();
    let sid = format!("0x{:x}", zk.session_id());

    assert!(ruok(&addr(), Duration::from_secs(5)).await.unwrap());
    assert_eq!(word(FourLetterWord::Ruok).await, "imok");

    let srvr = word(FourLetterWord::Srvr).await;
    assert_eq!(parse_srvr_mode(&srvr), Some("standalone"), "{srvr}");
    assert!(srvr.contains("Zookeeper version: 3."), "{srvr}");

    let mntr = parse_mntr(&word(FourLetterWord::Mntr).await);
    assert!(
        mntr.get("zk_version").is_some_and(|v| v.starts_with("3.")),
        "{mntr:?}"
    );
    assert_eq!(
        mntr.get("zk_server_state").map(String::as_str),
        Some("standalone")
    );
    let znodes: u64 = mntr["zk_znode_count"].parse().unwrap();
    assert!(znodes >= 5, "{znodes}");
    let ephemerals: u64 = mntr["zk_ephemerals_count"].parse().unwrap();
    assert!(ephemerals >= 1, "{ephemerals}");

    let stat = word(FourLetterWord::Stat).await;
    assert_eq!(parse_srvr_mode(&stat), Some("standalone"), "{stat}");
    assert!(stat.contains("Clients:"), "{stat}");

    let conf = word(FourLetterWord::Conf).await;
    let port = server().client_port(0);
    assert!(conf.contains(&format!("clientPort={port}")), "{conf}");

    let cons = word(FourLetterWord::Cons).await;
    assert!(cons.contains(&format!("sid={sid}")), "{sid} not in {cons}");

    let envi = word(FourLetterWord::Envi).await;
    assert!(envi.contains("zookeeper.version="), "{envi}");

    let wchs = word(FourLetterWord::Wchs).await;
    assert!(wchs.contains("connections watching"), "{wchs}");
    let wchp = word(FourLetterWord::Wchp).await;
    assert!(wchp.contains(&b), "{wchp}");
    let wchc = word(FourLetterWord::Wchc).await;
    assert!(wchc.contains(&sid), "{wchc}");

    let dump = word(FourLetterWord::Dump).await;
    assert!(dump.contains(&eph), "{dump}");

    let dirs = word(FourLetterWord::Dirs).await;
    assert!(dirs.contains("datadir_size"), "{dirs}");

    assert_eq!(word(FourLetterWord::Isro).await.trim(), "rw");

    // Names parse in any case.
    assert_eq!(
        "MNTR".parse::<FourLetterWord>().unwrap(),
        FourLetterWord::Mntr
    );
    assert!(matches!(
        "nope".parse::<FourLetterWord>().unwrap_err(),
        Error::InvalidArgument(_)
    ));
    zk.close().await;
}

#[tokio::test]
async fn four_letter_word_errors() {
    // Nobody listening: an I/O error.
    let closed = aiozk_testkit::free_port().unwrap();
    let err = ruok(&format!("127.0.0.1:{closed}"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    // A server that never answers: the timeout.
    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    proxy.blackhole(true);
    let start = std::time::Instant::now();
    let err = four_letter_word(
        &proxy.addr().to_string(),
        FourLetterWord::Ruok,
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::Timeout);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn config_watch_ends_with_the_session() {
    let zk = connect("").await;
    let (_, _, w) = zk.get_config_watched().await.unwrap();
    zk.close().await;
    let e = within(10, w).await;
    assert_eq!(e.event_type, EventType::None);
}
