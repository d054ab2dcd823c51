//! One clock for every process of a run: `CLOCK_MONOTONIC`, which is system-wide on Linux
//! (Python's `time.monotonic_ns` reads the same clock), so the controller's fault times and
//! every worker's operation times can be compared directly.

use rustix::time::{clock_gettime, ClockId};

/// Nanoseconds on the system's monotonic clock.
pub(crate) fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    // The monotonic clock counts from boot: never negative.
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}
