//! The one error type of the client.

use std::sync::Arc;

/// Every error the client can return.
///
/// There is one variant per ZooKeeper server error code (named after the server's `Code` enum),
/// plus the errors the client produces itself. `Error` is `Clone` (one connection loss fails
/// many waiting requests) and `PartialEq` (tests can `assert_eq!` on it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- server error codes ----
    /// -1: a system or server-side error (SYSTEMERROR).
    #[error("system error")]
    SystemError,
    /// -2: an operation in a transaction was not executed because an earlier one failed.
    #[error("runtime inconsistency (operation not executed)")]
    RuntimeInconsistency,
    /// -3: the server found its data inconsistent.
    #[error("data inconsistency")]
    DataInconsistency,
    /// -4: the connection was lost before the reply arrived; a write may or may not have
    /// been applied.
    #[error("connection lost")]
    ConnectionLoss,
    /// -5: the server could not decode the request.
    #[error("marshalling error")]
    MarshallingError,
    /// -6: the server does not implement the operation (or the feature is disabled).
    #[error("operation not implemented by the server")]
    Unimplemented,
    /// -7: the operation timed out.
    #[error("operation timeout")]
    OperationTimeout,
    /// -8: invalid arguments (bad path, bad TTL or flags, deleting a reserved node).
    #[error("bad arguments")]
    BadArguments,
    /// -9: invalid client state.
    #[error("invalid state")]
    InvalidState,
    /// -12: the session is unknown to the server.
    #[error("unknown session")]
    UnknownSession,
    /// -13: a reconfiguration would leave no quorum.
    #[error("new configuration has no quorum")]
    NewConfigNoQuorum,
    /// -14: another reconfiguration is in progress.
    #[error("reconfiguration in progress")]
    ReconfigInProgress,
    /// -15: an SSL connection error.
    #[error("SSL connection error")]
    SslConnectionError,
    /// -100: generic API error.
    #[error("API error")]
    ApiError,
    /// -101: the node does not exist.
    #[error("node does not exist")]
    NoNode,
    /// -102: the ACL does not allow the operation for the credentials of this session.
    #[error("not authorized")]
    NoAuth,
    /// -103: the expected version does not match the node's version.
    #[error("version mismatch")]
    BadVersion,
    /// -108: ephemeral nodes may not have children.
    #[error("ephemeral nodes may not have children")]
    NoChildrenForEphemerals,
    /// -110: the node already exists.
    #[error("node already exists")]
    NodeExists,
    /// -111: the node has children.
    #[error("node has children")]
    NotEmpty,
    /// -112: the session has expired; its ephemeral nodes are gone.
    #[error("session expired")]
    SessionExpired,
    /// -113: invalid callback.
    #[error("invalid callback")]
    InvalidCallback,
    /// -114: the ACL is invalid (empty, unknown scheme, `auth` with no credentials).
    #[error("invalid ACL")]
    InvalidAcl,
    /// -115: authentication failed; the server closed the connection.
    #[error("authentication failed")]
    AuthFailed,
    /// -116: the session is closing.
    #[error("session closing")]
    Closing,
    /// -117: no server responses to process.
    #[error("nothing")]
    Nothing,
    /// -118: the session moved to another server.
    #[error("session moved to another server")]
    SessionMoved,
    /// -119: a write was sent to a read-only server.
    #[error("server is read-only")]
    NotReadOnly,
    /// -120: an ephemeral node was requested on a local session.
    #[error("ephemeral node on a local session")]
    EphemeralOnLocalSession,
    /// -121: no such watcher on the server.
    #[error("no such watcher")]
    NoWatcher,
    /// -122: the request timed out.
    #[error("request timed out")]
    RequestTimeout,
    /// -123: reconfiguration is disabled on the server.
    #[error("reconfiguration disabled")]
    ReconfigDisabled,
    /// -124: the server requires SASL authentication and closed the session.
    #[error("session closed: SASL authentication required")]
    SessionClosedRequireSaslAuth,
    /// -125: a quota was exceeded.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// -127: the server throttled the request; it was not executed.
    #[error("request throttled by the server")]
    Throttled,
    /// A server error code this client does not know.
    #[error("unknown server error code {0}")]
    Unknown(i32),

    // ---- transactions ----
    /// Used in a failed transaction's per-operation errors: this operation succeeded but was
    /// rolled back because another one failed (the server reports code 0).
    #[error("rolled back")]
    RolledBack,
    /// A transaction (multi) failed: operation `index` failed with `error`, so none of the
    /// operations took effect. `results` holds the server's verdict for every operation in
    /// order: [`Error::RolledBack`] before the failed one, its error, then
    /// [`Error::RuntimeInconsistency`] for the ones never attempted.
    #[error("transaction failed at operation {index}: {error}")]
    TransactionFailed {
        /// Index of the failed operation.
        index: usize,
        /// Why it failed.
        error: Box<Error>,
        /// Every operation's own outcome, in order.
        results: Vec<Error>,
    },

    // ---- client-side ----
    /// The operation did not complete within the time allowed.
    #[error("operation timed out")]
    Timeout,
    /// The client was closed (by `close()` or because every handle was dropped).
    #[error("client closed")]
    Closed,
    /// A path failed validation before anything was sent.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An argument failed validation before anything was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The server sent something that breaks the protocol; the connection was dropped.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
    /// A frame over the client's frame limit ([`crate::ClientBuilder::max_frame`]).
    ///
    /// For a reply (`reply` true) the connection was dropped and the request failed (sent
    /// again, it would get the same reply); a request (`reply` false) was refused before
    /// it was sent. The message names the builder's option; a shell that offers the limit
    /// under another name phrases its own from the fields.
    #[error(
        "{} of {size} bytes exceeds the frame limit of {limit} bytes; raise \
         ClientBuilder::max_frame{}",
        if *reply { "a reply" } else { "a request" },
        if *reply { "" } else { " (the server's jute.maxbuffer must allow it too)" }
    )]
    FrameTooLarge {
        /// The frame's size in bytes (a request's with its header).
        size: usize,
        /// The limit in force.
        limit: usize,
        /// True for a reply from the server, false for a request.
        reply: bool,
    },
    /// No server in the list could be reached (or resolved).
    #[error("no server could be reached: {0}")]
    NoHosts(String),
    /// A TLS handshake failed (untrusted or mismatched certificate, missing client
    /// certificate, plaintext server on a TLS port, ...).
    #[error("{0}")]
    Tls(Arc<str>),
    /// An I/O error on the connection.
    #[error("I/O error: {0}")]
    Io(Arc<str>),
    /// The SASL exchange failed on this side: the mechanism could not make its next token
    /// (no Kerberos ticket, the KDC unreachable, the server's answer not what the mechanism
    /// expects). Ends the session like [`Error::AuthFailed`], which is the server's refusal.
    #[error("SASL authentication failed: {0}")]
    SaslFailed(Arc<str>),
    /// A retry policy gave up; the last error is attached.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt.
        last: Box<Error>,
    },
}

impl Error {
    /// Maps a server error code (never 0) to its variant.
    pub fn from_code(code: i32) -> Self {
        match code {
            -1 => Self::SystemError,
            -2 => Self::RuntimeInconsistency,
            -3 => Self::DataInconsistency,
            -4 => Self::ConnectionLoss,
            -5 => Self::MarshallingError,
            -6 => Self::Unimplemented,
            -7 => Self::OperationTimeout,
            -8 => Self::BadArguments,
            -9 => Self::InvalidState,
            -12 => Self::UnknownSession,
            -13 => Self::NewConfigNoQuorum,
            -14 => Self::ReconfigInProgress,
            -15 => Self::SslConnectionError,
            -100 => Self::ApiError,
            -101 => Self::NoNode,
            -102 => Self::NoAuth,
            -103 => Self::BadVersion,
            -108 => Self::NoChildrenForEphemerals,
            -110 => Self::NodeExists,
            -111 => Self::NotEmpty,
            -112 => Self::SessionExpired,
            -113 => Self::InvalidCallback,
            -114 => Self::InvalidAcl,
            -115 => Self::AuthFailed,
            -116 => Self::Closing,
            -117 => Self::Nothing,
            -118 => Self::SessionMoved,
            -119 => Self::NotReadOnly,
            -120 => Self::EphemeralOnLocalSession,
            -121 => Self::NoWatcher,
            -122 => Self::RequestTimeout,
            -123 => Self::ReconfigDisabled,
            -124 => Self::SessionClosedRequireSaslAuth,
            -125 => Self::QuotaExceeded,
            -127 => Self::Throttled,
            other => Self::Unknown(other),
        }
    }

    /// The server error code of this error, if it has one.
    pub fn code(&self) -> Option<i32> {
        Some(match self {
            Self::SystemError => -1,
            Self::RuntimeInconsistency => -2,
            Self::DataInconsistency => -3,
            Self::ConnectionLoss => -4,
            Self::MarshallingError => -5,
            Self::Unimplemented => -6,
            Self::OperationTimeout => -7,
            Self::BadArguments => -8,
            Self::InvalidState => -9,
            Self::UnknownSession => -12,
            Self::NewConfigNoQuorum => -13,
            Self::ReconfigInProgress => -14,
            Self::SslConnectionError => -15,
            Self::ApiError => -100,
            Self::NoNode => -101,
            Self::NoAuth => -102,
            Self::BadVersion => -103,
            Self::NoChildrenForEphemerals => -108,
            Self::NodeExists => -110,
            Self::NotEmpty => -111,
            Self::SessionExpired => -112,
            Self::InvalidCallback => -113,
            Self::InvalidAcl => -114,
            Self::AuthFailed => -115,
            Self::Closing => -116,
            Self::Nothing => -117,
            Self::SessionMoved => -118,
            Self::NotReadOnly => -119,
            Self::EphemeralOnLocalSession => -120,
            Self::NoWatcher => -121,
            Self::RequestTimeout => -122,
            Self::ReconfigDisabled => -123,
            Self::SessionClosedRequireSaslAuth => -124,
            Self::QuotaExceeded => -125,
            Self::Throttled => -127,
            Self::Unknown(c) => *c,
            _ => return None,
        })
    }

    /// True when the same request may succeed if sent again on a live session: the
    /// connection dropped or the server shed load. The outcome of a write that failed this
    /// way is unknown; see [`crate::RetryPolicy`] for what is retried by default.
    ///
    /// # Examples
    /// ```
    /// use aiozk::Error;
    ///
    /// assert!(Error::ConnectionLoss.is_retryable()); // the outcome is unknown: try again
    /// assert!(!Error::NoNode.is_retryable());
    /// assert!(!Error::SessionExpired.is_retryable()); // a new session is needed
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::ConnectionLoss
                | Self::OperationTimeout
                | Self::RequestTimeout
                | Self::SessionMoved
                | Self::Throttled
                | Self::Io(_)
                | Self::Timeout
        )
    }

    /// True when the session is over: nothing sent on it will ever succeed again.
    pub fn is_session_terminal(&self) -> bool {
        matches!(
            self,
            Self::SessionExpired
                | Self::AuthFailed
                | Self::SaslFailed(_)
                | Self::SessionClosedRequireSaslAuth
                | Self::Closed
        )
    }

    /// True for a lost connection: the request's outcome is unknown.
    pub fn is_connection_loss(&self) -> bool {
        matches!(self, Self::ConnectionLoss | Self::Io(_))
    }

    pub(crate) fn io(err: &std::io::Error) -> Self {
        Self::Io(Arc::from(err.to_string()))
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in (-130..0).chain([-200, 5]) {
            let err = Error::from_code(code);
            assert_eq!(err.code(), Some(code), "{err:?}");
        }
    }

    #[test]
    fn error_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + PartialEq + 'static>() {}
        assert_traits::<Error>();
    }

    #[test]
    fn predicates() {
        assert!(Error::ConnectionLoss.is_retryable());
        assert!(!Error::NoNode.is_retryable());
        assert!(Error::SessionExpired.is_session_terminal());
        assert!(!Error::ConnectionLoss.is_session_terminal());
    }
}
