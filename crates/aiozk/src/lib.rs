//! aiozk: an asynchronous Apache ZooKeeper client for tokio.
pub mod acl;
mod client;
mod driver;
mod error;
pub mod fourlw;
pub mod hosts;
pub mod path;
pub mod retry;
pub mod session;
mod tls;

pub use acl::{Acl, Id, Perms};
pub use aiozk_proto::{ClientInfo, CreateMode, EventType, Stat};
pub use client::{
    Client, ClientBuilder, ClientStats, CreateOptions, DeleteAllReport, OneshotWatcher, OpResult,
    PersistentWatcher, ReadOp, ReadResult, Transaction, WatchedEvent,
};
pub use driver::SessionEvent;
pub use error::{Error, Result};
pub use retry::RetryPolicy;
pub use session::{SaslCredentials, SessionState, StateCause};
pub use tls::TlsOptions;
