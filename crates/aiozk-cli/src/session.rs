//! The session a command runs on, and the deadline on each request.

use std::future::Future;
use std::time::Duration;

use aiozk::config::ClientConfig;
use aiozk::{Client, Error, TlsOptions};

use crate::cli::Global;
use crate::exit::Failure;

/// A connected client plus the options every command needs.
pub struct Ctx {
    /// The session.
    pub client: Client,
    /// The deadline of each request.
    pub timeout: Duration,
    /// Print JSON.
    pub json: bool,
}

impl Ctx {
    /// Connects with the global options, within `--timeout`.
    pub async fn connect(g: &Global) -> Result<Self, Failure> {
        let mut builder = Client::builder(&g.servers);
        // The file first, so the command line overrides it.
        if let Some(path) = &g.client_config {
            let config = ClientConfig::from_file(path).map_err(|e| Failure::zk("", &e))?;
            for warning in config.warnings() {
                eprintln!("zk: warning: {warning}");
            }
            builder = config.apply(builder).map_err(|e| Failure::zk("", &e))?;
        }
        builder = builder
            .connect_timeout(g.timeout)
            .session_timeout(g.session_timeout);
        for (scheme, creds) in &g.auth {
            builder = builder.auth(scheme, creds.as_bytes());
        }
        if let Some((user, password)) = &g.sasl {
            builder = builder.sasl_digest_md5(user, password);
        }
        if let Some(tls) = tls_options(g)? {
            builder = builder.tls(tls);
        }
        // The builder's own connect timeout applies; the outer one is a safety net.
        let connect = tokio::time::timeout(g.timeout + Duration::from_secs(1), builder.connect());
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
        })
    }

    /// Awaits one request within the timeout; errors are about `what` (usually the path).
    pub async fn req<T>(
        &self,
        what: &str,
        fut: impl Future<Output = aiozk::Result<T>>,
    ) -> Result<T, Failure> {
        self.bounded(fut).await.map_err(|e| Failure::zk(what, &e))
    }

    /// Awaits one request within the timeout, keeping the client's error.
    pub async fn bounded<T>(
        &self,
        fut: impl Future<Output = aiozk::Result<T>>,
    ) -> aiozk::Result<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Closes the session (the server drops its ephemeral nodes at once), within the
    /// timeout.
    pub async fn close(&self) {
        let _ = tokio::time::timeout(self.timeout, self.client.close()).await;
    }
}

/// The TLS options from the global flags, or `None` for plain TCP (a `tls://` server in the
/// list still uses TLS, with the system's authorities).
fn tls_options(g: &Global) -> Result<Option<TlsOptions>, Failure> {
    if g.tls_ca.is_none() && g.tls_cert.is_none() {
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
    Ok(Some(tls))
}
