//! aiozk: an asynchronous, fault-tolerant Apache ZooKeeper client for tokio.
//!
//! ```no_run
//! # async fn demo() -> aiozk::Result<()> {
//! let zk = aiozk::Client::connect("127.0.0.1:2181/app").await?;
//! zk.ensure_path("/greeting/to").await?;
//! zk.create("/greeting/to/world", b"hello world").await?;
//! let (data, stat) = zk.get_data("/greeting/to/world").await?;
//! assert_eq!(&data[..], b"hello world");
//! assert_eq!(stat.version, 0);
//! zk.close().await;
//! # Ok(()) }
//! ```
//!
//! # Architecture
//! * [`aiozk_proto`] encodes and decodes the wire protocol, with no IO.
//! * The session state machine (`session::Session`): xids, the FIFO of requests in flight,
//!   watches, credentials to replay, timers. It does no IO and takes the time as an
//!   argument, so it is tested with scripted bytes and a simulated clock. It is public for
//!   the fuzz target only, hidden from the documentation, and no part of the stable API.
//! * A driver task (one per client) owns the connection and feeds the state machine.
//! * [`Client`] is a cheap, cloneable handle; every method validates, encodes and queues its
//!   request when called.
//!
//! # Behaviour
//! * **Ordering.** Requests reach the server in the order the methods were called, whatever
//!   order their futures are awaited in; ZooKeeper executes and answers them in that order.
//! * **Connection loss.** Requests in flight fail with [`Error::ConnectionLoss`] (their
//!   outcome is unknown); the client reconnects to the next server with the same session,
//!   replays credentials, then re-registers every watch (SetWatches/SetWatches2, in batches)
//!   before sending anything else, so the server reports exactly the changes missed.
//! * **Retries.** Reads and version-checked writes are retried after a connection loss by the
//!   client's [`RetryPolicy`]; writes that could be duplicated are not (sequential creates
//!   can use [`CreateOptions::protected`]).
//! * **Expiry.** Detected from the server or locally once the session timeout has passed
//!   without a server. Everything pending fails with [`Error::SessionExpired`], watches end
//!   with an event of type [`EventType::None`], and by default a new session is opened and
//!   announced as [`SessionEvent::NewSession`].
//! * **Watches are values.** One-shot watches are futures returned with the read
//!   ([`Client::get_data_watched`], ...); persistent watches are streams
//!   ([`Client::add_watch`]) that unregister when dropped.
//! * **Bad input never panics**: invalid paths, oversized data and malformed server replies
//!   give typed errors.
//! * **Security.** TLS and mutual TLS ([`TlsOptions`]), digest credentials
//!   ([`Client::add_auth`]) and SASL DIGEST-MD5 ([`ClientBuilder::sasl_digest_md5`]), all
//!   replayed on every reconnect. No `Debug` output or log line contains a password, a
//!   private key or a session password.
pub mod acl;
mod client;
pub mod config;
mod dial;
mod driver;
mod error;
pub mod fourlw;
#[cfg(feature = "gssapi")]
mod gssapi;
pub mod hosts;
pub mod metrics;
pub mod path;
mod provider;
pub mod retry;
// Public for the fuzz target (`session::fuzzing`) alone: its types change with the
// session's internals, so they are kept out of the documented API.
#[doc(hidden)]
pub mod session;
mod tls;
mod trace;
mod watcher;

pub use acl::{Acl, Id, Perms};
pub use aiozk_proto::{ClientInfo, CreateMode, EventType, Stat};
pub use client::{
    Client, ClientBuilder, ClientStats, CreateOptions, DeleteAllReport, OpResult, ReadOp,
    ReadResult, Transaction,
};
pub use driver::SessionEvent;
pub use error::{Error, Result};
#[cfg(feature = "gssapi")]
pub use gssapi::{Gssapi, GssapiStats};
pub use retry::RetryPolicy;
pub use session::{EventKind, KnownNodes, SaslCredentials, SessionState, StateCause};
pub use tls::TlsOptions;
pub use watcher::{OneshotWatcher, PersistentWatcher, WatchedEvent};

/// True when the deliberate bug `name` is switched on (only in a build with the `mutants`
/// feature, for the fault-injection harness; always false otherwise).
#[inline]
pub(crate) fn mutant(name: &str) -> bool {
    #[cfg(feature = "mutants")]
    {
        aiozk_mutants::on(name)
    }
    #[cfg(not(feature = "mutants"))]
    {
        let _ = name;
        false
    }
}
