//! Deterministic tests of the session state machine, one file per topic, all on the
//! scripted server and simulated clock of [`harness`].

mod harness;

mod auth;
mod call_order;
mod close;
mod connect;
mod handshake;
mod joint_writes;
mod local_expiry;
mod pings;
mod protocol_violations;
mod read_only;
mod read_timeout;
mod reregistration;
mod server_expiry;
mod stats;
mod watches;
