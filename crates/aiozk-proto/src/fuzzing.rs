//! Entry points shared by the fuzz targets and the tests that replay their corpus.

use bytes::BytesMut;

use crate::{decode_response, frame, ConnectResponse, Decode, OpCode, ReplyHeader, WatcherEvent};

/// Splits `data[1..]` into frames and decodes each as a server would send it: the first as a
/// connect response, the rest as replies to the opcode chosen by `data[0]`, or as watch
/// notifications. Must never panic.
pub fn decode_reply_stream(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut buf = BytesMut::from(rest);
    let mut first = true;
    while let Ok(Some(mut f)) = frame::split_frame(&mut buf, 1 << 20) {
        if std::mem::take(&mut first) {
            let _ = ConnectResponse::decode(&mut f.clone());
        }
        let Ok(header) = ReplyHeader::decode(&mut f) else {
            continue;
        };
        if header.xid == -1 {
            let _ = WatcherEvent::decode(&mut f);
        } else if let Some(op) = OpCode::from_i32(i32::from(selector % 110)) {
            let _ = decode_response(op, &mut f);
        }
    }
}
