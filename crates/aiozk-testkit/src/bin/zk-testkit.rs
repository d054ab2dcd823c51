//! `zk-testkit serve [--version V] [--port P] [--members N] [--ttl] [--sasl U:P] [--tls]
//! [--kerberos] [--json]`: runs a throw-away ZooKeeper for manual testing and for the Python tests.
//!
//! `zk-testkit peer curator|kazoo CONNECT SESSION_SECONDS`: runs the test kit's Curator or
//! kazoo peer (`aiozk_testkit::Peer`, fetched and built on first use) on this process's
//! standard input and output, and exits with its status.
//!
//! Starts a standalone server (or an `N`-member ensemble) of release `V` (`3.9.5`, `3.8.6`,
//! ..., or `debian`; default `ZK_VERSION`, else 3.9.5) on 127.0.0.1 in a temporary
//! directory, prints the connect string as one line on stdout, and keeps it running until
//! stdin reaches end of file or the process gets SIGINT or SIGTERM; then it stops the servers
//! and removes the directory. With `--port P` a standalone server uses exactly client port `P`
//! (an ensemble uses `P`, `P+1`, ...); otherwise free ports are chosen. Status messages go to
//! stderr. Even if this process is killed with SIGKILL, the servers die with it.
//!
//! Options for the servers of client tests: `--ttl` enables TTL and container nodes,
//! `--sasl USER:PASSWORD` a SASL DIGEST-MD5 user, `--tls` a TLS port with a certificate
//! authority made for the run, `--kerberos` SASL GSSAPI required of every client, against a
//! KDC made for the run. `--json` (implied by `--tls` and `--kerberos`) prints one JSON line
//! instead: `{"plain": ..., "pid": ..., "tls": ..., "ca_pem": ..., "client_cert_pem": ...,
//! "client_key_pem": ..., "kerberos_servers": ..., "krb5_conf": ..., "keytab": ...,
//! "principal": ...}` (`pid`: the first server's JVM; the TLS fields with `--tls` only, the
//! Kerberos ones with `--kerberos`).

use std::io::{self, Write};
use std::process::ExitCode;

use std::time::Duration;

use aiozk_testkit::{Ensemble, Kdc, Peer, ServerConfig, TestPki, TEST_REALM};

const USAGE: &str = "usage: zk-testkit serve [--version V] [--port P] [--members N] [--ttl]
                         [--sasl USER:PASSWORD] [--tls] [--kerberos] [--json]

       zk-testkit peer curator|kazoo CONNECT SESSION_SECONDS

Starts a standalone ZooKeeper server (or an N-member ensemble) on 127.0.0.1, prints the
connect string as the first line on stdout and runs until stdin reaches end of file or
SIGINT/SIGTERM arrives.

--version V  a release from Maven Central (3.9.5, 3.8.6, ...; fetched once into the Maven
             cache) or `debian` (the Debian package zookeeper); default: ZK_VERSION, else 3.9.5
--ttl        enables TTL nodes
--sasl U:P   adds a SASL DIGEST-MD5 user
--tls        a TLS port with a CA made for the run
--kerberos   clients must authenticate with Kerberos (SASL GSSAPI), against a KDC made for
             the run (its krb5.conf, a client keytab and principal in the JSON line)
--json       (implied by --tls) prints a JSON line with the connect strings and the CA and
             client certificate";

struct Args {
    version: Option<String>,
    port: Option<u16>,
    members: usize,
    extra: Extra,
}

/// The options for the servers of client tests.
#[derive(Default)]
struct Extra {
    ttl: bool,
    sasl: Option<(String, String)>,
    tls: bool,
    kerberos: bool,
    json: bool,
}

/// What `Extra::apply` made for the servers, kept while they run.
struct Made {
    pki: Option<TestPki>,
    /// The realm, and the keytab of its client principal [`KERBEROS_CLIENT`].
    kerberos: Option<(Kdc, std::path::PathBuf)>,
}

/// The client principal of `--kerberos` (in the realm `TEST_REALM`).
const KERBEROS_CLIENT: &str = "client";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    match args.next().as_deref() {
        Some("serve") => {}
        Some("-h" | "--help" | "help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("missing command".into()),
    }
    let mut parsed = Args {
        version: None,
        port: None,
        members: 1,
        extra: Extra::default(),
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--version" => parsed.version = Some(value()?),
            "--port" => {
                let v = value()?;
                parsed.port = Some(v.parse().map_err(|_| format!("bad port {v:?}"))?);
            }
            "--members" => {
                let v = value()?;
                parsed.members = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=254).contains(n))
                    .ok_or_else(|| format!("bad member count {v:?} (1 to 254)"))?;
            }
            "--ttl" => parsed.extra.ttl = true,
            "--tls" => parsed.extra.tls = true,
            "--kerberos" => parsed.extra.kerberos = true,
            "--json" => parsed.extra.json = true,
            "--sasl" => {
                let v = value()?;
                let (user, password) = v
                    .split_once(':')
                    .ok_or_else(|| format!("bad SASL user {v:?} (USER:PASSWORD)"))?;
                parsed.extra.sasl = Some((user.to_owned(), password.to_owned()));
            }
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(parsed)
}

/// Waits for SIGINT, SIGTERM or end of file on stdin.
fn wait_for_shutdown() -> io::Result<&'static str> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread, so that a read blocked on stdin does not keep the runtime alive.
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = tx.send(());
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            Ok(tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = rx => "end of stdin",
            })
        }
        #[cfg(not(unix))]
        {
            Ok(tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupt",
                _ = rx => "end of stdin",
            })
        }
    })
}

fn serve(args: Args) -> io::Result<()> {
    let mut config = ServerConfig::new();
    if let Some(version) = args.version {
        config = config.version(version);
    }
    if let Some(port) = args.port {
        let ports = (0..args.members)
            .map(|i| {
                u16::try_from(usize::from(port) + i)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "port out of range"))
            })
            .collect::<io::Result<Vec<u16>>>()?;
        config = config.client_ports(ports);
    }
    let (config, made) = args.extra.apply(config)?;
    let zk = Ensemble::start(args.members, config)?;
    let mut out = io::stdout().lock();
    if args.extra.json || made.pki.is_some() || made.kerberos.is_some() {
        writeln!(out, "{}", Extra::json(&zk, &made))?;
    } else {
        writeln!(out, "{}", zk.connect_string())?;
    }
    out.flush()?;
    drop(out);
    eprintln!(
        "zk-testkit: {} member(s) of ZooKeeper {} ready in {}; stop with SIGINT, SIGTERM or end \
         of stdin",
        zk.len(),
        zk.install().name(),
        zk.dir().display()
    );
    let why = wait_for_shutdown();
    drop(zk);
    drop(made);
    match why {
        Ok(why) => eprintln!("zk-testkit: {why}, servers stopped"),
        Err(e) => eprintln!("zk-testkit: waiting failed ({e}), servers stopped"),
    }
    Ok(())
}

impl Extra {
    /// `config` with these options; the certificates made for `--tls`, the realm of
    /// `--kerberos`.
    fn apply(&self, mut config: ServerConfig) -> io::Result<(ServerConfig, Made)> {
        if self.ttl {
            config = config.extended_types(true);
        }
        if let Some((user, password)) = &self.sasl {
            config = config.sasl_digest_user(user, password);
        }
        let pki = if self.tls {
            let pki = TestPki::generate("zk-testkit test CA")?;
            config = config.tls(&pki);
            Some(pki)
        } else {
            None
        };
        let kerberos = if self.kerberos {
            let kdc = Kdc::start()?;
            let keytab = kdc.add_principal(KERBEROS_CLIENT, None)?;
            config = config.sasl_kerberos(&kdc, true)?;
            Some((kdc, keytab))
        } else {
            None
        };
        Ok((config, Made { pki, kerberos }))
    }

    /// The JSON line of `--json`.
    fn json(zk: &Ensemble, made: &Made) -> serde_json::Value {
        // The JVM's pid, for tests that freeze the server (SIGSTOP).
        let pids: Vec<u32> = (0..zk.len()).filter_map(|i| zk.pid(i)).collect();
        let mut line = serde_json::json!({ "plain": zk.connect_string(), "pid": pids.first() });
        if let Some((kdc, keytab)) = &made.kerberos {
            // `localhost`: the servers' principal is zookeeper/localhost.
            let servers = (0..zk.len())
                .map(|i| format!("localhost:{}", zk.client_port(i)))
                .collect::<Vec<_>>()
                .join(",");
            line["kerberos_servers"] = servers.into();
            line["krb5_conf"] = kdc.krb5_conf().display().to_string().into();
            line["keytab"] = keytab.display().to_string().into();
            line["principal"] = format!("{KERBEROS_CLIENT}@{TEST_REALM}").into();
        }
        if let Some(pki) = &made.pki {
            let tls = (0..zk.len())
                .filter_map(|i| zk.secure_client_port(i))
                .map(|p| format!("127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",");
            line["tls"] = tls.into();
            line["ca_pem"] = pki.ca_pem.clone().into();
            line["client_cert_pem"] = pki.client_cert_pem.clone().into();
            line["client_key_pem"] = pki.client_key_pem.clone().into();
        }
        line
    }
}

/// `zk-testkit peer LIBRARY CONNECT SESSION_SECONDS`.
fn peer(args: &[String]) -> ExitCode {
    let [library, connect, session] = args else {
        eprintln!("zk-testkit: usage: zk-testkit peer curator|kazoo CONNECT SESSION_SECONDS");
        return ExitCode::from(2);
    };
    let Some(session) = session
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
    else {
        eprintln!("zk-testkit: bad session timeout {session:?}");
        return ExitCode::from(2);
    };
    let command = match library.as_str() {
        "curator" => Peer::curator_command(connect, session),
        "kazoo" => Peer::kazoo_command(connect, session),
        other => {
            eprintln!("zk-testkit: unknown peer {other:?} (curator or kazoo)");
            return ExitCode::from(2);
        }
    };
    match command.and_then(|mut c| c.status()) {
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(e) => {
            eprintln!("zk-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("peer") {
        return peer(&all[1..]);
    }
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            if msg.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("zk-testkit: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(args) {
        // The stdin thread may still be blocked; leave without waiting for it.
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("zk-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}
