//! From tokio to asyncio: awaitables for Rust futures, and callbacks on the caller's loop.
//!
//! Every event loop that uses the package gets a [`LoopQueue`]: a list of jobs and a socket
//! pair whose read end is registered with `loop.add_reader`. A tokio task with something for
//! Python (a call's result, a watch event, a state change) pushes a job onto its loop's
//! queue, without the GIL, and writes one byte when the queue was empty. The loop then runs
//! every queued job in one callback, with the GIL it already holds, in push order: results
//! are converted to Python values on the loop's own thread, one wake-up serves every result
//! that arrived meanwhile, and no other thread ever waits for the GIL (so no tokio worker
//! does, and the sessions' pings never do).
//!
//! Under load the wake-up is held back: while many calls of a loop wait for their results,
//! a result waits until more than an eighth of them are queued (or for about a millisecond
//! at most), so that at 100 requests in flight the loop wakes once per dozen results instead
//! of once per reply. A lone call's result is never held. `delivery_stats()` counts the
//! wake-ups and the jobs they delivered.

use std::collections::HashMap;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use tokio::task::AbortHandle;

use crate::errors;

/// Builds, with the GIL held, the callable and arguments to run on an event loop.
type Make = Box<dyn FnOnce(Python<'_>) -> PyResult<(Py<PyAny>, Py<PyTuple>)> + Send>;

/// Work for an event loop's thread, run with the GIL; it reports its own errors.
type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// The queue of an event loop, shared by everything that delivers to that loop.
pub(crate) type LoopRef = Arc<LoopQueue>;

/// With `n` calls of a loop still waiting for their results, a result is held back until
/// more than `n / HOLD_DIVISOR` results are queued: at 100 requests in flight the loop wakes
/// once per 13 results instead of once per reply; at one in flight it wakes at once.
const HOLD_DIVISOR: usize = 8;
/// The longest a result is held back (the timer's granularity is about a millisecond).
const HOLD_AT_MOST: Duration = Duration::from_micros(500);

/// The shared runtime's settings; installed before its first use.
pub(crate) fn configure_runtime() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    pyo3_async_runtimes::tokio::init(builder);
}

struct Pending {
    jobs: Vec<Job>,
    /// A wake-up byte was written for the queued jobs (the loop will take them all).
    woken: bool,
    /// Results are held back, and a timer will wake the loop.
    held: bool,
}

/// The jobs for one event loop and the socket pair that wakes it up.
pub(crate) struct LoopQueue {
    pending: Mutex<Pending>,
    /// Calls made on the loop whose result has not been queued yet.
    waiting: AtomicUsize,
    /// Written (one byte) when a job lands in an empty queue.
    wake_tx: UnixStream,
    /// Registered with `loop.add_reader`; drained by [`Drain`].
    wake_rx: UnixStream,
}

impl LoopQueue {
    fn new() -> std::io::Result<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(Self {
            pending: Mutex::new(Pending {
                jobs: Vec::new(),
                woken: false,
                held: false,
            }),
            waiting: AtomicUsize::new(0),
            wake_tx,
            wake_rx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` and wakes the loop, unless results are held back (see [`HOLD_DIVISOR`]).
    fn push(self: &Arc<Self>, job: Job) {
        let waiting = self.waiting.load(Relaxed);
        let mut p = self.lock();
        p.jobs.push(job);
        if p.woken {
            return;
        }
        if p.jobs.len() <= waiting / HOLD_DIVISOR {
            if !p.held {
                p.held = true;
                let queue = Arc::clone(self);
                runtime().spawn(async move {
                    tokio::time::sleep(HOLD_AT_MOST).await;
                    queue.wake_held();
                });
            }
            return;
        }
        p.woken = true;
        drop(p);
        self.wake();
    }

    /// The hold-back timer: wakes the loop if its results are still waiting.
    fn wake_held(&self) {
        let mut p = self.lock();
        p.held = false;
        if p.woken || p.jobs.is_empty() {
            return;
        }
        p.woken = true;
        drop(p);
        self.wake();
    }

    fn wake(&self) {
        // A full socket buffer (WouldBlock) means a wake-up is pending already; any other
        // error means the loop's end is gone, and nobody waits for the job.
        let _ = (&self.wake_tx).write(&[1]);
    }

    /// Runs every queued job (on the loop's thread).
    fn drain(&self, py: Python<'_>) {
        // Consume the wake-up bytes before taking the jobs: a job pushed after the take
        // writes a new byte, so it is never left behind without a wake-up.
        let mut buf = [0u8; 64];
        loop {
            match (&self.wake_rx).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        let jobs = {
            let mut p = self.lock();
            p.woken = false;
            std::mem::take(&mut p.jobs)
        };
        DRAINS.fetch_add(1, Relaxed);
        DRAINED.fetch_add(jobs.len() as u64, Relaxed);
        for job in jobs {
            job(py);
        }
    }
}

static DRAINS: AtomicU64 = AtomicU64::new(0);
static DRAINED: AtomicU64 = AtomicU64::new(0);

/// `(wake-ups, jobs)`: how many times event loops ran their queues, and how many jobs
/// (results, events) those runs delivered, since the module was loaded.
#[pyfunction]
pub(crate) fn delivery_stats() -> (u64, u64) {
    (DRAINS.load(Relaxed), DRAINED.load(Relaxed))
}

/// How many requests made on the running loop still wait for their results (the count
/// that decides whether results are held back).
#[pyfunction]
pub(crate) fn waiting_requests(py: Python<'_>) -> PyResult<usize> {
    Ok(running_queue(py)?.waiting.load(Relaxed))
}

/// The `add_reader` callback of a loop's queue.
#[pyclass(module = "aiozk._aiozk", frozen)]
pub(crate) struct Drain {
    queue: LoopRef,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        self.queue.drain(py);
    }
}

/// The queues of the live event loops, by the loop's address. An entry is removed by a
/// `weakref.finalize` on its loop, so an address is never reused while its entry exists.
fn queues() -> &'static Mutex<HashMap<usize, LoopRef>> {
    static QUEUES: OnceLock<Mutex<HashMap<usize, LoopRef>>> = OnceLock::new();
    QUEUES.get_or_init(Default::default)
}

/// Forgets the queue of a loop that was garbage-collected.
#[pyfunction]
pub(crate) fn forget_loop(key: usize) {
    let removed = queues()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    drop(removed);
}

/// The queue of `event_loop`, registered with it on first use.
pub(crate) fn queue_of(event_loop: &Bound<'_, PyAny>) -> PyResult<LoopRef> {
    let py = event_loop.py();
    let key = event_loop.as_ptr() as usize;
    if let Some(q) = queues().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Arc::clone(q));
    }
    let queue = Arc::new(LoopQueue::new()?);
    event_loop.call_method1(
        intern!(py, "add_reader"),
        (
            queue.wake_rx.as_raw_fd(),
            Drain {
                queue: Arc::clone(&queue),
            },
        ),
    )?;
    static FINALIZE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let finalize = FINALIZE.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("weakref")?.getattr("finalize")?.unbind())
    })?;
    let forget = wrap_pyfunction!(forget_loop, py)?;
    finalize.bind(py).call1((event_loop, forget, key))?;
    queues()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, Arc::clone(&queue));
    Ok(queue)
}

/// The queue of the running loop (RuntimeError outside a coroutine, as asyncio).
pub(crate) fn running_queue(py: Python<'_>) -> PyResult<LoopRef> {
    queue_of(&running_loop(py)?)
}

/// Schedules `make`'s callable on the loop of `queue`, after everything pushed before it.
pub(crate) fn call_soon(queue: LoopRef, make: Make) {
    queue.push(Box::new(move |py| match make(py) {
        Ok((callable, args)) => {
            if let Err(e) = callable.call1(py, args.bind(py)) {
                e.write_unraisable(py, Some(callable.bind(py)));
            }
        }
        Err(e) => e.write_unraisable(py, None),
    }));
}

/// The running asyncio loop of this thread (RuntimeError outside a coroutine, as asyncio).
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get = GET.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    get.bind(py).call0()
}

/// The shared tokio runtime.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Converts a successful result to Python.
pub(crate) type Convert<T> = fn(Python<'_>, T) -> PyResult<Py<PyAny>>;

/// An asyncio future (of the running loop) for `fut`, converting its value with `convert`.
/// Cancelling the asyncio future drops the Rust future.
pub(crate) fn spawn<'py, T, F>(
    py: Python<'py>,
    fut: F,
    convert: Convert<T>,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = aiozk::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    spawn_py(py, async move { fut.await.map_err(Failure::Zk) }, convert)
}

/// As [`spawn`], for a request to the server: the call counts as waiting for its result
/// (see [`HOLD_DIVISOR`]). Waits of unbounded length (recipes, iterators) must not count,
/// or they would hold back every other result.
pub(crate) fn spawn_request<'py, T, F>(
    py: Python<'py>,
    fut: F,
    convert: Convert<T>,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = aiozk::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    spawn_inner(
        py,
        async move { fut.await.map_err(Failure::Zk) },
        convert,
        true,
    )
}

/// Why a spawned future failed: a client error, or a Python error built on the Rust side.
pub(crate) enum Failure {
    Zk(aiozk::Error),
    Py(PyErr),
}

impl From<aiozk::Error> for Failure {
    fn from(e: aiozk::Error) -> Self {
        Self::Zk(e)
    }
}

/// As [`spawn`], for futures that may also fail with a Python error.
pub(crate) fn spawn_py<'py, T, F>(
    py: Python<'py>,
    fut: F,
    convert: Convert<T>,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: Send + 'static,
{
    spawn_inner(py, fut, convert, false)
}

fn spawn_inner<'py, T, F>(
    py: Python<'py>,
    fut: F,
    convert: Convert<T>,
    request: bool,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: Send + 'static,
{
    let event_loop = running_loop(py)?;
    let queue = queue_of(&event_loop)?;
    let py_fut = event_loop.call_method0(intern!(py, "create_future"))?;
    let target = py_fut.clone().unbind();
    let waiting = Waiting::new(queue, request);
    let handle = runtime().spawn(async move {
        let result = fut.await;
        let queue = waiting.done();
        queue.push(Box::new(move |py| {
            let outcome = result.and_then(|v| convert(py, v).map_err(Failure::Py));
            if let Err(e) = resolve(target.bind(py), outcome) {
                e.write_unraisable(py, None);
            }
        }));
    });
    py_fut.call_method1(
        intern!(py, "add_done_callback"),
        (Canceller {
            handle: handle.abort_handle(),
        },),
    )?;
    Ok(py_fut)
}

/// Counts a call in [`LoopQueue::waiting`] until its result is ready (or its task is
/// dropped, when the call is cancelled).
/// (`counted` false: it only carries the queue, for calls that do not count.)
struct Waiting {
    queue: LoopRef,
    counted: bool,
}

impl Waiting {
    fn new(queue: LoopRef, counted: bool) -> Self {
        if counted {
            queue.waiting.fetch_add(1, Relaxed);
        }
        Self { queue, counted }
    }

    /// The result is ready: the call no longer counts.
    fn done(mut self) -> LoopRef {
        self.uncount();
        Arc::clone(&self.queue)
    }

    fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.queue.waiting.fetch_sub(1, Relaxed);
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.uncount();
    }
}

/// Completes an asyncio future unless it was cancelled meanwhile.
fn resolve(fut: &Bound<'_, PyAny>, outcome: Result<Py<PyAny>, Failure>) -> PyResult<()> {
    let py = fut.py();
    if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match outcome {
        Ok(v) => fut.call_method1(intern!(py, "set_result"), (v,))?,
        Err(Failure::Zk(e)) => {
            fut.call_method1(intern!(py, "set_exception"), (errors::to_py(py, e),))?
        }
        Err(Failure::Py(e)) => fut.call_method1(intern!(py, "set_exception"), (e,))?,
    };
    Ok(())
}

/// Done-callback of the asyncio future: a cancelled future stops its Rust future.
#[pyclass(module = "aiozk._aiozk", frozen)]
pub(crate) struct Canceller {
    handle: AbortHandle,
}

#[pymethods]
impl Canceller {
    fn __call__(&self, fut: Bound<'_, PyAny>) -> PyResult<()> {
        if fut
            .call_method0(intern!(fut.py(), "cancelled"))?
            .is_truthy()?
        {
            self.handle.abort();
        }
        Ok(())
    }
}
