//! Task helpers: a spawned task that stops when its handle is dropped, and deadlines.

use std::future::Future;
use std::time::Duration;

use aiozk::{Error, Result};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A spawned task that is aborted when this handle is dropped.
#[derive(Debug)]
pub(crate) struct TaskGuard(pub(crate) JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The deadline `timeout` from now.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// Runs `fut` until `deadline`; [`Error::Timeout`] when it passes first.
pub(crate) async fn until<T>(
    deadline: Option<Instant>,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = fut => r,
        () = sleep_until(deadline) => Err(Error::Timeout),
    }
}
