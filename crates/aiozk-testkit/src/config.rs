//! Server configuration for [`crate::Ensemble`].

use std::net::Ipv4Addr;
use std::time::Duration;

/// How the servers of an [`crate::Ensemble`] are configured. Build it with the chained methods,
/// starting from [`ServerConfig::new`] (same as [`Default`]).
///
/// Every server always gets these `zoo.cfg` lines: `tickTime`, `dataDir`, `clientPort`,
/// `clientPortAddress=127.0.0.1`, `admin.enableServer=false`, `4lw.commands.whitelist=*`,
/// `maxClientCnxns=0`, `forceSync=no` (plus `initLimit=10`, `syncLimit=5` and the `server.N`
/// lines in an ensemble of 2 or more). The JVM always gets `-Xms32m -Xmx256m`,
/// `-XX:+UseSerialGC`, `-XX:-UsePerfData` and `-Dznode.container.checkIntervalMs=500` (so
/// containers and TTL nodes are reaped within about half a second).
///
/// Lines added with [`cfg_line`](Self::cfg_line) come last in `zoo.cfg`, so they override
/// the defaults above (the last occurrence of a key wins). Flags added with
/// [`jvm_flag`](Self::jvm_flag) come after the default flags, so they override them too (for
/// example `-Xmx1g`).
///
/// In `zoo.cfg` lines and JVM flags, the placeholders `{dir}` (the absolute path of the
/// member's own directory) and `{myid}` (the member's server id, 1-based) are replaced, which
/// together with [`file`](Self::file) is enough to set up TLS key stores or a SASL JAAS file:
///
/// ```
/// use aiozk_testkit::ServerConfig;
///
/// let jaas = "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
///             user_bob=\"bobsecret\";\n};\n";
/// let config = ServerConfig::new()
///     .file("jaas.conf", jaas)
///     .cfg_line("authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
///     .jvm_flag("-Djava.security.auth.login.config={dir}/jaas.conf");
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub(crate) tick_time_ms: u32,
    pub(crate) min_session_timeout_ms: Option<u32>,
    pub(crate) max_session_timeout_ms: Option<u32>,
    pub(crate) cfg_lines: Vec<String>,
    pub(crate) jvm_flags: Vec<String>,
    pub(crate) extended_types: bool,
    pub(crate) read_only_mode: bool,
    pub(crate) secure_client_port: bool,
    pub(crate) client_ports: Option<Vec<u16>>,
    pub(crate) files: Vec<(String, Vec<u8>)>,
    pub(crate) startup_timeout: Duration,
    pub(crate) member_ips: Option<Vec<Ipv4Addr>>,
    pub(crate) uid_base: Option<u32>,
    pub(crate) version: Option<String>,
    pub(crate) reconfig_initial: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tick_time_ms: 2000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            cfg_lines: Vec::new(),
            jvm_flags: Vec::new(),
            extended_types: false,
            read_only_mode: false,
            secure_client_port: false,
            client_ports: None,
            files: Vec::new(),
            startup_timeout: Duration::from_secs(30),
            member_ips: None,
            uid_base: None,
            version: None,
            reconfig_initial: None,
        }
    }
}

impl ServerConfig {
    /// The defaults: `tickTime=2000`, ZooKeeper's default session timeout clamp (4 s to 40 s
    /// with that tick), no extra lines or flags, free client ports, 30 s startup timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// `tickTime` in milliseconds (default 2000). The default session timeout clamp is
    /// 2×tick to 20×tick unless set with [`min_session_timeout_ms`](Self::min_session_timeout_ms)
    /// and [`max_session_timeout_ms`](Self::max_session_timeout_ms).
    pub fn tick_time_ms(mut self, ms: u32) -> Self {
        self.tick_time_ms = ms;
        self
    }

    /// `minSessionTimeout` in milliseconds: the smallest session timeout the server grants.
    pub fn min_session_timeout_ms(mut self, ms: u32) -> Self {
        self.min_session_timeout_ms = Some(ms);
        self
    }

    /// `maxSessionTimeout` in milliseconds: the largest session timeout the server grants.
    pub fn max_session_timeout_ms(mut self, ms: u32) -> Self {
        self.max_session_timeout_ms = Some(ms);
        self
    }

    /// Adds one `key=value` line to every member's `zoo.cfg` (placeholders `{dir}` and
    /// `{myid}` are replaced). Keys that are not `zoo.cfg` keys become system properties with
    /// the prefix `zookeeper.`; properties without that prefix need [`jvm_flag`](Self::jvm_flag).
    pub fn cfg_line(mut self, line: impl Into<String>) -> Self {
        self.cfg_lines.push(line.into());
        self
    }

    /// Adds several `zoo.cfg` lines; see [`cfg_line`](Self::cfg_line).
    pub fn cfg_lines<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg_lines.extend(lines.into_iter().map(Into::into));
        self
    }

    /// Adds one JVM argument, placed before the main class (placeholders `{dir}` and `{myid}`
    /// are replaced). Use it for `-Djute.maxbuffer=...`, `-Djava.security.auth.login.config=...`,
    /// `-Dzookeeper.DigestAuthenticationProvider.superDigest=...` and the like.
    pub fn jvm_flag(mut self, flag: impl Into<String>) -> Self {
        self.jvm_flags.push(flag.into());
        self
    }

    /// Adds several JVM arguments; see [`jvm_flag`](Self::jvm_flag).
    pub fn jvm_flags<I, S>(mut self, flags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.jvm_flags.extend(flags.into_iter().map(Into::into));
        self
    }

    /// Enables TTL nodes (`extendedTypesEnabled=true`). Container and TTL reaping runs every
    /// 500 ms in any case.
    pub fn extended_types(mut self, on: bool) -> Self {
        self.extended_types = on;
        self
    }

    /// Enables read-only mode (`-Dreadonlymode.enabled=true`): an ensemble member that loses
    /// its quorum keeps serving reads and reports `Mode: read-only`.
    pub fn read_only_mode(mut self, on: bool) -> Self {
        self.read_only_mode = on;
        self
    }

    /// Gives every member a TLS client port as well (`secureClientPort` on 127.0.0.1, with
    /// `serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory`); read it back
    /// with [`crate::Ensemble::secure_client_port`]. The key and trust stores (`ssl.*` lines)
    /// must be added with [`cfg_line`](Self::cfg_line) and [`file`](Self::file).
    pub fn secure_client_port(mut self, on: bool) -> Self {
        self.secure_client_port = on;
        self
    }

    /// Uses these client ports instead of free ones, one per member in member order. The
    /// number of ports must equal the ensemble size. Quorum and election ports stay
    /// automatic.
    pub fn client_ports(mut self, ports: Vec<u16>) -> Self {
        self.client_ports = Some(ports);
        self
    }

    /// Writes a file with these contents into every member's directory before it starts (the
    /// directory that `{dir}` names). `name` is a path relative to that directory.
    pub fn file(mut self, name: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.into(), contents.into()));
        self
    }

    /// Makes the ensemble reconfigurable and starts only its first `initial` members:
    /// `reconfigEnabled=true`, `standaloneEnabled=false` and `skipACL=yes` (so any client
    /// may call reconfig). The first `initial` members list only each other; every later
    /// member lists them and itself, so that once started (with
    /// [`crate::Ensemble::restart_async`]) it syncs with the running ensemble as a
    /// non-voting follower until a reconfig adds it (with
    /// [`crate::Ensemble::server_spec`]). [`crate::Ensemble::start`] waits for the first
    /// `initial` members only. The servers rewrite their membership in `zoo.cfg.dynamic.*`
    /// files as reconfigs commit.
    pub fn dynamic_reconfig(mut self, initial: usize) -> Self {
        self.reconfig_initial = Some(initial);
        self
    }

    /// Runs this ZooKeeper instead of the one the environment chooses: `debian` or a release
    /// number such as `3.9.5` (see [`crate::ZooKeeperInstall::for_version`]). Without it,
    /// [`crate::ZooKeeperInstall::locate`] decides (`ZK_VERSION`, default 3.9.5).
    pub fn version(mut self, spec: impl Into<String>) -> Self {
        self.version = Some(spec.into());
        self
    }

    /// How long starting or restarting waits for a server to become ready (default 30 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Gives each member its own IPv4 address, one per member in member order (for
    /// example `127.0.0.2` to `127.0.0.4`): the client port, the quorum and election ports
    /// (and the TLS port) are bound on it instead of `127.0.0.1`, and
    /// [`crate::Ensemble::connect_string`] names it. The number of addresses must equal the
    /// ensemble size. Any `127.x.y.z` works on Linux once the loopback interface is up,
    /// which makes per-member network faults possible inside a private network namespace.
    pub fn member_ips(mut self, ips: Vec<Ipv4Addr>) -> Self {
        self.member_ips = Some(ips);
        self
    }

    /// Runs member `i` as user and group id `base + myid` (through `setpriv`, which must be
    /// on `PATH`; the caller must be root), with its directory owned by that id and the
    /// server's jars copied into the ensemble's directory (so a Maven cache under a private
    /// home directory does not matter). Firewall
    /// rules and routing policy can then tell the members' traffic apart by owner (`nft`'s
    /// `meta skuid`, `ip rule ... uidrange`).
    pub fn run_as_uid(mut self, base: u32) -> Self {
        self.uid_base = Some(base);
        self
    }
}

impl ServerConfig {
    /// The installation that [`ServerConfig::version`] or the environment chooses.
    pub(crate) fn install(&self) -> std::io::Result<crate::ZooKeeperInstall> {
        match &self.version {
            Some(spec) => crate::ZooKeeperInstall::for_version(spec),
            None => crate::ZooKeeperInstall::locate(),
        }
    }
}
