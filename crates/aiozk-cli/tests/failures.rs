//! The `zk` binary when things go wrong: a frozen lock holder whose command keeps running,
//! a server that hangs every request, replies over the frame limit, a port where nothing
//! listens, servers that send garbage.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiozk_testkit::{Ensemble, ScriptedServer, ServerConfig};

const ZK: &str = env!("CARGO_BIN_EXE_zk");

/// `lock`/`elect`: the lock was lost; `--fence`: the fence node is gone.
const LOST: i32 = 9;
const CONNECTION: i32 = 8;

/// One standalone server for this test binary (sessions down to 1 s).
fn server() -> &'static Ensemble {
    static SERVER: OnceLock<Ensemble> = OnceLock::new();
    SERVER.get_or_init(|| {
        Ensemble::start(1, ServerConfig::new().min_session_timeout_ms(1000))
            .expect("start ZooKeeper (apt-get install -y zookeeper)")
    })
}

/// `zk` with the test server, stdin closed.
fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(ZK);
    c.env_remove("ZK_AUTH")
        .env_remove("ZK_SASL")
        .env_remove("ZK_MAX_FRAME")
        .env("ZK_SERVERS", server().connect_string())
        .args(args)
        .stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> Output {
    cmd(args).output().expect("run zk")
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "zk {}: status {:?}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{}", describe(args, &out));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs zk, expects exit status `code`; returns the one error line.
fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(code), "{}", describe(args, &out));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one error line: {err:?}");
    err
}

/// A fresh, empty base path for one test.
fn base(name: &str) -> String {
    let path = format!("/failures-{name}");
    let _ = run(&["--max-frame", "8M", "rmr", &path]);
    ok(&["create", &path]);
    path
}

fn temp_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("zk-failures-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends a signal to a process through kill(1) (the tests forbid unsafe code).
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}

/// Waits until `cond` holds, at most `d`.
fn wait_for(what: &str, d: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < d, "{what}: not within {d:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits at most `d` for a child to exit.
fn wait_exit(child: &mut Child, d: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < d, "the child did not exit within {d:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The state letter of a process (`R`, `S`, `T`, `Z`, ...), from /proc.
fn process_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// Kills a frozen `zk` for good (SIGKILL does not need it to run).
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------------------ fencing

/// `zk lock` with a 2 s session, running `script` in `sh`; stdout/stderr to the test's.
fn spawn_holder(lock: &str, script: &str) -> Reaper {
    let child = cmd(&[
        "--session-timeout",
        "2",
        "lock",
        lock,
        "--",
        "sh",
        "-c",
        script,
    ])
    .env("ZK", ZK)
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    Reaper(child)
}

/// The command of a frozen `zk lock` writes with `--fence "$ZK_FENCE_NODE"`: once another
/// process has taken the lock, its write fails (exit 9) and nothing is written. When the
/// frozen zk resumes, it stops the command and exits with 9.
#[test]
fn a_frozen_holders_command_can_no_longer_write_after_the_lock_passed_on() {
    let b = base("fence");
    let lock = format!("{b}/lock");
    let target = format!("{b}/target");
    ok(&["create", &target, "initial"]);
    // A fence that does not exist: nothing is written.
    let err = fails(
        &["set", "--fence", &format!("{b}/no-such-lock"), &target, "x"],
        LOST,
    );
    assert!(err.contains("fence"), "{err}");
    assert_eq!(ok(&["get", &target]), "initial");
    let dir = temp_dir();
    let d = dir.display();
    // The command: a fenced write while the lock is held, then another once told to.
    let script = format!(
        "echo \"$ZK_FENCE_NODE $ZK_FENCE_CZXID\" > {d}/env
         \"$ZK\" set --fence \"$ZK_FENCE_NODE\" {target} held; echo $? > {d}/first
         while [ ! -e {d}/go ]; do sleep 0.05; done
         \"$ZK\" set --fence \"$ZK_FENCE_NODE\" {target} frozen-holder; echo $? > {d}/second
         exec sleep 60"
    );
    let mut holder = spawn_holder(&lock, &script);
    wait_for("the first fenced write", Duration::from_secs(20), || {
        !read(&dir.join("first")).is_empty()
    });
    assert_eq!(read(&dir.join("first")), "0");
    assert_eq!(ok(&["get", &target]), "held");
    let env = read(&dir.join("env"));
    let (node, czxid) = env
        .split_once(' ')
        .expect("ZK_FENCE_NODE and ZK_FENCE_CZXID");
    assert!(node.starts_with(&format!("{lock}/")), "{env}");
    let stat = ok(&["--json", "stat", node]);
    assert!(
        stat.contains(&format!("\"czxid\":{czxid}")),
        "{stat} vs {czxid}"
    );

    // Freeze the holder: its session expires, another process takes the lock and writes.
    signal(holder.0.id(), "STOP");
    let out = run(&[
        "--timeout",
        "30",
        "lock",
        "--wait",
        "30",
        &lock,
        "--",
        ZK,
        "set",
        &target,
        "other",
    ]);
    assert!(out.status.success(), "{}", describe(&["lock"], &out));
    assert_eq!(ok(&["get", &target]), "other");

    // The frozen holder's command, still running, tries again: refused, nothing written.
    std::fs::write(dir.join("go"), "").unwrap();
    wait_for("the second fenced write", Duration::from_secs(20), || {
        !read(&dir.join("second")).is_empty()
    });
    assert_eq!(read(&dir.join("second")), LOST.to_string());
    assert_eq!(ok(&["get", &target]), "other");

    // Resumed, the holder stops its command and reports the loss.
    signal(holder.0.id(), "CONT");
    let status = wait_exit(&mut holder.0, Duration::from_secs(20));
    assert_eq!(status.code(), Some(LOST));
    let _ = std::fs::remove_dir_all(dir);
}

/// A command that exits while its `zk lock` is frozen and the lock has passed on did not
/// run under the lock to the end: the resumed zk says so (exit 9), not the command's 0.
/// Its first check after the pause must not trust the session it has not heard from.
#[test]
fn a_command_that_exits_while_its_holder_is_frozen_is_reported_lost() {
    let b = base("frozen-exit");
    let lock = format!("{b}/lock");
    let dir = temp_dir();
    let d = dir.display();
    let script = format!(
        "echo $$ > {d}/pid
         while [ ! -e {d}/go ]; do sleep 0.05; done
         exit 0"
    );
    let mut holder = spawn_holder(&lock, &script);
    wait_for("the command", Duration::from_secs(20), || {
        !read(&dir.join("pid")).is_empty()
    });
    let pid = read(&dir.join("pid"));
    signal(holder.0.id(), "STOP");
    // Another process gets the lock: the frozen holder's session has expired.
    let out = run(&[
        "--timeout",
        "30",
        "lock",
        "--wait",
        "30",
        &lock,
        "--",
        "true",
    ]);
    assert!(out.status.success(), "{}", describe(&["lock"], &out));
    std::fs::write(dir.join("go"), "").unwrap();
    wait_for("the command to exit", Duration::from_secs(20), || {
        process_state(&pid) == Some('Z')
    });
    signal(holder.0.id(), "CONT");
    let status = wait_exit(&mut holder.0, Duration::from_secs(20));
    assert_eq!(status.code(), Some(LOST));
    let _ = std::fs::remove_dir_all(dir);
}

// ------------------------------------------------------------------------ --timeout

/// A server that completes the handshake, answers pings, and never answers a request (nor
/// the closeSession): `--timeout` bounds the whole command, the close at exit included.
#[test]
fn timeout_bounds_the_whole_command_close_included() {
    let hung = ScriptedServer::start(|mut conn| {
        conn.handshake(10_000, 0x77)?;
        conn.answer_pings_only()
    })
    .unwrap();
    for args in [&["get", "/"][..], &["create", "/x", "y"]] {
        let start = Instant::now();
        let out = Command::new(ZK)
            .args(["--servers", &hung.addr().to_string(), "--timeout", "1.5"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let took = start.elapsed();
        assert_eq!(out.status.code(), Some(CONNECTION), "{out:?}");
        assert!(
            took < Duration::from_millis(2300),
            "zk {args:?} took {took:?} with --timeout 1.5"
        );
    }
}
// ------------------------------------------------------------------------ --max-frame

/// A listing bigger than the default frame limit fails with an error that names
/// `--max-frame`; with `--max-frame` the same commands work.
#[test]
fn max_frame_reads_replies_over_the_default_limit() {
    let b = base("max-frame");
    let names: Vec<String> = ["a", "b"].iter().map(|c| c.repeat(600_000)).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let zk = aiozk::Client::connect(&server().connect_string())
            .await
            .unwrap();
        for name in &names {
            zk.create(&format!("{b}/{name}"), b"").await.unwrap();
        }
        zk.close().await;
    });
    let err = fails(&["ls", &b], 1);
    assert!(err.contains("--max-frame"), "{err}");
    assert!(!err.contains("max_frame"), "{err}");
    let listed = ok(&["--max-frame", "2M", "ls", &b]);
    assert_eq!(listed, format!("{}\n{}\n", names[0], names[1]));
    let err = fails(&["rmr", &b], 1);
    assert!(err.contains("--max-frame"), "{err}");
    ok(&["--max-frame", "2M", "rmr", &b]);
    fails(&["--max-frame", "12", "ls", "/"], 2);
}

// ------------------------------------------------------------------------ dead and hostile

/// Where nothing listens, every attempt is refused at once: zk fails at once with that
/// cause instead of waiting out --timeout.
#[test]
fn a_port_where_nothing_listens_fails_at_once() {
    let port = aiozk_testkit::free_port().unwrap();
    let start = Instant::now();
    let out = Command::new(ZK)
        .args(["--servers", &format!("127.0.0.1:{port}"), "--timeout", "10"])
        .args(["ls", "/"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(CONNECTION), "{out:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("refused"), "{err}");
}

/// A server that answers every request with a reply of an unknown xid: zk says so, and
/// which server it was, at once.
#[test]
fn a_server_that_sends_garbage_is_named() {
    let garbage = ScriptedServer::start(|mut conn| {
        conn.handshake(10_000, 0x78)?;
        let (xid, _, _) = conn.read_request()?;
        conn.reply(xid + 1000, 1, 0, &[])?;
        conn.drain()
    })
    .unwrap();
    let addr = garbage.addr().to_string();
    let start = Instant::now();
    let out = Command::new(ZK)
        .args(["--servers", &addr, "--timeout", "10", "get", "/"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(CONNECTION), "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("protocol violation") && err.contains(&addr),
        "{err}"
    );
}
