//! Framing: every message is a 4-byte big-endian length followed by that many bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why the byte stream cannot be split into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is negative.
    NegativeLength(i32),
    /// The length prefix exceeds the configured limit.
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NegativeLength(len) => write!(f, "negative frame length {len}"),
            Self::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Takes one whole frame's payload off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame: read more bytes and call
/// again. The payload shares `buf`'s allocation.
///
/// # Errors
/// [`FrameError`] when the length prefix is negative or larger than `max`; the stream cannot
/// be resynchronised after that and the connection must be dropped.
pub fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 {
        return Err(FrameError::NegativeLength(len));
    }
    let len = len as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if buf.len() < 4 + len {
        // Reserve room for the rest of this frame so the next read can take it whole.
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Starts a frame: writes a placeholder length and returns the position to pass to
/// [`finish_frame`] once the payload is written.
pub fn begin_frame(buf: &mut BytesMut) -> usize {
    let start = buf.len();
    buf.put_i32(0);
    start
}

/// Fills in the length of the frame started at `start` and returns the payload length.
pub fn finish_frame(buf: &mut BytesMut, start: usize) -> usize {
    let payload = buf.len() - start - 4;
    let len = i32::try_from(payload).unwrap_or(i32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_whole_frames_and_waits_for_partial_ones() {
        let mut buf = BytesMut::from(&[0, 0, 0, 2, 7, 8, 0, 0, 0, 3, 1][..]);
        assert_eq!(
            split_frame(&mut buf, 100).unwrap().as_deref(),
            Some(&[7u8, 8][..])
        );
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(&[2, 3]);
        assert_eq!(
            split_frame(&mut buf, 100).unwrap().as_deref(),
            Some(&[1u8, 2, 3][..])
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut buf = BytesMut::from(&[255, 255, 255, 255][..]);
        assert_eq!(
            split_frame(&mut buf, 100),
            Err(FrameError::NegativeLength(-1))
        );
        let mut buf = BytesMut::from(&[0, 0, 1, 0][..]);
        assert_eq!(
            split_frame(&mut buf, 100),
            Err(FrameError::TooLarge { len: 256, max: 100 })
        );
    }

    #[test]
    fn begin_and_finish_write_the_length() {
        let mut buf = BytesMut::new();
        let start = begin_frame(&mut buf);
        buf.put_slice(b"abc");
        assert_eq!(finish_frame(&mut buf, start), 3);
        assert_eq!(&buf[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
