//! SASL GSSAPI: Kerberos V5 authentication (RFC 4752) through the system's MIT Kerberos
//! library (`libgssapi_krb5`), with tickets from a keytab renewed before they expire, or
//! from a ticket cache that something else keeps fresh.
//!
//! Built with the cargo feature `gssapi` only: it links a C library, and the default build
//! stays pure Rust.
//!
//! The exchange of a connection runs on a blocking thread (getting a service ticket talks to
//! the KDC); the session waits for it and sends nothing else meanwhile. With a keytab, a
//! thread of the [`Gssapi`] value fetches a new ticket-granting ticket when a fraction of the
//! current one's lifetime has passed ([`Gssapi::renew_at`], 0.8 by default, as the Java
//! client does), into a fresh in-memory credential cache; the next connection uses it. With
//! a ticket cache, the same thread renews a renewable ticket in place, as the Java client
//! does with `kinit -R`.
//! Established connections are not affected by a ticket's expiry: the server checks tickets
//! when a connection authenticates.

#[allow(unsafe_code)]
mod ffi;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::session::{SaslInput, SaslStep};

/// Where the client's Kerberos tickets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// Fetched with the keys of `keytab` for `principal`, and fetched again before they
    /// expire.
    Keytab { principal: String, keytab: PathBuf },
    /// Read from a ticket cache (`None`: the default one, `KRB5CCNAME`) at every connection.
    TicketCache {
        ccache: Option<String>,
        principal: Option<String>,
    },
}

/// Kerberos (SASL GSSAPI) authentication for [`ClientBuilder::sasl_gssapi`]: the client's
/// credentials, the server's principal, and when tickets are renewed.
///
/// A cheap handle: clones share the credentials, the renewal thread and the counters, so
/// several clients can use one keytab login.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), aiozk::Error> {
/// use aiozk::{Client, Gssapi};
///
/// let kerberos = Gssapi::keytab("app@EXAMPLE.COM", "/etc/app/app.keytab")
///     .server_principal("zookeeper/zk1.example.com@EXAMPLE.COM");
/// let client = Client::builder("zk1.example.com:2181")
///     .sasl_gssapi(kerberos.clone())
///     .connect()
///     .await?;
/// println!("{} renewals so far", kerberos.stats().renewals);
/// # drop(client); Ok(()) }
/// ```
///
/// [`ClientBuilder::sasl_gssapi`]: crate::ClientBuilder::sasl_gssapi
#[derive(Clone)]
pub struct Gssapi {
    config: Config,
    shared: Arc<Shared>,
}

#[derive(Debug, Clone)]
struct Config {
    source: Source,
    service: String,
    server_principal: Option<String>,
    renew_at: f64,
    renew: bool,
}

impl std::fmt::Debug for Gssapi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gssapi")
            .field("source", &self.config.source)
            .field("service", &self.config.service)
            .field("server_principal", &self.config.server_principal)
            .field("renew_at", &self.config.renew_at)
            .field("renew", &self.config.renew)
            .finish()
    }
}

/// Counters of a [`Gssapi`] value (and of its clones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GssapiStats {
    /// Tickets renewed: ticket-granting tickets fetched from the keytab after the first
    /// one, or the ticket cache's ticket renewed.
    pub renewals: u64,
    /// Renewals that failed (each is retried before the ticket expires).
    pub renewal_failures: u64,
    /// Connections authenticated.
    pub authentications: u64,
    /// Exchanges that failed on the client's side or were refused.
    pub failures: u64,
    /// The client's principal, once known.
    pub principal: Option<String>,
    /// How long the current ticket-granting ticket stays valid, as last read.
    pub ticket_valid_for: Option<Duration>,
}

/// The current keytab login.
struct Login {
    cred: Arc<ffi::Cred>,
    /// Its in-memory cache, destroyed once a newer login has replaced it and the one
    /// after that too (a connection may still be authenticating with it).
    cache: String,
    obtained: Instant,
    lifetime: Duration,
}

struct Shared {
    login: Mutex<Option<Login>>,
    /// Caches of replaced logins, destroyed one renewal later.
    retired: Mutex<Vec<String>>,
    renewals: AtomicU64,
    renewal_failures: AtomicU64,
    authentications: AtomicU64,
    failures: AtomicU64,
    caches: AtomicU64,
    principal: Mutex<Option<String>>,
    /// When the current ticket expires, as last read.
    expiry: Mutex<Option<Instant>>,
    /// Set when the renewal thread runs; `stop` ends it.
    renewer: Mutex<bool>,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(login) = self
            .login
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            drop(login.cred);
            ffi::destroy_cache(&login.cache);
        }
        for cache in self
            .retired
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            ffi::destroy_cache(&cache);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gssapi {
    /// Tickets for `principal` (`name@REALM`) fetched with the keys in `keytab`, renewed
    /// before they expire.
    pub fn keytab(principal: impl Into<String>, keytab: impl AsRef<Path>) -> Self {
        Self::new(Source::Keytab {
            principal: principal.into(),
            keytab: keytab.as_ref().to_owned(),
        })
    }

    /// Tickets read from the default ticket cache (`KRB5CCNAME`, or the library's default)
    /// at every connection, for the cache's principal. A renewable ticket is renewed in
    /// place before it expires, as `kinit -R` does (the cache is replaced whole, so a
    /// connection authenticating meanwhile reads the old one or the new one); past its
    /// renewable lifetime, whoever filled the cache (`kinit`, `k5start`, sssd) must fill it
    /// again.
    pub fn ticket_cache() -> Self {
        Self::new(Source::TicketCache {
            ccache: None,
            principal: None,
        })
    }

    fn new(source: Source) -> Self {
        Self {
            config: Config {
                source,
                service: "zookeeper".into(),
                server_principal: None,
                renew_at: 0.8,
                renew: true,
            },
            shared: Arc::new(Shared {
                login: Mutex::new(None),
                retired: Mutex::new(Vec::new()),
                renewals: AtomicU64::new(0),
                renewal_failures: AtomicU64::new(0),
                authentications: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                caches: AtomicU64::new(0),
                principal: Mutex::new(None),
                expiry: Mutex::new(None),
                renewer: Mutex::new(false),
                stop: Arc::new((Mutex::new(false), Condvar::new())),
            }),
        }
    }

    /// With [`ticket_cache`](Self::ticket_cache): this cache (`FILE:/tmp/krb5cc_1000`,
    /// `KEYRING:...`) instead of the default one.
    pub fn ccache(mut self, name: impl Into<String>) -> Self {
        if let Source::TicketCache { ccache, .. } = &mut self.config.source {
            *ccache = Some(name.into());
        }
        self
    }

    /// With [`ticket_cache`](Self::ticket_cache): use this principal's tickets of the
    /// cache collection.
    pub fn principal(mut self, name: impl Into<String>) -> Self {
        if let Source::TicketCache { principal, .. } = &mut self.config.source {
            *principal = Some(name.into());
        }
        self
    }

    /// The service name of the server principal, `zookeeper` by default (the server's
    /// principal is then `zookeeper/<host>@<realm of host>`, `host` as written in the
    /// server list).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.config.service = service.into();
        self
    }

    /// The server's whole principal (`zookeeper/zk1.example.com@EXAMPLE.COM`) for every
    /// server, instead of one made from the service and each server's host.
    pub fn server_principal(mut self, principal: impl Into<String>) -> Self {
        self.config.server_principal = Some(principal.into());
        self
    }

    /// Renew a keytab login when this fraction of its ticket's lifetime has passed
    /// (clamped to 0.05–0.95; 0.8 by default); a ticket cache's ticket when this fraction of
    /// what was left of it when last read has passed.
    pub fn renew_at(mut self, fraction: f64) -> Self {
        self.config.renew_at = if fraction.is_nan() {
            0.8
        } else {
            fraction.clamp(0.05, 0.95)
        };
        self
    }

    /// Renew tickets (the default): keytab logins, and renewable tickets of a ticket cache.
    /// Off, a connection made after the ticket expired fails to authenticate (unless
    /// something else refreshed the cache).
    pub fn renew(mut self, on: bool) -> Self {
        self.config.renew = on;
        self
    }

    /// The counters.
    pub fn stats(&self) -> GssapiStats {
        let s = &self.shared;
        GssapiStats {
            renewals: s.renewals.load(Ordering::Relaxed),
            renewal_failures: s.renewal_failures.load(Ordering::Relaxed),
            authentications: s.authentications.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            principal: lock(&s.principal).clone(),
            ticket_valid_for: lock(&s.expiry).map(|e| e.saturating_duration_since(Instant::now())),
        }
    }

    /// Fetches a ticket-granting ticket with the keytab into a new in-memory cache and
    /// makes it the current login. Blocking: it talks to the KDC.
    fn fetch(&self) -> Result<Arc<ffi::Cred>, String> {
        let Source::Keytab { principal, keytab } = &self.config.source else {
            return Err("no keytab configured".into());
        };
        let n = self.shared.caches.fetch_add(1, Ordering::Relaxed);
        let cache = format!(
            "MEMORY:aiozk-{}-{:x}-{n}",
            std::process::id(),
            Arc::as_ptr(&self.shared) as usize
        );
        let keytab = keytab.to_string_lossy();
        let name = ffi::Name::principal(principal)?;
        let obtained = Instant::now();
        let (shown, seconds) = {
            // Credentials with the keytab: the library fetches the ticket into `cache` when
            // asked about them. They are dropped at once: a credential that holds a keytab
            // would fetch new tickets by itself, and renewals are this value's job.
            let with_keytab = ffi::Cred::acquire(
                Some(&name),
                &[("client_keytab", &keytab), ("ccache", &cache)],
            )?;
            with_keytab.inquire()?
        };
        let cred = Arc::new(ffi::Cred::acquire(None, &[("ccache", &cache)])?);
        let lifetime = Duration::from_secs(u64::from(seconds));
        *lock(&self.shared.principal) = Some(shown.clone());
        *lock(&self.shared.expiry) = Some(obtained + lifetime);
        tracing::info!(principal = %shown, valid_s = seconds, "Kerberos ticket obtained");
        let old = lock(&self.shared.login).replace(Login {
            cred: cred.clone(),
            cache,
            obtained,
            lifetime,
        });
        if let Some(old) = old {
            let mut retired = lock(&self.shared.retired);
            for cache in retired.drain(..) {
                ffi::destroy_cache(&cache);
            }
            retired.push(old.cache);
        }
        Ok(cred)
    }

    /// The credentials for a new connection. Blocking.
    fn credential(&self) -> Result<Arc<ffi::Cred>, String> {
        match &self.config.source {
            Source::Keytab { .. } => {
                let current = lock(&self.shared.login).as_ref().map(|l| l.cred.clone());
                let cred = match current {
                    Some(cred) => cred,
                    None => self.fetch()?,
                };
                self.start_renewer();
                Ok(cred)
            }
            Source::TicketCache { .. } => {
                let (cred, _) = self.cache_credential()?;
                self.start_renewer();
                Ok(Arc::new(cred))
            }
        }
    }

    /// Credentials from the ticket cache, and how long its ticket stays valid. Blocking.
    fn cache_credential(&self) -> Result<(ffi::Cred, Duration), String> {
        let Source::TicketCache { ccache, principal } = &self.config.source else {
            return Err("no ticket cache configured".into());
        };
        let name = principal.as_deref().map(ffi::Name::principal).transpose()?;
        let store: Vec<(&str, &str)> = ccache.iter().map(|c| ("ccache", c.as_str())).collect();
        let cred = ffi::Cred::acquire(name.as_ref(), &store)?;
        let (shown, seconds) = cred.inquire()?;
        let left = Duration::from_secs(u64::from(seconds));
        *lock(&self.shared.principal) = Some(shown);
        *lock(&self.shared.expiry) = Some(Instant::now() + left);
        Ok((cred, left))
    }

    /// How long the ticket cache's ticket stays valid. Blocking.
    fn cache_ticket_left(&self) -> Result<Duration, String> {
        self.cache_credential().map(|(_, left)| left)
    }

    /// Starts the renewal thread of a keytab login, once.
    fn start_renewer(&self) {
        if !self.config.renew {
            return;
        }
        let mut started = lock(&self.shared.renewer);
        if *started {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        let config = self.config.clone();
        let stop = self.shared.stop.clone();
        let spawned = std::thread::Builder::new()
            .name("aiozk-kerberos".into())
            .spawn(move || renew_loop(weak, config, stop));
        match spawned {
            Ok(_) => *started = true,
            Err(e) => tracing::warn!(error = %e, "cannot start the Kerberos renewal thread"),
        }
    }
}

/// Renews the tickets of `weak` until its last handle is gone: a new login from the keytab,
/// or the ticket cache's ticket renewed in place (as `kinit -R`).
fn renew_loop(weak: Weak<Shared>, config: Config, stop: Arc<(Mutex<bool>, Condvar)>) {
    // Waits until `until` or until the last handle is gone (false then).
    let sleep_until = |until: Instant| {
        let (flag, wake) = &*stop;
        let mut stopped = lock(flag);
        loop {
            if *stopped {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            stopped = wake
                .wait_timeout(stopped, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    };
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let gss = Gssapi {
            config: config.clone(),
            shared,
        };
        let due = match &config.source {
            Source::Keytab { .. } => lock(&gss.shared.login)
                .as_ref()
                .map(|l| l.obtained + l.lifetime.mul_f64(config.renew_at)),
            // What is left of the cache's ticket now: renewed when `renew_at` of that has
            // passed (the ticket's start is not known here), always before it expires.
            Source::TicketCache { .. } => gss
                .cache_ticket_left()
                .ok()
                .map(|left| Instant::now() + left.mul_f64(config.renew_at)),
        };
        // No ticket yet (or the cache is unreadable): look again in a while.
        let due = due.unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
        drop(gss);
        if !sleep_until(due) {
            return;
        }
        let Some(shared) = weak.upgrade() else { return };
        let gss = Gssapi {
            config: config.clone(),
            shared,
        };
        let renewed = match &config.source {
            Source::Keytab { .. } => gss.fetch().map(drop),
            Source::TicketCache { ccache, .. } => ffi::renew_ticket_cache(ccache.as_deref())
                .and_then(|()| gss.cache_ticket_left().map(drop)),
        };
        let pause = match renewed {
            Ok(()) => {
                gss.shared.renewals.fetch_add(1, Ordering::Relaxed);
                tracing::info!("Kerberos ticket renewed");
                continue;
            }
            Err(e) => {
                gss.shared.renewal_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "Kerberos ticket renewal failed");
                let left = gss.stats().ticket_valid_for.unwrap_or_default();
                match config.source {
                    // The KDC may be back soon: try again after a tenth of what is left.
                    Source::Keytab { .. } => (left / 10).max(Duration::from_secs(1)),
                    // A ticket that cannot be renewed stays so: wait until it expired (or
                    // whoever owns the cache replaced it).
                    Source::TicketCache { .. } => left.max(Duration::from_secs(30)),
                }
            }
        };
        drop(gss);
        if !sleep_until(Instant::now() + pause) {
            return;
        }
    }
}

/// The mechanism of a client: one exchange per connection.
impl crate::driver::SaslMechanism for Gssapi {
    fn exchange(&self, host: &str) -> Box<dyn crate::driver::SaslExchange> {
        Box::new(Exchange {
            gss: self.clone(),
            host: host.to_owned(),
            stage: Stage::Start,
        })
    }
}

enum Stage {
    Start,
    /// Establishing the security context.
    Negotiating {
        context: ffi::Context,
        cred: Arc<ffi::Cred>,
    },
    /// Context established: the server's security-layer offer comes next.
    Layer {
        context: ffi::Context,
    },
    /// The answer to the offer went out: the server's empty reply ends the exchange.
    Final,
    Over,
}

/// One GSSAPI exchange (RFC 4752 section 3.1).
struct Exchange {
    gss: Gssapi,
    host: String,
    stage: Stage,
}

impl crate::driver::SaslExchange for Exchange {
    fn step(&mut self, input: SaslInput) -> Result<SaslStep, String> {
        let result = self.advance(input);
        let counter = match &result {
            Ok(SaslStep::Done) => Some(&self.gss.shared.authentications),
            Ok(SaslStep::Send(_)) => None,
            Err(_) => Some(&self.gss.shared.failures),
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl Exchange {
    fn advance(&mut self, input: SaslInput) -> Result<SaslStep, String> {
        match (std::mem::replace(&mut self.stage, Stage::Over), input) {
            (Stage::Start, SaslInput::Start) => {
                let cred = self.gss.credential()?;
                let target = match &self.gss.config.server_principal {
                    Some(p) => ffi::Name::principal(p)?,
                    None => ffi::Name::host_based(&self.gss.config.service, &self.host)?,
                };
                let mut context = ffi::Context::new(target);
                let init = context.init(&cred, None)?;
                self.stage = if init.complete {
                    Stage::Layer { context }
                } else {
                    Stage::Negotiating { context, cred }
                };
                Ok(SaslStep::Send(init.token))
            }
            (Stage::Negotiating { mut context, cred }, SaslInput::Server(token)) => {
                let init = context.init(&cred, Some(token.as_deref().unwrap_or_default()))?;
                self.stage = if init.complete {
                    Stage::Layer { context }
                } else {
                    Stage::Negotiating { context, cred }
                };
                // An established context may leave nothing to say: the empty answer asks
                // for the server's security-layer offer.
                Ok(SaslStep::Send(init.token))
            }
            (Stage::Layer { mut context }, SaslInput::Server(Some(token))) => {
                let offer = context.unwrap(&token)?;
                if offer.len() != 4 {
                    return Err(format!(
                        "the server's security-layer offer has {} bytes, not 4",
                        offer.len()
                    ));
                }
                // The first byte: the layers offered; 1 is "none".
                if offer[0] & 1 == 0 {
                    return Err(
                        "the server requires a SASL security layer; ZooKeeper connections use none"
                            .into(),
                    );
                }
                // No security layer, no buffer size, no authorization id (the server
                // authorizes the authenticated principal itself).
                let answer = context.wrap(&[1, 0, 0, 0])?;
                self.stage = Stage::Final;
                Ok(SaslStep::Send(answer))
            }
            (Stage::Final, SaslInput::Server(None)) => Ok(SaslStep::Done),
            (Stage::Final, SaslInput::Server(Some(t))) if t.is_empty() => Ok(SaslStep::Done),
            (Stage::Final, SaslInput::Server(Some(_))) => {
                Err("the server sent a token after the exchange ended".into())
            }
            (_, SaslInput::Start) => Err("the SASL exchange started twice".into()),
            (Stage::Layer { .. }, SaslInput::Server(None)) | (Stage::Start, _) => {
                Err("the server ended the SASL exchange before it was complete".into())
            }
            (Stage::Over, _) => Err("SASL token after the exchange ended".into()),
        }
    }
}
