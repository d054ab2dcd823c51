//! Interoperability with the Python library aiozk: our Lock, SharedLock and
//! LeaderElection and aiozk's, on the same paths of the same server, exclude each other.
//!
//! The test installs aiozk from PyPI into a virtual environment kept between runs under
//! `target/aiozk-py-venv` (set `AIOZK_PY_VENV` to use another place). It fails when the
//! environment cannot be set up; set `AIOZK_SKIP_PYTHON=1` to skip it on machines
//! without Python or network access (a message says so).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aiozk::Error;
use aiozk_recipes::{LeaderElection, Lock, SharedLock};

use crate::common::{base, children, connect, is_aiozk_name, ms_since, server, within};

/// The aiozk release the test runs against.
const AIOZK_VERSION: &str = "0.32.0";

/// A line-oriented driver around aiozk's recipes: one command per stdin line, one answer
/// per stdout line.
const PEER: &str = r#"
import asyncio, sys
import aiozk

async def main():
    zk = aiozk.ZKClient(sys.argv[1], session_timeout=10)
    await zk.start()
    base = sys.argv[2]
    lock = zk.recipes.Lock(base + '/lock')
    shared = zk.recipes.SharedLock(base + '/shared')
    election = None
    loop = asyncio.get_running_loop()
    print('ready', flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd, *args = line.split()
        timeout = float(args[0]) if args else None
        try:
            if cmd == 'lock':
                await lock.acquire(timeout=timeout)
                out = 'acquired'
            elif cmd == 'unlock':
                await lock.release()
                out = 'released'
            elif cmd == 'read':
                await shared.reader_lock.acquire(timeout=timeout)
                out = 'acquired'
            elif cmd == 'unread':
                await shared.reader_lock.release()
                out = 'released'
            elif cmd == 'write':
                await shared.writer_lock.acquire(timeout=timeout)
                out = 'acquired'
            elif cmd == 'unwrite':
                await shared.writer_lock.release()
                out = 'released'
            elif cmd == 'volunteer':
                # A fresh recipe each time: aiozk reuses a stale future after resign().
                election = zk.recipes.LeaderElection(base + '/election')
                await election.volunteer()
                out = 'volunteered'
            elif cmd == 'lead':
                await election.wait_for_leadership(timeout=timeout)
                out = 'leader'
            elif cmd == 'resign':
                await election.resign()
                out = 'resigned'
            elif cmd == 'quit':
                break
            else:
                out = 'error unknown command'
        except aiozk.exc.TimeoutError:
            out = 'timeout'
        except Exception as e:
            out = 'error ' + repr(e)
        print(out, flush=True)
    await zk.close()

asyncio.run(main())
"#;

/// The venv's python with aiozk installed, or `None` when skipped.
fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    static SETUP: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    PYTHON
        .get_or_init(|| {
            if std::env::var_os("AIOZK_SKIP_PYTHON").is_some_and(|v| v == "1") {
                println!("SKIPPED: AIOZK_SKIP_PYTHON=1, the aiozk interoperability test did not run");
                return None;
            }
            let venv = std::env::var_os("AIOZK_PY_VENV")
                .map(PathBuf::from)
                .unwrap_or_else(|| target_dir().join("aiozk-py-venv"));
            let python = venv.join("bin").join("python");
            let check = format!(
                "import importlib.metadata as m, aiozk; assert m.version('aiozk') == '{AIOZK_VERSION}'"
            );
            let ready = || {
                Command::new(&python)
                    .args(["-c", &check])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if ready() {
                return Some(python);
            }
            let started = Instant::now();
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
            run(Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("aiozk=={AIOZK_VERSION}"),
            ]));
            assert!(ready(), "aiozk {AIOZK_VERSION} is not importable from {venv:?}");
            println!(
                "installed aiozk {AIOZK_VERSION} into {} in {} ms",
                venv.display(),
                ms_since(started)
            );
            Some(python)
        })
        .clone()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed (set AIOZK_SKIP_PYTHON=1 to skip this test without PyPI access):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running Python aiozk peer.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn start(python: &PathBuf, base: &str) -> Self {
        // Written once per test process, and through a rename: tests run in parallel, and
        // rewriting the file in place while another peer's interpreter reads it would hand
        // that interpreter an empty script.
        static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
        let script = SCRIPT.get_or_init(|| {
            let script = target_dir().join("aiozk-py-peer.py");
            let tmp = script.with_extension(format!("py.{}", std::process::id()));
            std::fs::write(&tmp, PEER).unwrap();
            std::fs::rename(&tmp, &script).unwrap();
            script
        });
        let mut child = Command::new(python)
            .arg(script)
            .arg(server().connect_string())
            .arg(base)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python peer");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Self {
            child,
            stdin,
            lines,
        };
        assert_eq!(peer.next(), "ready");
        peer
    }

    fn next(&mut self) -> String {
        tokio::task::block_in_place(|| {
            self.lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the Python peer did not answer")
        })
    }

    /// Sends a command and waits for its answer.
    fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.next()
    }

    /// Sends a command without waiting (read the answer later with `next`).
    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_excludes_python_aiozk_both_ways() {
    let Some(python) = python() else { return };
    let zk = connect().await;
    let b = base(&zk, "py-lock").await;
    let path = format!("{b}/lock");
    let lock = Lock::new(&zk, &path);
    let mut py = Peer::start(&python, &b);

    // Python holds: ours times out, and sees aiozk's node layout.
    assert_eq!(py.ask("lock"), "acquired");
    let names = children(&zk, &path).await;
    assert_eq!(names.len(), 1);
    assert!(is_aiozk_name(&names[0], "lock"), "{names:?}");
    let started = Instant::now();
    assert_eq!(
        lock.acquire(Some(Duration::from_millis(500)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    println!(
        "our acquire timed out after {} ms while aiozk held the lock",
        ms_since(started)
    );
    // Python releases while we wait: we get it.
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire(Some(Duration::from_secs(10))).await }
    });
    crate::common::wait_children(&zk, &path, 5, |c| c.len() == 2).await;
    assert_eq!(py.ask("unlock"), "released");
    let guard = within(10, waiting).await.unwrap().unwrap();
    assert!(guard.is_held());

    // We hold: Python times out; we release while Python waits: Python gets it.
    assert_eq!(py.ask("lock 0.5"), "timeout");
    py.send("lock 10");
    crate::common::wait_children(&zk, &path, 5, |c| c.len() == 2).await;
    guard.release().await.unwrap();
    assert_eq!(py.next(), "acquired");
    assert_eq!(
        lock.acquire(Some(Duration::from_millis(200)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    assert_eq!(py.ask("unlock"), "released");
    drop(py);
    assert!(children(&zk, &path).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_lock_interoperates_with_python_aiozk() {
    let Some(python) = python() else { return };
    let zk = connect().await;
    let b = base(&zk, "py-shared").await;
    let shared = SharedLock::new(&zk, &format!("{b}/shared"));
    let mut py = Peer::start(&python, &b);

    // Readers share across libraries; our writer waits for aiozk's reader.
    assert_eq!(py.ask("read"), "acquired");
    let ours = within(5, shared.acquire_read(Some(Duration::from_secs(5))))
        .await
        .unwrap();
    assert_eq!(
        shared
            .acquire_write(Some(Duration::from_millis(300)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    assert_eq!(py.ask("unread"), "released");
    // aiozk's writer waits for our reader.
    assert_eq!(py.ask("write 0.3"), "timeout");
    drop(ours);
    assert_eq!(py.ask("write 5"), "acquired");
    assert_eq!(
        shared
            .acquire_read(Some(Duration::from_millis(300)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    assert_eq!(py.ask("unwrite"), "released");
    let r = within(5, shared.acquire_read(None)).await.unwrap();
    drop(r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn election_interoperates_with_python_aiozk() {
    let Some(python) = python() else { return };
    let zk = connect().await;
    let b = base(&zk, "py-election").await;
    let election = LeaderElection::new(&zk, &format!("{b}/election"));
    let mut py = Peer::start(&python, &b);

    // Python volunteers first and leads; we wait behind it.
    assert_eq!(py.ask("volunteer"), "volunteered");
    assert_eq!(py.ask("lead 5"), "leader");
    election.volunteer().await.unwrap();
    assert_eq!(
        election
            .wait_for_leadership(Some(Duration::from_millis(300)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    assert!(!election.has_leadership());
    let names = children(&zk, &format!("{b}/election")).await;
    assert!(
        names.iter().all(|n| is_aiozk_name(n, "candidate")),
        "{names:?}"
    );
    assert_eq!(py.ask("resign"), "resigned");
    let leadership = within(10, election.wait_for_leadership(None))
        .await
        .unwrap();
    assert!(leadership.is_held());

    // Now Python waits behind us, and takes over when we resign.
    assert_eq!(py.ask("volunteer"), "volunteered");
    assert_eq!(py.ask("lead 0.3"), "timeout");
    py.send("lead 10");
    election.resign().await.unwrap();
    assert_eq!(py.next(), "leader");
    assert!(!election.has_leadership());
    assert_eq!(py.ask("resign"), "resigned");
}
