//! From tokio to asyncio: awaitables for Rust futures, and callbacks on the caller's loop.
//!
//! Everything that has to reach Python (a call's result, a watch event, a state change) is
//! sent to one dispatcher thread. It takes the GIL once for everything that is waiting,
//! builds the Python values, and schedules them on each event loop with a single
//! `call_soon_threadsafe(run_batch, [...])`. One thread keeps the order in which the Rust
//! side produced them; batching keeps the cost per result low under load; and no tokio
//! worker ever waits for the GIL (so the sessions' pings never do).

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyTuple};
use tokio::task::AbortHandle;

use crate::errors;

/// Builds, with the GIL held, the callable and arguments to run on an event loop.
type Make = Box<dyn FnOnce(Python<'_>) -> PyResult<(Py<PyAny>, Py<PyTuple>)> + Send>;

/// An event loop, shared by the jobs for it without taking the GIL to clone it.
pub(crate) type LoopRef = Arc<Py<PyAny>>;

struct Job {
    event_loop: LoopRef,
    make: Make,
}

fn sender() -> &'static mpsc::Sender<Job> {
    static SENDER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("aiozk-dispatch".into())
            .spawn(move || dispatch_loop(rx))
            .expect("the dispatcher thread could not be started");
        tx
    })
}

fn dispatch_loop(rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            jobs.push(job);
            if jobs.len() >= 4096 {
                break;
            }
        }
        Python::attach(|py| {
            // Group by loop, keeping the order within each loop.
            let mut groups: Vec<(LoopRef, Vec<Py<PyAny>>)> = Vec::new();
            for job in jobs {
                let item = match (job.make)(py) {
                    Ok((callable, args)) => match PyTuple::new(py, [callable, args.into_any()]) {
                        Ok(t) => t.into_any().unbind(),
                        Err(e) => {
                            e.write_unraisable(py, None);
                            continue;
                        }
                    },
                    Err(e) => {
                        e.write_unraisable(py, None);
                        continue;
                    }
                };
                match groups
                    .iter_mut()
                    .find(|(l, _)| l.as_ptr() == job.event_loop.as_ptr())
                {
                    Some((_, items)) => items.push(item),
                    None => groups.push((job.event_loop, vec![item])),
                }
            }
            let run = match run_batch_fn(py) {
                Ok(f) => f,
                Err(e) => {
                    e.write_unraisable(py, None);
                    return;
                }
            };
            for (event_loop, items) in groups {
                let Ok(list) = PyList::new(py, items) else {
                    continue;
                };
                // A closed loop refuses (RuntimeError): its callers are gone, nothing to do.
                let _ =
                    event_loop.call_method1(py, "call_soon_threadsafe", (run.clone_ref(py), list));
            }
        });
    }
}

fn run_batch_fn(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static RUN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RUN.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("aiozk._aiozk")?.getattr("run_batch")?.unbind())
    })
    .map(|f| f.clone_ref(py))
}

/// Runs a batch on the event loop: each item is `(callable, args)`.
#[pyfunction]
pub(crate) fn run_batch(py: Python<'_>, items: Bound<'_, PyList>) {
    for item in items.iter() {
        let run = || -> PyResult<()> {
            let (callable, args): (Bound<'_, PyAny>, Bound<'_, PyTuple>) = item.extract()?;
            callable.call1(args)?;
            Ok(())
        };
        if let Err(e) = run() {
            e.write_unraisable(py, Some(&item));
        }
    }
}

/// Schedules `make`'s callable on `event_loop`, after everything sent before it.
pub(crate) fn call_soon(event_loop: LoopRef, make: Make) {
    // The receiver lives as long as the process (its thread never ends).
    let _ = sender().send(Job { event_loop, make });
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
    let event_loop = running_loop(py)?;
    let py_fut = event_loop.call_method0("create_future")?;
    let target = py_fut.clone().unbind();
    let loop_ref = Arc::new(event_loop.unbind());
    let handle = runtime().spawn(async move {
        let result = fut.await;
        call_soon(
            loop_ref,
            Box::new(move |py| {
                let (ok, value) = match result.and_then(|v| convert(py, v).map_err(Failure::Py)) {
                    Ok(v) => (true, v),
                    Err(Failure::Zk(e)) => (false, errors::to_py(py, e).into_value(py).into_any()),
                    Err(Failure::Py(e)) => (false, e.into_value(py).into_any()),
                };
                let args = PyTuple::new(
                    py,
                    [
                        target,
                        ok.into_pyobject(py)?.to_owned().into_any().unbind(),
                        value,
                    ],
                )?;
                Ok((resolve_fn(py)?, args.unbind()))
            }),
        );
    });
    py_fut.call_method1(
        "add_done_callback",
        (Canceller {
            handle: handle.abort_handle(),
        },),
    )?;
    Ok(py_fut)
}

fn resolve_fn(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RESOLVE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(wrap_pyfunction!(resolve, py)?.into_any().unbind())
        })
        .map(|f| f.clone_ref(py))
}

/// Completes an asyncio future unless it was cancelled meanwhile.
#[pyfunction]
fn resolve(fut: Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if fut.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        fut.call_method1("set_result", (value,))?;
    } else {
        fut.call_method1("set_exception", (value,))?;
    }
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
        if fut.call_method0("cancelled")?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}
