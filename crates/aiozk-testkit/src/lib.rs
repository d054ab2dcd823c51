//! Test kit for aiozk: starts real Apache ZooKeeper servers and a fault-injecting TCP proxy.
//!
//! This crate is meant for tests only. The environment variable `ZK_VERSION` chooses the
//! server: a release number such as `3.9.5` (the default) or `3.8.6` runs that release from
//! Maven Central, fetched once by `mvn` into the user's Maven cache (a warm cache works
//! offline); `debian` runs Debian's package `zookeeper` (3.8.0) from `/usr/share/java`. Without
//! `ZK_VERSION`, `ZOOKEEPER_HOME` may point to an unpacked Apache binary release. `java` must
//! be on `PATH`. See [`ZooKeeperInstall`]; [`ServerConfig::version`] chooses in code.
//!
//! * [`Ensemble`] starts one server (standalone) or several (a quorum) on `127.0.0.1`, each in
//!   its own directory under a temporary directory. Everything is stopped and removed when the
//!   [`Ensemble`] is dropped (also when a test panics). The `java` processes additionally die
//!   when the test process dies without running destructors (each one has a small watchdog `sh`
//!   process that kills it once the test process is gone).
//! * [`ServerConfig`] tunes the servers (tick time, session timeout clamp, extra `zoo.cfg`
//!   lines, extra JVM flags, TTL/container support, read-only mode, a TLS port, ...);
//!   [`TestPki`] makes the certificates of a TLS port, [`ServerConfig::tls`] sets it up, and
//!   [`ServerConfig::sasl_digest_user`] adds a SASL user.
//! * [`Kdc`] runs an MIT Kerberos KDC for a test realm; [`ServerConfig::sasl_kerberos`] makes
//!   servers authenticate clients with SASL GSSAPI against it.
//! * [`four_letter_word`] and [`four_letter_word_async`] send four-letter words such as
//!   `ruok`, `srvr` or `mntr`.
//! * [`FaultProxy`] sits between a client and a server and can cut connections (RST or FIN),
//!   stall them, black-hole them, refuse new ones, or cut a connection right after its n-th
//!   request frame.
//! * [`ScriptedServer`] is a TCP server whose connections run a script: for what a real
//!   server never sends (garbage frames, broken handshakes, absurd negotiated timeouts).
//! * [`Peer`] runs Apache Curator or kazoo in a process of its own (fetched with Maven or pip
//!   on first use), driven one command per line, for interoperability tests.
//! * [`free_port`] and [`free_ports`] hand out loopback ports that no other caller in this
//!   process has received.
//!
//! Blocking and async: the [`Ensemble`] methods without a suffix block the calling thread
//! (they use `std::process` and `std::net` and real time). They can be called from
//! `#[tokio::test]`s, but while they wait (starting, restarting, stopping) no other task of a
//! current-thread runtime runs; in particular a [`FaultProxy`] on that runtime stops
//! forwarding. Use the `*_async` variants in that situation. The async variants use tokio
//! timers, so they do not work under `tokio::time::pause()`.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use aiozk_testkit::{Ensemble, ServerConfig};
//!
//! let zk = Ensemble::start(1, ServerConfig::new().min_session_timeout_ms(1000))?;
//! assert_eq!(zk.four_letter(0, "ruok")?, "imok");
//! println!("connect to {}", zk.connect_string());
//! # Ok(())
//! # }
//! ```

mod config;
mod ensemble;
mod foreign;
mod fourlw;
mod install;
mod kerberos;
mod ports;
mod proxy;
mod scripted;
mod security;

pub use config::ServerConfig;
pub use ensemble::Ensemble;
pub use foreign::{python_venv, Peer, CURATOR_VERSION, KAZOO_VERSION};
pub use fourlw::{four_letter_word, four_letter_word_async, Mode};
pub use install::{ServerVersion, ZooKeeperInstall, DEFAULT_VERSION};
pub use kerberos::{Kdc, TEST_REALM};
pub use ports::{free_port, free_ports, port_is_free, port_is_free_on};
pub use proxy::FaultProxy;
pub use scripted::{connect_response, ScriptedConn, ScriptedServer};
pub use security::TestPki;
