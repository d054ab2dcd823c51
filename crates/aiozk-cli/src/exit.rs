//! Exit statuses and the one-line errors that go with them.

use std::fmt;

use aiozk::Error;

/// Success.
pub const OK: u8 = 0;
/// `exists`: the node does not exist. Any other error without a status of its own.
pub const GENERIC: u8 = 1;
/// A usage error: bad option or argument, invalid path, ACL or data (clap uses 2 too).
pub const USAGE: u8 = 2;
/// The node does not exist.
pub const NO_NODE: u8 = 3;
/// The node already exists.
pub const NODE_EXISTS: u8 = 4;
/// The expected version did not match.
pub const BAD_VERSION: u8 = 5;
/// The node has children.
pub const NOT_EMPTY: u8 = 6;
/// Not authorized by the node's ACL, or authentication failed.
pub const NO_AUTH: u8 = 7;
/// No server reachable within `--timeout` (or every one refused), a request timed out, the
/// connection or the session was lost, TLS failed, or a server broke the protocol.
pub const CONNECTION: u8 = 8;
/// `lock`/`elect`: the lock or the leadership was lost while the command ran (the command
/// was stopped) or before it exited. `--fence`: the fence node is gone; nothing was written.
pub const LOST: u8 = 9;
/// `lock`/`elect`/`double-barrier`: the command was found but could not be executed (shell
/// convention).
pub const CANNOT_EXECUTE: u8 = 126;
/// `lock`/`elect`/`double-barrier`: the command was not found (shell convention).
pub const NOT_FOUND: u8 = 127;
/// `lock`/`elect`/`double-barrier`: zk was interrupted (SIGINT or SIGTERM) before the
/// command finished.
pub const INTERRUPTED: u8 = 130;

/// The exit status table, as shown at the end of `zk --help`.
pub const TABLE: &str = "\
Exit status:
    0    success
    1    `exists`: the node does not exist; any error not listed below
    2    usage error: bad option or argument, invalid path, ACL or dump file entry
    3    no node: the node does not exist
    4    node exists: the node already exists
    5    bad version: the expected version (-v) did not match
    6    not empty: the node has children (use `rmr`)
    7    no auth: the ACL denies the operation, or authentication failed
    8    connection failure: no server answered within --timeout (or every one
         refused), a request timed out, the connection or session was lost, TLS
         failed, or a server broke the protocol
    9    `lock`/`elect`: the lock or leadership was lost while the command ran (it
         was stopped) or before it exited; `--fence`: the fence node is gone, so
         nothing was written
  126    `lock`/`elect`/`double-barrier`: the command could not be executed
  127    `lock`/`elect`/`double-barrier`: the command was not found
  130    `lock`/`elect`/`double-barrier`: zk was interrupted before the command
         finished
  other  `lock`/`elect`/`double-barrier`: the command's own exit status (128+N if
         killed by signal N)";

/// Why a command failed: the exit status and the line to print on stderr (none for a
/// silent exit, e.g. a closed stdout).
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: u8,
    /// The error line, without the `zk: ` prefix.
    pub message: Option<String>,
}

impl Failure {
    /// A failure with this status and message.
    pub fn new(code: u8, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: Some(message.to_string()),
        }
    }

    /// A usage error.
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(USAGE, message)
    }

    /// A client error about `what` (usually a path), with the status of its kind.
    pub fn zk(what: &str, err: &Error) -> Self {
        let text = describe(err);
        let message = if what.is_empty() {
            text
        } else {
            format!("{what}: {text}")
        };
        Self::new(status_of(err), message)
    }

    /// Exit silently with `code`.
    pub fn silent(code: u8) -> Self {
        Self {
            code,
            message: None,
        }
    }
}

/// A client error in zk's words: the options it names are zk's.
pub fn describe(err: &Error) -> String {
    match err {
        Error::FrameTooLarge { size, limit, reply } => {
            let (what, server) = if *reply {
                ("the reply", "")
            } else {
                (
                    "the request",
                    "; the server's jute.maxbuffer must allow it too",
                )
            };
            format!(
                "{what} of {size} bytes exceeds the frame limit of {limit} bytes: raise it \
                 with --max-frame (e.g. --max-frame {}M){server}",
                size.div_ceil(1 << 20)
            )
        }
        Error::RetriesExhausted { attempts, last } => {
            format!("gave up after {attempts} attempts: {}", describe(last))
        }
        other => other.to_string(),
    }
}

/// The exit status for a client error.
pub fn status_of(err: &Error) -> u8 {
    match err {
        Error::NoNode => NO_NODE,
        Error::NodeExists => NODE_EXISTS,
        Error::BadVersion => BAD_VERSION,
        Error::NotEmpty => NOT_EMPTY,
        Error::NoAuth
        | Error::AuthFailed
        | Error::SaslFailed(_)
        | Error::SessionClosedRequireSaslAuth => NO_AUTH,
        Error::NoHosts(_)
        | Error::ConnectionLoss
        | Error::Timeout
        | Error::OperationTimeout
        | Error::RequestTimeout
        | Error::Io(_)
        | Error::Tls(_)
        | Error::SslConnectionError
        | Error::SessionExpired
        | Error::SessionMoved
        | Error::UnknownSession
        | Error::Closed
        | Error::Closing
        | Error::ProtocolViolation(_) => CONNECTION,
        Error::RetriesExhausted { last, .. } => status_of(last),
        Error::TransactionFailed { error, .. } => status_of(error),
        Error::InvalidPath { .. }
        | Error::InvalidArgument(_)
        | Error::FrameTooLarge { reply: false, .. } => USAGE,
        _ => GENERIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_per_kind() {
        let kinds = [
            Error::NoNode,
            Error::NodeExists,
            Error::BadVersion,
            Error::NotEmpty,
            Error::NoAuth,
            Error::NoHosts("x".into()),
        ];
        let codes: std::collections::BTreeSet<u8> = kinds.iter().map(status_of).collect();
        assert_eq!(codes.len(), kinds.len());
        assert!(!codes.contains(&GENERIC) && !codes.contains(&USAGE));
        assert_eq!(
            status_of(&Error::RetriesExhausted {
                attempts: 3,
                last: Box::new(Error::ConnectionLoss)
            }),
            CONNECTION
        );
        assert_eq!(status_of(&Error::AuthFailed), NO_AUTH);
        assert_eq!(status_of(&Error::Unimplemented), GENERIC);
    }
}
