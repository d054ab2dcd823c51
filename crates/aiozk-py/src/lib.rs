//! The compiled half of the Python package `aiozk` (`aiozk._aiozk`, a private module).
//!
//! A thin shell over the Rust crates `aiozk` and `aiozk-recipes`: every class here wraps a
//! client or recipe value, converts arguments and results, and hands results back to asyncio.
//! The Python sources in `python/aiozk/` give it aiozk's API (names, argument shapes,
//! exception classes); nothing here decides anything the Rust client could decide.
//!
//! # Ordering
//! Every call queues its request when it is called (the Rust client's guarantee), before the
//! awaitable is returned, so requests reach the server in call order. Results, watch events
//! and state changes reach Python through a queue per event loop, in the order the Rust side
//! produced them, run in batches by a reader callback of the loop that made the call
//! (`loop.add_reader` on a socket pair): callbacks and futures always run on the caller's
//! loop, and no thread but the loop's takes the GIL for them.
//!
//! # Runtime
//! One tokio runtime for the process (pyo3-async-runtimes' shared runtime): the sessions'
//! drivers run there, so pings and reconnects go on while the event loop is busy.

mod admin;
mod bridge;
mod client;
mod errors;
mod fence;
mod kerberos;
mod metrics;
mod recipes;
mod transaction;
mod tree_events;
mod types;
mod watch;

use pyo3::prelude::*;

/// The module `aiozk._aiozk`.
#[pymodule]
#[pyo3(name = "_aiozk")]
fn aiozk_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bridge::configure_runtime();
    m.add_class::<client::PyClient>()?;
    m.add_class::<client::PyTlsOptions>()?;
    m.add_class::<client::PyClientConfig>()?;
    m.add_class::<kerberos::PyKerberos>()?;
    m.add_class::<types::PyStat>()?;
    m.add_class::<watch::PyPersistentWatch>()?;
    m.add_class::<watch::PyStateChanges>()?;
    m.add_class::<bridge::Canceller>()?;
    recipes::register(m)?;
    m.add_class::<fence::PyFence>()?;
    m.add_class::<tree_events::PyTreeEvents>()?;
    m.add_class::<bridge::Drain>()?;
    m.add_function(wrap_pyfunction!(bridge::forget_loop, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::delivery_stats, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::waiting_requests, m)?)?;
    m.add_function(wrap_pyfunction!(client::digest_id, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::enable_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::metrics_text, m)?)?;
    Ok(())
}
