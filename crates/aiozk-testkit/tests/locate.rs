//! Choosing and finding ZooKeeper. Alone in its own test binary because it changes the
//! environment; the tests that do run one at a time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use aiozk_testkit::{Ensemble, ServerConfig, ServerVersion, ZooKeeperInstall};

/// Held by every test that changes the environment.
static ENV: Mutex<()> = Mutex::new(());

fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn reports_how_to_install_when_zookeeper_home_is_empty() {
    let _env = env_lock();
    let found = ZooKeeperInstall::locate().expect("the release ZK_VERSION names");
    assert!(!found.jars().is_empty());
    assert!(found.java().ends_with("java"));

    let chosen = std::env::var_os("ZK_VERSION");
    std::env::remove_var("ZK_VERSION");
    let empty = tempfile::tempdir().expect("tempdir");
    std::env::set_var("ZOOKEEPER_HOME", empty.path());
    let err = Ensemble::start(1, ServerConfig::new()).expect_err("no jars");
    std::env::remove_var("ZOOKEEPER_HOME");
    if let Some(v) = chosen {
        std::env::set_var("ZK_VERSION", v);
    }
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(msg.contains("ZOOKEEPER_HOME"), "{msg}");
    assert!(msg.contains("ZK_VERSION=debian"), "{msg}");
    assert!(msg.contains("apt-get install -y zookeeper"), "{msg}");
}

#[test]
fn debian_is_the_package_in_usr_share_java() {
    let install = ZooKeeperInstall::for_version("debian").expect("Debian's package zookeeper");
    assert_eq!(install.name(), "debian");
    assert_eq!(
        install.jars()[0],
        Path::new("/usr/share/java/zookeeper.jar")
    );
    let version = install.version().expect("the package names its version");
    assert_eq!(version.major, 3, "{version}");
}

#[test]
fn a_release_comes_from_the_maven_cache() {
    let install = ZooKeeperInstall::for_version("3.9.5").expect("3.9.5 from Maven Central");
    assert_eq!(install.version(), Some(ServerVersion::new(3, 9, 5)));
    assert!(install.home().is_none());
    let main = install
        .jars()
        .iter()
        .find(|j| j.ends_with("zookeeper-3.9.5.jar"))
        .expect("the release jar");
    assert!(
        main.components().any(|c| c.as_os_str() == ".m2"),
        "{}",
        main.display()
    );
    let names: Vec<String> = install
        .jars()
        .iter()
        .filter_map(|j| j.file_name()?.to_str().map(str::to_owned))
        .collect();
    for needed in [
        "logback-classic-",
        "metrics-core-",
        "snappy-java-",
        "netty-handler-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(needed)),
            "{needed} missing: {names:?}"
        );
    }
}

/// A directory for `PATH` that has `java` and a `mvn` that only records that it ran and fails.
fn path_without_maven() -> (tempfile::TempDir, PathBuf) {
    let java = ZooKeeperInstall::for_version("debian")
        .or_else(|_| ZooKeeperInstall::locate())
        .expect("an install")
        .java()
        .canonicalize()
        .expect("java");
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(&java, dir.path().join("java")).expect("link java");
    let marker = dir.path().join("mvn-ran");
    let mvn = dir.path().join("mvn");
    std::fs::write(
        &mvn,
        format!(
            "#!/bin/sh\n: > {}\necho '[ERROR] no network here'\nexit 1\n",
            marker.display()
        ),
    )
    .expect("write mvn");
    let mut perms = std::fs::metadata(&mvn).expect("mvn").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&mvn, perms).expect("chmod mvn");
    (dir, marker)
}

/// `zk-testkit serve` with this environment; returns its first stdout line, or its stderr when
/// it exits without one.
fn serve(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Result<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zk-testkit"));
    cmd.arg("serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn zk-testkit");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    if line.is_empty() {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    } else {
        Ok(line.trim().to_owned())
    }
}

#[test]
fn a_warm_cache_needs_no_maven() {
    // Warm the cache, then serve with a PATH whose `mvn` fails: nothing may run it.
    ZooKeeperInstall::for_version("3.9.5").expect("3.9.5 from Maven Central");
    let (dir, marker) = path_without_maven();
    let connect = serve(&["--version", "3.9.5"], &[("PATH", dir.path().as_os_str())])
        .expect("a server from the warm cache");
    assert!(connect.starts_with("127.0.0.1:"), "{connect}");
    assert!(!marker.exists(), "mvn was run although the cache is warm");
}

#[test]
fn a_failed_download_names_the_version() {
    // An empty cache directory and a `mvn` that fails, as without a network.
    let (dir, marker) = path_without_maven();
    let cache = tempfile::tempdir().expect("cache dir");
    let err = serve(
        &["--version", "3.9.4"],
        &[
            ("PATH", dir.path().as_os_str()),
            ("AIOZK_TESTKIT_CACHE", cache.path().as_os_str()),
        ],
    )
    .expect_err("no server without Maven");
    assert!(marker.exists(), "mvn was not asked");
    assert!(
        err.contains("ZooKeeper 3.9.4 could not be fetched"),
        "{err}"
    );
    assert!(err.contains("[ERROR] no network here"), "{err}");

    // And a release that Maven Central does not serve, asked for real.
    let cache = tempfile::tempdir().expect("cache dir");
    let err = serve(
        &["--version", "3.0.99"],
        &[("AIOZK_TESTKIT_CACHE", cache.path().as_os_str())],
    )
    .expect_err("no such release");
    assert!(
        err.contains("ZooKeeper 3.0.99 could not be fetched"),
        "{err}"
    );
}

#[test]
fn zk_version_chooses_the_release() {
    let _env = env_lock();
    let chosen = std::env::var_os("ZK_VERSION");
    std::env::set_var("ZK_VERSION", "debian");
    let debian = ZooKeeperInstall::locate();
    std::env::set_var("ZK_VERSION", "3.8.6");
    let release = ZooKeeperInstall::locate();
    std::env::set_var("ZK_VERSION", "latest");
    let bad = ZooKeeperInstall::locate();
    std::env::remove_var("ZK_VERSION");
    let default = ZooKeeperInstall::locate();
    if let Some(v) = chosen {
        std::env::set_var("ZK_VERSION", v);
    }
    assert_eq!(debian.expect("debian").name(), "debian");
    assert_eq!(
        release.expect("3.8.6").version(),
        Some(ServerVersion::new(3, 8, 6))
    );
    let err = bad.expect_err("not a version");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"latest\""), "{err}");
    if std::env::var_os("ZOOKEEPER_HOME").is_none() {
        assert_eq!(
            default.expect("the default").name(),
            aiozk_testkit::DEFAULT_VERSION
        );
    }
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
