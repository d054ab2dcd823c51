//! The Java client's configuration file: the properties file that `zkCli.sh
//! -client-configuration FILE` and `new ZKClientConfig(path)` read, so operators can reuse it.
//!
//! [`ClientConfig::from_file`] reads it; [`ClientConfig::apply`] sets the matching
//! [`ClientBuilder`] options. Every key that is not applied gives a [`ConfigWarning`]
//! (also logged at warn level): unknown keys, keys of the server, and Java client settings
//! that have no equivalent here (Kerberos settings, which `ClientBuilder::sasl_gssapi` takes
//! instead, revocation checks, cipher suites, ...). Nothing
//! is ignored without a word.
//!
//! | key | effect |
//! |---|---|
//! | `zookeeper.client.secure` | `true`: TLS to every server ([`ClientBuilder::tls`]) |
//! | `zookeeper.ssl.trustStore.location`, `.type`, `.password`, `.passwordPath` | the authorities trusted ([`TlsOptions::ca_file`]); PEM only |
//! | `zookeeper.ssl.keyStore.location`, `.type`, `.password`, `.passwordPath` | the client certificate and its key, in one PEM file ([`TlsOptions::client_identity_pem`]); the key must not be encrypted |
//! | `zookeeper.ssl.hostnameVerification` | `false`: [`TlsOptions::danger_disable_hostname_verification`] |
//! | `zookeeper.ssl.protocol`, `zookeeper.ssl.enabledProtocols` | accepted when they allow TLS 1.2 or 1.3, the versions this client speaks |
//! | `zookeeper.request.timeout` | milliseconds, 0 for none ([`ClientBuilder::request_timeout`]) |
//! | `jute.maxbuffer` | bytes ([`ClientBuilder::max_frame`]) |
//! | `zookeeper.sasl.client` | `true` or `false`: SASL is used only when credentials are given ([`ClientBuilder::sasl_digest_md5`]), so both are accepted |
//! | `zookeeper.disableAutoWatchReset` | `false` is accepted; `true` warns (watches are always re-registered) |
//!
//! A Java keystore (`JKS`, `PKCS12`, `BCFKS`) is refused with an error: converting it to
//! PEM (`openssl pkcs12 -in ks.p12 -nodes`) keeps the file usable by both clients.
//!
//! # Examples
//! ```no_run
//! # async fn demo() -> aiozk::Result<()> {
//! use aiozk::config::ClientConfig;
//!
//! let config = ClientConfig::from_file("/etc/zookeeper/client.properties")?;
//! for warning in config.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! let zk = config.apply(aiozk::Client::builder("zk1:2281,zk2:2281"))?.connect().await?;
//! # Ok(()) }
//! ```

mod properties;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::client::ClientBuilder;
use crate::error::{Error, Result};
use crate::tls::TlsOptions;

/// The settings of a Java client configuration file, with the warnings about the keys that
/// are not applied.
///
/// `Debug` never shows a password.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    origin: String,
    secure: bool,
    request_timeout: Option<Duration>,
    max_frame: Option<usize>,
    trust_store: StoreKeys,
    key_store: StoreKeys,
    hostname_verification: Option<bool>,
    warnings: Vec<ConfigWarning>,
}

/// A key of the configuration file that is not applied, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Where the key is: the file, or `<text>` for [`ClientConfig::parse`].
    pub origin: String,
    /// The line the key is on (from 1).
    pub line: usize,
    /// The key.
    pub key: String,
    /// Why it is not applied.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.origin, self.line, self.key, self.message
        )
    }
}

/// The four keys of a trust store or key store.
#[derive(Clone, Default)]
struct StoreKeys {
    location: Option<(usize, String)>,
    kind: Option<(usize, String)>,
    password: Option<String>,
    password_path: Option<String>,
}

impl fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKeys")
            .field("location", &self.location.as_ref().map(|(_, l)| l))
            .field("type", &self.kind.as_ref().map(|(_, t)| t))
            .field(
                "password",
                &(self.password.is_some() || self.password_path.is_some()).then_some("<redacted>"),
            )
            .finish()
    }
}

/// What the client does with a known key.
enum Known {
    Secure,
    RequestTimeout,
    MaxBuffer,
    Store(StoreSide, StoreField),
    HostnameVerification,
    Protocol,
    EnabledProtocols,
    SaslClient,
    DisableAutoWatchReset,
    /// A Java client setting with no equivalent here.
    NoEffect(&'static str),
}

#[derive(Clone, Copy)]
enum StoreSide {
    Trust,
    Key,
}

#[derive(Clone, Copy)]
enum StoreField {
    Location,
    Type,
    Password,
    PasswordPath,
}

const KERBEROS: &str =
    "a Kerberos (GSSAPI) setting of the Java client, not applied: give Kerberos \
     settings with ClientBuilder::sasl_gssapi (zk --sasl-gssapi, Python kerberos=)";
const JAVA_ONLY: &str = "a setting of the Java client's implementation, with no effect here";
const SERVER_SIDE: &str = "a server-side TLS setting, with no effect on a client";

fn known(key: &str) -> Option<Known> {
    use Known::*;
    use StoreField::*;
    use StoreSide::*;
    Some(match key {
        "zookeeper.client.secure" => Secure,
        "zookeeper.request.timeout" => RequestTimeout,
        "jute.maxbuffer" => MaxBuffer,
        "zookeeper.ssl.trustStore.location" => Store(Trust, Location),
        "zookeeper.ssl.trustStore.type" => Store(Trust, Type),
        "zookeeper.ssl.trustStore.password" => Store(Trust, Password),
        "zookeeper.ssl.trustStore.passwordPath" => Store(Trust, PasswordPath),
        "zookeeper.ssl.keyStore.location" => Store(Key, Location),
        "zookeeper.ssl.keyStore.type" => Store(Key, Type),
        "zookeeper.ssl.keyStore.password" => Store(Key, Password),
        "zookeeper.ssl.keyStore.passwordPath" => Store(Key, PasswordPath),
        "zookeeper.ssl.hostnameVerification" => HostnameVerification,
        "zookeeper.ssl.protocol" => Protocol,
        "zookeeper.ssl.enabledProtocols" => EnabledProtocols,
        "zookeeper.sasl.client" => SaslClient,
        "zookeeper.disableAutoWatchReset" => DisableAutoWatchReset,
        "zookeeper.ssl.ciphersuites" => NoEffect(
            "not applied: the cipher suites are rustls' defaults (TLS 1.2 and 1.3 AEAD suites)",
        ),
        "zookeeper.ssl.crl" | "zookeeper.ssl.ocsp" => {
            NoEffect("not supported: certificate revocation is not checked (CRL and OCSP)")
        }
        "zookeeper.ssl.context.supplier.class" => {
            NoEffect("not supported: a Java class; give the trust and key stores instead")
        }
        "zookeeper.sasl.client.username"
        | "zookeeper.sasl.clientconfig"
        | "zookeeper.server.realm"
        | "zookeeper.server.principal"
        | "zookeeper.sasl.client.canonicalize.hostname"
        | "zookeeper.sasl.client.allowReverseDnsLookup"
        | "zookeeper.kinit"
        | "sun.security.jgss.native" => NoEffect(KERBEROS),
        "zookeeper.clientCnxnSocket"
        | "zookeeper.ssl.sslProvider"
        | "zookeeper.ssl.authProvider"
        | "zookeeper.fips-mode"
        | "zookeeper.shuffleDnsResponse"
        | "zookeeper.hostProvider.dnsSrvRefreshIntervalSeconds" => NoEffect(JAVA_ONLY),
        "zookeeper.ssl.clientAuth"
        | "zookeeper.ssl.clientHostnameVerification"
        | "zookeeper.ssl.allowReverseDnsLookup"
        | "zookeeper.ssl.handshakeDetectionTimeoutMillis" => NoEffect(SERVER_SIDE),
        _ => return None,
    })
}

impl ClientConfig {
    /// Reads a configuration file (the `java.util.Properties` format; UTF-8, or
    /// ISO 8859-1 as Java reads it when it is not UTF-8).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the file cannot be read, or holds a malformed entry
    /// or a value that cannot be applied (a bad number or boolean, a Java keystore).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::InvalidArgument(format!("cannot read {}: {e}", path.display())))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        Self::parse_from(&text, &path.display().to_string())
    }

    /// Parses the text of a configuration file; warnings name the origin `<text>`.
    ///
    /// # Errors
    /// As [`ClientConfig::from_file`], without the file's own errors.
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_from(text, "<text>")
    }

    fn parse_from(text: &str, origin: &str) -> Result<Self> {
        let mut config = Self {
            origin: origin.to_owned(),
            ..Self::default()
        };
        let entries = properties::parse(text)
            .map_err(|e| Error::InvalidArgument(format!("{origin}: {}", detail(&e))))?;
        for entry in entries {
            // As the Java client does.
            let key = entry.key.trim();
            let value = entry.value.trim();
            config.set(entry.line, key, value).map_err(|message| {
                Error::InvalidArgument(format!("{origin}:{}: {key}: {message}", entry.line))
            })?;
        }
        config.check_stores()?;
        for w in &config.warnings {
            tracing::warn!("client configuration {w}");
        }
        Ok(config)
    }

    /// The keys that are not applied, in file order.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// `zookeeper.client.secure`: whether every server is reached over TLS.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// `zookeeper.request.timeout`, when set to more than 0.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// `jute.maxbuffer`, when set.
    pub fn max_frame(&self) -> Option<usize> {
        self.max_frame
    }

    /// The TLS options of the file: `None` unless `zookeeper.client.secure=true`. The key
    /// and trust stores are read now.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a store or password file cannot be read or holds no
    /// usable PEM, or the private key is encrypted.
    pub fn tls_options(&self) -> Result<Option<TlsOptions>> {
        if !self.secure {
            return Ok(None);
        }
        let mut tls = TlsOptions::new();
        if let Some((line, location)) = &self.trust_store.location {
            tls = tls
                .ca_file(location)
                .map_err(|e| self.error_at(*line, "zookeeper.ssl.trustStore.location", &e))?;
        }
        if let Some((line, location)) = &self.key_store.location {
            let key = "zookeeper.ssl.keyStore.location";
            let pem = std::fs::read(location).map_err(|e| {
                self.error_at(
                    *line,
                    key,
                    &Error::InvalidArgument(format!("cannot read {location}: {e}")),
                )
            })?;
            if contains(&pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                let message = "the private key is encrypted, which this client does not \
                               support (decrypt it: openssl pkcs8 -in FILE -out PLAIN)";
                return Err(self.error_at(*line, key, &Error::InvalidArgument(message.into())));
            }
            // A PEM key store holds the certificate chain and the key in one file.
            tls = tls
                .client_identity_pem(&pem, &pem)
                .map_err(|e| self.error_at(*line, key, &e))?;
        }
        if self.hostname_verification == Some(false) {
            tls = tls.danger_disable_hostname_verification();
        }
        Ok(Some(tls))
    }

    /// Sets the options of the file on `builder`: TLS (see [`ClientConfig::tls_options`]),
    /// the request timeout and the frame limit. Options set on the builder afterwards
    /// override the file's.
    ///
    /// # Errors
    /// As [`ClientConfig::tls_options`].
    pub fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder> {
        if let Some(timeout) = self.request_timeout {
            builder = builder.request_timeout(timeout);
        }
        if let Some(bytes) = self.max_frame {
            builder = builder.max_frame(bytes);
        }
        if let Some(tls) = self.tls_options()? {
            builder = builder.tls(tls);
        }
        Ok(builder)
    }

    fn set(&mut self, line: usize, key: &str, value: &str) -> std::result::Result<(), String> {
        let Some(kind) = known(key) else {
            let message = if key.starts_with("zookeeper.ssl.quorum.")
                || key.starts_with("zookeeper.ssl.")
                    && !key.starts_with("zookeeper.ssl.keyStore")
                    && !key.starts_with("zookeeper.ssl.trustStore")
            {
                "unknown key (a server setting, or a misspelt one?); not applied"
            } else {
                "unknown key; not applied"
            };
            self.warn(line, key, message);
            return Ok(());
        };
        match kind {
            Known::Secure => self.secure = boolean(value)?,
            Known::RequestTimeout => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("{value:?} is not a number of milliseconds"))?;
                self.request_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            Known::MaxBuffer => {
                let bytes: usize = value
                    .parse()
                    .ok()
                    .filter(|&b| b > 0)
                    .ok_or_else(|| format!("{value:?} is not a positive number of bytes"))?;
                self.max_frame = Some(bytes);
            }
            Known::Store(side, field) => {
                let store = match side {
                    StoreSide::Trust => &mut self.trust_store,
                    StoreSide::Key => &mut self.key_store,
                };
                let value = value.to_owned();
                match field {
                    StoreField::Location => store.location = Some((line, value)),
                    StoreField::Type => store.kind = Some((line, value)),
                    StoreField::Password => store.password = Some(value),
                    StoreField::PasswordPath => store.password_path = Some(value),
                }
            }
            Known::HostnameVerification => self.hostname_verification = Some(boolean(value)?),
            Known::Protocol => {
                if !matches!(value, "TLS" | "TLSv1.2" | "TLSv1.3") {
                    self.warn(
                        line,
                        key,
                        "not applied: this client negotiates TLS 1.2 or 1.3 (TLSv1.2, TLSv1.3)",
                    );
                }
            }
            Known::EnabledProtocols => {
                let listed: Vec<&str> = value.split(',').map(str::trim).collect();
                if !(listed.contains(&"TLSv1.2") && listed.contains(&"TLSv1.3")) {
                    self.warn(
                        line,
                        key,
                        "not applied: this client offers both TLS 1.2 and TLS 1.3",
                    );
                }
            }
            Known::SaslClient => {
                boolean(value)?;
            }
            Known::DisableAutoWatchReset => {
                if boolean(value)? {
                    self.warn(
                        line,
                        key,
                        "not supported: watches are always re-registered after a reconnect",
                    );
                }
            }
            Known::NoEffect(why) => self.warn(line, key, why),
        }
        Ok(())
    }

    /// Refuses the store types this client cannot read, and warns about stores that are
    /// not used.
    fn check_stores(&mut self) -> Result<()> {
        for (name, store) in [
            ("trustStore", self.trust_store.clone()),
            ("keyStore", self.key_store.clone()),
        ] {
            let kind = match (&store.kind, &store.location) {
                (Some((line, kind)), _) => Some((*line, "type", kind.to_ascii_uppercase())),
                (None, Some((line, location))) => {
                    inferred_type(location).map(|k| (*line, "location", k.to_owned()))
                }
                (None, None) => None,
            };
            if let Some((line, key, kind)) = kind {
                if kind != "PEM" {
                    let key = format!("zookeeper.ssl.{name}.{key}");
                    let message = format!(
                        "a {kind} store, which this client cannot read: only PEM stores are \
                         supported (convert it, e.g. openssl pkcs12 -in STORE -nodes -out \
                         STORE.pem, and set {name}.type=PEM)"
                    );
                    return Err(self.error_at(line, &key, &Error::InvalidArgument(message)));
                }
            }
            if let (Some((line, _)), false) = (&store.location, self.secure) {
                let key = format!("zookeeper.ssl.{name}.location");
                self.warn(
                    *line,
                    &key,
                    "not applied: TLS is used only with zookeeper.client.secure=true",
                );
            }
        }
        Ok(())
    }

    fn warn(&mut self, line: usize, key: &str, message: &str) {
        self.warnings.push(ConfigWarning {
            origin: self.origin.clone(),
            line,
            key: key.to_owned(),
            message: message.to_owned(),
        });
    }

    fn error_at(&self, line: usize, key: &str, err: &Error) -> Error {
        Error::InvalidArgument(format!("{}:{line}: {key}: {}", self.origin, detail(err)))
    }
}

/// The message of an `InvalidArgument` without its prefix.
fn detail(err: &Error) -> String {
    match err {
        Error::InvalidArgument(m) => m.clone(),
        other => other.to_string(),
    }
}

/// `true` or `false` in any case. (The Java client reads anything else as false; a typo
/// that turns TLS off silently is worse than an error.)
fn boolean(value: &str) -> std::result::Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("{value:?} is not true or false"))
    }
}

/// The store type the Java client infers from a file name without `.type`.
fn inferred_type(location: &str) -> Option<&'static str> {
    let ext = Path::new(location)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    match ext.as_str() {
        "jks" => Some("JKS"),
        "p12" | "pfx" => Some("PKCS12"),
        "bcfks" => Some("BCFKS"),
        "pem" | "crt" | "cer" | "key" => Some("PEM"),
        _ => None,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests;
