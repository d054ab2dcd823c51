//! Finding ZooKeeper. Alone in its own test binary because it changes the environment.

use aiozk_testkit::{Ensemble, ServerConfig, ZooKeeperInstall};

#[test]
fn reports_how_to_install_when_zookeeper_home_is_empty() {
    let found = ZooKeeperInstall::locate().expect("the Debian package or ZOOKEEPER_HOME");
    assert!(!found.jars().is_empty());
    assert!(found.java().ends_with("java"));

    let empty = tempfile::tempdir().expect("tempdir");
    std::env::set_var("ZOOKEEPER_HOME", empty.path());
    let err = Ensemble::start(1, ServerConfig::new()).expect_err("no jars");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(msg.contains("apt-get install -y zookeeper"), "{msg}");
    assert!(msg.contains("ZOOKEEPER_HOME"), "{msg}");
    std::env::remove_var("ZOOKEEPER_HOME");
}

/// The async APIs can be used with `tokio::spawn`.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(Ensemble::start_async(1, ServerConfig::new()));
    assert_send(aiozk_testkit::FaultProxy::start(
        "127.0.0.1:1".parse().expect("addr"),
    ));
    fn ensemble_futures(zk: &Ensemble) {
        assert_send(zk.restart_async(0));
        assert_send(zk.stop_async(0));
        assert_send(zk.wait_ready_all_async());
        assert_send(zk.leader_async());
    }
    fn proxy_futures(p: &aiozk_testkit::FaultProxy) {
        assert_send(p.cut_rst());
    }
    let _ = (ensemble_futures, proxy_futures);
}
