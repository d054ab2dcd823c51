//! Switches for deliberate client bugs ("mutants").
//!
//! `aiozk` and `aiozk-recipes` depend on this crate only through their `mutants` feature,
//! which is never on by default, so the released library contains no mutant. In a build
//! with the feature, at most one mutant is switched on per process with [`activate`];
//! each hook asks [`on`] whether its bug is wanted. The fault-injection harness
//! (`aiozk-proof`) runs each mutant with a workload and a fault meant to expose it, and
//! counts the mutants its checkers catch.

use std::sync::OnceLock;

/// Every mutant: its name and the bug it plants.
pub const MUTANTS: &[(&str, &str)] = &[
    (
        "no-set-watches",
        "the client forgets to re-register its watches (SetWatches) after a reconnect",
    ),
    (
        "set-watches-zero-zxid",
        "SetWatches goes out with zxid 0 instead of the last zxid seen",
    ),
    (
        "drop-pending",
        "on a connection loss one request in flight is neither answered nor failed",
    ),
    (
        "complete-with-success",
        "on a connection loss the writes in flight are completed as successes",
    ),
    (
        "ignore-session-timeout",
        "the client keeps the session timeout it asked for instead of the one the server granted",
    ),
    (
        "create-loss-is-failure",
        "a protected create whose reply was lost is reported as failed (NodeExists) instead of looked up",
    ),
    (
        "lock-no-suspend-loss",
        "an ownership (lock, lease, leadership) ignores the connection state: neither a long disconnection nor an expiry the client detects itself ends it, only the server's word after a reconnect",
    ),
    (
        "fence-no-check",
        "a fenced write goes out as a plain write: no check of the ownership node, no look at the loss signal",
    ),
    (
        "lock-no-recheck",
        "a lock waiter takes the lock when the node before it goes, without looking whether an earlier one still holds",
    ),
    (
        "counter-no-version",
        "the counter writes the value it read plus one without the version check",
    ),
    (
        "counter-blind-retry",
        "the counter repeats an increment whose reply was lost without checking whether it was applied",
    ),
    (
        "queue-complete-gone-ok",
        "completing a queue item without a claim check, and an item already gone counts as completed",
    ),
];

static ACTIVE: OnceLock<&'static str> = OnceLock::new();

/// Switches mutant `name` on for the rest of this process.
///
/// # Errors
/// An unknown name, or a second mutant (one per process).
pub fn activate(name: &str) -> Result<(), String> {
    let Some(&(known, _)) = MUTANTS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = MUTANTS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "unknown mutant {name:?}; known: {}",
            names.join(", ")
        ));
    };
    match ACTIVE.set(known) {
        Ok(()) => Ok(()),
        Err(_) if ACTIVE.get() == Some(&known) => Ok(()),
        Err(_) => Err("another mutant is already active".into()),
    }
}

/// True when mutant `name` is switched on.
pub fn on(name: &str) -> bool {
    ACTIVE.get().is_some_and(|a| *a == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_activation_checks_them() {
        let mut names: Vec<&str> = MUTANTS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MUTANTS.len());
        assert!(activate("no-such-mutant").is_err());
        assert!(!on("fence-no-check"));
        activate("fence-no-check").unwrap();
        assert!(on("fence-no-check"));
        assert!(!on("counter-blind-retry"));
        assert!(activate("counter-blind-retry").is_err());
    }
}
