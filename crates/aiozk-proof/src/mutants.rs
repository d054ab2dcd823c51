//! Deliberate client bugs, switched on one at a time in a build with the `mutants` feature.

use std::path::Path;

/// Switches mutant `name` on for this process.
pub(crate) fn activate(name: &str) -> Result<(), String> {
    Err(format!(
        "unknown mutant {name:?} (this build has no mutants)"
    ))
}

/// Runs every mutant with the workload and nemesis meant to catch it.
pub(crate) fn sweep(_duration: u64, _out: &Path, _only: Option<&str>) -> u8 {
    eprintln!("proof: this build has no mutants");
    2
}
