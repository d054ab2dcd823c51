//! Feeds arbitrary server bytes through framing and every reply decoder.
//!
//! Run with `cargo +nightly fuzz run decode_reply fuzz/corpus/decode_reply` from the
//! repository root (needs `cargo install cargo-fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aiozk_proto::fuzzing::decode_reply_stream(data));
