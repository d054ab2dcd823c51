//! aiozk: an asynchronous Apache ZooKeeper client for tokio.
mod error;
pub use error::{Error, Result};
