//! The part of the GSS-API (RFC 2744) and of MIT Kerberos that the client uses, declared by
//! hand (no generated bindings), with owning wrappers that release what the library allocated.
//!
//! Every handle here is used by one thread at a time (an exchange moves between the driver and
//! a blocking thread, never shared), except credentials, which MIT's library guards with a
//! lock of its own: it documents them as usable from several threads.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

type OM_uint32 = u32;

#[repr(C)]
struct gss_buffer_desc {
    length: usize,
    value: *mut c_void,
}

#[repr(C)]
struct gss_OID_desc {
    length: OM_uint32,
    elements: *mut c_void,
}

#[repr(C)]
struct gss_OID_set_desc {
    count: usize,
    elements: *mut gss_OID_desc,
}

#[repr(C)]
struct gss_key_value_element_desc {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct gss_key_value_set_desc {
    count: OM_uint32,
    elements: *mut gss_key_value_element_desc,
}

type gss_name_t = *mut c_void;
type gss_cred_id_t = *mut c_void;
type gss_ctx_id_t = *mut c_void;
type krb5_context = *mut c_void;
type krb5_ccache = *mut c_void;

const GSS_C_INDEFINITE: OM_uint32 = 0xffff_ffff;
const GSS_C_INITIATE: c_int = 1;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_C_MUTUAL_FLAG: OM_uint32 = 2;
const GSS_C_CONF_FLAG: OM_uint32 = 16;
const GSS_C_INTEG_FLAG: OM_uint32 = 32;
const GSS_S_COMPLETE: OM_uint32 = 0;
const GSS_S_CONTINUE_NEEDED: OM_uint32 = 1;

#[link(name = "gssapi_krb5")]
extern "C" {
    fn gss_import_name(
        minor: *mut OM_uint32,
        input: *mut gss_buffer_desc,
        name_type: *mut gss_OID_desc,
        output: *mut gss_name_t,
    ) -> OM_uint32;
    fn gss_release_name(minor: *mut OM_uint32, name: *mut gss_name_t) -> OM_uint32;
    fn gss_display_name(
        minor: *mut OM_uint32,
        name: gss_name_t,
        output: *mut gss_buffer_desc,
        name_type: *mut *mut gss_OID_desc,
    ) -> OM_uint32;
    fn gss_acquire_cred_from(
        minor: *mut OM_uint32,
        desired_name: gss_name_t,
        time_req: OM_uint32,
        desired_mechs: *mut gss_OID_set_desc,
        cred_usage: c_int,
        cred_store: *const gss_key_value_set_desc,
        output_cred: *mut gss_cred_id_t,
        actual_mechs: *mut *mut gss_OID_set_desc,
        time_rec: *mut OM_uint32,
    ) -> OM_uint32;
    fn gss_inquire_cred(
        minor: *mut OM_uint32,
        cred: gss_cred_id_t,
        name: *mut gss_name_t,
        lifetime: *mut OM_uint32,
        cred_usage: *mut c_int,
        mechanisms: *mut *mut gss_OID_set_desc,
    ) -> OM_uint32;
    fn gss_release_cred(minor: *mut OM_uint32, cred: *mut gss_cred_id_t) -> OM_uint32;
    fn gss_init_sec_context(
        minor: *mut OM_uint32,
        cred: gss_cred_id_t,
        context: *mut gss_ctx_id_t,
        target: gss_name_t,
        mech: *mut gss_OID_desc,
        req_flags: OM_uint32,
        time_req: OM_uint32,
        channel_bindings: *mut c_void,
        input: *mut gss_buffer_desc,
        actual_mech: *mut *mut gss_OID_desc,
        output: *mut gss_buffer_desc,
        ret_flags: *mut OM_uint32,
        time_rec: *mut OM_uint32,
    ) -> OM_uint32;
    fn gss_delete_sec_context(
        minor: *mut OM_uint32,
        context: *mut gss_ctx_id_t,
        output: *mut gss_buffer_desc,
    ) -> OM_uint32;
    fn gss_wrap(
        minor: *mut OM_uint32,
        context: gss_ctx_id_t,
        conf_req: c_int,
        qop: OM_uint32,
        input: *mut gss_buffer_desc,
        conf_state: *mut c_int,
        output: *mut gss_buffer_desc,
    ) -> OM_uint32;
    fn gss_unwrap(
        minor: *mut OM_uint32,
        context: gss_ctx_id_t,
        input: *mut gss_buffer_desc,
        output: *mut gss_buffer_desc,
        conf_state: *mut c_int,
        qop_state: *mut OM_uint32,
    ) -> OM_uint32;
    fn gss_release_buffer(minor: *mut OM_uint32, buffer: *mut gss_buffer_desc) -> OM_uint32;
    fn gss_display_status(
        minor: *mut OM_uint32,
        status: OM_uint32,
        status_type: c_int,
        mech: *mut gss_OID_desc,
        message_context: *mut OM_uint32,
        output: *mut gss_buffer_desc,
    ) -> OM_uint32;
}

type krb5_principal = *mut c_void;

/// Room for a `krb5_creds`, which this module never reads: the library fills it and frees
/// what it points to. MIT's is 120 bytes, aligned to 8, on 64-bit Linux; four times that
/// leaves room for any field a later release adds.
#[repr(C, align(16))]
struct CredsRoom([u8; 512]);

#[link(name = "krb5")]
extern "C" {
    fn krb5_init_context(context: *mut krb5_context) -> i32;
    fn krb5_free_context(context: krb5_context);
    fn krb5_cc_resolve(context: krb5_context, name: *const c_char, cache: *mut krb5_ccache) -> i32;
    fn krb5_cc_default(context: krb5_context, cache: *mut krb5_ccache) -> i32;
    fn krb5_cc_destroy(context: krb5_context, cache: krb5_ccache) -> i32;
    fn krb5_cc_close(context: krb5_context, cache: krb5_ccache) -> i32;
    fn krb5_cc_get_type(context: krb5_context, cache: krb5_ccache) -> *const c_char;
    fn krb5_cc_get_principal(
        context: krb5_context,
        cache: krb5_ccache,
        principal: *mut krb5_principal,
    ) -> i32;
    fn krb5_cc_new_unique(
        context: krb5_context,
        kind: *const c_char,
        hint: *const c_char,
        cache: *mut krb5_ccache,
    ) -> i32;
    fn krb5_cc_initialize(
        context: krb5_context,
        cache: krb5_ccache,
        principal: krb5_principal,
    ) -> i32;
    fn krb5_cc_store_cred(context: krb5_context, cache: krb5_ccache, creds: *mut CredsRoom) -> i32;
    fn krb5_cc_move(context: krb5_context, src: krb5_ccache, dst: krb5_ccache) -> i32;
    fn krb5_get_renewed_creds(
        context: krb5_context,
        creds: *mut CredsRoom,
        client: krb5_principal,
        cache: krb5_ccache,
        service: *const c_char,
    ) -> i32;
    fn krb5_free_cred_contents(context: krb5_context, creds: *mut CredsRoom);
    fn krb5_free_principal(context: krb5_context, principal: krb5_principal);
    fn krb5_get_error_message(context: krb5_context, code: i32) -> *const c_char;
    fn krb5_free_error_message(context: krb5_context, message: *const c_char);
}

/// The Kerberos 5 mechanism, 1.2.840.113554.1.2.2.
const MECH_KRB5: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// Name type `service@host`, 1.2.840.113554.1.2.1.4.
const NT_HOSTBASED_SERVICE: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04";
/// Name type of a Kerberos principal (`primary/instance@REALM`), 1.2.840.113554.1.2.2.1.
const NT_KRB5_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

/// An OID descriptor for constant bytes. The library only reads it.
fn oid(bytes: &'static [u8]) -> gss_OID_desc {
    gss_OID_desc {
        length: bytes.len() as OM_uint32,
        elements: bytes.as_ptr() as *mut c_void,
    }
}

/// A buffer descriptor that lends `bytes` to the library, which only reads it.
fn lend(bytes: &[u8]) -> gss_buffer_desc {
    gss_buffer_desc {
        length: bytes.len(),
        value: bytes.as_ptr() as *mut c_void,
    }
}

fn empty_buffer() -> gss_buffer_desc {
    gss_buffer_desc {
        length: 0,
        value: ptr::null_mut(),
    }
}

/// Copies a buffer the library allocated and releases it.
fn take(mut buffer: gss_buffer_desc) -> Vec<u8> {
    let out = if buffer.value.is_null() || buffer.length == 0 {
        Vec::new()
    } else {
        // SAFETY: the library returned `length` readable bytes at `value`.
        unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length).to_vec() }
    };
    let mut minor = 0;
    // SAFETY: the buffer was allocated by the library (or is empty, which it accepts).
    unsafe { gss_release_buffer(&mut minor, &mut buffer) };
    out
}

/// The library's text for a major status and its mechanism's minor status.
fn describe(what: &str, major: OM_uint32, minor: OM_uint32) -> String {
    let mut parts = Vec::new();
    for (status, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
        if status == 0 {
            continue;
        }
        let mut context = 0;
        let mut krb5 = oid(MECH_KRB5);
        // At most a few messages per status; the bound guards against a library that never
        // clears the context.
        for _ in 0..8 {
            let mut inner = 0;
            let mut text = empty_buffer();
            // SAFETY: all pointers are valid for the call; `text` is released by `take`.
            let rc = unsafe {
                gss_display_status(&mut inner, status, kind, &mut krb5, &mut context, &mut text)
            };
            if rc != GSS_S_COMPLETE {
                break;
            }
            let line = String::from_utf8_lossy(&take(text)).into_owned();
            if !line.is_empty() {
                parts.push(line);
            }
            if context == 0 {
                break;
            }
        }
    }
    if parts.is_empty() {
        format!("{what}: GSS-API status {major:#x}/{minor}")
    } else {
        format!("{what}: {}", parts.join("; "))
    }
}

fn failed(major: OM_uint32) -> bool {
    // The routine and calling errors sit in the upper 16 bits; the lower ones are
    // informational (continue needed, duplicate token, ...).
    major & 0xffff_0000 != 0
}

/// A name the library imported.
pub(crate) struct Name(gss_name_t);

impl Name {
    /// `service@host`, the form of a server's principal (`service/host@REALM` after the
    /// realm of `host` is found).
    pub(crate) fn host_based(service: &str, host: &str) -> Result<Self, String> {
        Self::import(&format!("{service}@{host}"), NT_HOSTBASED_SERVICE)
    }

    /// A whole principal, `primary/instance@REALM`.
    pub(crate) fn principal(principal: &str) -> Result<Self, String> {
        Self::import(principal, NT_KRB5_PRINCIPAL)
    }

    fn import(text: &str, name_type: &'static [u8]) -> Result<Self, String> {
        let mut buffer = lend(text.as_bytes());
        let mut kind = oid(name_type);
        let mut name = ptr::null_mut();
        let mut minor = 0;
        // SAFETY: the buffer and OID point at live bytes the library only reads.
        let major = unsafe { gss_import_name(&mut minor, &mut buffer, &mut kind, &mut name) };
        if failed(major) {
            return Err(describe(&format!("the name {text:?}"), major, minor));
        }
        Ok(Self(name))
    }

    /// The name as text.
    pub(crate) fn display(&self) -> String {
        let mut out = empty_buffer();
        let mut minor = 0;
        // SAFETY: `self.0` is a live name; `out` is released by `take`.
        let major = unsafe { gss_display_name(&mut minor, self.0, &mut out, ptr::null_mut()) };
        if failed(major) {
            return String::from("?");
        }
        String::from_utf8_lossy(&take(out)).into_owned()
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the name came from the library and is released once.
        unsafe { gss_release_name(&mut minor, &mut self.0) };
    }
}

// SAFETY: a name is immutable once imported; the library does not tie it to a thread.
unsafe impl Send for Name {}

/// Initiator credentials.
pub(crate) struct Cred(gss_cred_id_t);

// SAFETY: MIT's credential handles carry their own lock and may be used from any thread.
unsafe impl Send for Cred {}
// SAFETY: as above: concurrent use is guarded inside the library.
unsafe impl Sync for Cred {}

impl Cred {
    /// Initiator credentials from a credential store: `client_keytab`, `ccache`, ... (MIT's
    /// `gss_acquire_cred_from`), for `principal` or the store's default one.
    pub(crate) fn acquire(
        principal: Option<&Name>,
        store: &[(&str, &str)],
    ) -> Result<Self, String> {
        let owned: Vec<(CString, CString)> = store
            .iter()
            .map(|(k, v)| {
                Ok((
                    CString::new(*k).map_err(|_| format!("NUL in {k:?}"))?,
                    CString::new(*v).map_err(|_| format!("NUL in the value of {k}"))?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let mut elements: Vec<gss_key_value_element_desc> = owned
            .iter()
            .map(|(k, v)| gss_key_value_element_desc {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let set = gss_key_value_set_desc {
            count: elements.len() as OM_uint32,
            elements: elements.as_mut_ptr(),
        };
        let mut mech = oid(MECH_KRB5);
        let mut mechs = gss_OID_set_desc {
            count: 1,
            elements: &mut mech,
        };
        let mut cred = ptr::null_mut();
        let mut minor = 0;
        // SAFETY: every pointer refers to data that outlives the call; the library copies
        // what it keeps.
        let major = unsafe {
            gss_acquire_cred_from(
                &mut minor,
                principal.map_or(ptr::null_mut(), |n| n.0),
                GSS_C_INDEFINITE,
                &mut mechs,
                GSS_C_INITIATE,
                &set,
                &mut cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if failed(major) {
            return Err(describe("acquiring Kerberos credentials", major, minor));
        }
        Ok(Self(cred))
    }

    /// The principal and the seconds the credentials stay valid. With a client keytab in
    /// the store this is when the library fetches the ticket-granting ticket.
    pub(crate) fn inquire(&self) -> Result<(String, u32), String> {
        let mut name = ptr::null_mut();
        let mut lifetime = 0;
        let mut minor = 0;
        // SAFETY: `self.0` is a live credential; the name returned is released below.
        let major = unsafe {
            gss_inquire_cred(
                &mut minor,
                self.0,
                &mut name,
                &mut lifetime,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if failed(major) {
            return Err(describe("reading the Kerberos credentials", major, minor));
        }
        let name = Name(name).display();
        Ok((name, lifetime))
    }
}

impl Drop for Cred {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the credential came from the library and is released once.
        unsafe { gss_release_cred(&mut minor, &mut self.0) };
    }
}

/// A security context being established with a server, then used to wrap and unwrap.
pub(crate) struct Context {
    handle: gss_ctx_id_t,
    target: Name,
}

// SAFETY: a context is used by one thread at a time (it moves with its exchange).
unsafe impl Send for Context {}

/// What one call of `gss_init_sec_context` gave.
pub(crate) struct Init {
    /// The token for the server (may be empty).
    pub(crate) token: Vec<u8>,
    /// The context is established.
    pub(crate) complete: bool,
}

impl Context {
    pub(crate) fn new(target: Name) -> Self {
        Self {
            handle: ptr::null_mut(),
            target,
        }
    }

    /// The next step of establishing the context (mutual authentication, integrity and
    /// confidentiality requested, as SASL GSSAPI clients do).
    pub(crate) fn init(&mut self, cred: &Cred, input: Option<&[u8]>) -> Result<Init, String> {
        let mut input_buf = input.map(lend);
        let mut mech = oid(MECH_KRB5);
        let mut output = empty_buffer();
        let mut minor = 0;
        // SAFETY: pointers refer to live data for the call; `output` is released by `take`.
        let major = unsafe {
            gss_init_sec_context(
                &mut minor,
                cred.0,
                &mut self.handle,
                self.target.0,
                &mut mech,
                GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG,
                0,
                ptr::null_mut(),
                input_buf.as_mut().map_or(ptr::null_mut(), |b| b as *mut _),
                ptr::null_mut(),
                &mut output,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let token = take(output);
        if failed(major) {
            return Err(describe(
                &format!("authenticating to {}", self.target.display()),
                major,
                minor,
            ));
        }
        Ok(Init {
            token,
            complete: major & GSS_S_CONTINUE_NEEDED == 0,
        })
    }

    /// Integrity-protects `message` (no encryption).
    pub(crate) fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut input = lend(message);
        let mut output = empty_buffer();
        let mut minor = 0;
        // SAFETY: live pointers; `output` is released by `take`.
        let major = unsafe {
            gss_wrap(
                &mut minor,
                self.handle,
                0,
                0,
                &mut input,
                ptr::null_mut(),
                &mut output,
            )
        };
        let out = take(output);
        if failed(major) {
            return Err(describe("wrapping the SASL answer", major, minor));
        }
        Ok(out)
    }

    /// Checks and unwraps a server message.
    pub(crate) fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut input = lend(message);
        let mut output = empty_buffer();
        let mut minor = 0;
        // SAFETY: live pointers; `output` is released by `take`.
        let major = unsafe {
            gss_unwrap(
                &mut minor,
                self.handle,
                &mut input,
                &mut output,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let out = take(output);
        if failed(major) {
            return Err(describe(
                "unwrapping the server's SASL message",
                major,
                minor,
            ));
        }
        Ok(out)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            let mut minor = 0;
            // SAFETY: the context came from the library and is deleted once.
            unsafe { gss_delete_sec_context(&mut minor, &mut self.handle, ptr::null_mut()) };
        }
    }
}

/// Destroys the credential cache `name` (`MEMORY:...`): the tickets of a replaced
/// credential. Failures are ignored: the cache may already be gone.
pub(crate) fn destroy_cache(name: &str) {
    let Ok(name) = CString::new(name) else {
        return;
    };
    let mut context = ptr::null_mut();
    // SAFETY: `context` receives a new library context, freed below.
    if unsafe { krb5_init_context(&mut context) } != 0 {
        return;
    }
    let mut cache = ptr::null_mut();
    // SAFETY: live context and name; a resolved cache is consumed by `krb5_cc_destroy`.
    unsafe {
        if krb5_cc_resolve(context, name.as_ptr(), &mut cache) == 0 {
            krb5_cc_destroy(context, cache);
        }
        krb5_free_context(context);
    }
}

/// A krb5 library context, freed on drop.
struct Krb5(krb5_context);

impl Krb5 {
    fn new() -> Result<Self, String> {
        let mut context = ptr::null_mut();
        // SAFETY: `context` receives a new library context, freed by `Drop`.
        match unsafe { krb5_init_context(&mut context) } {
            0 => Ok(Self(context)),
            code => Err(format!("cannot start the Kerberos library (error {code})")),
        }
    }

    /// `what` failed with `code`: the library's message for it.
    fn error(&self, what: &str, code: i32) -> String {
        // SAFETY: a live context; the message is copied, then freed as the library asks.
        unsafe {
            let text = krb5_get_error_message(self.0, code);
            if text.is_null() {
                return format!("{what}: Kerberos error {code}");
            }
            let out = std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned();
            krb5_free_error_message(self.0, text);
            format!("{what}: {out}")
        }
    }
}

impl Drop for Krb5 {
    fn drop(&mut self) {
        // SAFETY: the context came from `krb5_init_context` and is freed once.
        unsafe { krb5_free_context(self.0) };
    }
}

/// Renews the ticket-granting ticket of the ticket cache `name` (the default cache when
/// `None`), as `kinit -R` does: the renewed ticket is stored in a new cache of the same
/// type that then replaces the old one whole (a rename for files), so a connection
/// authenticating meanwhile reads either the old cache or the new one.
///
/// Fails when the ticket is not renewable or past its renewable lifetime.
pub(crate) fn renew_ticket_cache(name: Option<&str>) -> Result<(), String> {
    let krb5 = Krb5::new()?;
    let name = name
        .map(|n| CString::new(n).map_err(|_| "NUL in the cache name".to_owned()))
        .transpose()?;
    let mut cache = ptr::null_mut();
    // SAFETY: live context and name; the cache handle is closed below.
    let code = unsafe {
        match &name {
            Some(n) => krb5_cc_resolve(krb5.0, n.as_ptr(), &mut cache),
            None => krb5_cc_default(krb5.0, &mut cache),
        }
    };
    if code != 0 {
        return Err(krb5.error("opening the ticket cache", code));
    }
    let result = renew_into(&krb5, cache);
    // SAFETY: the cache handle is live and closed once.
    unsafe { krb5_cc_close(krb5.0, cache) };
    result
}

fn renew_into(krb5: &Krb5, cache: krb5_ccache) -> Result<(), String> {
    let mut principal = ptr::null_mut();
    // SAFETY: live context and cache; the principal is freed below.
    let code = unsafe { krb5_cc_get_principal(krb5.0, cache, &mut principal) };
    if code != 0 {
        return Err(krb5.error("reading the ticket cache's principal", code));
    }
    let mut creds = Box::new(CredsRoom([0; 512]));
    // SAFETY: live handles; `creds` has room for the structure the library fills.
    let code =
        unsafe { krb5_get_renewed_creds(krb5.0, &mut *creds, principal, cache, ptr::null()) };
    let result = if code != 0 {
        Err(krb5.error("renewing the ticket", code))
    } else {
        let stored = replace_cache(krb5, cache, principal, &mut creds);
        // SAFETY: the library filled `creds`; its contents are freed once.
        unsafe { krb5_free_cred_contents(krb5.0, &mut *creds) };
        stored
    };
    // SAFETY: the principal came from the library and is freed once.
    unsafe { krb5_free_principal(krb5.0, principal) };
    result
}

/// Stores `creds` for `principal` in a new cache of `cache`'s type, then moves that over
/// `cache`.
fn replace_cache(
    krb5: &Krb5,
    cache: krb5_ccache,
    principal: krb5_principal,
    creds: &mut CredsRoom,
) -> Result<(), String> {
    let mut fresh = ptr::null_mut();
    // SAFETY: live handles; the type string belongs to the cache and is only read.
    let code = unsafe {
        let kind = krb5_cc_get_type(krb5.0, cache);
        krb5_cc_new_unique(krb5.0, kind, ptr::null(), &mut fresh)
    };
    if code != 0 {
        return Err(krb5.error("making a cache for the renewed ticket", code));
    }
    // SAFETY: live handles; on failure the new cache is destroyed, on success
    // `krb5_cc_move` consumes it.
    unsafe {
        let mut code = krb5_cc_initialize(krb5.0, fresh, principal);
        if code == 0 {
            code = krb5_cc_store_cred(krb5.0, fresh, creds);
        }
        if code == 0 {
            code = krb5_cc_move(krb5.0, fresh, cache);
        }
        if code != 0 {
            krb5_cc_destroy(krb5.0, fresh);
            return Err(krb5.error("storing the renewed ticket", code));
        }
    }
    Ok(())
}
