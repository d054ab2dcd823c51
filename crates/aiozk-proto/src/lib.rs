//! The Apache ZooKeeper client wire protocol, without IO.
//!
//! This crate turns values into bytes and bytes into values: the jute encoding
//! ([`codec`]), framing ([`frame`]), the protocol's enumerations ([`consts`]) and every
//! record a client sends or receives ([`records`]). It has no sockets, no clock and no async
//! runtime, so it can be tested with plain bytes and fuzzed.
//!
//! Decoding never panics: a truncated, oversized or otherwise malformed input gives a
//! [`DecodeError`] or [`FrameError`].
//!
//! ```
//! use aiozk_proto::{frame, Encode, Request, RequestHeader, OpCode};
//! use bytes::BytesMut;
//!
//! let mut buf = BytesMut::new();
//! let start = frame::begin_frame(&mut buf);
//! RequestHeader { xid: 5, op: OpCode::GetData.as_i32() }.encode(&mut buf);
//! Request::GetData { path: "/a", watch: true }.encode(&mut buf);
//! frame::finish_frame(&mut buf, start);
//! assert_eq!(&buf[..], &[0, 0, 0, 15, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 2, b'/', b'a', 1]);
//! ```

pub mod codec;
pub mod consts;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod records;

pub use codec::{Decode, DecodeError, Encode};
pub use consts::{AddWatchMode, CreateMode, EventType, OpCode, WatcherType};
pub use frame::FrameError;
pub use records::{
    decode_multi_result, decode_response, finish_multi_body, push_multi_op, AclRecord, ClientInfo,
    ConnectRequest, ConnectResponse, MultiResult, ReplyHeader, Request, RequestHeader, Response,
    SetWatches, Stat, WatcherEvent,
};
