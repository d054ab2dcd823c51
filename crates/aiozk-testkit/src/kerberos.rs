//! A Kerberos realm for tests: MIT's KDC (Debian's `krb5-kdc`; principals made with
//! `kadmin.local` of `krb5-admin-server`) with its database, configuration and keytabs in a
//! temporary directory, listening on a loopback port; and ZooKeeper servers that
//! authenticate clients with SASL GSSAPI ([`ServerConfig::sasl_kerberos`]).
//!
//! Clients find the realm through the `KRB5_CONFIG` file [`Kdc::krb5_conf`] names.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::ensemble::spawn_watchdog;

/// The realm of every test KDC.
pub const TEST_REALM: &str = "AIOZK.TEST";

/// A running KDC of realm [`TEST_REALM`], stopped and removed on drop.
pub struct Kdc {
    dir: tempfile::TempDir,
    port: u16,
    kdc: Child,
    watchdog: Option<Child>,
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    PathBuf::from(name)
}

impl Kdc {
    /// Creates the realm's database and starts `krb5kdc` on a free loopback port; returns
    /// once it accepts connections.
    ///
    /// # Errors
    ///
    /// The MIT KDC tools are missing (`apt-get install krb5-kdc krb5-admin-server`), or
    /// creating the database or starting the KDC failed (the message says which, with its
    /// output).
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("aiozk-kdc-").tempdir()?;
        let port = crate::free_port()?;
        let d = dir.path().display();
        let realm = TEST_REALM;
        std::fs::write(
            dir.path().join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n {realm} = {{\n  database_name = {d}/principal\n  \
                 key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  max_life = 10h\n  \
                 max_renewable_life = 7d\n  \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n\
                 [logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        )?;
        std::fs::write(
            dir.path().join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {realm}\n dns_lookup_realm = false\n \
                 dns_lookup_kdc = false\n dns_canonicalize_hostname = false\n rdns = false\n \
                 udp_preference_limit = 1\n default_ccache_name = FILE:{d}/ccache\n\
                 [realms]\n {realm} = {{\n  kdc = 127.0.0.1:{port}\n }}\n\
                 [domain_realm]\n localhost = {realm}\n 127.0.0.1 = {realm}\n"
            ),
        )?;
        let kdc = |this: &Path, program: &str| {
            let mut c = Command::new(tool(program));
            c.env("KRB5_CONFIG", this.join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", this.join("kdc.conf"))
                .stdin(Stdio::null());
            c
        };
        run(kdc(dir.path(), "kdb5_util").args([
            "-r",
            realm,
            "-P",
            "aiozk-master",
            "create",
            "-s",
        ]))?;
        let mut child = kdc(dir.path(), "krb5kdc")
            .args(["-n", "-r", realm])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| not_installed("krb5kdc", e))?;
        let watchdog = spawn_watchdog(child.id(), dir.path(), dir.path(), false).ok();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(io::Error::other(format!(
                    "krb5kdc exited ({status}): {err}"
                )));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "krb5kdc did not listen on 127.0.0.1:{port} within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            dir,
            port,
            kdc: child,
            watchdog,
        })
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        TEST_REALM
    }

    /// The KDC's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client configuration (for `KRB5_CONFIG`, and the servers' `java.security.krb5.conf`).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// Adds `principal` (without the realm, as `app` or `zookeeper/localhost`) with a random
    /// key and returns a keytab holding it. `max_life` caps its tickets' lifetime.
    ///
    /// # Errors
    ///
    /// `kadmin.local` failed (its output is in the message).
    pub fn add_principal(
        &self,
        principal: &str,
        max_life: Option<Duration>,
    ) -> io::Result<PathBuf> {
        let full = format!("{principal}@{TEST_REALM}");
        let mut add = format!("addprinc -randkey {full}");
        if let Some(life) = max_life {
            add = format!(
                "addprinc -randkey -maxlife \"{} seconds\" {full}",
                life.as_secs()
            );
        }
        let keytab = self
            .dir
            .path()
            .join(format!("{}.keytab", principal.replace('/', "_")));
        let mut said = self.kadmin(&add)?;
        said += &self.kadmin(&format!("ktadd -k {} {full}", keytab.display()))?;
        // kadmin.local exits with 0 whatever happened: the keytab tells.
        if !keytab.exists() {
            return Err(io::Error::other(format!(
                "kadmin.local made no keytab for {full}: {said}"
            )));
        }
        Ok(keytab)
    }

    fn kadmin(&self, query: &str) -> io::Result<String> {
        run(Command::new(tool("kadmin.local"))
            .env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"))
            .stdin(Stdio::null())
            .args(["-r", TEST_REALM, "-q", query]))
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.kdc.kill();
        let _ = self.kdc.wait();
    }
}

fn not_installed(program: &str, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot run {program} ({e}): install MIT Kerberos' KDC \
             (apt-get install krb5-kdc krb5-admin-server)"
        ),
    )
}

/// Runs `cmd` to its end; returns its output.
fn run(cmd: &mut Command) -> io::Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| not_installed(&program, e))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(io::Error::other(format!("{program} failed: {text}")));
    }
    Ok(text)
}

impl ServerConfig {
    /// SASL GSSAPI authentication: the server logs in as `zookeeper/localhost` of `kdc`'s
    /// realm with a keytab made for it, and accepts clients authenticated by the realm
    /// (their principal, without the realm, is their `sasl` identity). With `required`,
    /// clients that do not authenticate with SASL are refused (`enforce.auth.schemes=sasl`).
    ///
    /// # Errors
    ///
    /// The server's principal could not be made (see [`Kdc::add_principal`]).
    pub fn sasl_kerberos(self, kdc: &Kdc, required: bool) -> io::Result<Self> {
        let keytab = kdc.add_principal("zookeeper/localhost", None)?;
        let jaas = format!(
            "Server {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
             useKeyTab=true\n  keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  \
             principal=\"zookeeper/localhost@{TEST_REALM}\";\n}};\n",
            keytab.display()
        );
        let mut config = self
            .file("jaas.conf", jaas)
            .cfg_lines([
                "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
                "kerberos.removeHostFromPrincipal=true",
                "kerberos.removeRealmFromPrincipal=true",
            ])
            .jvm_flag("-Djava.security.auth.login.config={dir}/jaas.conf")
            .jvm_flag(format!(
                "-Djava.security.krb5.conf={}",
                kdc.krb5_conf().display()
            ));
        if required {
            config = config.cfg_lines(["enforce.auth.enabled=true", "enforce.auth.schemes=sasl"]);
        }
        Ok(config)
    }
}
