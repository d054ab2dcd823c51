//! `aiozk-bench run`: starts a server, prepares the znodes, warms the JVM up, runs every
//! (workload, client) pair several times interleaved, each in its own pinned process, and
//! writes the Markdown report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aiozk_testkit::{Ensemble, FaultProxy, ServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::java::{self, JavaClient};
use crate::options::{Options, CLIENTS};
use crate::report;
use crate::sample::Sample;
use crate::sys;
use crate::workload::{paths, BIG_LEN, CHILDREN100_COUNT, WORKLOADS};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn python_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bench_clients.py")
}

struct Bench {
    opts: Options,
    cpus: usize,
    pin: bool,
    server_pid: u32,
    server_addr: String,
    proxy: FaultProxy,
    exe: PathBuf,
    heap_exe: PathBuf,
    python: Option<PathBuf>,
    python_rs: Option<PathBuf>,
    notes: Vec<String>,
    /// The compiled Java client, when `java` is among the clients.
    java: Option<JavaClient>,
    /// The 3-member ensemble of `spread_get3`, when that workload runs.
    ensemble3: Option<Ensemble3>,
}

/// The 3-member ensemble of the `spread_get3` workload.
struct Ensemble3 {
    /// Stopped when dropped.
    _ensemble: Ensemble,
    /// The members' processes (their CPU time is the server CPU of the workload).
    pids: Vec<u32>,
    /// The members' addresses, comma-separated.
    members: String,
}

/// Runs the whole benchmark and writes the report.
pub async fn run(opts: Options) -> Result<(), String> {
    let started = Instant::now();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = cpus >= 2 && which("taskset");
    let mut notes = Vec::new();
    if pin {
        // The server inherits this: the harness and the server share CPU 0.
        taskset(&["-a", "-cp", "0", &std::process::id().to_string()]).await?;
    } else {
        notes.push(format!("{cpus} CPU(s) or no taskset: nothing pinned"));
    }
    let load0 = wait_for_quiet(opts.max_load).await;
    if opts.max_load > 0.0 && load0 >= opts.max_load {
        notes.push(format!(
            "the machine never got quiet: load average {load0:.2} at the start (wanted < {})",
            opts.max_load
        ));
    }

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let heap_exe = exe.with_file_name("aiozk-bench-heap");
    if !heap_exe.exists() {
        return Err(format!(
            "{} is missing: build both binaries (`cargo build --release -p aiozk-bench --bins`, \
             or use scripts/bench.sh)",
            heap_exe.display()
        ));
    }

    let python = if opts.clients.iter().any(|c| is_python(c) && !is_rs(c)) {
        match ensure_venv(&opts.venv).await {
            Ok(p) => Some(p),
            Err(e) => {
                notes.push(format!("Python clients skipped: {e}"));
                None
            }
        }
    } else {
        None
    };

    let python_rs = if opts.clients.iter().any(|c| is_rs(c)) {
        match ensure_rs_venv(&opts.venv_rs).await {
            Ok(p) => Some(p),
            Err(e) => {
                notes.push(format!("aiozk-rs skipped: {e}"));
                None
            }
        }
    } else {
        None
    };

    let java = if opts.clients.iter().any(|c| c == "java") {
        match java::prepare(&workspace_root().join("target/bench-java")).await {
            Ok(j) => Some(j),
            Err(e) => {
                notes.push(format!("the Java client skipped: {e}"));
                None
            }
        }
    } else {
        None
    };

    eprintln!("starting ZooKeeper (forceSync=no)");
    let ensemble = Ensemble::start_async(1, server_config())
        .await
        .map_err(|e| format!("starting ZooKeeper: {e}"))?;
    let server_pid = ensemble.pid(0).ok_or("the server has no pid")?;
    if pin {
        taskset(&["-a", "-cp", "0", &server_pid.to_string()]).await?;
    }
    let server_addr = ensemble.member_addr(0).to_string();
    let proxy = FaultProxy::start(ensemble.member_addr(0))
        .await
        .map_err(|e| format!("starting the proxy: {e}"))?;
    let zk_version = ensemble
        .four_letter_async(0, "srvr")
        .await
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Zookeeper version: ").map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".into());

    let mut bench = Bench {
        opts: opts.clone(),
        cpus,
        pin,
        server_pid,
        server_addr,
        proxy,
        exe,
        heap_exe,
        python,
        python_rs,
        notes,
        java,
        ensemble3: None,
    };
    if opts.workloads.iter().any(|w| w == "spread_get3") {
        eprintln!("starting a 3-member ensemble for spread_get3");
        match start_ensemble3(pin, cpus).await {
            Ok(e) => bench.ensemble3 = Some(e),
            Err(e) => bench.notes.push(format!("spread_get3 skipped: {e}")),
        }
    }
    eprintln!("creating the znodes");
    bench.setup().await?;
    eprintln!("warming the JVM up");
    bench.warm_up().await?;

    let mut samples = Vec::new();
    let mut clients: Vec<String> = opts.clients.clone();
    if bench.python.is_none() {
        clients.retain(|c| !is_python(c) || is_rs(c));
    }
    if bench.python_rs.is_none() {
        clients.retain(|c| !is_rs(c));
    }
    if bench.java.is_none() {
        clients.retain(|c| c != "java");
    }
    for round in 0..opts.rounds {
        for workload in &opts.workloads {
            // Interleaved: every client once per round, in a rotating order.
            let mut order = clients.clone();
            if !order.is_empty() {
                let k = (round
                    + opts
                        .workloads
                        .iter()
                        .position(|w| w == workload)
                        .unwrap_or(0))
                    % order.len();
                order.rotate_left(k);
            }
            for client in &order {
                eprint!(
                    "round {}/{} {workload:<16} {client:<16} ",
                    round + 1,
                    opts.rounds
                );
                let figures = match bench.run_one(client, workload, round).await {
                    Ok(f) => f,
                    Err(e) => json!({ "client": client, "workload": workload, "failed": e }),
                };
                eprintln!("{}", report::one_line(&figures));
                samples.push(Sample {
                    client: client.clone(),
                    workload: workload.clone(),
                    round,
                    figures,
                });
            }
        }
    }
    let load1 = sys_loadavg();
    drop(ensemble);
    bench.ensemble3 = None;

    let machine = machine_description(&zk_version, &bench, load0, load1).await;
    let raw: Vec<Value> = samples
        .iter()
        .map(|s| json!({ "round": s.round, "figures": s.figures }))
        .collect();
    if let Some(dir) = opts.json_out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &opts.json_out,
        serde_json::to_string_pretty(&json!({ "machine": machine, "samples": raw }))
            .unwrap_or_default(),
    )
    .map_err(|e| format!("writing {}: {e}", opts.json_out.display()))?;
    let md = report::markdown(&opts, &clients, &samples, &machine, &bench.notes);
    if let Some(dir) = opts.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&opts.out, &md).map_err(|e| format!("writing {}: {e}", opts.out.display()))?;
    eprintln!(
        "wrote {} and {} in {:.0} s",
        opts.out.display(),
        opts.json_out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn is_python(client: &str) -> bool {
    CLIENTS.iter().any(|c| c.0 == client && c.2)
}

/// This workspace's Python package (run by the same script as aiozk, in its own venv).
fn is_rs(client: &str) -> bool {
    client.starts_with("aiozk-rs")
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).exists()))
}

async fn taskset(args: &[&str]) -> Result<(), String> {
    let out = Command::new("taskset")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("taskset: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "taskset {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn sys_loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (up to 20 minutes) for the 1-minute load average to drop below `max`; returns the
/// load average when it starts.
async fn wait_for_quiet(max: f64) -> f64 {
    let mut load = sys_loadavg();
    if max <= 0.0 {
        return load;
    }
    for _ in 0..20 {
        if load < max {
            break;
        }
        eprintln!("load average {load:.2} >= {max}: waiting a minute for a quiet machine");
        tokio::time::sleep(Duration::from_secs(60)).await;
        load = sys_loadavg();
    }
    load
}

async fn ensure_venv(venv: &Path) -> Result<PathBuf, String> {
    let python = venv.join("bin/python");
    let check = |python: PathBuf| async move {
        Command::new(&python)
            .args(["-c", "import kazoo, aiozk, uvloop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success())
    };
    if check(python.clone()).await {
        return Ok(python);
    }
    eprintln!(
        "creating {} (pip install kazoo aiozk uvloop)",
        venv.display()
    );
    let run = |cmd: &str, args: Vec<String>| {
        let mut c = Command::new(cmd);
        c.args(args);
        async move {
            let out = c.output().await.map_err(|e| format!("{e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
            }
        }
    };
    run(
        "python3",
        vec!["-m".into(), "venv".into(), venv.display().to_string()],
    )
    .await
    .map_err(|e| format!("python3 -m venv: {e}"))?;
    run(
        &venv.join("bin/pip").display().to_string(),
        vec![
            "install".into(),
            "-q".into(),
            "kazoo".into(),
            "aiozk".into(),
            "uvloop".into(),
        ],
    )
    .await
    .map_err(|e| format!("pip install: {e}"))?;
    if check(python.clone()).await {
        Ok(python)
    } else {
        Err("kazoo, aiozk or uvloop does not import".into())
    }
}

/// Creates (when missing) the venv of `aiozk-rs`, builds the package's wheel in release mode
/// with maturin and installs it there, with uvloop.
async fn ensure_rs_venv(venv: &Path) -> Result<PathBuf, String> {
    let python = venv.join("bin/python");
    let run = |cmd: PathBuf, args: Vec<String>| async move {
        let out = Command::new(&cmd)
            .args(&args)
            .output()
            .await
            .map_err(|e| format!("{}: {e}", cmd.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {}: {}",
                cmd.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    if !python.exists() {
        eprintln!("creating {} (pip install maturin uvloop)", venv.display());
        run(
            "python3".into(),
            vec!["-m".into(), "venv".into(), venv.display().to_string()],
        )
        .await?;
    }
    run(
        python.clone(),
        ["-m", "pip", "install", "-q", "maturin", "uvloop"]
            .map(String::from)
            .to_vec(),
    )
    .await?;
    eprintln!("building the aiozk-rs wheel (release)");
    let wheels = venv.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    let root = workspace_root();
    run(
        venv.join("bin/maturin"),
        vec![
            "build".into(),
            "--release".into(),
            "-q".into(),
            "-o".into(),
            wheels.display().to_string(),
            "--manifest-path".into(),
            root.join("crates/aiozk-py/Cargo.toml")
                .display()
                .to_string(),
            "--interpreter".into(),
            python.display().to_string(),
        ],
    )
    .await?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("maturin built no wheel")?;
    run(
        python.clone(),
        vec![
            "-m".into(),
            "pip".into(),
            "install".into(),
            "-q".into(),
            "--force-reinstall".into(),
            "--no-deps".into(),
            wheel.display().to_string(),
        ],
    )
    .await?;
    Ok(python)
}

/// Starts the benchmark's server with its znodes, prints its address and waits for Ctrl-C:
/// for profiling one client run (`aiozk-bench client ...`) by hand.
pub async fn serve(children: usize) -> Result<(), String> {
    let ensemble = Ensemble::start_async(1, server_config())
        .await
        .map_err(|e| format!("starting ZooKeeper: {e}"))?;
    let pid = ensemble.pid(0).ok_or("the server has no pid")?;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 && which("taskset") {
        taskset(&["-a", "-cp", "0", &pid.to_string()]).await?;
    }
    let addr = ensemble.member_addr(0).to_string();
    setup_znodes(&addr, children).await?;
    println!("{addr} (pid {pid}); Ctrl-C stops it");
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

fn server_config() -> ServerConfig {
    ServerConfig::new()
        .cfg_line("forceSync=no")
        .jvm_flag("-Xms512m")
        .jvm_flag("-Xmx1g")
}

async fn setup_znodes(addr: &str, children: usize) -> Result<(), String> {
    {
        let zk = aiozk::Client::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let e = |e: aiozk::Error| e.to_string();
        zk.ensure_path(paths::CD).await.map_err(e)?;
        zk.create(paths::DATA100, &[1u8; 100]).await.map_err(e)?;
        zk.create(paths::SET, &[2u8; 100]).await.map_err(e)?;
        zk.create(paths::BIG, &vec![3u8; BIG_LEN])
            .await
            .map_err(e)?;
        zk.create(paths::CHILDREN, b"").await.map_err(e)?;
        zk.create(paths::CHILDREN100, b"").await.map_err(e)?;
        for i in 0..CHILDREN100_COUNT {
            zk.create(&format!("{}/child-{i:03}", paths::CHILDREN100), b"")
                .await
                .map_err(e)?;
        }
        let mut set = tokio::task::JoinSet::new();
        for i in 0..children {
            if set.len() >= 200 {
                set.join_next().await;
            }
            set.spawn(zk.create(&format!("{}/child-{i:06}", paths::CHILDREN), b""));
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| e.to_string())?.map_err(e)?;
        }
        zk.close().await;
        Ok(())
    }
}

impl Bench {
    async fn setup(&self) -> Result<(), String> {
        setup_znodes(&self.server_addr, self.opts.children).await
    }

    async fn warm_up(&mut self) -> Result<(), String> {
        // The JIT compiles the server's request path under the same mix the runs use.
        let per = self.opts.warmup_seconds / 4.0;
        for w in ["get100", "set100", "create_delete100", "children10k"] {
            self.spawn_client("ours", w, per, self.opts.watches, &self.server_addr.clone())
                .await?;
        }
        Ok(())
    }

    async fn run_one(
        &mut self,
        client: &str,
        workload: &str,
        round: usize,
    ) -> Result<Value, String> {
        let count = match workload {
            "sessions" => self.opts.sessions,
            _ => self.opts.watches,
        };
        let through_proxy = matches!(workload, "watches" | "pwatches");
        let addr = if through_proxy {
            self.proxy.addr().to_string()
        } else if workload == "spread_get3" {
            match &self.ensemble3 {
                Some(e) => e.members.clone(),
                None => return Err("no 3-member ensemble".into()),
            }
        } else {
            self.server_addr.clone()
        };
        let _ = round;
        let mut figures = self
            .spawn_client(client, workload, self.opts.seconds, count, &addr)
            .await?;
        if through_proxy {
            // Let the server forget the closed session's watches before the next run.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Some(obj) = figures.as_object_mut() {
            obj.insert("round".into(), json!(round));
        }
        Ok(figures)
    }

    /// Runs one client process and returns its figures with the server CPU added.
    async fn spawn_client(
        &self,
        client: &str,
        workload: &str,
        seconds: f64,
        count: usize,
        addr: &str,
    ) -> Result<Value, String> {
        let tag = format!("{client}-{}-{}", std::process::id(), rand_tag());
        let mut args: Vec<String> = Vec::new();
        if client == "java" {
            args.extend(self.java.as_ref().ok_or("no Java client")?.command());
            args.push("--warmup".into());
            args.push(if self.opts.quick { "0.2" } else { "2" }.into());
        } else if is_python(client) {
            let python = if is_rs(client) {
                self.python_rs.as_ref()
            } else {
                self.python.as_ref()
            }
            .ok_or("no Python environment")?;
            args.push(python.display().to_string());
            args.push(python_script().display().to_string());
        } else {
            let counting = matches!(workload, "sessions" | "watches" | "pwatches");
            let exe = if counting { &self.heap_exe } else { &self.exe };
            args.push(exe.display().to_string());
            args.push("client".into());
        }
        for (k, v) in [
            ("--client", client.to_owned()),
            ("--workload", workload.to_owned()),
            ("--server", addr.to_owned()),
            ("--seconds", seconds.to_string()),
            ("--count", count.to_string()),
            ("--tag", tag),
        ] {
            args.push(k.into());
            args.push(v);
        }
        let mut cmd = if self.pin {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"]).args(&args);
            c
        } else {
            let mut c = Command::new(&args[0]);
            c.args(&args[1..]);
            c
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("spawning {args:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let err_task = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut ticks = (None, None);
        let mut result = None;
        let limit = Duration::from_secs(600);
        let read = async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                match v.get("mark").and_then(Value::as_str) {
                    Some("start") => ticks.0 = self.server_ticks(workload),
                    Some("end") => ticks.1 = self.server_ticks(workload),
                    Some("registered") => {
                        // Give the client a moment to start waiting for the loss.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        self.proxy.cut_rst().await;
                    }
                    _ => {}
                }
                if let Some(r) = v.get("result") {
                    result = Some(r.clone());
                }
            }
            Ok::<_, String>(())
        };
        let outcome = tokio::time::timeout(limit, read).await;
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        let stderr = err_task.await.unwrap_or_default();
        let tail = || stderr.lines().rev().take(8).collect::<Vec<_>>().join(" | ");
        match outcome {
            Err(_) => return Err(format!("timed out after {limit:?}: {}", tail())),
            Ok(Err(e)) => return Err(format!("reading its output: {e}")),
            Ok(Ok(())) => {}
        }
        let mut result = match (result, status) {
            (Some(r), _) => r,
            (None, Ok(Ok(s))) => return Err(format!("exited with {s} and no result: {}", tail())),
            (None, _) => return Err(format!("no result: {}", tail())),
        };
        if let (Some(t0), Some(t1), Some(obj)) = (ticks.0, ticks.1, result.as_object_mut()) {
            let server_s = (t1.saturating_sub(t0)) as f64 / sys::clock_ticks() as f64;
            obj.insert("server_cpu_s".into(), json!(server_s));
        }
        Ok(result)
    }
}

impl Bench {
    /// The CPU ticks of the servers that `workload` runs against.
    fn server_ticks(&self, workload: &str) -> Option<u64> {
        match (&self.ensemble3, workload) {
            (Some(e), "spread_get3") => e
                .pids
                .iter()
                .map(|&pid| sys::proc_cpu_ticks(pid))
                .sum::<Option<u64>>(),
            _ => sys::proc_cpu_ticks(self.server_pid),
        }
    }
}

/// Starts the ensemble of `spread_get3` and creates its znode. Its members share CPU 0 with
/// the single server on machines of fewer than five CPUs (the client keeps CPU 1), else each
/// gets a CPU of its own (2, 3 and 4).
async fn start_ensemble3(pin: bool, cpus: usize) -> Result<Ensemble3, String> {
    let config = ServerConfig::new()
        .cfg_line("forceSync=no")
        .jvm_flag("-Xms256m")
        .jvm_flag("-Xmx512m");
    let ensemble = Ensemble::start_async(3, config)
        .await
        .map_err(|e| format!("starting the 3-member ensemble: {e}"))?;
    let mut pids = Vec::new();
    for i in 0..3 {
        let pid = ensemble.pid(i).ok_or("a member has no pid")?;
        if pin {
            let cpu = if cpus >= 5 {
                (2 + i).to_string()
            } else {
                "0".into()
            };
            taskset(&["-a", "-cp", &cpu, &pid.to_string()]).await?;
        }
        pids.push(pid);
    }
    let members: Vec<String> = ensemble.addrs().iter().map(ToString::to_string).collect();
    let zk = aiozk::Client::connect(&ensemble.connect_string())
        .await
        .map_err(|e| e.to_string())?;
    let e = |e: aiozk::Error| e.to_string();
    zk.ensure_path("/bench").await.map_err(e)?;
    zk.create(paths::DATA100, &[1u8; 100]).await.map_err(e)?;
    // Every member has the node before any session reads it.
    for m in &members {
        let c = aiozk::Client::connect(m).await.map_err(|e| e.to_string())?;
        c.sync(paths::DATA100).await.map_err(e)?;
        c.get_data(paths::DATA100).await.map_err(e)?;
        c.close().await;
    }
    zk.close().await;
    Ok(Ensemble3 {
        _ensemble: ensemble,
        pids,
        members: members.join(","),
    })
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() % 1_000_000
}

async fn command_output(cmd: &str, args: &[&str]) -> String {
    match Command::new(cmd).args(args).output().await {
        Ok(o) => {
            let s = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&s)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        }
        Err(_) => "unknown".into(),
    }
}

async fn machine_description(zk_version: &str, bench: &Bench, load0: f64, load1: f64) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut m = BTreeMap::new();
    m.insert(
        "date",
        json!(command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).await),
    );
    m.insert("cpus", json!(bench.cpus));
    m.insert("cpu_model", json!(model));
    m.insert("kernel", json!(kernel));
    m.insert(
        "zookeeper",
        json!(zk_version.split(',').next().unwrap_or(zk_version)),
    );
    m.insert("java", json!(command_output("java", &["-version"]).await));
    m.insert("rustc", json!(command_output("rustc", &["-V"]).await));
    m.insert("zookeeper_client_crate", json!(zkc_version()));
    m.insert("pinned", json!(bench.pin));
    m.insert("load_start", json!(load0));
    m.insert("load_end", json!(load1));
    if let Some(py) = &bench.python {
        let py = py.display().to_string();
        m.insert("python", json!(command_output(&py, &["-V"]).await));
        let versions = command_output(
            &py,
            &[
                "-c",
                "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in ('kazoo','aiozk','uvloop')))",
            ],
        )
        .await;
        m.insert("python_packages", json!(versions));
    }
    if bench.python_rs.is_some() {
        m.insert(
            "aiozk_rs",
            json!(format!(
                "{} (release wheel, built by the harness)",
                env!("CARGO_PKG_VERSION")
            )),
        );
    }
    json!(m)
}

fn zkc_version() -> String {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"zookeeper-client\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                return v.trim_matches('"').to_owned();
            }
        }
    }
    "0.11".into()
}

/// The names of every workload.
pub fn all_workloads() -> Vec<String> {
    WORKLOADS.iter().map(|w| w.0.to_owned()).collect()
}
