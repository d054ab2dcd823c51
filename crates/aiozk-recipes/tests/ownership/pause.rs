//! A lock holder whose whole process is paused (SIGSTOP) past its session timeout, while
//! another process takes the lock: once resumed (SIGCONT), its very first ownership check
//! must not say "held".
//!
//! The holder is this test binary run again with `OWN_PAUSE_HOLDER` set: it takes the
//! lock and checks `is_held()` every millisecond on a current-thread runtime, printing each
//! answer with the wall-clock time taken just before the check. On such a runtime the
//! checking task runs before the session's driver has handled anything that happened
//! during the pause, so the check itself has to notice that the server has not been heard
//! from for too long.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::common::{base, connect, connect_to, server, within};
use aiozk_recipes::Lock;

const HOLDER: &str = "OWN_PAUSE_HOLDER";
const SESSION: Duration = Duration::from_secs(4);

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos()
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid}");
}

/// The holder process: `spec` is `SERVERS LOCK_PATH`. Never returns.
fn holder(spec: &str) -> ! {
    let (servers, path) = spec.split_once(' ').expect("SERVERS LOCK_PATH");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let zk = connect_to(servers, SESSION).await;
        let guard = Lock::new(&zk, path).acquire(None).await.expect("acquire");
        println!("READY {}", guard.node());
        loop {
            let t = wall_ns();
            let held = guard.is_held();
            println!("CHECK {t} {held}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

#[test]
fn a_paused_holders_first_check_after_resuming_is_not_held() {
    if let Ok(spec) = std::env::var(HOLDER) {
        holder(&spec);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let zk = rt.block_on(connect());
    let b = rt.block_on(base(&zk, "pause"));
    let path = format!("{b}/lock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pause::a_paused_holders_first_check_after_resuming_is_not_held",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER, format!("{} {path}", server().connect_string()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(until - Instant::now())
            .expect("the holder is ready");
        // Printed after libtest's "test NAME ... " on the same line.
        if line.contains("READY ") {
            break;
        }
    }

    // Freeze the holder; another client gets the lock once the server expired its session.
    signal(child.id(), "STOP");
    let other = rt.block_on(async {
        let other = connect().await;
        let guard = within(30, Lock::new(&other, &path).acquire(None))
            .await
            .expect("the lock passes on");
        (other, guard)
    });
    let resumed = wall_ns();
    signal(child.id(), "CONT");

    let mut after = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while after.len() < 50 {
        let line = rx
            .recv_timeout(until - Instant::now())
            .expect("checks after the resume");
        let Some(rest) = line.strip_prefix("CHECK ") else {
            continue;
        };
        let (t, held) = rest.split_once(' ').unwrap();
        if t.parse::<u128>().unwrap() >= resumed {
            after.push(held == "true");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        after.iter().all(|held| !held),
        "checks after the resume (first first): {after:?}"
    );
    rt.block_on(async {
        other.1.release().await.unwrap();
        other.0.close().await;
        zk.close().await;
    });
}
