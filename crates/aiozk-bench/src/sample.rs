//! What a harness run collects: one sample per finished client run.

use serde_json::Value;

/// One finished client run.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The client.
    pub client: String,
    /// The workload.
    pub workload: String,
    /// The round.
    pub round: usize,
    /// The figures printed by the client plus the server CPU added by the harness.
    pub figures: Value,
}
