//! The session's timers, as one table keyed by [`Timer`].
//!
//! The table is not stored: [`super::Session`] builds it from its state when asked (every
//! deadline follows from facts it keeps anyway: the phase's deadline, when it last heard
//! from and wrote to the server, when it was last known alive). `poll_timeout` returns the
//! table's earliest deadline and `handle_timeout` acts on the timers that have expired, so
//! the two cannot disagree, and no timer of a past phase can stay armed.

use std::time::Instant;

/// A timer of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The next connection attempt is due (waiting between attempts).
    Attempt,
    /// The connection attempt under way (TCP, then the handshake) has taken too long.
    Connect,
    /// No server was reached within the session timeout since the session was last known
    /// alive: it has expired (waiting or connecting, after a connection loss).
    Expiry,
    /// Nothing was heard from the server within the read timeout (connected).
    Read,
    /// Nothing was written for a while: a ping is due (connected).
    Ping,
    /// User requests held back for a joint write must be written now (connected; they are
    /// handed over by `poll_transmit`).
    Write,
    /// The reply to closeSession has not come in time (closing).
    Close,
}

impl Timer {
    /// How many timers there are.
    const COUNT: usize = 7;
}

/// A deadline for each timer, or none where the timer is not armed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TimerTable {
    at: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `timer` for `at`, or disarms it for `None`.
    pub(super) fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.at[timer as usize] = at;
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// True when `timer` is armed and its deadline has come by `now`.
    pub(super) fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.at[timer as usize].is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_armed_deadline_is_next() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Ping, Some(t0 + Duration::from_secs(3)));
        table.set(Timer::Read, Some(t0 + Duration::from_secs(2)));
        table.set(Timer::Close, None);
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(2)));
        assert!(!table.is_expired(Timer::Read, t0 + Duration::from_secs(1)));
        assert!(table.is_expired(Timer::Read, t0 + Duration::from_secs(2)));
        assert!(!table.is_expired(Timer::Close, t0 + Duration::from_secs(9)));
        table.set(Timer::Read, None);
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(3)));
    }
}
