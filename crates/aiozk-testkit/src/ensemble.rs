//! Starting, stopping and inspecting real ZooKeeper servers.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::config::ServerConfig;
use crate::fourlw::{four_letter_word, four_letter_word_async, Mode};
use crate::install::{ServerVersion, ZooKeeperInstall};
use crate::ports::{free_ports, port_is_free_on};

/// Timeout of one readiness probe (`srvr`). A server that accepted the connection while still
/// starting may never answer it, so keep this short and probe again.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long [`Ensemble::stop`] waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Timeout of [`Ensemble::four_letter`] and [`Ensemble::mode`].
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times [`Ensemble::start`] tries with fresh ports when a port turns out to be taken.
const START_ATTEMPTS: usize = 3;
/// When this environment variable is set (non-empty), dropping an [`Ensemble`] keeps its
/// directory (with configs, data and logs) and prints its path to stderr.
const KEEP_ENV: &str = "AIOZK_TESTKIT_KEEP_DIRS";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// A running ZooKeeper server (`n == 1`, standalone) or ensemble (`n >= 2`, a quorum) on
/// `127.0.0.1`, for tests.
///
/// Members are addressed by a 0-based index `i` (`0..len()`); member `i` has server id
/// (`myid`) `i + 1`. Methods panic when `i` is out of range, like slice indexing.
///
/// Each member lives in its own directory (`zoo.cfg`, `data/`, `zookeeper.log`, `console.log`
/// for the JVM's own output) inside a temporary directory that is removed on drop. Set the
/// environment variable `AIOZK_TESTKIT_KEEP_DIRS=1` to keep it for post-mortems (its path is
/// printed to stderr).
///
/// Dropping the `Ensemble` kills every server with SIGKILL and waits for it; this also happens
/// when a test panics. If the test process dies without running destructors (SIGKILL, abort),
/// a tiny watchdog `sh` process per server notices that its parent is gone and kills the server.
///
/// All methods take `&self`, so an `Ensemble` can be shared (for example in an `Arc`) between
/// threads or tasks. The methods without a suffix block the calling thread; the `*_async`
/// variants wait with tokio timers instead (see the crate documentation).
#[derive(Debug)]
pub struct Ensemble {
    install: ZooKeeperInstall,
    config: ServerConfig,
    members: Vec<Member>,
    dir: Option<TempDir>,
    root: PathBuf,
}

#[derive(Debug)]
struct Member {
    index: usize,
    myid: u32,
    ip: Ipv4Addr,
    client_port: u16,
    quorum_port: Option<u16>,
    election_port: Option<u16>,
    secure_port: Option<u16>,
    dir: PathBuf,
    process: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    java: Child,
    /// `sh` that kills `java` when its stdin (a pipe from us) reaches end of file, that is
    /// when this process is gone.
    watchdog: Option<Child>,
}

impl Member {
    fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.ip, self.client_port))
    }

    /// `server.N=ip:quorum:election:participant;ip:client` (ensembles only).
    fn server_spec(&self) -> Option<String> {
        let (q, e) = (self.quorum_port?, self.election_port?);
        let ip = self.ip;
        Some(format!(
            "server.{}={ip}:{q}:{e}:participant;{ip}:{}",
            self.myid, self.client_port
        ))
    }

    fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        std::iter::once(self.client_port)
            .chain(self.quorum_port)
            .chain(self.election_port)
            .chain(self.secure_port)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.process.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("zookeeper.log")
    }

    fn console_path(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    /// The last lines of the server log and of the JVM console output, for error messages.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for path in [self.log_path(), self.console_path()] {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(25)..];
            if !tail.is_empty() {
                out.push_str(&format!("--- last lines of {} ---\n", path.display()));
                for line in tail {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn logs_mention_bind_failure(&self) -> bool {
        [self.log_path(), self.console_path()]
            .iter()
            .any(|p| fs::read_to_string(p).is_ok_and(|t| t.contains("Address already in use")))
    }

    /// Fails when the member is not running (never started, stopped, killed or exited).
    fn check_alive(&self) -> io::Result<()> {
        let mut slot = self.lock();
        let Some(running) = slot.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("member {} is not running (stopped or killed)", self.index),
            ));
        };
        if let Some(status) = running.java.try_wait()? {
            drop(slot);
            let kind = if self.logs_mention_bind_failure() {
                io::ErrorKind::AddrInUse
            } else {
                io::ErrorKind::Other
            };
            return Err(io::Error::new(
                kind,
                format!(
                    "ZooKeeper member {} (myid {}, client port {}) exited with {status}\n{}",
                    self.index,
                    self.myid,
                    self.client_port,
                    self.log_tail()
                ),
            ));
        }
        Ok(())
    }

    fn take_running(&self) -> Option<Running> {
        self.lock().take()
    }
}

fn substitute(s: &str, dir: &Path, myid: u32) -> String {
    s.replace("{dir}", &dir.display().to_string())
        .replace("{myid}", &myid.to_string())
}

/// Starts a `sh` that waits for end of file on its stdin (a pipe whose write end only this
/// process holds, so EOF means this process is gone), then kills `pid` and, when `cleanup` is
/// set, removes `member_dir` and then `root` if it is empty.
pub(crate) fn spawn_watchdog(
    pid: u32,
    member_dir: &Path,
    root: &Path,
    cleanup: bool,
) -> io::Result<Child> {
    const SCRIPT: &str = "read -r line; kill -9 \"$1\" 2>/dev/null; \
                          if [ \"$4\" = 1 ]; then sleep 1; rm -rf \"$2\"; rmdir \"$3\"; fi";
    Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("aiozk-testkit-watchdog")
        .arg(pid.to_string())
        .arg(member_dir)
        .arg(root)
        .arg(if cleanup { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Gives `dir` and everything below it to user and group `uid`.
fn chown_tree(dir: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(dir, Some(uid), Some(uid))?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            chown_tree(&path, uid)?;
        } else {
            std::os::unix::fs::chown(&path, Some(uid), Some(uid))?;
        }
    }
    Ok(())
}

fn kill_watchdog(running: &mut Running) {
    if let Some(mut w) = running.watchdog.take() {
        let _ = w.kill();
        let _ = w.wait();
    }
}

fn send_sigterm(child: &mut Child) {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        let _ = child.kill();
    }
}

/// SIGKILL and reap; an already exited process is just reaped.
fn kill_and_reap(child: &mut Child) -> io::Result<()> {
    if child.try_wait()?.is_none() {
        // Fails only when the process has exited meanwhile; `wait` below reaps it either way.
        let _ = child.kill();
    }
    child.wait().map(drop)
}

fn stop_blocking(mut running: Running, graceful: bool) -> io::Result<()> {
    kill_watchdog(&mut running);
    if graceful && running.java.try_wait()?.is_none() {
        send_sigterm(&mut running.java);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if running.java.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    kill_and_reap(&mut running.java)
}

async fn stop_async_inner(mut running: Running) -> io::Result<()> {
    kill_watchdog(&mut running);
    if running.java.try_wait()?.is_none() {
        send_sigterm(&mut running.java);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if running.java.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    kill_and_reap(&mut running.java)
}

fn keep_dirs() -> bool {
    std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty())
}

/// One readiness probe result: `Ok(true)` ready, `Ok(false)` not yet (with the reason).
fn evaluate_probe(probe: io::Result<String>, accepted: &[Mode]) -> (bool, String) {
    match probe {
        Ok(text) => match Mode::from_srvr(&text) {
            Some(mode) if accepted.contains(&mode) => (true, String::new()),
            Some(mode) => (false, format!("mode is {mode}")),
            None => (false, format!("srvr answered {:?}", text.trim())),
        },
        Err(e) => (false, format!("srvr failed: {e}")),
    }
}

impl Ensemble {
    /// Starts `n` servers and waits until all are ready. Blocking.
    ///
    /// `n == 1` starts a standalone server (no `server.N` lines) and waits for
    /// `Mode: standalone`; `n >= 2` starts all members at once and waits until each reports
    /// `Mode: leader` or `Mode: follower` (a 3-member quorum forms in about 1.3 s). Ports are
    /// free loopback ports unless [`ServerConfig::client_ports`] says otherwise. When a
    /// server cannot bind a port because another process took it meanwhile, everything is
    /// started again with fresh ports (up to 3 attempts).
    ///
    /// # Errors
    ///
    /// ZooKeeper or `java` not found or a release that cannot be fetched (see
    /// [`ZooKeeperInstall::for_version`]), `n` of 0 or above 254,
    /// a `client_ports` list of the wrong length, IO errors while writing the configuration,
    /// a server that exits early (the message includes the end of its log), or
    /// [`io::ErrorKind::TimedOut`] when not ready within the startup timeout.
    pub fn start(n: usize, config: ServerConfig) -> io::Result<Ensemble> {
        let install = config.install()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ensemble = Self::prepare(install.clone(), n, config.clone())?;
            let initial: Vec<usize> = (0..ensemble.initial_members()).collect();
            match ensemble
                .launch_all()
                .and_then(|()| ensemble.wait_ready_set(&initial))
            {
                Ok(()) => return Ok(ensemble),
                Err(e) if attempt < START_ATTEMPTS && ensemble.port_conflict(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Async version of [`Ensemble::start`]: the configuration is written and the processes
    /// are spawned synchronously (milliseconds), the wait for readiness uses tokio timers.
    ///
    /// # Errors
    ///
    /// As for [`Ensemble::start`].
    pub async fn start_async(n: usize, config: ServerConfig) -> io::Result<Ensemble> {
        let install = config.install()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ensemble = Self::prepare(install.clone(), n, config.clone())?;
            let initial: Vec<usize> = (0..ensemble.initial_members()).collect();
            let result = match ensemble.launch_all() {
                Ok(()) => ensemble.wait_ready_set_async(&initial).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return Ok(ensemble),
                Err(e) if attempt < START_ATTEMPTS && ensemble.port_conflict(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn port_conflict(&self, e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::AddrInUse
            || self.members.iter().any(Member::logs_mention_bind_failure)
    }

    fn prepare(install: ZooKeeperInstall, n: usize, config: ServerConfig) -> io::Result<Self> {
        if n == 0 || n > 254 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("an ensemble needs 1 to 254 members, not {n}"),
            ));
        }
        let client_ports = match &config.client_ports {
            Some(ports) if ports.len() != n => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} client ports given for {n} members", ports.len()),
                ))
            }
            Some(ports) => ports.clone(),
            None => free_ports(n)?,
        };
        let ips = match &config.member_ips {
            Some(ips) if ips.len() != n => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} member addresses given for {n} members", ips.len()),
                ))
            }
            Some(ips) => ips.clone(),
            None => vec![Ipv4Addr::LOCALHOST; n],
        };
        let quorum_ports = if n > 1 {
            free_ports(2 * n)?
        } else {
            Vec::new()
        };
        let secure_ports = if config.secure_client_port {
            free_ports(n)?
        } else {
            Vec::new()
        };
        let dir = tempfile::Builder::new()
            .prefix("aiozk-testkit-")
            .tempdir()?;
        let root = dir.path().to_path_buf();
        let members = (0..n)
            .map(|i| {
                let myid = u32::try_from(i + 1).unwrap_or(u32::MAX);
                Member {
                    index: i,
                    myid,
                    ip: ips[i],
                    client_port: client_ports[i],
                    quorum_port: quorum_ports.get(2 * i).copied(),
                    election_port: quorum_ports.get(2 * i + 1).copied(),
                    secure_port: secure_ports.get(i).copied(),
                    dir: root.join(format!("zk{myid}")),
                    process: Mutex::new(None),
                }
            })
            .collect();
        let ensemble = Ensemble {
            install,
            config,
            members,
            dir: Some(dir),
            root,
        };
        for member in &ensemble.members {
            ensemble.write_member_files(member)?;
        }
        if ensemble.config.uid_base.is_some() {
            // Members running as other users must be able to enter the root directory.
            fs::set_permissions(&ensemble.root, fs::Permissions::from_mode(0o755))?;
            for member in &ensemble.members {
                if let Some(uid) = ensemble.member_uid(member) {
                    chown_tree(&member.dir, uid)?;
                }
            }
        }
        Ok(ensemble)
    }

    fn zoo_cfg(&self, m: &Member) -> String {
        let c = &self.config;
        let mut cfg = String::new();
        let mut line = |l: String| {
            cfg.push_str(&l);
            cfg.push('\n');
        };
        line(format!("tickTime={}", c.tick_time_ms));
        line(format!("dataDir={}", m.dir.join("data").display()));
        line(format!("clientPort={}", m.client_port));
        line(format!("clientPortAddress={}", m.ip));
        line("admin.enableServer=false".into());
        line("4lw.commands.whitelist=*".into());
        line("maxClientCnxns=0".into());
        line("forceSync=no".into());
        if let Some(ms) = c.min_session_timeout_ms {
            line(format!("minSessionTimeout={ms}"));
        }
        if let Some(ms) = c.max_session_timeout_ms {
            line(format!("maxSessionTimeout={ms}"));
        }
        if c.extended_types {
            line("extendedTypesEnabled=true".into());
        }
        if self.members.len() > 1 {
            line("initLimit=10".into());
            line("syncLimit=5".into());
            let initial = c.reconfig_initial;
            if initial.is_some() {
                line("reconfigEnabled=true".into());
                line("standaloneEnabled=false".into());
                line("skipACL=yes".into());
            }
            for other in &self.members {
                // A reconfigurable ensemble starts with its first members only; a later
                // member knows them and itself.
                let listed = initial.is_none_or(|n| other.index < n || other.index == m.index);
                if listed {
                    if let Some(spec) = other.server_spec() {
                        line(spec);
                    }
                }
            }
        }
        if let Some(port) = m.secure_port {
            line("serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory".into());
            line(format!("secureClientPort={port}"));
            line(format!("secureClientPortAddress={}", m.ip));
        }
        for extra in &c.cfg_lines {
            line(substitute(extra, &m.dir, m.myid));
        }
        cfg
    }

    fn write_member_files(&self, m: &Member) -> io::Result<()> {
        let data = m.dir.join("data");
        fs::create_dir_all(&data)?;
        fs::write(data.join("myid"), format!("{}\n", m.myid))?;
        fs::write(m.dir.join("zoo.cfg"), self.zoo_cfg(m))?;
        let log = m.log_path();
        fs::write(
            m.dir.join("log4j.properties"),
            format!(
                "log4j.rootLogger=INFO, FILE\n\
                 log4j.appender.FILE=org.apache.log4j.FileAppender\n\
                 log4j.appender.FILE.File={}\n\
                 log4j.appender.FILE.Append=true\n\
                 log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} [myid:%X{{myid}}] \
                 - %-5p [%t:%c{{1}}] - %m%n\n",
                log.display()
            ),
        )?;
        // For ZOOKEEPER_HOME installs of 3.8+, which log through logback.
        fs::write(
            m.dir.join("logback.xml"),
            format!(
                "<configuration>\n  <appender name=\"FILE\" \
                 class=\"ch.qos.logback.core.FileAppender\">\n    <file>{}</file>\n    \
                 <append>true</append>\n    <encoder>\n      <pattern>%d{{ISO8601}} \
                 [myid:%X{{myid}}] - %-5p [%t:%logger{{0}}] - %m%n</pattern>\n    </encoder>\n  \
                 </appender>\n  <root level=\"INFO\">\n    <appender-ref ref=\"FILE\"/>\n  \
                 </root>\n</configuration>\n",
                log.display()
            ),
        )?;
        for (name, contents) in &self.config.files {
            let path = m.dir.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(path, contents)?;
        }
        Ok(())
    }

    /// The server's class path. Members that run as other users may not be able to read
    /// the installation (a Maven cache under root's home), so then its jars are copied into
    /// the ensemble's directory first (once).
    fn classpath_for_members(&self) -> std::ffi::OsString {
        if self.config.uid_base.is_none() {
            return self.install.classpath();
        }
        let lib = self.root.join("lib");
        let mut cp = std::ffi::OsString::new();
        for (i, jar) in self.install.jars().iter().enumerate() {
            let copy = match jar.file_name() {
                Some(name) => lib.join(name),
                None => jar.clone(),
            };
            let usable =
                copy.exists() || (fs::create_dir_all(&lib).is_ok() && fs::copy(jar, &copy).is_ok());
            if i > 0 {
                cp.push(":");
            }
            cp.push(if usable { &copy } else { jar });
        }
        cp
    }

    fn member_uid(&self, m: &Member) -> Option<u32> {
        self.config.uid_base.map(|base| base + m.myid)
    }

    fn java_command(&self, m: &Member) -> io::Result<Command> {
        let dir = m.dir.display().to_string();
        let mut cmd = match self.member_uid(m) {
            Some(uid) => {
                // setpriv executes java in its own process, so the pid stays java's.
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg(self.install.java());
                c
            }
            None => Command::new(self.install.java()),
        };
        cmd.args([
            "-Xms32m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
        ])
        .arg(format!("-Dzookeeper.log.dir={dir}"))
        .arg(format!("-Dlog4j.configuration=file:{dir}/log4j.properties"))
        .arg(format!("-Dlogback.configurationFile={dir}/logback.xml"))
        .arg("-Dznode.container.checkIntervalMs=500");
        if self.config.read_only_mode {
            cmd.arg("-Dreadonlymode.enabled=true");
        }
        for flag in &self.config.jvm_flags {
            cmd.arg(substitute(flag, &m.dir, m.myid));
        }
        cmd.arg("-cp")
            .arg(self.classpath_for_members())
            .arg(MAIN_CLASS)
            .arg(m.dir.join("zoo.cfg"));
        let mut console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.console_path())?;
        writeln!(
            console,
            "=== aiozk-testkit: starting member {} (myid {}) ===",
            m.index, m.myid
        )?;
        cmd.current_dir(&m.dir)
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console);
        Ok(cmd)
    }

    /// Spawns the member's JVM (does not wait for readiness).
    fn launch(&self, m: &Member) -> io::Result<()> {
        let mut slot = m.lock();
        if let Some(running) = slot.as_mut() {
            if running.java.try_wait()?.is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("member {} is already running", m.index),
                ));
            }
            if let Some(mut old) = slot.take() {
                kill_watchdog(&mut old);
            }
        }
        for port in m.ports() {
            if !port_is_free_on(m.ip, port) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("port {port} of member {} is in use", m.index),
                ));
            }
        }
        let java = self.java_command(m)?.spawn()?;
        // Best effort: without `sh` the server still dies with the Ensemble, just not when
        // this process is killed outright.
        let watchdog = spawn_watchdog(java.id(), &m.dir, &self.root, !keep_dirs()).ok();
        *slot = Some(Running { java, watchdog });
        Ok(())
    }

    /// The members started with the ensemble: all, or the first ones of a reconfigurable
    /// ensemble (see [`ServerConfig::dynamic_reconfig`]).
    fn initial_members(&self) -> usize {
        self.config
            .reconfig_initial
            .map_or(self.members.len(), |n| n.clamp(1, self.members.len()))
    }

    fn launch_all(&self) -> io::Result<()> {
        self.members[..self.initial_members()]
            .iter()
            .try_for_each(|m| self.launch(m))
    }

    fn ready_modes(&self) -> &'static [Mode] {
        if self.members.len() == 1 {
            &[Mode::Standalone]
        } else {
            &[Mode::Leader, Mode::Follower, Mode::Observer]
        }
    }

    fn not_ready_error(&self, pending: &[(usize, String)]) -> io::Error {
        let mut msg = format!(
            "ZooKeeper not ready after {:?}:",
            self.config.startup_timeout
        );
        for (i, why) in pending {
            let m = &self.members[*i];
            msg.push_str(&format!(
                "\nmember {i} (myid {}, {}): {why}\n{}",
                m.myid,
                m.addr(),
                m.log_tail()
            ));
        }
        io::Error::new(io::ErrorKind::TimedOut, msg)
    }

    fn wait_ready_set(&self, indices: &[usize]) -> io::Result<()> {
        let deadline = Instant::now() + self.config.startup_timeout;
        let accepted = self.ready_modes();
        let mut pending: Vec<(usize, String)> =
            indices.iter().map(|&i| (i, String::new())).collect();
        loop {
            let mut still = Vec::new();
            for (i, _) in pending {
                let m = &self.members[i];
                m.check_alive()?;
                let (ready, why) =
                    evaluate_probe(four_letter_word(m.addr(), "srvr", PROBE_TIMEOUT), accepted);
                if !ready {
                    still.push((i, why));
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready_error(&pending));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    async fn wait_ready_set_async(&self, indices: &[usize]) -> io::Result<()> {
        let deadline = Instant::now() + self.config.startup_timeout;
        let accepted = self.ready_modes();
        let mut pending: Vec<(usize, String)> =
            indices.iter().map(|&i| (i, String::new())).collect();
        loop {
            let mut still = Vec::new();
            for (i, _) in pending {
                let m = &self.members[i];
                m.check_alive()?;
                let probe = four_letter_word_async(m.addr(), "srvr", PROBE_TIMEOUT).await;
                let (ready, why) = evaluate_probe(probe, accepted);
                if !ready {
                    still.push((i, why));
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready_error(&pending));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn member(&self, i: usize) -> &Member {
        match self.members.get(i) {
            Some(m) => m,
            None => panic!(
                "member index {i} out of range: this ensemble has {} members (indices are 0-based)",
                self.members.len()
            ),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always `false`: an ensemble has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The configuration the ensemble was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The ZooKeeper installation in use.
    pub fn install(&self) -> &ZooKeeperInstall {
        &self.install
    }

    /// The release the servers run, when known (see [`ZooKeeperInstall::version`]).
    pub fn version(&self) -> Option<ServerVersion> {
        self.install.version()
    }

    /// The temporary directory that holds every member's directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The connect string for clients: `127.0.0.1:p1,127.0.0.1:p2,...` in member order
    /// (with the members' own addresses when [`ServerConfig::member_ips`] is set).
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(|m| m.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of member `i` ([`ServerConfig::member_ips`], `127.0.0.1` by default).
    pub fn member_ip(&self, i: usize) -> Ipv4Addr {
        self.member(i).ip
    }

    /// The client address (`127.0.0.1:port` unless [`ServerConfig::member_ips`] says
    /// otherwise) of member `i`.
    pub fn member_addr(&self, i: usize) -> SocketAddr {
        self.member(i).addr()
    }

    /// Every member's client address, in member order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.members.iter().map(Member::addr).collect()
    }

    /// Member `i`'s line of a dynamic configuration,
    /// `server.N=ip:quorum:election:participant;ip:client`, as `reconfig`
    /// takes it to add the member. `None` for a standalone server.
    pub fn server_spec(&self, i: usize) -> Option<String> {
        self.member(i).server_spec()
    }

    /// The client port of member `i`.
    pub fn client_port(&self, i: usize) -> u16 {
        self.member(i).client_port
    }

    /// The TLS client port of member `i` when [`ServerConfig::secure_client_port`] is on.
    pub fn secure_client_port(&self, i: usize) -> Option<u16> {
        self.member(i).secure_port
    }

    /// The server id (`myid`) of member `i`, which is `i + 1`.
    pub fn myid(&self, i: usize) -> u32 {
        self.member(i).myid
    }

    /// The directory of member `i` (holds `zoo.cfg`, `data/`, the logs and
    /// [`ServerConfig::file`]s).
    pub fn member_dir(&self, i: usize) -> &Path {
        &self.member(i).dir
    }

    /// The server log of member `i` (log4j/logback output, appended across restarts).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.member(i).log_path()
    }

    /// The JVM's own stdout/stderr of member `i` (appended across restarts).
    pub fn console_log_path(&self, i: usize) -> PathBuf {
        self.member(i).console_path()
    }

    /// The process id of member `i`'s JVM, if it was started and not stopped or killed
    /// through this `Ensemble` (it may have exited on its own).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.member(i).lock().as_ref().map(|r| r.java.id())
    }

    /// Whether member `i`'s JVM is running (started and not exited).
    pub fn is_running(&self, i: usize) -> bool {
        let m = self.member(i);
        let mut slot = m.lock();
        slot.as_mut()
            .is_some_and(|r| matches!(r.java.try_wait(), Ok(None)))
    }

    /// Stops member `i` gracefully: SIGTERM, then waits for the process to exit (SIGKILL after
    /// 10 s). Does nothing if it is not running. Blocking; the JVM needs about 0.3 s.
    ///
    /// # Errors
    ///
    /// Waiting for the process failed.
    pub fn stop(&self, i: usize) -> io::Result<()> {
        match self.member(i).take_running() {
            Some(running) => stop_blocking(running, true),
            None => Ok(()),
        }
    }

    /// Async version of [`Ensemble::stop`].
    ///
    /// # Errors
    ///
    /// As for [`Ensemble::stop`].
    pub async fn stop_async(&self, i: usize) -> io::Result<()> {
        match self.member(i).take_running() {
            Some(running) => stop_async_inner(running).await,
            None => Ok(()),
        }
    }

    /// Kills member `i` with SIGKILL (a crash: nothing is flushed, sockets are closed by the
    /// kernel) and reaps it. Does nothing if it is not running.
    ///
    /// # Errors
    ///
    /// Waiting for the process failed.
    pub fn kill(&self, i: usize) -> io::Result<()> {
        match self.member(i).take_running() {
            Some(running) => stop_blocking(running, false),
            None => Ok(()),
        }
    }

    /// Starts member `i` again with the same directory, data and ports (stopping it first
    /// with [`Ensemble::stop`] if it is running) and waits until it is ready: `standalone`
    /// for a single server, `leader` or `follower` for an ensemble member (which therefore
    /// needs a quorum to be ready). Blocking.
    ///
    /// # Errors
    ///
    /// A port of the member is taken by another process, the server exits, or it is not ready
    /// within the startup timeout.
    pub fn restart(&self, i: usize) -> io::Result<()> {
        self.stop(i)?;
        self.launch(self.member(i))?;
        self.wait_ready(i)
    }

    /// Async version of [`Ensemble::restart`].
    ///
    /// # Errors
    ///
    /// As for [`Ensemble::restart`].
    pub async fn restart_async(&self, i: usize) -> io::Result<()> {
        self.stop_async(i).await?;
        self.launch(self.member(i))?;
        self.wait_ready_async(i).await
    }

    /// Waits until member `i` answers `srvr` with a serving mode (`standalone`, or `leader` /
    /// `follower` / `observer` in an ensemble). Polls every 50 ms with 500 ms probes, up to
    /// the startup timeout. Blocking.
    ///
    /// # Errors
    ///
    /// The member is not running or exits, or [`io::ErrorKind::TimedOut`] (the message has
    /// the last probe result and the end of the logs).
    pub fn wait_ready(&self, i: usize) -> io::Result<()> {
        self.member(i);
        self.wait_ready_set(&[i])
    }

    /// Async version of [`Ensemble::wait_ready`].
    ///
    /// # Errors
    ///
    /// As for [`Ensemble::wait_ready`].
    pub async fn wait_ready_async(&self, i: usize) -> io::Result<()> {
        self.member(i);
        self.wait_ready_set_async(&[i]).await
    }

    /// [`Ensemble::wait_ready`] for every member, polling them together.
    ///
    /// # Errors
    ///
    /// As for [`Ensemble::wait_ready`], for any member (all must be running).
    pub fn wait_ready_all(&self) -> io::Result<()> {
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.wait_ready_set(&all)
    }

    /// Async version of [`Ensemble::wait_ready_all`].
    ///
    /// # Errors
    ///
    /// As for [`Ensemble::wait_ready_all`].
    pub async fn wait_ready_all_async(&self) -> io::Result<()> {
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.wait_ready_set_async(&all).await
    }

    /// Sends a four-letter word to member `i` and returns the answer (5 s timeout). Blocking.
    ///
    /// # Errors
    ///
    /// As for [`four_letter_word`].
    pub fn four_letter(&self, i: usize, word: &str) -> io::Result<String> {
        four_letter_word(self.member_addr(i), word, FOUR_LETTER_TIMEOUT)
    }

    /// Async version of [`Ensemble::four_letter`].
    ///
    /// # Errors
    ///
    /// As for [`four_letter_word`].
    pub async fn four_letter_async(&self, i: usize, word: &str) -> io::Result<String> {
        four_letter_word_async(self.member_addr(i), word, FOUR_LETTER_TIMEOUT).await
    }

    /// The mode member `i` reports through `srvr` right now; `None` when it does not answer
    /// or is not serving (for example a member without quorum). Blocking (at most 5 s).
    pub fn mode(&self, i: usize) -> Option<Mode> {
        self.four_letter(i, "srvr")
            .ok()
            .and_then(|t| Mode::from_srvr(&t))
    }

    /// Async version of [`Ensemble::mode`].
    pub async fn mode_async(&self, i: usize) -> Option<Mode> {
        self.four_letter_async(i, "srvr")
            .await
            .ok()
            .and_then(|t| Mode::from_srvr(&t))
    }

    /// The index of the member that reports `Mode: leader` right now, if any. Blocking.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|&i| self.mode(i) == Some(Mode::Leader))
    }

    /// Async version of [`Ensemble::leader`].
    pub async fn leader_async(&self) -> Option<usize> {
        for i in 0..self.members.len() {
            if self.mode_async(i).await == Some(Mode::Leader) {
                return Some(i);
            }
        }
        None
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for m in &self.members {
            if let Some(mut running) = m.take_running() {
                kill_watchdog(&mut running);
                let _ = kill_and_reap(&mut running.java);
            }
        }
        if keep_dirs() {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("aiozk-testkit: kept ZooKeeper directory {}", kept.display());
            }
        }
        // Otherwise the TempDir field removes the directory.
    }
}
