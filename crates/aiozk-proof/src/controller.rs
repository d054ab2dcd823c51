//! The controller: runs inside the namespace, owns the ensemble, the workers and the
//! nemesis, and checks the run at the end.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiozk::Client;
use aiozk_testkit::{Ensemble, FaultProxy, ServerConfig};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::check;
use crate::clock::now_ns;
use crate::net::{self, member_ip, worker_ip, worker_uid, Rules, MEMBER_UID_BASE};
use crate::schedule::{self, Fault, Shape, Step};
use crate::worker::{self, OP_LIMIT};
use crate::{ClientKind, RunArgs, Workload};

/// Runs the controller; returns the exit code.
pub(crate) fn inner(args: RunArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("proof: no runtime: {e}");
            return 2;
        }
    };
    match rt.block_on(run(&args)) {
        Ok(violations) => u8::from(violations > 0),
        Err(e) => {
            eprintln!("proof: run failed: {e}");
            2
        }
    }
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One worker process.
struct WorkerProc {
    id: u32,
    child: Child,
    pid: Option<Pid>,
    stdin: Option<ChildStdin>,
    reader: tokio::task::JoinHandle<()>,
}

/// What the nemesis acts on.
struct Stage {
    ensemble: Arc<Ensemble>,
    proxies: Vec<FaultProxy>,
    workers: Vec<(u32, Option<Pid>)>,
    /// The server each worker said it talks to last.
    servers: Shared<HashMap<u32, String>>,
    /// The workers that hold a lock, a leadership or a queue item right now (from their
    /// lines).
    holding: Shared<HashMap<u32, bool>>,
    rules: Mutex<Rules>,
    faults: Shared<Vec<Value>>,
    start_ns: u64,
}

async fn run(args: &RunArgs) -> std::io::Result<usize> {
    if !schedule::NEMESES.contains(&args.nemesis.as_str()) {
        return Err(std::io::Error::other(format!(
            "unknown nemesis {:?}; one of {}",
            args.nemesis,
            schedule::NEMESES.join(", ")
        )));
    }
    if args.members != 3 && args.members != 5 {
        return Err(std::io::Error::other("--members must be 3 or 5"));
    }
    let dir = args.out.join(args.run_name());
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let roles = args.workload.workers(args.client);
    if roles.is_empty() {
        return Err(std::io::Error::other(format!(
            "the {} client drives the register, ids, counter and all workloads, not {}",
            args.client.name(),
            args.workload.name()
        )));
    }
    let n_workers = u32::try_from(roles.len()).unwrap_or(0);
    net::setup(args.members, n_workers)?;

    let shape = Shape {
        seed: args.seed,
        duration_ms: args.duration * 1000,
        members: args.members,
        workers: n_workers,
        session_timeout_ms: args.session_timeout_ms,
    };
    let steps = schedule::generate(&args.nemesis, &shape);
    fs::write(
        dir.join("schedule.json"),
        serde_json::to_string_pretty(&schedule::to_json(&steps)).unwrap_or_default(),
    )?;

    let config = ServerConfig::new()
        .tick_time_ms(500)
        .min_session_timeout_ms(1000)
        .max_session_timeout_ms(u32::try_from(args.server_max_session_ms).unwrap_or(20_000))
        .startup_timeout(Duration::from_secs(90))
        .member_ips((0..args.members).map(member_ip).collect())
        .run_as_uid(MEMBER_UID_BASE);
    let ensemble = Arc::new(Ensemble::start_async(args.members, config).await?);
    let admin = connect_admin(&ensemble.connect_string()).await?;
    setup_nodes(&admin).await?;
    admin.close().await;

    let mut proxies = Vec::new();
    if schedule::uses_proxies(&args.nemesis) {
        for i in 0..args.members {
            proxies.push(FaultProxy::start(ensemble.member_addr(i)).await?);
        }
    }
    let connect = if proxies.is_empty() {
        ensemble.connect_string()
    } else {
        proxies
            .iter()
            .map(|p| p.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };

    let history: Shared<Vec<Value>> = Arc::default();
    let servers: Shared<HashMap<u32, String>> = Arc::default();
    let holding: Shared<HashMap<u32, bool>> = Arc::default();
    let start_ns = now_ns();
    let deadline_ns = start_ns + args.duration * 1_000_000_000;
    let history_file = Arc::new(Mutex::new(fs::File::create(dir.join("history.jsonl"))?));
    let mut procs = Vec::new();
    for (id, role) in roles.iter().enumerate() {
        let id = u32::try_from(id).unwrap_or(0);
        procs.push(spawn_worker(
            args,
            id,
            *role,
            &connect,
            deadline_ns,
            history.clone(),
            servers.clone(),
            holding.clone(),
            history_file.clone(),
        )?);
    }

    let stage = Arc::new(Stage {
        ensemble: ensemble.clone(),
        proxies,
        workers: procs.iter().map(|p| (p.id, p.pid)).collect(),
        servers,
        holding,
        rules: Mutex::new(Rules::default()),
        faults: Arc::default(),
        start_ns,
    });
    let nemesis = {
        let stage = stage.clone();
        tokio::spawn(async move { run_schedule(&stage, steps).await })
    };
    let until_end = Duration::from_nanos(deadline_ns.saturating_sub(now_ns()));
    tokio::time::sleep(until_end).await;
    let _ = nemesis.await;
    heal_all(&stage).await;

    // Workers stop at their deadline; closing stdin tells them too.
    let mut stuck = Vec::new();
    for p in &mut procs {
        p.stdin.take();
    }
    for p in &mut procs {
        let limit = OP_LIMIT + Duration::from_secs(20);
        match tokio::time::timeout(limit, p.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                stuck.push(p.id);
                let _ = p.child.kill().await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut p.reader).await;
    }

    let final_state = final_read(&ensemble, args.workload).await;
    fs::write(
        dir.join("final.json"),
        serde_json::to_string_pretty(&final_state).unwrap_or_default(),
    )?;
    let faults = lock(&stage.faults).clone();
    {
        let mut f = fs::File::create(dir.join("faults.jsonl"))?;
        for v in &faults {
            writeln!(f, "{v}")?;
        }
    }
    let history = lock(&history).clone();
    let mut report = check::run(&check::Input {
        workload: args.workload,
        roles: &roles,
        history: &history,
        faults: &faults,
        final_state: &final_state,
        session_timeout_ms: args.session_timeout_ms,
        ensemble_dirs: (0..args.members)
            .map(|i| ensemble.member_dir(i).to_path_buf())
            .collect(),
    });
    for id in stuck {
        report.violation("liveness", format!("worker {id} did not stop"));
    }
    let ops = history.iter().filter(|v| v["type"] == "op").count();
    let applied = faults.iter().filter(|f| f.get("error").is_none()).count();
    fs::write(dir.join("report.txt"), report.render_all())?;
    print!("{}", report.render());
    let violations = report.violations.len();
    if violations > 0 {
        // The servers' side of the story, for a post-mortem: logs and transaction logs.
        for i in 0..ensemble.len() {
            let to = dir.join("members").join(format!("zk{}", i + 1));
            if let Err(e) = copy_tree(ensemble.member_dir(i), &to) {
                eprintln!("proof: could not keep the files of member {i}: {e}");
            }
        }
    }
    let summary = format!(
        "proof: seed={} workload={} nemesis={} client={} ops={ops} faults={applied} violations={violations}",
        args.seed,
        args.workload.name(),
        args.nemesis,
        args.client.name()
    );
    fs::write(dir.join("summary.txt"), format!("{summary}\n"))?;
    println!("history, schedule and report: {}", dir.display());
    println!("{summary}");
    drop(stage);
    Ok(violations)
}

/// Copies a member's directory (logs, configuration, data) into the run's directory.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

async fn connect_admin(connect: &str) -> std::io::Result<Client> {
    let mut last = None;
    for _ in 0..30 {
        match Client::builder(connect)
            .session_timeout(Duration::from_secs(10))
            .connect()
            .await
        {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(std::io::Error::other(format!(
        "cannot connect to {connect}: {last:?}"
    )))
}

async fn setup_nodes(admin: &Client) -> std::io::Result<()> {
    let mut paths = vec![
        "/proof".to_owned(),
        "/proof/register".to_owned(),
        worker::ids_base().to_owned(),
        worker::queue_base().to_owned(),
        worker::lock_base().to_owned(),
        worker::election_base().to_owned(),
        worker::watch_base().to_owned(),
    ];
    paths.push(worker::lock_data().to_owned());
    for p in &paths {
        admin
            .ensure_path(p)
            .await
            .map_err(|e| std::io::Error::other(format!("ensure {p}: {e}")))?;
    }
    for k in 0..worker::watch_nodes() {
        let path = worker::watch_node(k);
        match admin.create(&path, b"init").await {
            Ok(_) | Err(aiozk::Error::NodeExists) => {}
            Err(e) => return Err(std::io::Error::other(format!("create {path}: {e}"))),
        }
    }
    for k in 0..worker::register_keys() {
        let path = worker::register_path(k);
        match admin.create(&path, b"init").await {
            Ok(_) | Err(aiozk::Error::NodeExists) => {}
            Err(e) => return Err(std::io::Error::other(format!("create {path}: {e}"))),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn spawn_worker(
    args: &RunArgs,
    id: u32,
    role: Workload,
    connect: &str,
    deadline_ns: u64,
    history: Shared<Vec<Value>>,
    servers: Shared<HashMap<u32, String>>,
    holding: Shared<HashMap<u32, bool>>,
    file: Shared<fs::File>,
) -> std::io::Result<WorkerProc> {
    let uid = worker_uid(id);
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups");
    match args.client {
        ClientKind::Rust => {
            cmd.arg(std::env::current_exe()?).arg("worker");
        }
        ClientKind::Python => {
            let (python, script) = python_worker()?;
            cmd.arg(python).arg(script);
        }
    }
    cmd.arg("--id")
        .arg(id.to_string())
        .arg("--workload")
        .arg(role.name())
        .arg("--seed")
        .arg(args.seed.to_string())
        .arg("--connect")
        .arg(connect)
        .arg("--session-timeout-ms")
        .arg(args.session_timeout_ms.to_string())
        .arg("--deadline-ns")
        .arg(deadline_ns.to_string())
        .arg("--max-ops")
        .arg(args.max_ops.to_string());
    if let Some(m) = &args.mutant {
        cmd.arg("--mutant").arg(m);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw);
    let stdin = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("worker without stdout"))?;
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            {
                let mut f = lock(&file);
                let _ = writeln!(f, "{line}");
            }
            let Ok(mut v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Value::Object(m) = &mut v {
                m.insert("w".into(), json!(id));
                m.insert("role".into(), json!(role.name()));
            }
            if v["type"] == "ev" && v["ev"] == "server" {
                if let Some(addr) = v["addr"].as_str() {
                    lock(&servers).insert(id, addr.to_owned());
                }
            }
            let holds = match (v["type"].as_str(), v["f"].as_str(), v["ev"].as_str()) {
                (Some("op"), Some("acquire" | "take"), _) => Some(v["r"] == "ok"),
                (Some("op"), Some("release" | "complete"), _) | (Some("ev"), _, Some("lost")) => {
                    Some(false)
                }
                _ => None,
            };
            if let Some(h) = holds {
                lock(&holding).insert(id, h);
            }
            lock(&history).push(v);
        }
    });
    Ok(WorkerProc {
        id,
        child,
        pid,
        stdin,
        reader,
    })
}

/// The Python interpreter of the package's virtual environment and the worker script.
fn python_worker() -> std::io::Result<(PathBuf, PathBuf)> {
    let root = repo_root();
    let python = std::env::var_os("AIOZK_PROOF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/aiozk-pyo3-venv/bin/python"));
    let script = root.join("crates/aiozk-proof/py/worker.py");
    if !python.exists() || !script.exists() {
        return Err(std::io::Error::other(format!(
            "the Python client needs {} and {} (scripts/proof.sh builds them)",
            python.display(),
            script.display()
        )));
    }
    Ok((python, script))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

// ---------------------------------------------------------------------------- nemesis

fn ms_since(stage: &Stage) -> u64 {
    now_ns().saturating_sub(stage.start_ns) / 1_000_000
}

async fn run_schedule(stage: &Stage, steps: Vec<Step>) {
    for step in steps {
        let wait = step.at_ms.saturating_sub(ms_since(stage));
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let t0 = now_ns();
        let mut record = step.fault.to_json();
        let outcome = apply(stage, &step, &mut record).await;
        if let Value::Object(m) = &mut record {
            m.insert("t0".into(), json!(t0));
            m.insert("t1".into(), json!(now_ns()));
            if let Err(e) = outcome {
                m.insert("error".into(), json!(e));
            }
        }
        lock(&stage.faults).push(record);
    }
}

fn set_rules(stage: &Stage, f: impl FnOnce(&mut Rules)) -> Result<(), String> {
    let mut rules = lock(&stage.rules);
    f(&mut rules);
    net::apply(&rules).map_err(|e| e.to_string())
}

fn note(record: &mut Value, key: &str, v: Value) {
    if let Value::Object(m) = record {
        m.insert(key.into(), v);
    }
}

fn signal(pid: Option<Pid>, sig: Signal) -> Result<(), String> {
    let pid = pid.ok_or("no pid")?;
    kill_process(pid, sig).map_err(|e| e.to_string())
}

async fn leader_or(stage: &Stage, fallback: usize) -> usize {
    stage.ensemble.leader_async().await.unwrap_or(fallback)
}

fn member_of_worker(stage: &Stage, worker: u32) -> Option<usize> {
    let addr = lock(&stage.servers).get(&worker).cloned()?;
    (0..stage.ensemble.len()).find(|&i| {
        let a = stage.ensemble.member_addr(i).to_string();
        let p = stage.proxies.get(i).map(|p| p.addr().to_string());
        addr == a || Some(&addr) == p.as_ref()
    })
}

/// The worker a client fault hits: the seeded one, or with `holder` the lowest-numbered
/// worker holding a lock right now (the seeded one when nobody holds).
fn target_worker(stage: &Stage, worker: u32, holder: bool) -> u32 {
    if !holder {
        return worker;
    }
    let holding = lock(&stage.holding);
    let mut ids: Vec<u32> = holding
        .iter()
        .filter(|(_, h)| **h)
        .map(|(w, _)| *w)
        .collect();
    ids.sort_unstable();
    ids.first().copied().unwrap_or(worker)
}

async fn apply(stage: &Stage, step: &Step, record: &mut Value) -> Result<(), String> {
    let n = stage.ensemble.len();
    let all: Vec<usize> = (0..n).collect();
    let ips = |set: &[usize]| set.iter().map(|&i| member_ip(i)).collect::<Vec<_>>();
    let others = |m: usize| all.iter().copied().filter(|&i| i != m).collect::<Vec<_>>();
    let hold = Duration::from_millis(step.len_ms);
    match &step.fault {
        Fault::Halves { left } => {
            let right: Vec<usize> = all.iter().copied().filter(|i| !left.contains(i)).collect();
            partition(stage, hold, |r| r.split(&ips(left), &ips(&right))).await
        }
        Fault::IsolateLeader => {
            let leader = leader_or(stage, 0).await;
            note(record, "resolved", json!(leader));
            partition(stage, hold, |r| {
                r.split(&ips(&[leader]), &ips(&others(leader)))
            })
            .await
        }
        Fault::IsolateClientMember { worker } => {
            let m = member_of_worker(stage, *worker).unwrap_or(0);
            note(record, "resolved", json!(m));
            partition(stage, hold, |r| r.split(&ips(&[m]), &ips(&others(m)))).await
        }
        Fault::IsolateClient { worker, holder } => {
            let w = target_worker(stage, *worker, *holder);
            note(record, "resolved", json!(w));
            partition(stage, hold, |r| r.split(&[worker_ip(w)], &ips(&all))).await
        }
        Fault::Bridge { bridge } => {
            let rest = others(*bridge);
            let (a, b) = rest.split_at(rest.len() / 2);
            partition(stage, hold, |r| r.split(&ips(a), &ips(b))).await
        }
        Fault::Loss { percent } => {
            let mut addrs = ips(&all);
            addrs.extend(stage.workers.iter().map(|(w, _)| worker_ip(*w)));
            partition(stage, hold, |r| r.loss = Some((*percent, addrs))).await
        }
        Fault::Kill { member } => {
            let m = match member {
                Some(m) => *m,
                None => leader_or(stage, 0).await,
            };
            note(record, "resolved", json!(m));
            let ens = stage.ensemble.clone();
            tokio::task::spawn_blocking(move || ens.kill(m))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(hold).await;
            restart(stage, m).await
        }
        Fault::Pause { member } => {
            let m = match member {
                Some(m) => *m,
                None => leader_or(stage, 0).await,
            };
            note(record, "resolved", json!(m));
            let pid = stage
                .ensemble
                .pid(m)
                .and_then(|p| i32::try_from(p).ok())
                .and_then(Pid::from_raw);
            signal(pid, Signal::STOP)?;
            tokio::time::sleep(hold).await;
            signal(pid, Signal::CONT)
        }
        Fault::ClientPause { worker, holder } => {
            let w = target_worker(stage, *worker, *holder);
            note(record, "resolved", json!(w));
            let pid = stage
                .workers
                .iter()
                .find(|(id, _)| *id == w)
                .and_then(|(_, p)| *p);
            signal(pid, Signal::STOP)?;
            let stopped = now_ns();
            tokio::time::sleep(hold).await;
            let r = signal(pid, Signal::CONT);
            note(record, "stopped", json!(stopped));
            note(record, "resumed", json!(now_ns()));
            r
        }
        Fault::ProxyStall { member } => {
            let p = stage.proxies.get(*member).ok_or("no proxy")?;
            p.stall();
            tokio::time::sleep(hold).await;
            p.resume();
            Ok(())
        }
        Fault::ProxyBlackhole { member } => {
            let p = stage.proxies.get(*member).ok_or("no proxy")?;
            p.blackhole(true);
            tokio::time::sleep(hold).await;
            p.blackhole(false);
            Ok(())
        }
        Fault::ProxyCut { member, after } => {
            let p = stage.proxies.get(*member).ok_or("no proxy")?;
            p.cut_after_requests(*after);
            tokio::time::sleep(hold).await;
            p.cancel_cut_after_requests();
            Ok(())
        }
        Fault::Rolling => {
            for m in 0..n {
                restart(stage, m).await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(())
        }
    }
}

async fn partition(
    stage: &Stage,
    hold: Duration,
    cut: impl FnOnce(&mut Rules),
) -> Result<(), String> {
    set_rules(stage, cut)?;
    tokio::time::sleep(hold).await;
    set_rules(stage, |r| *r = Rules::default())
}

async fn restart(stage: &Stage, m: usize) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(60), stage.ensemble.restart_async(m)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("restart of member {m}: {e}")),
        Err(_) => Err(format!("restart of member {m} timed out")),
    }
}

/// Undoes every fault, whatever the schedule left behind.
async fn heal_all(stage: &Stage) {
    let _ = set_rules(stage, |r| *r = Rules::default());
    for i in 0..stage.ensemble.len() {
        let pid = stage
            .ensemble
            .pid(i)
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw);
        let _ = signal(pid, Signal::CONT);
    }
    for (_, pid) in &stage.workers {
        let _ = signal(*pid, Signal::CONT);
    }
    for p in &stage.proxies {
        p.resume();
        p.blackhole(false);
        p.cancel_cut_after_requests();
    }
    for i in 0..stage.ensemble.len() {
        if !stage.ensemble.is_running(i) {
            let _ = restart(stage, i).await;
        }
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        stage.ensemble.wait_ready_all_async(),
    )
    .await;
}

// ---------------------------------------------------------------------------- final read

/// Reads the workload's state from every member on its own (after a sync); the first
/// member's view is the final state, and any member that disagrees is reported.
async fn final_read(ensemble: &Ensemble, workload: Workload) -> Value {
    // Sessions the workers left behind (a client that declared its session expired while
    // the server still held it) expire in the seconds after the run, and their ephemeral
    // nodes go with them, so members read one after another can differ for a moment: read
    // again until they agree, for at most five rounds.
    let mut last = read_members(ensemble, workload).await;
    for _ in 0..4 {
        let views = last["members"].as_array().cloned().unwrap_or_default();
        if views.windows(2).all(|w| w[0] == w[1]) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        last = read_members(ensemble, workload).await;
    }
    last
}

async fn read_members(ensemble: &Ensemble, workload: Workload) -> Value {
    let mut views = Vec::new();
    for i in 0..ensemble.len() {
        let addr = ensemble.member_addr(i).to_string();
        let view = match connect_admin(&addr).await {
            Ok(c) => {
                let _ = c.sync("/proof").await;
                let v = read_state(&c, workload).await;
                c.close().await;
                v
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        views.push(view);
    }
    json!({"members": views})
}

async fn read_state(c: &Client, workload: Workload) -> Value {
    let mut state = serde_json::Map::new();
    let wants = |w: Workload| workload == w || workload == Workload::All;
    if wants(Workload::Register) {
        let mut keys = serde_json::Map::new();
        for k in 0..worker::register_keys() {
            let v = match c.get_data(&worker::register_path(k)).await {
                Ok((data, stat)) => json!({
                    "val": String::from_utf8_lossy(&data),
                    "ver": stat.version,
                    "mzxid": stat.mzxid,
                }),
                Err(e) => json!({"error": e.to_string()}),
            };
            keys.insert(k.to_string(), v);
        }
        state.insert("register".into(), Value::Object(keys));
    }
    if wants(Workload::Ids) {
        state.insert("ids".into(), read_children(c, worker::ids_base()).await);
    }
    if wants(Workload::Queue) {
        state.insert("queue".into(), read_children(c, worker::queue_base()).await);
    }
    if wants(Workload::Counter) {
        let v = match c.get_data(worker::counter_path()).await {
            Ok((data, _)) => json!(String::from_utf8_lossy(&data)),
            Err(e) => json!({"error": e.to_string()}),
        };
        state.insert("counter".into(), v);
    }
    if wants(Workload::Lock) {
        state.insert("lock".into(), read_children(c, worker::lock_base()).await);
    }
    if workload == Workload::Election {
        state.insert(
            "lock".into(),
            read_children(c, worker::election_base()).await,
        );
    }
    Value::Object(state)
}

/// Every child of `base` with its data (sorted by name).
async fn read_children(c: &Client, base: &str) -> Value {
    let mut names = match c.get_children(base).await {
        Ok(n) => n,
        Err(e) => return json!({"error": e.to_string()}),
    };
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = format!("{base}/{name}");
        match c.get_data(&path).await {
            Ok((data, stat)) => out.push(json!({
                "name": name,
                "data": String::from_utf8_lossy(&data),
                "czxid": stat.czxid,
                "owner": stat.ephemeral_owner,
            })),
            Err(aiozk::Error::NoNode) => {}
            Err(e) => out.push(json!({"name": name, "error": e.to_string()})),
        }
    }
    Value::Array(out)
}
