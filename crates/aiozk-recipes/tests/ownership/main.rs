//! The ownership recipes (locks, leases, semaphores, elections) on a real server, one
//! module per recipe family, sharing the server and helpers of `common`.

mod common;

mod election_lease;
mod expiry;
mod foreign;
mod lock;
mod pause;
mod python_compat;
mod stress;
