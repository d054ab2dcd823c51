//! Other ZooKeeper libraries in their own processes: Apache Curator (Java) and kazoo (Python),
//! each driven one command per line, for interoperability tests.

use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::install::{cache_dir, resolve_pom};

/// The Curator release [`Peer::curator`] runs.
pub const CURATOR_VERSION: &str = "5.9.0";
/// The kazoo release [`Peer::kazoo`] runs.
pub const KAZOO_VERSION: &str = "2.11.0";

const CURATOR_PEER: &str = include_str!("../foreign/CuratorPeer.java");
const KAZOO_PEER: &str = include_str!("../foreign/kazoo_peer.py");

/// One process of a foreign library, answering one line per command line.
///
/// The commands are documented in the peers' sources (`foreign/CuratorPeer.java` and
/// `foreign/kazoo_peer.py` in this crate). The process is told to quit, then killed, when
/// the `Peer` is dropped.
#[derive(Debug)]
pub struct Peer {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    /// Starts Curator [`CURATOR_VERSION`] connected to `connect` with a session timeout of
    /// `session`.
    ///
    /// The first call resolves `curator-recipes` (and `slf4j-nop`) with `mvn` into the Maven
    /// cache, like the ZooKeeper releases (see [`crate::ZooKeeperInstall::for_version`]), and
    /// compiles the peer with `javac` into the test kit's cache directory; later calls reuse
    /// both. No jar is kept anywhere else.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when Maven cannot resolve Curator or `javac` is missing
    /// or fails (the message says why); the errors of starting the process; an error when
    /// the peer does not report `ready` within 60 s.
    pub fn curator(connect: &str, session: Duration) -> io::Result<Peer> {
        Self::start("Curator", Self::curator_command(connect, session)?)
    }

    /// The command that [`Peer::curator`] runs (building the peer first).
    ///
    /// # Errors
    /// As for [`Peer::curator`], but for starting it.
    pub fn curator_command(connect: &str, session: Duration) -> io::Result<Command> {
        let (java, classpath) = curator_build()?;
        let mut cmd = Command::new(java);
        cmd.arg("-Xss512k")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-cp")
            .arg(classpath)
            .arg("CuratorPeer")
            .arg(connect)
            .arg(session.as_millis().to_string());
        Ok(cmd)
    }

    /// Starts kazoo [`KAZOO_VERSION`] connected to `connect` with a session timeout of
    /// `session`.
    ///
    /// kazoo is installed with pip into the virtual environment of the Python package's
    /// tests (`$AIOZK_PY_VENV`, else `<target>/aiozk-pyo3-venv`), which is created with
    /// `python3 -m venv` when missing.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when the environment cannot be created or pip cannot
    /// install kazoo (the message ends with pip's output); the errors of starting the
    /// process; an error when the peer does not report `ready` within 60 s.
    pub fn kazoo(connect: &str, session: Duration) -> io::Result<Peer> {
        Self::start("kazoo", Self::kazoo_command(connect, session)?)
    }

    /// The command that [`Peer::kazoo`] runs (installing kazoo first).
    ///
    /// # Errors
    /// As for [`Peer::kazoo`], but for starting it.
    pub fn kazoo_command(connect: &str, session: Duration) -> io::Result<Command> {
        let (python, script) = kazoo_build()?;
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .arg(connect)
            .arg(format!("{}", session.as_secs_f64()));
        Ok(cmd)
    }

    fn start(name: &'static str, mut cmd: Command) -> io::Result<Peer> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Peer {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
        };
        let first = peer.answer(Duration::from_secs(60))?;
        if first != "ready" {
            return Err(io::Error::other(format!("{name} peer: {first}")));
        }
        Ok(peer)
    }

    /// Sends one command line without waiting for its answer (see [`Peer::answer`]).
    ///
    /// # Errors
    /// When the process has closed its input.
    pub fn send(&mut self, command: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("peer input closed"))?;
        writeln!(stdin, "{command}")?;
        stdin.flush()
    }

    /// The next answer line, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] when no line came in time; an error when the process
    /// ended.
    pub fn answer(&mut self, timeout: Duration) -> io::Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} peer: no answer within {timeout:?}", self.name),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other(format!(
                "{} peer ended ({:?})",
                self.name,
                self.child.try_wait()
            ))),
        }
    }

    /// Sends `command` and returns its answer, waiting at most `timeout`.
    ///
    /// # Errors
    /// As for [`Peer::send`] and [`Peer::answer`].
    pub fn ask(&mut self, command: &str, timeout: Duration) -> io::Result<String> {
        self.send(command)?;
        self.answer(timeout)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One build at a time per process (tests run in parallel threads).
static BUILD: Mutex<()> = Mutex::new(());

/// `java` and the class path of the compiled Curator peer.
fn curator_build() -> io::Result<(PathBuf, String)> {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir()?.join(format!("curator-{CURATOR_VERSION}"));
    let pom = curator_pom();
    let jars = resolve_pom(&dir, &pom).map_err(|(e, failure)| match failure {
        None => e,
        Some(failure) => io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "Curator {CURATOR_VERSION} could not be fetched from Maven Central \
                 (org.apache.curator:curator-recipes:{CURATOR_VERSION}); check that Maven \
                 Central can be reached. Maven said:\n{failure}"
            ),
        ),
    })?;
    let classes = dir.join("classes");
    let source = dir.join("CuratorPeer.java");
    let compiled = classes.join("CuratorPeer.class");
    let classpath = env::join_paths(&jars)
        .map_err(io::Error::other)?
        .into_string()
        .map_err(|_| io::Error::other("class path is not UTF-8"))?;
    let fresh = fs::read_to_string(&source).is_ok_and(|s| s == CURATOR_PEER) && compiled.is_file();
    if !fresh {
        fs::create_dir_all(&classes)?;
        fs::write(&source, CURATOR_PEER)?;
        let out = Command::new(jdk_tool("javac"))
            .arg("-nowarn")
            .arg("-d")
            .arg(&classes)
            .arg("-cp")
            .arg(&classpath)
            .arg(&source)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("`javac` could not be run ({e}); install a JDK"),
                )
            })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "javac failed on {}:\n{}",
                source.display(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    let full = format!("{classpath}:{}", classes.display());
    Ok((jdk_tool("java"), full))
}

fn curator_pom() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  \
         <modelVersion>4.0.0</modelVersion>\n  \
         <groupId>aiozk-testkit</groupId>\n  \
         <artifactId>curator-peer</artifactId>\n  \
         <version>{CURATOR_VERSION}</version>\n  \
         <packaging>pom</packaging>\n  \
         <dependencies>\n    \
         <dependency>\n      <groupId>org.apache.curator</groupId>\n      \
         <artifactId>curator-recipes</artifactId>\n      \
         <version>{CURATOR_VERSION}</version>\n    </dependency>\n    \
         <dependency>\n      <groupId>org.slf4j</groupId>\n      \
         <artifactId>slf4j-nop</artifactId>\n      \
         <version>1.7.36</version>\n    </dependency>\n  \
         </dependencies>\n</project>\n"
    )
}

/// `name` from `$JAVA_HOME/bin` when set, else from `PATH`.
fn jdk_tool(name: &str) -> PathBuf {
    match env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        Some(home) if Path::new(&home).join("bin").join(name).is_file() => {
            Path::new(&home).join("bin").join(name)
        }
        _ => PathBuf::from(name),
    }
}

/// The Python package tests' virtual environment: `$AIOZK_PY_VENV`, else
/// `<target>/aiozk-pyo3-venv` (as in `crates/aiozk-py/scripts/test.sh`).
pub fn python_venv() -> PathBuf {
    if let Some(v) = env::var_os("AIOZK_PY_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let target = env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            // A test binary lives in <target>/<profile>/deps.
            let exe = env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("aiozk-pyo3-venv")
}

/// The venv's `python` with kazoo installed, and the peer script.
fn kazoo_build() -> io::Result<(PathBuf, PathBuf)> {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let venv = python_venv();
    let python = venv.join("bin").join("python");
    let fail = |what: String, out: Option<&std::process::Output>| {
        let said = out.map_or_else(String::new, |o| {
            format!(
                ":\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        io::Error::new(io::ErrorKind::NotFound, format!("{what}{said}"))
    };
    if !python.is_file() {
        let out = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
            .map_err(|e| fail(format!("python3 could not be run ({e})"), None))?;
        if !out.status.success() {
            return Err(fail(
                format!("could not create {}", venv.display()),
                Some(&out),
            ));
        }
    }
    let check = format!(
        "import importlib.metadata as m, sys; sys.exit(m.version('kazoo') != '{KAZOO_VERSION}')"
    );
    let installed = Command::new(&python)
        .arg("-c")
        .arg(&check)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        let out = Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .arg(format!("kazoo=={KAZOO_VERSION}"))
            .output()
            .map_err(|e| fail(format!("pip could not be run ({e})"), None))?;
        if !out.status.success() {
            return Err(fail(
                format!(
                    "pip could not install kazoo {KAZOO_VERSION} from PyPI into {}",
                    venv.display()
                ),
                Some(&out),
            ));
        }
    }
    let dir = cache_dir()?.join(format!("kazoo-{KAZOO_VERSION}"));
    fs::create_dir_all(&dir)?;
    let script = dir.join("kazoo_peer.py");
    if fs::read_to_string(&script).map_or(true, |s| s != KAZOO_PEER) {
        // Written beside and renamed, so that a concurrent reader never sees half a file.
        let partial = dir.join(format!("kazoo_peer.{}.tmp", std::process::id()));
        fs::write(&partial, KAZOO_PEER)?;
        fs::rename(&partial, &script)?;
    }
    Ok((python, script))
}
