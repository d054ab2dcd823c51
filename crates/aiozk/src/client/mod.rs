//! [`Client`]: the cheap, cloneable handle to a ZooKeeper session.
//!
//! * `handle`: the handle itself, and what it tells about its session (state, ids,
//!   counters, close);
//! * `builder`: [`ClientBuilder`], the settings, and the start of the driver task;
//! * `call`: the machinery every operation shares (validate, encode, queue, await the
//!   reply, retry);
//! * `read`: reads, the one-shot watches they set, and persistent watches;
//! * `write`: creates, deletes, data and ACL updates, reconfiguration;
//! * `transaction`: [`Transaction`], an atomic batch of writes;
//! * `tracker`: ensemble tracking (`/zookeeper/config` applied to the server list).

mod builder;
mod call;
mod handle;
mod read;
mod tracker;
mod transaction;
mod write;

pub use builder::ClientBuilder;
pub use handle::{Client, ClientStats};
pub use read::{ReadOp, ReadResult};
pub use transaction::{OpResult, Transaction};
pub use write::{CreateOptions, DeleteAllReport};
