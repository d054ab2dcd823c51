//! Encode and decode of the common records (run with `cargo bench -p aiozk-proto`).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use aiozk_proto::{
    decode_response, frame, AclRecord, CreateMode, Decode, Encode, OpCode, ReplyHeader, Request,
    RequestHeader, Stat,
};
use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion};

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0001,
        mzxid: 0x1_0000_0002,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 3,
        cversion: 1,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 100,
        num_children: 0,
        pzxid: 0x1_0000_0001,
    }
}

fn encode_request(c: &mut Criterion) {
    let acl = [AclRecord {
        perms: 31,
        scheme: "world".into(),
        id: "anyone".into(),
    }];
    let data = [7u8; 100];
    let mut buf = BytesMut::with_capacity(1 << 16);
    c.bench_function("encode getData frame", |b| {
        b.iter(|| {
            buf.clear();
            let start = frame::begin_frame(&mut buf);
            RequestHeader { xid: 42, op: 4 }.encode(&mut buf);
            Request::GetData {
                path: black_box("/bench/node-0000000042"),
                watch: false,
            }
            .encode(&mut buf);
            frame::finish_frame(&mut buf, start);
        })
    });
    c.bench_function("encode create frame (100 B)", |b| {
        b.iter(|| {
            buf.clear();
            let start = frame::begin_frame(&mut buf);
            RequestHeader { xid: 42, op: 15 }.encode(&mut buf);
            Request::Create {
                path: black_box("/bench/node-"),
                data: Some(&data),
                acl: &acl,
                mode: CreateMode::PersistentSequential,
                ttl: None,
            }
            .encode(&mut buf);
            frame::finish_frame(&mut buf, start);
        })
    });
}

fn decode_replies(c: &mut Criterion) {
    let mut get_data = BytesMut::new();
    ReplyHeader {
        xid: 42,
        zxid: 99,
        err: 0,
    }
    .encode(&mut get_data);
    get_data.put_i32(100);
    get_data.put_slice(&[7u8; 100]);
    stat().encode(&mut get_data);
    let get_data = get_data.freeze();
    c.bench_function("decode getData reply (100 B)", |b| {
        b.iter(|| {
            let mut f = get_data.clone();
            let h = ReplyHeader::decode(&mut f).unwrap();
            black_box(h);
            black_box(decode_response(OpCode::GetData, &mut f).unwrap());
        })
    });

    let mut children = BytesMut::new();
    children.put_i32(1000);
    for i in 0..1000 {
        let name = format!("child-{i:010}");
        children.put_i32(name.len() as i32);
        children.put_slice(name.as_bytes());
    }
    stat().encode(&mut children);
    let children = children.freeze();
    c.bench_function("decode getChildren2 reply (1000 children)", |b| {
        b.iter(|| {
            let mut f = children.clone();
            black_box(decode_response(OpCode::GetChildren2, &mut f).unwrap());
        })
    });

    let mut stream = BytesMut::new();
    for _ in 0..100 {
        let start = frame::begin_frame(&mut stream);
        stream.put_slice(&get_data);
        frame::finish_frame(&mut stream, start);
    }
    let stream = stream.freeze();
    c.bench_function("split 100 frames", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&stream[..]);
            let mut n = 0;
            while let Some(f) = frame::split_frame(&mut buf, 1 << 20).unwrap() {
                n += f.len();
            }
            black_box(n)
        })
    });
}

criterion_group!(benches, encode_request, decode_replies);
criterion_main!(benches);
