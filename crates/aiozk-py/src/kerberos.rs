//! `aiozk.Kerberos`: SASL GSSAPI settings for `ZKClient(kerberos=...)`, with the counters of
//! its logins. Works when the package is built with the `gssapi` feature; otherwise creating
//! one raises, saying so.

#[cfg(not(feature = "gssapi"))]
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Kerberos (SASL GSSAPI) authentication for `ZKClient(kerberos=...)`.
#[pyclass(module = "aiozk._aiozk", name = "Kerberos", frozen)]
pub(crate) struct PyKerberos {
    #[cfg(feature = "gssapi")]
    pub(crate) gssapi: aiozk::Gssapi,
}

#[pymethods]
impl PyKerberos {
    /// With `keytab` and `principal`: a login of its own, renewed when `renew_at` of its
    /// ticket's lifetime has passed (unless `renew` is false). Otherwise the tickets of the
    /// ticket cache (`ccache`, or the default one), for `principal` if given.
    #[new]
    #[pyo3(signature = (*, keytab=None, principal=None, ccache=None, service=None,
        server_principal=None, renew_at=0.8, renew=true))]
    #[allow(clippy::too_many_arguments, unused_variables)]
    fn new(
        keytab: Option<String>,
        principal: Option<String>,
        ccache: Option<String>,
        service: Option<String>,
        server_principal: Option<String>,
        renew_at: f64,
        renew: bool,
    ) -> PyResult<Self> {
        #[cfg(feature = "gssapi")]
        {
            let mut gss = match (keytab, principal) {
                (Some(keytab), Some(principal)) => {
                    if ccache.is_some() {
                        return Err(pyo3::exceptions::PyValueError::new_err(
                            "a keytab login has its own ticket cache: give keytab or ccache",
                        ));
                    }
                    aiozk::Gssapi::keytab(principal, keytab)
                }
                (Some(_), None) => {
                    return Err(pyo3::exceptions::PyValueError::new_err(
                        "a keytab needs the principal to log in as",
                    ))
                }
                (None, principal) => {
                    let mut gss = aiozk::Gssapi::ticket_cache();
                    if let Some(p) = principal {
                        gss = gss.principal(p);
                    }
                    if let Some(c) = ccache {
                        gss = gss.ccache(c);
                    }
                    gss
                }
            };
            if let Some(s) = service {
                gss = gss.service(s);
            }
            if let Some(p) = server_principal {
                gss = gss.server_principal(p);
            }
            Ok(Self {
                gssapi: gss.renew_at(renew_at).renew(renew),
            })
        }
        #[cfg(not(feature = "gssapi"))]
        Err(PyRuntimeError::new_err(
            "this build of aiozk has no Kerberos support (build it with the `gssapi` feature)",
        ))
    }

    /// The counters: `renewals`, `renewal_failures`, `authentications`, `failures`,
    /// `principal` and `ticket_valid_for` (seconds, or None).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        #[cfg(feature = "gssapi")]
        {
            let s = self.gssapi.stats();
            d.set_item("renewals", s.renewals)?;
            d.set_item("renewal_failures", s.renewal_failures)?;
            d.set_item("authentications", s.authentications)?;
            d.set_item("failures", s.failures)?;
            d.set_item("principal", s.principal)?;
            d.set_item(
                "ticket_valid_for",
                s.ticket_valid_for.map(|t| t.as_secs_f64()),
            )?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        #[cfg(feature = "gssapi")]
        return format!("{:?}", self.gssapi);
        #[cfg(not(feature = "gssapi"))]
        String::from("Kerberos(<unsupported>)")
    }
}

/// `builder` authenticating with `kerberos`.
pub(crate) fn apply(
    builder: aiozk::ClientBuilder,
    kerberos: &PyKerberos,
) -> PyResult<aiozk::ClientBuilder> {
    #[cfg(feature = "gssapi")]
    return Ok(builder.sasl_gssapi(kerberos.gssapi.clone()));
    #[cfg(not(feature = "gssapi"))]
    {
        let _ = (builder, kerberos);
        Err(PyRuntimeError::new_err(
            "this build of aiozk has no Kerberos support",
        ))
    }
}
