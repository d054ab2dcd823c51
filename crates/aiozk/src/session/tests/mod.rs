//! Deterministic tests of the session state machine, one file per topic, all on the
//! scripted server and simulated clock of [`harness`].

mod harness;

mod auth;
mod call_order;
mod catch_up;
mod close;
mod coalesce;
mod connect;
mod external_sasl;
mod handshake;
mod health;
mod joint_writes;
mod local_expiry;
mod moves;
mod pings;
mod protocol_violations;
mod read_only;
mod read_timeout;
mod removal;
mod reregistration;
mod server_expiry;
mod stats;
mod watches;
