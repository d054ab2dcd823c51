//! The session a command runs on, and the deadline that bounds the command.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use aiozk::config::ClientConfig;
use aiozk::{Client, Error, TlsOptions};
use tokio::time::Instant;

use crate::cli::{Global, DEFAULT_MAX_FRAME};
use crate::exit::Failure;

/// A connected client plus the options every command needs.
///
/// `--timeout` bounds the whole command: connecting, its requests and the closeSession at
/// exit share one deadline, `--timeout` after zk started. A command that runs for as long as
/// its work takes (a subtree walk, `watch`, `lock`, `elect`) is made with `per_request`:
/// then each request gets `--timeout` of its own, and the closeSession what is left of the
/// last one's.
pub struct Ctx {
    /// The session.
    pub client: Client,
    /// `--timeout`.
    pub timeout: Duration,
    /// Print JSON.
    pub json: bool,
    /// When the command (or, with `per_request`, the latest request) must be done.
    deadline: Cell<Instant>,
    /// Each request gets `timeout` from its start, instead of sharing one deadline.
    per_request: bool,
}

impl Ctx {
    /// Connects with the global options, within `--timeout` of `started`.
    pub async fn connect(g: &Global, started: Instant, per_request: bool) -> Result<Self, Failure> {
        let deadline = started + g.timeout;
        let left = deadline.saturating_duration_since(Instant::now());
        let mut builder = Client::builder(&g.servers);
        // The file first, so the command line overrides it.
        let mut file_max_frame = None;
        if let Some(path) = &g.client_config {
            let config = ClientConfig::from_file(path).map_err(|e| Failure::zk("", &e))?;
            for warning in config.warnings() {
                eprintln!("zk: warning: {warning}");
            }
            builder = config.apply(builder).map_err(|e| Failure::zk("", &e))?;
            file_max_frame = config.max_frame();
        }
        // `--max-frame` always has a value: the file's `jute.maxbuffer` stands unless the
        // option (or ZK_MAX_FRAME) asks for something other than the default.
        let max_frame = match file_max_frame {
            Some(bytes) if g.max_frame == DEFAULT_MAX_FRAME => bytes,
            _ => g.max_frame,
        };
        builder = builder
            .connect_timeout(left)
            .session_timeout(g.session_timeout)
            .max_frame(max_frame)
            // A port where nothing listens fails at once, not after --timeout.
            .fail_eagerly(true)
            .track_ensemble(g.track_ensemble);
        for (scheme, creds) in &g.auth {
            builder = builder.auth(scheme, creds.as_bytes());
        }
        if let Some((user, password)) = &g.sasl {
            builder = builder.sasl_digest_md5(user, password);
        }
        if g.sasl_gssapi {
            builder = kerberos(builder, g)?;
        }
        if let Some(tls) = tls_options(g)? {
            builder = builder.tls(tls);
        }
        // The builder's own connect timeout applies; the outer one is a safety net.
        let connect = tokio::time::timeout_at(deadline + SAFETY, builder.connect());
        let client = match connect.await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(Failure::zk("", &e)),
            Err(_) => {
                return Err(Failure::zk(
                    "",
                    &Error::NoHosts(format!(
                        "no server of {} answered within {:?}",
                        g.servers, g.timeout
                    )),
                ))
            }
        };
        Ok(Self {
            client,
            timeout: g.timeout,
            json: g.json,
            deadline: Cell::new(deadline),
            per_request,
        })
    }

    /// The same session and deadline, with `--json` as `json` (for one line of the shell).
    pub fn with_json(&self, json: bool) -> Self {
        Self {
            client: self.client.clone(),
            timeout: self.timeout,
            json,
            deadline: Cell::new(self.deadline.get()),
            per_request: self.per_request,
        }
    }

    /// Gives the next requests (and the closeSession after them) a fresh `--timeout`: for
    /// the end of `lock`, `elect` and `rmr`, which may run for longer than any deadline.
    pub fn renew(&self, budget: Duration) {
        self.deadline.set(Instant::now() + budget);
    }

    /// Awaits one request within the timeout; errors are about `what` (usually the path).
    pub async fn req<T>(
        &self,
        what: &str,
        fut: impl Future<Output = aiozk::Result<T>>,
    ) -> Result<T, Failure> {
        self.bounded(fut).await.map_err(|e| Failure::zk(what, &e))
    }

    /// Awaits one request within the deadline, keeping the client's error.
    pub async fn bounded<T>(
        &self,
        fut: impl Future<Output = aiozk::Result<T>>,
    ) -> aiozk::Result<T> {
        if self.per_request {
            self.renew(self.timeout);
        }
        match tokio::time::timeout_at(self.deadline.get(), fut).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Closes the session (the server drops its ephemeral nodes at once) within what is
    /// left of the deadline: after a request timed out, the closeSession is sent but not
    /// waited for.
    pub async fn close(&self) {
        let _ = tokio::time::timeout_at(self.deadline.get(), self.client.close()).await;
    }
}

/// Slack for the builder's own connect timeout to fire first.
const SAFETY: Duration = Duration::from_millis(200);

/// The Kerberos options from the global flags.
#[cfg(feature = "gssapi")]
fn kerberos(builder: aiozk::ClientBuilder, g: &Global) -> Result<aiozk::ClientBuilder, Failure> {
    let mut gss = match (&g.keytab, &g.principal) {
        (Some(keytab), Some(principal)) => aiozk::Gssapi::keytab(principal, keytab),
        (_, principal) => {
            let mut gss = aiozk::Gssapi::ticket_cache();
            if let Some(p) = principal {
                gss = gss.principal(p);
            }
            if let Some(c) = &g.ccache {
                gss = gss.ccache(c);
            }
            gss
        }
    };
    if let Some(service) = &g.sasl_service {
        gss = gss.service(service);
    }
    if let Some(p) = &g.server_principal {
        gss = gss.server_principal(p);
    }
    Ok(builder.sasl_gssapi(gss))
}

/// Without the `gssapi` feature, `--sasl-gssapi` is refused.
#[cfg(not(feature = "gssapi"))]
fn kerberos(_: aiozk::ClientBuilder, _: &Global) -> Result<aiozk::ClientBuilder, Failure> {
    Err(Failure::usage(
        "--sasl-gssapi: this zk was built without Kerberos support \
         (build it with `--features gssapi`)",
    ))
}

/// The TLS options from the global flags, or `None` for plain TCP (a `tls://` server in the
/// list still uses TLS, with the system's authorities).
fn tls_options(g: &Global) -> Result<Option<TlsOptions>, Failure> {
    if g.tls_ca.is_none() && g.tls_cert.is_none() && g.tls_crl.is_empty() {
        return Ok(None);
    }
    let mut tls = TlsOptions::new();
    if let Some(ca) = &g.tls_ca {
        tls = tls
            .ca_file(ca)
            .map_err(|e| Failure::zk(&format!("--tls-ca {}", ca.display()), &e))?;
    }
    if let (Some(cert), Some(key)) = (&g.tls_cert, &g.tls_key) {
        tls = tls
            .client_identity_files(cert, key)
            .map_err(|e| Failure::zk("--tls-cert/--tls-key", &e))?;
    }
    if g.tls_skip_hostname {
        tls = tls.danger_disable_hostname_verification();
    }
    for crl in &g.tls_crl {
        tls = tls
            .crl_file(crl)
            .map_err(|e| Failure::zk(&format!("--tls-crl {}", crl.display()), &e))?;
    }
    Ok(Some(tls))
}
