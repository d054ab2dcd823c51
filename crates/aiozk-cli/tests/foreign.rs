//! `zk lock --layout curator|kazoo` and `zk elect --layout …` against Apache Curator and
//! kazoo in their own processes (see `aiozk_testkit::Peer`; fetched with Maven or pip on
//! first use, the tests fail saying why when that is impossible).
//!
//! The lock tests count overlaps with a marker file that every holder creates exclusively
//! (`set -C` in the shell, `O_EXCL` in the peers) and deletes before releasing: finding it
//! there means two holders at once; a counter file that every holder increments (the shared
//! fencing counter) must end at the number of acquisitions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aiozk_testkit::{Ensemble, Peer, ServerConfig};

const ZK: &str = env!("CARGO_BIN_EXE_zk");
const SESSION: Duration = Duration::from_secs(10);

fn server() -> &'static Ensemble {
    static SERVER: OnceLock<Ensemble> = OnceLock::new();
    SERVER.get_or_init(|| {
        Ensemble::start(1, ServerConfig::new().min_session_timeout_ms(1000))
            .expect("start ZooKeeper (apt-get install -y zookeeper)")
    })
}

fn zk(args: &[&str]) -> Command {
    let mut c = Command::new(ZK);
    c.env_remove("ZK_AUTH")
        .env_remove("ZK_SASL")
        .env("ZK_SERVERS", server().connect_string())
        .args(["--timeout", "10"])
        .args(args)
        .stdin(Stdio::null());
    c
}

fn fresh(path: &str) {
    let _ = zk(&["rmr", path]).output();
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zk-foreign-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shell side of the marker protocol (see the peers' sources).
const HOLD: &str = r#"if ( set -C; : > "$D/holder" ) 2>/dev/null; then
  n=$(cat "$D/counter" 2>/dev/null || echo 0); echo $((n + 1)) > "$D/counter"
  echo zk >> "$D/log"; sleep 0.005; rm -f "$D/holder"
else
  echo overlap >> "$D/overlaps"
fi"#;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `runs` acquisitions by each of `shells` parallel `zk lock` loops and `peer_runs` by
/// the peer, all on one path; asserts 0 overlaps and no node left over.
fn contend(peer: &mut Peer, layout: &str, shells: usize, runs: usize, peer_runs: usize) {
    let path = format!("/cli-foreign-{layout}");
    fresh(&path);
    let dir = temp_dir(layout);
    peer.send(&format!("contend {path} {peer_runs} {}", dir.display()))
        .unwrap();
    let loops: Vec<_> = (0..shells)
        .map(|_| {
            let (path, dir, layout) = (path.clone(), dir.clone(), layout.to_owned());
            std::thread::spawn(move || {
                for _ in 0..runs {
                    let out = zk(&["lock", "--layout", &layout, "--wait", "60", &path, "--"])
                        .args(["sh", "-c", HOLD])
                        .env("D", &dir)
                        .output()
                        .expect("run zk");
                    assert!(
                        out.status.success(),
                        "zk lock: {:?} {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for l in loops {
        l.join().expect("zk lock loop");
    }
    let answer = peer.answer(Duration::from_secs(120)).unwrap();
    assert_eq!(
        answer,
        format!("contended {peer_runs} 0"),
        "the peer saw overlaps"
    );
    let log = lines(&dir.join("log"));
    let overlaps = lines(&dir.join("overlaps"));
    let ours = log.iter().filter(|l| *l == "zk").count();
    // How often the lock passed between zk and the peer: they did contend.
    let handovers = log
        .windows(2)
        .filter(|w| (w[0] == "zk") != (w[1] == "zk"))
        .count();
    println!(
        "{layout}: {} acquisitions ({ours} by zk lock, {} by the peer), {handovers} handovers \
         between them, {} overlaps",
        log.len(),
        log.len() - ours,
        overlaps.len()
    );
    assert!(
        overlaps.is_empty(),
        "{} overlapping holders",
        overlaps.len()
    );
    let counter = std::fs::read_to_string(dir.join("counter")).unwrap_or_default();
    assert_eq!(
        counter.trim(),
        log.len().to_string(),
        "the fencing counter lost updates"
    );
    assert_eq!(ours, shells * runs);
    assert_eq!(log.len(), shells * runs + peer_runs);
    assert!(
        handovers >= 4,
        "too little contention to tell: {handovers} handovers"
    );
    let left = zk(&["ls", &path]).output().unwrap();
    // Exit 3 (no node): in Curator's layout the empty container may already be reaped.
    assert!(
        left.status.success() || left.status.code() == Some(3),
        "{left:?}"
    );
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "nodes left over: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zk_lock_curator_layout_and_curator_mutex_never_hold_at_once() {
    let mut peer = Peer::curator(&server().connect_string(), SESSION).expect("Curator peer");
    contend(&mut peer, "curator", 2, 15, 60);
}

#[test]
fn zk_lock_kazoo_layout_and_kazoo_lock_never_hold_at_once() {
    let mut peer = Peer::kazoo(&server().connect_string(), SESSION).expect("kazoo peer");
    contend(&mut peer, "kazoo", 2, 15, 60);
}

/// `zk elect --layout L` runs its command only once the peer's candidate has left, and
/// the peer leads only after `zk elect` stepped down.
fn elect(peer: &mut Peer, layout: &str, commands: [&str; 3], timeout: impl Fn(u64) -> String) {
    let [join, leave, left] = commands;
    let path = format!("/cli-foreign-elect-{layout}");
    fresh(&path);
    let ask = |peer: &mut Peer, cmd: String| peer.ask(&cmd, Duration::from_secs(30)).unwrap();
    assert_eq!(ask(peer, format!("{join} {path} peer")), "started");
    assert_eq!(
        ask(peer, format!("leader {path} {}", timeout(20_000))),
        "leader"
    );
    let dir = temp_dir(&format!("elect-{layout}"));
    let mut elected = zk(&["elect", "--layout", layout, &path, "--"])
        .args(["sh", "-c", r#": > "$D/led"; sleep 3"#])
        .env("D", &dir)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(!dir.join("led").exists(), "zk elect led while the peer did");
    assert_eq!(ask(peer, format!("{leave} {path}")), left);
    // Now the peer waits for zk's leadership to end (its command runs for three seconds).
    assert_eq!(ask(peer, format!("{join} {path} peer")), "started");
    assert_eq!(
        ask(peer, format!("leader {path} {}", timeout(300))),
        "timeout"
    );
    let status = elected.wait().unwrap();
    assert!(status.success(), "zk elect: {status:?}");
    assert!(dir.join("led").exists(), "zk elect never led");
    assert_eq!(
        ask(peer, format!("leader {path} {}", timeout(20_000))),
        "leader"
    );
    assert_eq!(ask(peer, format!("{leave} {path}")), left);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zk_elect_takes_turns_with_curator_leader_latch() {
    let mut peer = Peer::curator(&server().connect_string(), SESSION).expect("Curator peer");
    elect(&mut peer, "curator", ["latch", "unlatch", "closed"], |ms| {
        ms.to_string()
    });
}

#[test]
fn zk_elect_takes_turns_with_kazoo_election() {
    let mut peer = Peer::kazoo(&server().connect_string(), SESSION).expect("kazoo peer");
    elect(&mut peer, "kazoo", ["elect", "unelect", "stopped"], |ms| {
        format!("{}", ms as f64 / 1000.0)
    });
}
