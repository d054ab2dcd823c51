//! Starting real ZooKeeper servers.

use std::time::{Duration, Instant};

use aiozk_testkit::{four_letter_word, Ensemble, Mode, ServerConfig};

/// Polls `f` every 50 ms until it returns `Some`, panicking after `timeout`.
fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn standalone_answers_four_letter_words() {
    let t = Instant::now();
    let zk = Ensemble::start(1, ServerConfig::new().min_session_timeout_ms(1000)).expect("start");
    eprintln!("standalone ready in {:?}", t.elapsed());
    assert_eq!(zk.len(), 1);
    assert_eq!(zk.four_letter(0, "ruok").expect("ruok"), "imok");
    let srvr = zk.four_letter(0, "srvr").expect("srvr");
    assert_eq!(Mode::from_srvr(&srvr), Some(Mode::Standalone), "{srvr}");
    assert_eq!(zk.mode(0), Some(Mode::Standalone));
    assert_eq!(
        zk.connect_string(),
        format!("127.0.0.1:{}", zk.client_port(0))
    );
    let conf = four_letter_word(zk.member_addr(0), "conf", Duration::from_secs(5)).expect("conf");
    assert!(conf.contains("minSessionTimeout=1000"), "{conf}");
    let mntr = zk.four_letter(0, "mntr").expect("mntr");
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
    assert!(zk.is_running(0));
    assert!(zk.log_path(0).exists());

    // Graceful stop, then restart on the same port and data.
    zk.stop(0).expect("stop");
    assert!(!zk.is_running(0));
    assert!(zk.four_letter(0, "ruok").is_err());
    zk.restart(0).expect("restart");
    assert_eq!(zk.four_letter(0, "ruok").expect("ruok"), "imok");

    let log = std::fs::read_to_string(zk.log_path(0)).expect("log");
    assert!(
        log.contains("binding to port"),
        "log has no startup lines:\n{log}"
    );

    let dir = zk.dir().to_path_buf();
    let pid = zk.pid(0).expect("pid");
    drop(zk);
    assert!(!dir.exists(), "temporary directory not removed");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "server still alive after drop: {stat}"
    );
}

#[test]
fn ensemble_elects_a_new_leader_and_takes_a_member_back() {
    let t = Instant::now();
    let zk = Ensemble::start(3, ServerConfig::new()).expect("start");
    eprintln!("3 members ready in {:?}", t.elapsed());
    assert_eq!(zk.connect_string().split(',').count(), 3);

    let modes: Vec<Mode> = (0..3).map(|i| zk.mode(i).expect("mode")).collect();
    assert_eq!(
        modes.iter().filter(|&&m| m == Mode::Leader).count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|&&m| m == Mode::Follower).count(),
        2,
        "{modes:?}"
    );
    let old = zk.leader().expect("leader");

    zk.kill(old).expect("kill");
    assert!(!zk.is_running(old));
    let t = Instant::now();
    let new = poll("a new leader", Duration::from_secs(20), || {
        zk.leader().filter(|&l| l != old)
    });
    eprintln!("new leader {new} after {:?}", t.elapsed());
    let other = (0..3).find(|&i| i != old && i != new).expect("third");
    poll(
        "the other member to follow",
        Duration::from_secs(20),
        || (zk.mode(other) == Some(Mode::Follower)).then_some(()),
    );

    let t = Instant::now();
    zk.restart(old).expect("restart");
    eprintln!("rejoined in {:?}", t.elapsed());
    assert_eq!(zk.mode(old), Some(Mode::Follower));
    assert_eq!(zk.leader(), Some(new));
}

#[test]
fn rejects_bad_sizes() {
    let err = Ensemble::start(0, ServerConfig::new()).expect_err("0 members");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Ensemble::start(2, ServerConfig::new().client_ports(vec![1]))
        .expect_err("wrong port count");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn runs_the_release_it_names() {
    let zk = Ensemble::start(1, ServerConfig::new()).expect("start");
    let version = zk.version().expect("a known release");
    let srvr = zk.four_letter(0, "srvr").expect("srvr");
    let first = srvr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("Zookeeper version: {version}")),
        "{} runs {first:?}",
        zk.install().name()
    );
    eprintln!("{} is {first}", zk.install().name());
}
