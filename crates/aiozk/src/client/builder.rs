//! [`ClientBuilder`]: the settings of a client, and the start of its session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::call::to_record;
use super::handle::{Client, Inner};
use crate::acl::Acl;
use crate::driver::{self, Command, Driver, Shared};
use crate::error::{Error, Result};
use crate::hosts::ConnectString;
use crate::path::Chroot;
use crate::retry::RetryPolicy;
use crate::session::{SessionConfig, SessionState, SessionStats};
use crate::watcher::slots::WatchSlots;
use crate::watcher::StreamSlots;

/// Builds and connects a [`Client`].
///
/// ```no_run
/// # async fn f() -> aiozk::Result<()> {
/// let client = aiozk::Client::builder("127.0.0.1:2181/app")
///     .session_timeout(std::time::Duration::from_secs(10))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    servers: String,
    session_timeout: Duration,
    connect_timeout: Option<Duration>,
    allow_read_only: bool,
    default_acl: Vec<Acl>,
    max_frame: usize,
    retry: RetryPolicy,
    reconnect_after_expiry: bool,
    resume: Option<(i64, Vec<u8>)>,
    auth: Vec<(String, Vec<u8>)>,
    sasl: Option<crate::session::SaslCredentials>,
    /// A SASL mechanism computed by the driver (GSSAPI).
    external_sasl: Option<Arc<dyn crate::driver::SaslMechanism>>,
    tls: Option<crate::tls::TlsOptions>,
    request_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    fail_eagerly: bool,
    max_write_delay: Duration,
    coalesce_reads: bool,
    track_ensemble: bool,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("servers", &self.servers)
            .field("session_timeout", &self.session_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allow_read_only", &self.allow_read_only)
            .field("default_acl", &self.default_acl)
            .field("max_frame", &self.max_frame)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("fail_eagerly", &self.fail_eagerly)
            .field("max_write_delay", &self.max_write_delay)
            .field("coalesce_reads", &self.coalesce_reads)
            .field("track_ensemble", &self.track_ensemble)
            .field("external_sasl", &self.external_sasl.is_some())
            .field("reconnect_after_expiry", &self.reconnect_after_expiry)
            .field(
                "resume",
                &self
                    .resume
                    .as_ref()
                    .map(|(id, _)| format!("{id:#x}, <redacted>")),
            )
            .field(
                "auth",
                &self
                    .auth
                    .iter()
                    .map(|(s, _)| format!("{s}:<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ClientBuilder {
    fn new(servers: &str) -> Self {
        Self {
            servers: servers.to_owned(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: None,
            allow_read_only: false,
            default_acl: crate::acl::open_acl_unsafe(),
            max_frame: aiozk_proto::consts::DEFAULT_MAX_FRAME,
            retry: RetryPolicy::default(),
            reconnect_after_expiry: true,
            resume: None,
            auth: Vec::new(),
            sasl: None,
            external_sasl: None,
            tls: None,
            request_timeout: None,
            call_timeout: None,
            fail_eagerly: false,
            max_write_delay: crate::session::DEFAULT_MAX_WRITE_DELAY,
            coalesce_reads: true,
            track_ensemble: false,
        }
    }

    /// The session timeout to ask for (the server clamps it to its own bounds, by default
    /// 2 to 20 ticks). Default 10 s.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long [`ClientBuilder::connect`] waits for the first session. Default: the
    /// session timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Fail an attempt of a call with [`Error::RequestTimeout`] when its reply takes longer
    /// than `timeout`, counted from when the attempt is queued (waiting for a connection
    /// included). Each retry gets its own `timeout`, and [`Error::RequestTimeout`] is
    /// retryable, so under a policy that retries for ever a call may still wait for ever:
    /// [`ClientBuilder::call_timeout`] bounds the whole call. The request itself is not
    /// withdrawn: it may still be carried out. Default: no limit (an attempt waits while
    /// the session lives, failing on connection loss or expiry).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Fail a call with [`Error::RequestTimeout`] once `timeout` has passed since it was
    /// made, whatever it is doing: waiting for a connection, for a reply, or between
    /// retries. This bounds the whole call, every retry of the retry policy included. The
    /// request is not withdrawn: it may still be carried out. Calls made of several
    /// requests ([`Client::ensure_path`], [`Client::deleteall`]) bound each request.
    /// [`Client::with_call_timeout`] sets it per handle. Default: no limit.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// Fail at once when every server refuses the first connection. Default false: the
    /// client keeps trying, as the Java client does.
    ///
    /// When, before the first handshake, every server has refused the connection (or
    /// answered the handshake with garbage) in two whole rounds, calls waiting for a
    /// connection fail with [`Error::NoHosts`] naming the last refusal,
    /// [`ClientBuilder::connect`] returns it at once, and new calls fail with it until a
    /// server completes a handshake; the client keeps trying to connect meanwhile, backing
    /// off. Once a session has been established, refusals are waited out as usual (an
    /// outage of an ensemble in use is not a wrong address), and a server that does not
    /// answer at all is no refusal. (Servers that all answer the handshake with garbage
    /// fail calls this way at any time, even without this option, with the
    /// [`Error::ProtocolViolation`].)
    pub fn fail_eagerly(mut self, fail: bool) -> Self {
        self.fail_eagerly = fail;
        self
    }

    /// How long a request may wait to be written together with others while many are in
    /// flight. Default 1 ms; zero writes every request at the first chance.
    ///
    /// While fewer than 32 requests of this client wait for their reply, requests are
    /// written as soon as the driver runs, so a lone call or a small batch never waits. With
    /// 32 or more on the wire (deep pipelining, where the server has a queue of work), new
    /// requests are written once fewer are on the wire than wait to be written, or after
    /// this delay, whichever comes first (the timer has millisecond resolution). One write
    /// then carries tens of requests, which saves system calls and wake-ups on both sides:
    /// see the README's Performance section for the figures. Order is unchanged: requests
    /// are still written in call order, and ZooKeeper answers a session's requests in that
    /// order, so a held request's reply could not have overtaken the replies it waits
    /// behind. On a long-distance link, where the round trip rather than the server limits a
    /// deep pipeline, zero may give more throughput.
    pub fn max_write_delay(mut self, delay: Duration) -> Self {
        self.max_write_delay = delay;
        self
    }

    /// Send consecutive reads as one MultiRead (ZooKeeper 3.6+). Default true.
    ///
    /// [`Client::get_data`], [`Client::get_data_opt`] and [`Client::get_children`] calls
    /// whose requests would go out one after the other, with no other request between them,
    /// are sent as one MultiRead request of up to 128 reads. Each call still gets its own
    /// result or error (a missing node is an [`Error::NoNode`] for that call only), and the
    /// calls complete in call order. The server then does the work of one request instead
    /// of many: see the README's Performance section for the figures.
    ///
    /// Reads wait for nothing to be coalesced: a lone read goes out at once, as a plain
    /// read; under load, the reads that gather while the connection is busy (see
    /// [`ClientBuilder::max_write_delay`]) go together. Watched reads, [`Client::exists`]
    /// and [`Client::get_children_stat`] have no MultiRead form and always go alone.
    ///
    /// Each connection starts with an empty MultiRead that the server answers before
    /// anything else is sent (one round trip more per connection). A server without
    /// MultiRead (3.5) refuses it and closes the connection; the client reconnects at once,
    /// with the same session, and sends single reads from then on. No call fails for it.
    ///
    /// A batch asks for and expects at most half of [`ClientBuilder::max_frame`], judged by
    /// the sizes of recent results. A reply that is larger all the same is accepted up to
    /// `max_frame` per read of the batch: a read whose own result exceeds `max_frame` fails
    /// as it would alone, and the other reads of the batch get their results.
    pub fn coalesce_reads(mut self, coalesce: bool) -> Self {
        self.coalesce_reads = coalesce;
        self
    }

    /// Follow the ensemble's membership: watch `/zookeeper/config` (the dynamic
    /// configuration, ZooKeeper 3.5+) and apply every membership it lists with
    /// [`Client::update_servers`], so that servers added by a reconfig are used and removed
    /// ones left, with the load evened out. The client address of each member is the one
    /// the configuration lists (a wildcard address stands for the member's quorum host);
    /// clients of TLS ports, which the configuration does not list, should not track.
    /// A server without a dynamic configuration leaves the list as given. Default false.
    pub fn track_ensemble(mut self, track: bool) -> Self {
        self.track_ensemble = track;
        self
    }

    /// Accept read-only servers when no majority is reachable. Default false.
    pub fn allow_read_only(mut self, allow: bool) -> Self {
        self.allow_read_only = allow;
        self
    }

    /// The ACL given to created nodes when the call names none. Default: open to everyone
    /// (`world:anyone`, all permissions), as in aiozk.
    pub fn default_acl(mut self, acl: Vec<Acl>) -> Self {
        self.default_acl = acl;
        self
    }

    /// The largest frame sent or accepted, in bytes. Default 1 MiB - 1, the server's
    /// default `jute.maxbuffer`.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// The retry policy for calls that are safe to repeat. Default
    /// [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// After the session expires, open a new one (true, the default) or stay expired, so
    /// that every later call fails with [`Error::SessionExpired`].
    pub fn reconnect_after_expiry(mut self, reconnect: bool) -> Self {
        self.reconnect_after_expiry = reconnect;
        self
    }

    /// Resume an existing session (from [`Client::session_id`] and
    /// [`Client::session_password`]) instead of creating one.
    pub fn resume_session(mut self, session_id: i64, password: Vec<u8>) -> Self {
        self.resume = Some((session_id, password));
        self
    }

    /// Credentials to send at connect time and after every reconnect, e.g.
    /// `("digest", b"user:password")`.
    pub fn auth(mut self, scheme: &str, credentials: &[u8]) -> Self {
        self.auth.push((scheme.to_owned(), credentials.to_vec()));
        self
    }

    /// Authenticate every connection with SASL DIGEST-MD5 (the server's JAAS
    /// `DigestLoginModule`) before anything else is sent.
    pub fn sasl_digest_md5(mut self, username: &str, password: &str) -> Self {
        self.sasl = Some(crate::session::SaslCredentials {
            username: username.to_owned(),
            password: password.to_owned(),
        });
        self
    }

    /// Authenticate every connection with Kerberos (SASL GSSAPI) before anything else is
    /// sent; replaces [`sasl_digest_md5`](Self::sasl_digest_md5). A failed exchange ends the
    /// session with [`SessionState::AuthFailed`](crate::SessionState::AuthFailed), as a
    /// refused password does. Needs the cargo feature `gssapi`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), aiozk::Error> {
    /// let kerberos = aiozk::Gssapi::keytab("app@EXAMPLE.COM", "/etc/app/app.keytab");
    /// let client = aiozk::Client::builder("zk1.example.com:2181")
    ///     .sasl_gssapi(kerberos)
    ///     .connect()
    ///     .await?;
    /// # drop(client); Ok(()) }
    /// ```
    #[cfg(feature = "gssapi")]
    pub fn sasl_gssapi(mut self, gssapi: crate::gssapi::Gssapi) -> Self {
        self.external_sasl = Some(Arc::new(gssapi));
        self
    }

    /// Use TLS with these options for every server (servers written `tls://host:port` in
    /// the connect string use TLS even without this call, with these options if given, else
    /// the system's certificate authorities).
    pub fn tls(mut self, options: crate::tls::TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// Starts the session and waits until it is connected.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] or [`Error::InvalidPath`] for a bad server list;
    /// [`Error::NoHosts`] when no server answered within the connect timeout (at once,
    /// naming the last refusal, when every server refused twice and
    /// [`ClientBuilder::fail_eagerly`] is set); [`Error::ProtocolViolation`] at once when
    /// every server answered the handshake with garbage twice; [`Error::AuthFailed`] when
    /// the server rejected the credentials.
    pub async fn connect(self) -> Result<Client> {
        let client = self.start()?;
        let timeout = client.connect_timeout;
        let mut state = client.inner.state_rx.clone();
        let wait = state.wait_for(|s| {
            s.is_connected()
                || matches!(s, SessionState::AuthFailed | SessionState::Closed)
                || client.connect_failure().is_some()
        });
        let outcome = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => *s,
            Ok(Err(_)) => SessionState::Closed,
            Err(_) => SessionState::Connecting,
        };
        match outcome {
            s if s.is_connected() => Ok(client),
            SessionState::AuthFailed => {
                Err(client.shared().auth_failure.unwrap_or(Error::AuthFailed))
            }
            _ if client.connect_failure().is_some() => {
                let err = client.connect_failure().unwrap_or(Error::ConnectionLoss);
                client.close().await;
                Err(err)
            }
            _ => {
                let last = client.shared().last_error;
                client.close().await;
                Err(Error::NoHosts(match last {
                    Some(why) => format!(
                        "no server of {} answered within {timeout:?}; last error: {why}",
                        client.inner.servers()
                    ),
                    None => format!(
                        "no server of {} answered within {timeout:?}",
                        client.inner.servers()
                    ),
                }))
            }
        }
    }

    /// Starts the session without waiting for it to connect: calls made before the
    /// connection is up are queued and sent after the handshake.
    ///
    /// # Errors
    /// As for [`ClientBuilder::connect`], for a bad server list.
    pub fn start(self) -> Result<Client> {
        let mut parsed = ConnectString::parse(&self.servers)?;
        if self.tls.is_some() {
            for host in &mut parsed.hosts {
                host.tls = true;
            }
        }
        let tls_config = if parsed.hosts.iter().any(|h| h.tls) {
            Some(Arc::new(crate::tls::TlsSource::new(
                self.tls.clone().unwrap_or_default(),
            )?))
        } else {
            None
        };
        let chroot = Chroot::new(parsed.chroot.as_deref())?;
        let tls_ready = tls_config.is_some();
        let servers = ConnectString {
            hosts: parsed.hosts.clone(),
            chroot: None,
        }
        .to_string();
        if self.default_acl.is_empty() {
            return Err(Error::InvalidArgument("the default ACL is empty".into()));
        }
        let config = SessionConfig {
            session_timeout: self.session_timeout,
            allow_read_only: self.allow_read_only,
            max_frame: self.max_frame,
            host_count: parsed.hosts.len(),
            reconnect_after_expiry: self.reconnect_after_expiry,
            resume: self.resume.clone(),
            seed: rand::random(),
            sasl: self.sasl.clone(),
            external_sasl: self.external_sasl.is_some(),
            max_write_delay: self.max_write_delay,
            coalesce_reads: self.coalesce_reads,
            fail_eagerly: self.fail_eagerly,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        // 64 transitions of slack for a slow subscriber; 256 slots cost 17 KB per client.
        let (events_tx, _) = broadcast::channel(64);
        let shared = Arc::new(Mutex::new(Shared {
            state: SessionState::Connecting,
            session_id: 0,
            password: Vec::new(),
            timeout: self.session_timeout,
            stats: SessionStats::default(),
            watches: 0,
            server: None,
            last_error: None,
            last_zxid: 0,
            bytes_sent: 0,
            bytes_received: 0,
            heard_at: None,
            auth_failure: None,
            connect_failure: None,
        }));
        let connector = driver::tcp_connector(tls_config);
        // Credentials go first so they are replayed before anything else.
        for (scheme, auth) in &self.auth {
            let (reply, _) = oneshot::channel();
            let _ = tx.send(Command::Auth {
                scheme: scheme.clone(),
                auth: auth.clone(),
                reply,
            });
        }
        let slots = Arc::new(WatchSlots::default());
        let driver_tx = tx.downgrade();
        let streams = Arc::new(StreamSlots::new(Box::new(move |slot| {
            if let Some(tx) = driver_tx.upgrade() {
                let _ = tx.send(Command::RemoveWatch { stream: slot });
            }
        })));
        let driver = Driver::new(
            config,
            parsed.hosts,
            connector,
            rx,
            shared.clone(),
            state_tx,
            events_tx.clone(),
            chroot.clone(),
            slots.clone(),
            streams.clone(),
            self.external_sasl.clone(),
        );
        tokio::spawn(driver.run());
        let inner = Inner {
            tx,
            chroot,
            default_acl: self.default_acl.iter().map(to_record).collect(),
            max_frame: self.max_frame,
            shared,
            state_rx,
            events_tx,
            streams,
            servers: Mutex::new(servers),
            tls_all: self.tls.is_some(),
            tls_ready,
            request_timeout: self.request_timeout,
            slots,
        };
        let client = Client {
            inner: Arc::new(inner),
            retry: self.retry,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout.unwrap_or(self.session_timeout),
        };
        if self.track_ensemble {
            super::tracker::spawn(&client);
        }
        Ok(client)
    }
}

impl Client {
    /// A builder for a client of the servers in `connect_string`
    /// (`host1:2181,host2:2181/optional/chroot`; IPv6 as `[::1]:2181`; `tls://` per host).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// use std::time::Duration;
    ///
    /// let zk = aiozk::Client::builder("127.0.0.1:2181")
    ///     .session_timeout(Duration::from_secs(30))
    ///     .request_timeout(Duration::from_secs(5))
    ///     // Up to 5 attempts, 50 ms before the first retry, doubling, at most 2 s.
    ///     .retry_policy(
    ///         aiozk::RetryPolicy::n_times(5)
    ///             .with_backoff(Duration::from_millis(50), Duration::from_secs(2)),
    ///     )
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(connect_string: &str) -> ClientBuilder {
        ClientBuilder::new(connect_string)
    }

    /// Connects with default settings. See [`ClientBuilder::connect`].
    ///
    /// # Errors
    /// As for [`ClientBuilder::connect`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// // A chroot after the server list: every path is relative to /app.
    /// let zk = aiozk::Client::connect("zk1:2181,zk2:2181,zk3:2181/app").await?;
    /// println!("session {:#x}", zk.session_id());
    /// zk.close().await;
    /// # Ok(()) }
    /// ```
    pub async fn connect(connect_string: &str) -> Result<Self> {
        Self::builder(connect_string).connect().await
    }
}
