//! `Counter`: an integer or float counter.

use std::sync::Arc;

use aiozk::Error;
use aiozk_recipes::{Counter, Int32Be, Int64Be};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::bridge::spawn;
use crate::client::PyClient;

enum AnyCounter {
    Int(Counter<i64>),
    Float(Counter<f64>),
}

/// `aiozk_recipes::Counter` of integers or floats (after the type of the default).
#[pyclass(module = "aiozk._aiozk", name = "Counter", frozen)]
pub(crate) struct PyCounter {
    counter: Arc<AnyCounter>,
}

#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

fn number(py: Python<'_>, n: Number) -> PyResult<Py<PyAny>> {
    Ok(match n {
        Number::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Number::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
    })
}

impl PyCounter {
    fn run<'py, FI, FF, OI, OF>(
        &self,
        py: Python<'py>,
        int: FI,
        float: FF,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        FI: FnOnce(Arc<AnyCounter>) -> OI,
        FF: FnOnce(Arc<AnyCounter>) -> OF,
        OI: std::future::Future<Output = aiozk::Result<i64>> + Send + 'static,
        OF: std::future::Future<Output = aiozk::Result<f64>> + Send + 'static,
    {
        let c = Arc::clone(&self.counter);
        match &*self.counter {
            AnyCounter::Int(_) => {
                let fut = int(c);
                spawn(py, async move { fut.await.map(Number::Int) }, number)
            }
            AnyCounter::Float(_) => {
                let fut = float(c);
                spawn(py, async move { fut.await.map(Number::Float) }, number)
            }
        }
    }
}

macro_rules! counter_op {
    ($c:ident, $i:ident => $ie:expr, $f:ident => $fe:expr) => {
        (
            |c: Arc<AnyCounter>| async move {
                match &*c {
                    AnyCounter::Int($i) => $ie.await,
                    AnyCounter::Float(_) => {
                        Err(Error::InvalidArgument("not an integer counter".into()))
                    }
                }
            },
            |c: Arc<AnyCounter>| async move {
                match &*c {
                    AnyCounter::Float($f) => $fe.await,
                    AnyCounter::Int(_) => Err(Error::InvalidArgument("not a float counter".into())),
                }
            },
        )
    };
}

#[pymethods]
impl PyCounter {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, default: Bound<'_, PyAny>) -> PyResult<Self> {
        let path = client.path(path);
        let counter = if default.is_instance_of::<pyo3::types::PyFloat>() {
            AnyCounter::Float(Counter::new(&client.client, &path, default.extract()?))
        } else if default.is_instance_of::<pyo3::types::PyInt>() {
            AnyCounter::Int(Counter::new(&client.client, &path, default.extract()?))
        } else {
            return Err(PyTypeError::new_err(
                "a counter's default must be an int or a float",
            ));
        };
        Ok(Self {
            counter: Arc::new(counter),
        })
    }

    /// The value last read or written (None before the first).
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &*self.counter {
            AnyCounter::Int(c) => c
                .value()
                .map_or(Ok(py.None()), |v| number(py, Number::Int(v))),
            AnyCounter::Float(c) => c
                .value()
                .map_or(Ok(py.None()), |v| number(py, Number::Float(v))),
        }
    }

    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.start(), c => c.start());
        self.run(py, i, f)
    }

    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.get(), c => c.get());
        self.run(py, i, f)
    }

    fn set<'py>(&self, py: Python<'py>, value: f64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => async { c.set(value as i64).await.map(|()| value as i64) }, c => async { c.set(value).await.map(|()| value) });
        self.run(py, i, f)
    }

    fn set_int<'py>(&self, py: Python<'py>, value: i64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => async { c.set(value).await.map(|()| value) }, c => async { c.set(value as f64).await.map(|()| value as f64) });
        self.run(py, i, f)
    }

    fn incr<'py>(&self, py: Python<'py>, by: f64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.incr(by as i64), c => c.incr(by));
        self.run(py, i, f)
    }

    fn decr<'py>(&self, py: Python<'py>, by: f64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.decr(by as i64), c => c.decr(by));
        self.run(py, i, f)
    }
}

/// A counter in Curator's binary layouts: 4 big-endian bytes (`SharedCount`, kazoo's
/// `support_curator`) or 8 (`DistributedAtomicLong`).
enum Binary {
    Int32(Counter<Int32Be>),
    Int64(Counter<Int64Be>),
}

/// `aiozk_recipes::Counter` of `Int32Be` or `Int64Be` values, as Python ints.
#[pyclass(module = "aiozk._aiozk", name = "BinaryCounter", frozen)]
pub(crate) struct PyBinaryCounter {
    counter: Arc<Binary>,
}

fn int(py: Python<'_>, v: i64) -> PyResult<Py<PyAny>> {
    Ok(v.into_pyobject(py)?.into_any().unbind())
}

/// `v` as a 32-bit value (`OverflowError` beyond).
fn narrow(v: i64) -> PyResult<i32> {
    i32::try_from(v).map_err(|_| {
        pyo3::exceptions::PyOverflowError::new_err(format!("{v} does not fit in 4 bytes"))
    })
}

impl PyBinaryCounter {
    /// `by` for a 4-byte counter (which needs it to fit), unused by an 8-byte one.
    fn step(&self, by: i64) -> PyResult<Int32Be> {
        match &*self.counter {
            Binary::Int32(_) => Ok(Int32Be(narrow(by)?)),
            Binary::Int64(_) => Ok(Int32Be(0)),
        }
    }

    fn run<'py, F32, F64, O32, O64>(
        &self,
        py: Python<'py>,
        int32: F32,
        int64: F64,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F32: FnOnce(Arc<Binary>) -> O32,
        F64: FnOnce(Arc<Binary>) -> O64,
        O32: std::future::Future<Output = aiozk::Result<Int32Be>> + Send + 'static,
        O64: std::future::Future<Output = aiozk::Result<Int64Be>> + Send + 'static,
    {
        let c = Arc::clone(&self.counter);
        match &*self.counter {
            Binary::Int32(_) => {
                let fut = int32(c);
                spawn(py, async move { fut.await.map(|v| i64::from(v.0)) }, int)
            }
            Binary::Int64(_) => {
                let fut = int64(c);
                spawn(py, async move { fut.await.map(|v| v.0) }, int)
            }
        }
    }
}

macro_rules! binary_op {
    ($c32:ident => $e32:expr, $c64:ident => $e64:expr) => {
        (
            |c: Arc<Binary>| async move {
                match &*c {
                    Binary::Int32($c32) => $e32.await,
                    Binary::Int64(_) => Err(Error::InvalidArgument("not a 4-byte counter".into())),
                }
            },
            |c: Arc<Binary>| async move {
                match &*c {
                    Binary::Int64($c64) => $e64.await,
                    Binary::Int32(_) => Err(Error::InvalidArgument("not an 8-byte counter".into())),
                }
            },
        )
    };
}

#[pymethods]
impl PyBinaryCounter {
    /// `width`: 4 or 8 bytes.
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, default: i64, width: u8) -> PyResult<Self> {
        let path = client.path(path);
        let counter = match width {
            4 => Binary::Int32(Counter::new(
                &client.client,
                &path,
                Int32Be(narrow(default)?),
            )),
            8 => Binary::Int64(Counter::new(&client.client, &path, Int64Be(default))),
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "a binary counter is 4 or 8 bytes wide",
                ))
            }
        };
        Ok(Self {
            counter: Arc::new(counter),
        })
    }

    /// The value last read or written (None before the first).
    #[getter]
    fn value(&self) -> Option<i64> {
        match &*self.counter {
            Binary::Int32(c) => c.value().map(|v| i64::from(v.0)),
            Binary::Int64(c) => c.value().map(|v| v.0),
        }
    }

    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (a, b) = binary_op!(c => c.start(), c => c.start());
        self.run(py, a, b)
    }

    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (a, b) = binary_op!(c => c.get(), c => c.get());
        self.run(py, a, b)
    }

    fn set_int<'py>(&self, py: Python<'py>, value: i64) -> PyResult<Bound<'py, PyAny>> {
        // Only a 4-byte counter needs the value to fit in 4 bytes.
        let small = match &*self.counter {
            Binary::Int32(_) => Int32Be(narrow(value)?),
            Binary::Int64(_) => Int32Be(0),
        };
        let (a, b) = binary_op!(
            c => async { c.set(small).await.map(|()| small) },
            c => async { c.set(Int64Be(value)).await.map(|()| Int64Be(value)) }
        );
        self.run(py, a, b)
    }

    fn incr<'py>(&self, py: Python<'py>, by: i64) -> PyResult<Bound<'py, PyAny>> {
        let small = self.step(by)?;
        let (a, b) = binary_op!(c => c.incr(small), c => c.incr(Int64Be(by)));
        self.run(py, a, b)
    }

    fn decr<'py>(&self, py: Python<'py>, by: i64) -> PyResult<Bound<'py, PyAny>> {
        let small = self.step(by)?;
        let (a, b) = binary_op!(c => c.decr(small), c => c.decr(Int64Be(by)));
        self.run(py, a, b)
    }
}
