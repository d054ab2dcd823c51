//! Dynamic reconfiguration under load: a 3.9 ensemble with `reconfigEnabled=true` grows from
//! 3 to 5 members with `Client::reconfig` and shrinks back to 3, while 300 sessions in three
//! processes read and write and follow the membership (`track_ensemble`). Afterwards no
//! session has expired, no request failed except through a connection loss, and each
//! server holds an even share of the sessions, within 15%, as its `cons` lists them.
//!
//! This binary is its own harness: run with `--sessions-child CONNECT COUNT TAG` it is one
//! of the processes holding the sessions, driven through its standard input.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use aiozk::{Client, Error, SessionEvent, SessionState};
use aiozk_testkit::{Ensemble, ServerConfig, ServerVersion};

const NAME: &str = "reconfig_grow_and_shrink_under_load";
const PROCESSES: usize = 3;
const SESSIONS_PER_PROCESS: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--sessions-child") {
        child(&args[i + 1..]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    // A name filter given to `cargo test` that does not match this test, or a `--skip`
    // that does: nothing to run.
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        if a == "--skip" {
            skips.extend(rest.next().map(String::as_str));
        } else if let Some(s) = a.strip_prefix("--skip=") {
            skips.push(s);
        } else if !a.starts_with('-') {
            filters.push(a.as_str());
        }
    }
    let skipped = skips.iter().any(|s| NAME.contains(s));
    if skipped || (!filters.is_empty() && !filters.iter().any(|f| NAME.contains(f))) {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test: {NAME}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(parent());
    println!("test {NAME} ... ok");
}

// ------------------------------------------------------------------------ the sessions

/// Holds `COUNT` sessions that write and read their own node until told to stop. Speaks on
/// stdout: `ready` once every session is up, `report OK LOSSES BAD...` when asked.
fn child(args: &[String]) {
    let [connect, count, tag] = args else {
        panic!("usage: --sessions-child CONNECT COUNT TAG");
    };
    let count: usize = count.parse().expect("COUNT");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let ok = Arc::new(AtomicU64::new(0));
        let losses = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut clients = Vec::new();
        for i in 0..count {
            let client = Client::builder(connect)
                .session_timeout(Duration::from_secs(30))
                .track_ensemble(true)
                .connect()
                .await
                .expect("connect");
            let path = format!("/reconfig/{tag}-{i}");
            match client.create(&path, b"").await {
                Ok(_) | Err(Error::NodeExists) => {}
                Err(e) => panic!("create {path}: {e}"),
            }
            let mut events = client.state_changes();
            let bad_events = bad.clone();
            tokio::spawn(async move {
                while let Ok(event) = events.recv().await {
                    match event {
                        SessionEvent::NewSession { session_id } => bad_events
                            .lock()
                            .unwrap()
                            .push(format!("new session {session_id:#x}")),
                        SessionEvent::State(SessionState::Expired, _) => {
                            bad_events.lock().unwrap().push("session expired".into())
                        }
                        _ => {}
                    }
                }
            });
            let (c, ok, losses, bad) = (client.clone(), ok.clone(), losses.clone(), bad.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    n += 1;
                    let write = c.set_data(&path, n.to_string().as_bytes(), None).await;
                    let read = c.get_data(&path).await.map(|_| ());
                    for outcome in [write.map(|_| ()), read] {
                        match outcome {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(Error::ConnectionLoss) => losses.fetch_add(1, Ordering::Relaxed),
                            Err(Error::Closed) => return,
                            Err(e) => {
                                bad.lock().unwrap().push(format!("{path}: {e}"));
                                0
                            }
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
            });
            clients.push(client);
        }
        println!("ready");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            match line.trim() {
                "report" => {
                    let sessions = clients.iter().filter(|c| c.stats().sessions != 1).count();
                    let mut bad = bad.lock().unwrap().clone();
                    if sessions > 0 {
                        bad.push(format!("{sessions} clients had more than one session"));
                    }
                    println!(
                        "report {} {} {}",
                        ok.load(Ordering::Relaxed),
                        losses.load(Ordering::Relaxed),
                        bad.join(" | ")
                    );
                }
                "stop" => break,
                _ => {}
            }
            let _ = std::io::stdout().flush();
        }
        for c in clients {
            c.close().await;
        }
    });
}

/// A child process and its lines.
struct Sessions {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Sessions {
    fn spawn(connect: &str, count: usize, tag: &str) -> Self {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .args(["--sessions-child", connect, &count.to_string(), tag])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a sessions process");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// The next line that starts with `prefix` (within `secs` seconds).
    fn expect(&self, prefix: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {prefix:?} line from a sessions process: {e}"),
            }
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to a sessions process");
        self.stdin.flush().expect("flush");
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------------ the test

/// The client sessions each member serves, from its `cons` (connections with a session).
async fn sessions_per_member(zk: &Ensemble, members: usize) -> Vec<usize> {
    let mut counts = Vec::new();
    for i in 0..members {
        let cons = zk.four_letter_async(i, "cons").await.unwrap_or_default();
        counts.push(cons.lines().filter(|l| l.contains("sid=0x")).count());
    }
    counts
}

/// Polls the members' session counts until `done` holds for them and they did not change
/// since the previous poll (at most `secs`).
async fn settle(
    zk: &Ensemble,
    secs: u64,
    what: &str,
    done: impl Fn(&[usize]) -> bool,
) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut previous = Vec::new();
    loop {
        let counts = sessions_per_member(zk, zk.len()).await;
        if done(&counts) && counts == previous {
            return counts;
        }
        previous = counts.clone();
        if Instant::now() > deadline {
            panic!("{what}: sessions per member still {counts:?} after {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn table(counts: &[usize]) -> String {
    let map: BTreeMap<String, usize> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("server.{}", i + 1), *n))
        .collect();
    format!("{map:?}")
}

async fn parent() {
    let zk = Ensemble::start_async(
        5,
        ServerConfig::new()
            .dynamic_reconfig(3)
            .startup_timeout(Duration::from_secs(120)),
    )
    .await
    .expect("start ZooKeeper (scripts/install-zookeeper.sh installs it)");
    let version = zk.version().unwrap_or(ServerVersion::new(3, 9, 5));
    assert!(
        version >= ServerVersion::new(3, 5, 0),
        "reconfig needs 3.5+"
    );
    let initial: Vec<String> = (0..3).map(|i| zk.member_addr(i).to_string()).collect();
    let initial = initial.join(",");
    // The admin session lives on member 0 only (it is subtracted from that member's count).
    let admin = Client::connect(&zk.member_addr(0).to_string())
        .await
        .expect("connect");
    admin.ensure_path("/reconfig").await.expect("base");

    let total = PROCESSES * SESSIONS_PER_PROCESS;
    let mut children: Vec<Sessions> = (0..PROCESSES)
        .map(|p| Sessions::spawn(&initial, SESSIONS_PER_PROCESS, &format!("p{p}")))
        .collect();
    for c in &children {
        c.expect("ready", 180);
    }
    let start = settle(&zk, 60, "start", |c| c.iter().sum::<usize>() == total + 1).await;
    println!("3 members: {}", table(&start));

    // Grow: start members 4 and 5 (they sync as non-voting followers), then add them.
    zk.restart_async(3).await.expect("start member 4");
    zk.restart_async(4).await.expect("start member 5");
    let joining = format!(
        "{},{}",
        zk.server_spec(3).expect("spec"),
        zk.server_spec(4).expect("spec")
    );
    let (config, _) = admin
        .reconfig(&joining, "", "", -1)
        .await
        .expect("reconfig: add members 4 and 5");
    println!("after adding:\n{}", String::from_utf8_lossy(&config));
    let grown = settle(&zk, 90, "growing", |c| {
        c.iter().sum::<usize>() == total + 1 && c[3] > 0 && c[4] > 0
    })
    .await;
    println!("5 members: {}", table(&grown));

    // Shrink: remove members 4 and 5 again.
    let (config, _) = admin
        .reconfig("", "4,5", "", -1)
        .await
        .expect("reconfig: remove members 4 and 5");
    println!("after removing:\n{}", String::from_utf8_lossy(&config));
    let mut shrunk = settle(&zk, 90, "shrinking", |c| {
        c[3] == 0 && c[4] == 0 && c[..3].iter().sum::<usize>() == total + 1
    })
    .await;
    shrunk[0] -= 1;
    println!("3 members again (load sessions): {}", table(&shrunk[..3]));

    let mut failures = Vec::new();
    let share = total as f64 / 3.0;
    for (i, n) in shrunk[..3].iter().enumerate() {
        let off = (*n as f64 - share).abs() / share;
        if off > 0.15 {
            failures.push(format!(
                "server.{} has {n} sessions, {:.0}% off an even share",
                i + 1,
                off * 100.0
            ));
        }
    }
    let (mut ok, mut losses) = (0u64, 0u64);
    for (p, c) in children.iter_mut().enumerate() {
        c.send("report");
        let line = c.expect("report", 60);
        let mut parts = line.splitn(4, ' ').skip(1);
        ok += parts
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        losses += parts
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let bad = parts.next().unwrap_or("").trim();
        if !bad.is_empty() {
            failures.push(format!("process {p}: {bad}"));
        }
    }
    println!("requests: {ok} ok, {losses} failed with a connection loss");
    for c in &mut children {
        c.send("stop");
    }
    for c in &mut children {
        let _ = c.child.wait();
    }
    admin.close().await;
    assert!(ok > 0, "no request succeeded");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
