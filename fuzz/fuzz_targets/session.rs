//! Drives a session with arbitrary server input (see `aiozk::session::fuzzing`): nothing a
//! server sends may panic it, lose a request or complete one twice.
//!
//! Run with `cargo +nightly fuzz run session` from the repository root (needs
//! `cargo install cargo-fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aiozk::session::fuzzing::run(data));
