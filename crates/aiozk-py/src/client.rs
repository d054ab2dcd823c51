//! `Client`: the Rust client behind `aiozk.ZKClient`.
//!
//! Paths: aiozk joins the chroot and the caller's path and drops empty segments (so `''`
//! and `'/'` name the chroot node itself, and relative paths are taken from the chroot),
//! then strips the chroot from returned paths. This class does the same, with a Rust client
//! that has no chroot of its own: it normalizes the path, then lets an `aiozk::path::Chroot`
//! put the chroot in front and take it off; watch events carry server paths, as in aiozk.

use std::time::Duration;

use aiozk::config::ClientConfig;
use aiozk::path::Chroot;
use aiozk::{
    Client, CreateOptions, EventType, OneshotWatcher, RetryPolicy, SessionState, TlsOptions,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::bridge::{self, call_soon, runtime, spawn_request as spawn, LoopRef};
use crate::types::{self, acl_from, acl_to, AclTuple};
use crate::watch::{state_name, PersistentWatchInner, PyPersistentWatch, PyStateChanges};

/// A started ZooKeeper session (the Rust `aiozk::Client`).
#[pyclass(module = "aiozk._aiozk", name = "Client", frozen)]
pub(crate) struct PyClient {
    pub(crate) client: Client,
    pub(crate) chroot: Chroot,
    /// The one-shot watches being forwarded, by (child watch?, server path).
    armed: Armed,
}

/// The watches being forwarded to Python: one per kind and path, as the server keeps one
/// watch per kind and path for a session, so that one change is reported once however many
/// reads set the watch.
type Armed = Arc<Mutex<HashSet<(bool, String)>>>;

/// Removes a forwarded watch from [`Armed`] when its forwarding task ends.
struct Disarm(Armed, (bool, String));

impl Drop for Disarm {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

/// TLS settings for `ZKClient(tls=...)`.
#[pyclass(module = "aiozk._aiozk", name = "TlsOptions", frozen)]
pub(crate) struct PyTlsOptions {
    options: TlsOptions,
}

#[pymethods]
impl PyTlsOptions {
    #[new]
    #[pyo3(signature = (ca_file=None, ca_pem=None, cert_file=None, key_file=None, cert_pem=None,
        key_pem=None, verify_hostname=true, crl_file=None, crl_pem=None, reload_files=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ca_file: Option<String>,
        ca_pem: Option<Vec<u8>>,
        cert_file: Option<String>,
        key_file: Option<String>,
        cert_pem: Option<Vec<u8>>,
        key_pem: Option<Vec<u8>>,
        verify_hostname: bool,
        crl_file: Option<String>,
        crl_pem: Option<Vec<u8>>,
        reload_files: bool,
    ) -> PyResult<Self> {
        let py_err = |e: aiozk::Error| Python::attach(|py| crate::errors::to_py(py, e));
        let mut options = TlsOptions::new();
        if let Some(path) = ca_file {
            options = options.ca_file(path).map_err(py_err)?;
        }
        if let Some(pem) = ca_pem {
            options = options.ca_pem(&pem).map_err(py_err)?;
        }
        match (cert_file, key_file, cert_pem, key_pem) {
            (Some(c), Some(k), None, None) => {
                options = options.client_identity_files(c, k).map_err(py_err)?;
            }
            (None, None, Some(c), Some(k)) => {
                options = options.client_identity_pem(&c, &k).map_err(py_err)?;
            }
            (None, None, None, None) => {}
            _ => return Err(PyValueError::new_err(
                "a client certificate needs both the certificate and the key, as files or as PEM",
            )),
        }
        if !verify_hostname {
            options = options.danger_disable_hostname_verification();
        }
        if let Some(path) = crl_file {
            options = options.crl_file(path).map_err(py_err)?;
        }
        if let Some(pem) = crl_pem {
            options = options.crl_pem(&pem).map_err(py_err)?;
        }
        Ok(Self {
            options: options.reload_files(reload_files),
        })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.options)
    }
}

/// The Java client's configuration file, for `ZKClient(client_config=...)`.
#[pyclass(module = "aiozk._aiozk", name = "ClientConfig", frozen)]
pub(crate) struct PyClientConfig {
    config: ClientConfig,
}

#[pymethods]
impl PyClientConfig {
    /// Reads the file (see `aiozk::config`).
    #[new]
    fn new(path: &str) -> PyResult<Self> {
        let config = ClientConfig::from_file(path)
            .map_err(|e| Python::attach(|py| crate::errors::to_py(py, e)))?;
        Ok(Self { config })
    }

    /// The keys that are not applied, one line each (`FILE:LINE: KEY: why`).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.config
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// `zookeeper.client.secure`.
    #[getter]
    fn secure(&self) -> bool {
        self.config.secure()
    }

    /// `zookeeper.request.timeout` in seconds, or None.
    #[getter]
    fn request_timeout(&self) -> Option<f64> {
        self.config.request_timeout().map(|d| d.as_secs_f64())
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.config)
    }
}

/// `user:BASE64(SHA1(user:password))`, the id of a `digest` ACL entry.
#[pyfunction]
pub(crate) fn digest_id(user: &str, password: &str) -> String {
    aiozk::acl::digest(user, password)
}

fn secs(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a non-negative number of seconds"))
    })
}

/// A retry policy from `aiozk.RetryPolicy._spec`: `(kind, arg, maximum)`.
pub(crate) fn retry_policy(spec: (String, Option<f64>, Option<f64>)) -> PyResult<RetryPolicy> {
    let (kind, arg, maximum) = spec;
    let policy = match kind.as_str() {
        "once" => RetryPolicy::once(),
        "n_times" => RetryPolicy::n_times(arg.unwrap_or(1.0).max(1.0) as u32),
        "forever" => RetryPolicy::forever(),
        "exponential_backoff" => RetryPolicy::exponential_backoff(
            arg.unwrap_or(2.0),
            maximum.map(|m| secs(m, "maximum")).transpose()?,
        ),
        "until_elapsed" => RetryPolicy::until_elapsed(secs(arg.unwrap_or(0.0), "timeout")?),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown retry policy {other:?}"
            )))
        }
    };
    // Without a delay a policy that retries at once would spin while no server answers.
    Ok(match kind.as_str() {
        "forever" | "until_elapsed" | "n_times" => {
            policy.with_backoff(Duration::from_millis(10), Duration::from_secs(1))
        }
        _ => policy,
    })
}

pub(crate) fn create_options(
    acl: Option<Vec<AclTuple>>,
    ephemeral: bool,
    sequential: bool,
    container: bool,
    ttl: Option<f64>,
) -> PyResult<CreateOptions> {
    let mut options = CreateOptions::new();
    if container {
        if ephemeral || sequential || ttl.is_some() {
            return Err(PyValueError::new_err(
                "a container node cannot be ephemeral, sequential or have a TTL",
            ));
        }
        options = options.container();
    }
    if ephemeral {
        options = options.ephemeral();
    }
    if sequential {
        options = options.sequential();
    }
    if let Some(ttl) = ttl {
        if ephemeral {
            return Err(PyValueError::new_err("an ephemeral node cannot have a TTL"));
        }
        options = options.ttl(secs(ttl, "ttl")?);
    }
    if let Some(acl) = acl {
        options = options.acl(acl_from(acl));
    }
    Ok(options)
}

/// The kind of one-shot watch a read set, to re-check it after a session expiry.
#[derive(Clone, Copy)]
pub(crate) enum WatchKind {
    /// `exists` on a missing node: fires on creation.
    Exist,
    /// `exists` on an existing node, or `get`: fires on data change or deletion.
    Data,
    /// `get_children`: fires on a child change or deletion.
    Child,
}

/// `path` as aiozk normalizes it: its non-empty segments, each after a `/` (`/` when there
/// are none), so that `''`, `'/'` and `'a//b/'` become `/`, `/` and `/a/b`.
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Waits until the client is connected again; false once it has stopped for good.
pub(crate) async fn wait_connected(client: &Client) -> bool {
    let mut rx = client.state_watch();
    let connected = matches!(
        rx.wait_for(|s| s.is_connected() || s.is_terminal()).await,
        Ok(s) if s.is_connected()
    );
    connected
}

/// Forwards the event of a one-shot watch to `callback(type, path)` on `event_loop`.
///
/// A watch that ends because the session expired is checked again once a new session is
/// up, and reported as the server reports a watch re-registered by aiozk (it sends the
/// change of every watched node relative to zxid 0): a data watch fires with the node's
/// deletion or a data change, a child watch with deletion or a child change, an exist watch
/// with creation (or is set again on the new session while the node is still missing).
/// A watch that ends because the client closed is dropped silently.
fn forward_watch(
    client: Client,
    armed: Armed,
    kind: WatchKind,
    path: String,
    watcher: OneshotWatcher,
    event_loop: LoopRef,
    callback: Py<PyAny>,
) {
    let key = (matches!(kind, WatchKind::Child), path.clone());
    if !armed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.clone())
    {
        // Already forwarded: the same server watch would be reported twice.
        return;
    }
    let disarm = Disarm(armed, key);
    // The futures of the rare path (after an expiry) are boxed: a task is as large as its
    // largest await, and one task waits for every forwarded watch.
    runtime().spawn(async move {
        let mut watcher = watcher;
        let code = loop {
            let event = watcher.await;
            if event.event_type != EventType::None {
                break types::watch_event_code(event.event_type);
            }
            if event.state != SessionState::Expired || !Box::pin(wait_connected(&client)).await {
                return;
            }
            match kind {
                WatchKind::Exist => match Box::pin(client.exists_watched(&path)).await {
                    Ok((Some(_), _)) => break 1,
                    Ok((None, w)) => watcher = w,
                    Err(_) => return,
                },
                WatchKind::Data | WatchKind::Child => match Box::pin(client.exists(&path)).await {
                    Ok(Some(_)) if matches!(kind, WatchKind::Data) => break 3,
                    Ok(Some(_)) => break 4,
                    Ok(None) => break 2,
                    Err(_) => return,
                },
            }
        };
        // A read made from now on sets a new watch, forwarded again.
        drop(disarm);
        call_soon(
            event_loop,
            Box::new(move |py| {
                let args = PyTuple::new(
                    py,
                    [
                        code.into_pyobject(py)?.into_any().unbind(),
                        path.into_pyobject(py)?.into_any().unbind(),
                    ],
                )?;
                Ok((callback, args.unbind()))
            }),
        );
    });
}

impl PyClient {
    /// The server path of `path`: aiozk's `normalize_path`.
    pub(crate) fn path(&self, path: &str) -> String {
        self.chroot.prefix(&normalize(path))
    }

    /// A server path as seen by the caller: aiozk's `denormalize_path`, which gives the
    /// chroot node itself as `''`.
    pub(crate) fn strip(chroot: &Chroot, path: String) -> String {
        if chroot.as_str() == Some(path.as_str()) {
            String::new()
        } else {
            chroot.strip(&path).to_owned()
        }
    }

    /// The awaitable of a watched read that returns a pair and a watcher: the pair is the
    /// result, the watcher is forwarded to `target`'s callback (see [`forward_watch`]).
    pub(crate) fn spawn_forwarded<'py, A, B, F>(
        &self,
        py: Python<'py>,
        fut: F,
        kind: WatchKind,
        server_path: String,
        target: (LoopRef, Py<PyAny>),
        convert: bridge::Convert<(A, B)>,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future<Output = aiozk::Result<(A, B, OneshotWatcher)>> + Send + 'static,
        A: Send + 'static,
        B: Send + 'static,
    {
        let client = self.client.clone();
        let armed = Arc::clone(&self.armed);
        let (event_loop, callback) = target;
        spawn(
            py,
            async move {
                let (a, b, watcher) = fut.await?;
                forward_watch(
                    client,
                    armed,
                    kind,
                    server_path,
                    watcher,
                    event_loop,
                    callback,
                );
                Ok((a, b))
            },
            convert,
        )
    }

    pub(crate) fn watch_target(
        &self,
        py: Python<'_>,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Option<(LoopRef, Py<PyAny>)>> {
        match on_event {
            Some(cb) => Ok(Some((bridge::running_queue(py)?, cb))),
            None => Ok(None),
        }
    }
}

#[pymethods]
impl PyClient {
    /// Starts a session (the driver connects in the background).
    #[new]
    #[pyo3(signature = (servers, *, chroot=None, session_timeout=10.0, allow_read_only=false,
        default_acl=None, retry=None, call_timeout=None, connect_timeout=None, auth=Vec::new(),
        sasl=None, tls=None, reconnect_after_expiry=true, resume=None, max_frame=None,
        max_write_delay=None, coalesce_reads=true, fail_eagerly=false, client_config=None,
        track_ensemble=false, kerberos=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        servers: &str,
        chroot: Option<String>,
        session_timeout: f64,
        allow_read_only: bool,
        default_acl: Option<Vec<AclTuple>>,
        retry: Option<(String, Option<f64>, Option<f64>)>,
        call_timeout: Option<f64>,
        connect_timeout: Option<f64>,
        auth: Vec<(String, Vec<u8>)>,
        sasl: Option<(String, String)>,
        tls: Option<PyRef<'_, PyTlsOptions>>,
        reconnect_after_expiry: bool,
        resume: Option<(i64, Vec<u8>)>,
        max_frame: Option<usize>,
        max_write_delay: Option<f64>,
        coalesce_reads: bool,
        fail_eagerly: bool,
        client_config: Option<PyRef<'_, PyClientConfig>>,
        track_ensemble: bool,
        kerberos: Option<PyRef<'_, crate::kerberos::PyKerberos>>,
    ) -> PyResult<Self> {
        let mut builder = Client::builder(servers);
        // The file first, so the keyword arguments override it.
        if let Some(config) = client_config {
            builder = config
                .config
                .apply(builder)
                .map_err(|e| Python::attach(|py| crate::errors::to_py(py, e)))?;
        }
        builder = builder
            .session_timeout(secs(session_timeout, "session_timeout")?)
            .allow_read_only(allow_read_only)
            .track_ensemble(track_ensemble)
            .reconnect_after_expiry(reconnect_after_expiry);
        if let Some(acl) = default_acl {
            builder = builder.default_acl(acl_from(acl));
        }
        if let Some(spec) = retry {
            builder = builder.retry_policy(retry_policy(spec)?);
        }
        if let Some(t) = call_timeout {
            builder = builder.call_timeout(secs(t, "read_timeout")?);
        }
        if let Some(t) = connect_timeout {
            builder = builder.connect_timeout(secs(t, "connect_timeout")?);
        }
        for (scheme, credentials) in &auth {
            builder = builder.auth(scheme, credentials);
        }
        if let Some((user, password)) = sasl {
            builder = builder.sasl_digest_md5(&user, &password);
        }
        if let Some(tls) = tls {
            builder = builder.tls(tls.options.clone());
        }
        if let Some(k) = kerberos {
            builder = crate::kerberos::apply(builder, &k)?;
        }
        if let Some((id, password)) = resume {
            builder = builder.resume_session(id, password);
        }
        if let Some(bytes) = max_frame {
            builder = builder.max_frame(bytes);
        }
        if let Some(d) = max_write_delay {
            builder = builder.max_write_delay(secs(d, "max_write_delay")?);
        }
        builder = builder
            .coalesce_reads(coalesce_reads)
            .fail_eagerly(fail_eagerly);
        let chroot = Chroot::new(Some(&normalize(chroot.as_deref().unwrap_or(""))))
            .map_err(|e| Python::attach(|py| crate::errors::to_py(py, e)))?;
        let _guard = runtime().enter();
        let client = builder
            .start()
            .map_err(|e| Python::attach(|py| crate::errors::to_py(py, e)))?;
        Ok(Self {
            client,
            chroot,
            armed: Armed::default(),
        })
    }

    /// Waits until connected (or read-only when allowed); `timeout` in seconds or None.
    #[pyo3(signature = (timeout=None))]
    fn wait_connected<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let timeout = timeout.map(|t| secs(t, "timeout")).transpose()?;
        // Not a request: a wait of any length, which must not hold other results back.
        bridge::spawn(
            py,
            async move {
                let wait = async {
                    let mut rx = client.state_watch();
                    let state = rx
                        .wait_for(|s| {
                            s.is_connected()
                                || s.is_terminal()
                                || client.connect_failure().is_some()
                        })
                        .await
                        .map(|s| *s)
                        .unwrap_or(SessionState::Closed);
                    match state {
                        SessionState::AuthFailed => {
                            Err(client.auth_failure().unwrap_or(aiozk::Error::AuthFailed))
                        }
                        SessionState::Closed => Err(aiozk::Error::Closed),
                        s if s.is_connected() => Ok(state_name(s)),
                        // Every server sent garbage (or refused): say which, and why.
                        s => client.connect_failure().map_or(Ok(state_name(s)), Err),
                    }
                };
                match timeout {
                    Some(t) => match tokio::time::timeout(t, wait).await {
                        Ok(r) => r,
                        Err(_) => Err(aiozk::Error::NoHosts(format!(
                            "no server answered within {t:?}"
                        ))),
                    },
                    None => wait.await,
                }
            },
            |py, s: &'static str| Ok(s.into_pyobject(py)?.into_any().unbind()),
        )
    }

    /// Closes the session.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        spawn(
            py,
            async move {
                client.close().await;
                Ok(())
            },
            |py, ()| Ok(py.None()),
        )
    }

    /// The session state (`connecting`, `connected`, `connected_read_only`, `disconnected`,
    /// `expired`, `auth_failed`, `closed`).
    /// Replaces the server list, keeping the session; resolves to whether the client moves
    /// to another server to even out the load (see `Client::update_servers`).
    fn update_servers<'py>(&self, py: Python<'py>, servers: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        spawn(
            py,
            async move { client.update_servers(&servers).await },
            |py, moved: bool| {
                Ok(pyo3::types::PyBool::new(py, moved)
                    .to_owned()
                    .into_any()
                    .unbind())
            },
        )
    }

    /// Drops the current connection and reconnects with the same session, as after a
    /// network failure (calls in flight fail with ConnectionLoss; watches are
    /// re-registered). Does nothing unless connected.
    fn reconnect(&self) {
        self.client.reconnect();
    }

    #[getter]
    fn state(&self) -> &'static str {
        state_name(self.client.state())
    }

    /// The highest zxid seen in a reply of this session.
    #[getter]
    fn last_zxid(&self) -> i64 {
        self.client.last_zxid()
    }

    /// Seconds since the server last answered something this client sent (None before
    /// the first answer).
    #[getter]
    fn last_heard(&self) -> Option<f64> {
        self.client.last_heard().map(|t| t.elapsed().as_secs_f64())
    }

    /// Why the latest connection attempt failed, as an exception (None after a handshake
    /// succeeded).
    #[getter]
    fn connect_failure(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.client
            .connect_failure()
            .map(|e| crate::errors::to_py(py, e).into_value(py).into_any())
    }

    /// A handle to the same session whose calls are bounded by `timeout` seconds each,
    /// retries included.
    fn with_call_timeout(&self, timeout: f64) -> PyResult<Self> {
        Ok(Self {
            client: self
                .client
                .with_call_timeout(secs(timeout, "call_timeout")?),
            chroot: self.chroot.clone(),
            armed: Arc::clone(&self.armed),
        })
    }

    /// A handle to the same session whose calls use the retry policy `retry` (see
    /// `aiozk.RetryPolicy._spec`).
    fn with_retry(&self, retry: (String, Option<f64>, Option<f64>)) -> PyResult<Self> {
        Ok(Self {
            client: self.client.with_retry(retry_policy(retry)?),
            chroot: self.chroot.clone(),
            armed: Arc::clone(&self.armed),
        })
    }

    #[getter]
    fn session_id(&self) -> i64 {
        self.client.session_id()
    }

    #[getter]
    fn session_password(&self) -> Vec<u8> {
        self.client.session_password()
    }

    /// The negotiated session timeout in seconds.
    #[getter]
    fn session_timeout(&self) -> f64 {
        self.client.session_timeout().as_secs_f64()
    }

    #[getter]
    fn connected_server(&self) -> Option<String> {
        self.client.connected_server()
    }

    /// The connected server's version, `(major, minor, patch)`, from its `srvr` four-letter
    /// word (a separate plain TCP connection); None when not connected or when the server
    /// does not answer `srvr` (a TLS-only port, a whitelist without it).
    fn server_version<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let server = self.client.connected_server();
        bridge::spawn(
            py,
            async move {
                let Some(addr) = server else {
                    return Ok(None);
                };
                let answer = aiozk::fourlw::four_letter_word(
                    &addr,
                    aiozk::fourlw::FourLetterWord::Srvr,
                    Duration::from_secs(5),
                )
                .await;
                Ok(answer
                    .ok()
                    .and_then(|text| aiozk::fourlw::parse_srvr_version(&text)))
            },
            |py, v| Ok(v.into_pyobject(py)?.into_any().unbind()),
        )
    }

    /// Counters of the client, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.client.stats();
        let d = PyDict::new(py);
        d.set_item("requests", s.requests)?;
        d.set_item("errors", s.errors)?;
        d.set_item("reconnects", s.reconnects)?;
        d.set_item("disconnects", s.disconnects)?;
        d.set_item("sessions", s.sessions)?;
        d.set_item("notifications", s.notifications)?;
        d.set_item("set_watches_batches", s.set_watches_batches)?;
        d.set_item("writes", s.writes)?;
        d.set_item("coalesced_reads", s.coalesced_reads)?;
        d.set_item("multi_read_batches", s.multi_read_batches)?;
        d.set_item("live_watches", s.live_watches)?;
        d.set_item("bytes_sent", s.bytes_sent)?;
        d.set_item("bytes_received", s.bytes_received)?;
        Ok(d)
    }

    /// Calls `callback(state)` on the running loop at every state change from now on (and
    /// once with `new_session` for every new session).
    fn on_state(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        let event_loop: LoopRef = bridge::running_queue(py)?;
        let callback = Arc::new(callback);
        let mut changes = self.client.state_changes();
        runtime().spawn(async move {
            loop {
                let name = match changes.recv().await {
                    Ok(aiozk::SessionEvent::State(s, _)) => state_name(s),
                    Ok(aiozk::SessionEvent::NewSession { .. }) => "new_session",
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let callback = Arc::clone(&callback);
                call_soon(
                    Arc::clone(&event_loop),
                    Box::new(move |py| {
                        Ok((callback.clone_ref(py), PyTuple::new(py, [name])?.unbind()))
                    }),
                );
                if name == "closed" || name == "auth_failed" {
                    break;
                }
            }
        });
        Ok(())
    }

    /// An async iterator of `(state, cause)` for every state change from now on.
    fn state_changes(&self) -> PyStateChanges {
        PyStateChanges::new(self.client.state_changes())
    }

    #[pyo3(signature = (path, watch=None))]
    fn exists<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        watch: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        let server_path = self.path(path);
        match self.watch_target(py, watch)? {
            None => spawn(py, self.client.exists(&server_path), types::opt_stat),
            Some((event_loop, callback)) => {
                let fut = self.client.exists_watched(&server_path);
                let client = self.client.clone();
                let armed = Arc::clone(&self.armed);
                spawn(
                    py,
                    async move {
                        let (stat, watcher) = fut.await?;
                        let kind = if stat.is_some() {
                            WatchKind::Data
                        } else {
                            WatchKind::Exist
                        };
                        forward_watch(
                            client,
                            armed,
                            kind,
                            server_path,
                            watcher,
                            event_loop,
                            callback,
                        );
                        Ok(stat)
                    },
                    types::opt_stat,
                )
            }
        }
    }

    #[pyo3(signature = (path, watch=None))]
    fn get_data<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        watch: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        let server_path = self.path(path);
        // Null data comes back as None, empty data as b'' (aiozk's behaviour).
        let convert: bridge::Convert<(Option<bytes::Bytes>, aiozk::Stat)> = |py, (data, stat)| {
            let data = data.map_or_else(|| py.None(), |d| types::bytes(py, &d));
            Ok(PyTuple::new(py, [data, types::stat(py, stat)?])?
                .into_any()
                .unbind())
        };
        match self.watch_target(py, watch)? {
            None => spawn(py, self.client.get_data_opt(&server_path), convert),
            Some(target) => {
                let fut = self.client.get_data_opt_watched(&server_path);
                self.spawn_forwarded(py, fut, WatchKind::Data, server_path, target, convert)
            }
        }
    }

    #[pyo3(signature = (path, watch=None))]
    fn get_children<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        watch: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        let server_path = self.path(path);
        let convert: bridge::Convert<(Vec<String>, aiozk::Stat)> = |py, (children, stat)| {
            Ok(PyTuple::new(
                py,
                [
                    PyList::new(py, children)?.into_any().unbind(),
                    types::stat(py, stat)?,
                ],
            )?
            .into_any()
            .unbind())
        };
        match self.watch_target(py, watch)? {
            None => spawn(py, self.client.get_children_stat(&server_path), convert),
            Some(target) => {
                let fut = self.client.get_children_watched(&server_path);
                self.spawn_forwarded(py, fut, WatchKind::Child, server_path, target, convert)
            }
        }
    }

    fn get_acl<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        spawn(
            py,
            self.client.get_acl(&self.path(path)),
            |py, (acl, stat)| {
                Ok(PyTuple::new(
                    py,
                    [
                        acl_to(acl).into_pyobject(py)?.into_any().unbind(),
                        types::stat(py, stat)?,
                    ],
                )?
                .into_any()
                .unbind())
            },
        )
    }

    /// `data` None creates the node without data (null data), `b''` with empty data.
    /// `protected`: a sequential create whose reply is lost finds its node instead of
    /// creating a second one (see `CreateOptions::protected`).
    #[pyo3(signature = (path, data, acl=None, ephemeral=false, sequential=false, container=false, ttl=None, protected=false))]
    #[allow(clippy::too_many_arguments)]
    fn create<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        data: Option<&[u8]>,
        acl: Option<Vec<AclTuple>>,
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl: Option<f64>,
        protected: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        let mut options = create_options(acl, ephemeral, sequential, container, ttl)?;
        if protected {
            options = options.protected();
        }
        let fut = self.client.create_opt(&self.path(path), data, &options);
        let chroot = self.chroot.clone();
        spawn(
            py,
            async move {
                let (created, stat) = fut.await?;
                Ok((Self::strip(&chroot, created), stat))
            },
            |py, (path, stat)| {
                Ok(PyTuple::new(
                    py,
                    [
                        path.into_pyobject(py)?.into_any().unbind(),
                        types::stat(py, stat)?,
                    ],
                )?
                .into_any()
                .unbind())
            },
        )
    }

    #[pyo3(signature = (path, acl=None, container=false))]
    fn ensure_path<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        acl: Option<Vec<AclTuple>>,
        container: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = create_options(acl, false, false, container, None)?;
        spawn(
            py,
            self.client.ensure_path_with(&self.path(path), &options),
            |py, ()| Ok(py.None()),
        )
    }

    #[pyo3(signature = (path, version=None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        version: Option<i32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        spawn(
            py,
            self.client.delete(&self.path(path), version),
            |py, ()| Ok(py.None()),
        )
    }

    /// Deletes the subtree; NoNode when it did not exist, the first failure otherwise.
    fn deleteall<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.client.deleteall(&self.path(path));
        spawn(
            py,
            async move {
                let report = fut.await?;
                if let Some((_, e)) = report.failed.into_iter().next() {
                    return Err(e);
                }
                if report.deleted == 0 {
                    return Err(aiozk::Error::NoNode);
                }
                Ok(report.deleted)
            },
            |py, n| Ok(n.into_pyobject(py)?.into_any().unbind()),
        )
    }

    /// `data` None stores null data.
    #[pyo3(signature = (path, data, version=None))]
    fn set_data<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        data: Option<&[u8]>,
        version: Option<i32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        spawn(
            py,
            self.client.set_data_opt(&self.path(path), data, version),
            types::stat,
        )
    }

    #[pyo3(signature = (path, acl, version=None))]
    fn set_acl<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        acl: Vec<AclTuple>,
        version: Option<i32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        spawn(
            py,
            self.client
                .set_acl(&self.path(path), &acl_from(acl), version),
            types::stat,
        )
    }

    fn sync<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        spawn(py, self.client.sync(&self.path(path)), |py, ()| {
            Ok(py.None())
        })
    }

    /// Several reads in one round trip (not atomic); see [`crate::admin`].
    fn multi_read<'py>(
        &self,
        py: Python<'py>,
        ops: Vec<(String, String)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.multi_read_impl(py, ops)
    }

    #[pyo3(signature = (prefix="/"))]
    fn get_ephemerals<'py>(&self, py: Python<'py>, prefix: &str) -> PyResult<Bound<'py, PyAny>> {
        self.get_ephemerals_impl(py, prefix)
    }

    fn get_all_children_number<'py>(
        &self,
        py: Python<'py>,
        path: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_all_children_number_impl(py, path)
    }

    fn whoami<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.whoami_impl(py)
    }

    #[pyo3(signature = (watch=None))]
    fn get_config<'py>(
        &self,
        py: Python<'py>,
        watch: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_config_impl(py, watch)
    }

    #[pyo3(signature = (joining="", leaving="", new_members="", from_config=-1))]
    fn reconfig<'py>(
        &self,
        py: Python<'py>,
        joining: &str,
        leaving: &str,
        new_members: &str,
        from_config: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.reconfig_impl(py, joining, leaving, new_members, from_config)
    }

    fn add_auth<'py>(
        &self,
        py: Python<'py>,
        scheme: &str,
        credentials: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        spawn(py, self.client.add_auth(scheme, credentials), |py, ()| {
            Ok(py.None())
        })
    }

    /// Commits a transaction of the operation tuples `ops` (see
    /// [`crate::transaction::add_ops`]), paths joined to the chroot; resolves to one tuple
    /// per operation (see [`crate::transaction::commit`]).
    fn commit<'py>(&self, py: Python<'py>, ops: Bound<'py, PyList>) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        let txn = crate::transaction::add_ops(self.client.transaction(), &ops, |p| self.path(p))?;
        crate::transaction::commit(py, txn, self.chroot.clone())
    }

    /// Adds a persistent (or persistent recursive) watch; resolves to an async iterator of
    /// `(type, state, path)`.
    fn add_watch<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        recursive: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Outside a running loop nothing must be sent: check before queuing.
        bridge::running_loop(py)?;
        let fut = self.client.add_watch(&self.path(path), recursive);
        spawn(py, fut, |py, watcher| {
            Ok(Py::new(
                py,
                PyPersistentWatch::new(PersistentWatchInner::new(watcher)),
            )?
            .into_any())
        })
    }
}
