//! Property tests: no input makes the decoder panic, and encoded records decode back.

use aiozk_proto::{
    codec::read_string_vec, decode_response, frame, ConnectResponse, Decode, Encode, OpCode,
    ReplyHeader, Stat, WatcherEvent,
};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

const OPS: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 100, 101, 102, 103, 104,
    105, 106, 107, -11,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_body_decodes_or_errors(op in prop::sample::select(OPS), body in prop::collection::vec(any::<u8>(), 0..256)) {
        let op = OpCode::from_i32(op).unwrap();
        let _ = decode_response(op, &mut Bytes::from(body));
    }

    #[test]
    fn any_stream_frames_or_errors(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8), max in 0usize..2048) {
        let mut buf = BytesMut::new();
        for c in chunks {
            buf.extend_from_slice(&c);
            loop {
                match frame::split_frame(&mut buf, max) {
                    Ok(Some(f)) => {
                        prop_assert!(f.len() <= max);
                        let mut f = f;
                        if let Ok(h) = ReplyHeader::decode(&mut f) {
                            if h.xid == -1 { let _ = WatcherEvent::decode(&mut f); }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return Ok(()),
                }
            }
        }
    }

    #[test]
    fn connect_response_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = ConnectResponse::decode(&mut Bytes::from(body));
    }

    #[test]
    fn stat_round_trips(v in prop::array::uniform11(any::<i64>())) {
        let stat = Stat {
            czxid: v[0], mzxid: v[1], ctime: v[2], mtime: v[3], version: v[4] as i32,
            cversion: v[5] as i32, aversion: v[6] as i32, ephemeral_owner: v[7],
            data_length: v[8] as i32, num_children: v[9] as i32, pzxid: v[10],
        };
        let mut b = BytesMut::new();
        stat.encode(&mut b);
        prop_assert_eq!(Stat::decode(&mut b.freeze()).unwrap(), stat);
    }

    #[test]
    fn buffers_round_trip_keeping_null_apart_from_empty(items in prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..16)), 0..12)) {
        let mut b = BytesMut::new();
        for item in &items {
            aiozk_proto::codec::write_buffer(&mut b, item.as_deref());
        }
        let mut bytes = b.freeze();
        for item in &items {
            let read = aiozk_proto::codec::read_buffer(&mut bytes, "t").unwrap();
            prop_assert_eq!(read.as_deref(), item.as_deref());
        }
        prop_assert!(bytes.is_empty());
    }

    #[test]
    fn string_vectors_round_trip(items in prop::collection::vec("\\PC{0,12}", 0..20)) {
        let mut b = BytesMut::new();
        aiozk_proto::codec::write_string_vec(&mut b, &items);
        let mut bytes = b.freeze();
        prop_assert_eq!(read_string_vec(&mut bytes, "t").unwrap(), items);
        prop_assert!(bytes.is_empty());
    }
}

/// The fuzz target's seed corpus decodes without panicking, also when truncated anywhere.
#[test]
fn fuzz_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode_reply");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        for cut in 0..=data.len() {
            aiozk_proto::fuzzing::decode_reply_stream(&data[..cut]);
        }
        n += 1;
    }
    assert!(n >= 5, "seed corpus missing");
}
