//! `Counter`: an integer or float counter.

use std::sync::Arc;

use aiozk::Error;
use aiozk_recipes::Counter;
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
