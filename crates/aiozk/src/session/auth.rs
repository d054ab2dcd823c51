//! Authentication: the credentials replayed on every connection, the auth packets waiting
//! for their reply, and the SASL exchange of a connection.

use std::collections::VecDeque;

use super::sasl::DigestMd5;
use super::types::{SessionState, Tokens};

/// The authentication state of a session.
pub(super) struct Auth<T: Tokens> {
    /// Every credential added (scheme, bytes), replayed in this order on each connection.
    credentials: Vec<(String, Vec<u8>)>,
    /// Sent auth packets waiting for their reply (answered out of band, in order).
    sent: VecDeque<Option<T::Reply>>,
    /// Auth requests submitted while not connected: replayed with the others, completed on
    /// their reply.
    waiting: Vec<(usize, T::Reply)>,
    /// The SASL exchange under way on this connection; nothing else is sent meanwhile.
    pub(super) sasl: Option<SaslExchange>,
}

/// A SASL exchange under way.
pub(super) struct SaslExchange {
    pub(super) mech: Mechanism,
    /// The state to report once authenticated.
    pub(super) state: SessionState,
}

/// Who computes the tokens of a SASL exchange.
pub(super) enum Mechanism {
    /// DIGEST-MD5, computed here.
    Digest(DigestMd5),
    /// Computed by the driver (GSSAPI: it may talk to a KDC); `round` numbers the exchange,
    /// so that an answer computed for an earlier connection is recognised and dropped.
    External { round: u64 },
}

impl<T: Tokens> Default for Auth<T> {
    fn default() -> Self {
        Self {
            credentials: Vec::new(),
            sent: VecDeque::new(),
            waiting: Vec::new(),
            sasl: None,
        }
    }
}

impl<T: Tokens> Auth<T> {
    /// Keeps a credential for every connection from now on; returns its index.
    pub(super) fn add(&mut self, scheme: &str, auth: &[u8]) -> usize {
        self.credentials.push((scheme.to_owned(), auth.to_vec()));
        self.credentials.len() - 1
    }

    /// The number of credentials.
    pub(super) fn len(&self) -> usize {
        self.credentials.len()
    }

    /// Credential `index`: its scheme and bytes.
    pub(super) fn credential(&self, index: usize) -> (&str, &[u8]) {
        let (scheme, auth) = &self.credentials[index];
        (scheme, auth)
    }

    /// Credential `index` was added while not connected: `token` completes on the reply to
    /// its first sending.
    pub(super) fn wait(&mut self, index: usize, token: T::Reply) {
        self.waiting.push((index, token));
    }

    /// The token waiting for credential `index`, if one does.
    pub(super) fn take_waiting_for(&mut self, index: usize) -> Option<T::Reply> {
        self.waiting
            .iter()
            .position(|(i, _)| *i == index)
            .map(|pos| self.waiting.swap_remove(pos).1)
    }

    /// An auth packet was written; `token`, if any, completes on its reply.
    pub(super) fn push_sent(&mut self, token: Option<T::Reply>) {
        self.sent.push_back(token);
    }

    /// The auth packet an auth reply answers (the oldest sent), with its token if any;
    /// `None` when no auth packet is waiting.
    pub(super) fn pop_reply(&mut self) -> Option<Option<T::Reply>> {
        self.sent.pop_front()
    }

    /// Takes the tokens of every auth packet sent (their connection is gone).
    pub(super) fn take_sent(&mut self) -> impl Iterator<Item = T::Reply> {
        std::mem::take(&mut self.sent).into_iter().flatten()
    }

    /// Takes the tokens of every credential waiting for a connection.
    pub(super) fn take_waiting(&mut self) -> impl Iterator<Item = T::Reply> {
        std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|(_, t)| t)
    }
}
