//! Jute primitives: big-endian integers, length-prefixed buffers and strings, vectors.
//!
//! Encoding appends to a [`BytesMut`]. Decoding reads from a [`Bytes`] holding one whole
//! frame (framing is done first, see [`crate::frame`]), so running out of bytes while decoding
//! a record means the frame is malformed, never "wait for more".

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ended before the record did.
    UnexpectedEnd {
        /// What was being read.
        what: &'static str,
    },
    /// A length field is negative (other than the null marker -1) or larger than the frame.
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The length found.
        len: i64,
    },
    /// A string is not valid UTF-8.
    BadUtf8 {
        /// What was being read.
        what: &'static str,
    },
    /// A value is outside its known range.
    BadValue {
        /// What was being read.
        what: &'static str,
        /// The value found.
        value: i64,
    },
    /// A null was found where the protocol requires a value.
    UnexpectedNull {
        /// What was being read.
        what: &'static str,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnexpectedEnd { what } => write!(f, "frame ended while reading {what}"),
            Self::BadLength { what, len } => write!(f, "invalid length {len} for {what}"),
            Self::BadUtf8 { what } => write!(f, "{what} is not valid UTF-8"),
            Self::BadValue { what, value } => write!(f, "invalid value {value} for {what}"),
            Self::UnexpectedNull { what } => write!(f, "unexpected null {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A value that can be written in jute's binary form.
pub trait Encode {
    /// Appends the encoding of `self` to `buf`.
    fn encode(&self, buf: &mut BytesMut);
}

/// A value that can be read from jute's binary form.
pub trait Decode: Sized {
    /// Reads one value from the front of `buf`, advancing it.
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes do not hold a valid value.
    fn decode(buf: &mut Bytes) -> Result<Self, DecodeError>;
}

/// Reads a big-endian `int`.
///
/// # Errors
/// [`DecodeError::UnexpectedEnd`] when fewer than 4 bytes remain.
pub fn read_i32(buf: &mut Bytes, what: &'static str) -> Result<i32, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError::UnexpectedEnd { what });
    }
    Ok(buf.get_i32())
}

/// Reads a big-endian `long`.
///
/// # Errors
/// [`DecodeError::UnexpectedEnd`] when fewer than 8 bytes remain.
pub fn read_i64(buf: &mut Bytes, what: &'static str) -> Result<i64, DecodeError> {
    if buf.remaining() < 8 {
        return Err(DecodeError::UnexpectedEnd { what });
    }
    Ok(buf.get_i64())
}

/// Reads a `boolean` (any non-zero byte is true, as the Java reader does).
///
/// # Errors
/// [`DecodeError::UnexpectedEnd`] when no byte remains.
pub fn read_bool(buf: &mut Bytes, what: &'static str) -> Result<bool, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::UnexpectedEnd { what });
    }
    Ok(buf.get_u8() != 0)
}

fn read_len(buf: &mut Bytes, what: &'static str) -> Result<Option<usize>, DecodeError> {
    let len = read_i32(buf, what)?;
    if len == -1 {
        return Ok(None);
    }
    if len < 0 || len as usize > buf.remaining() {
        return Err(DecodeError::BadLength {
            what,
            len: len.into(),
        });
    }
    Ok(Some(len as usize))
}

/// Reads a `buffer`; `None` is the null buffer (length -1). The bytes share the frame's
/// allocation (no copy).
///
/// # Errors
/// [`DecodeError`] for a truncated buffer or an invalid length.
pub fn read_buffer(buf: &mut Bytes, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    Ok(read_len(buf, what)?.map(|len| buf.split_to(len)))
}

/// Reads a `ustring`; `None` is the null string.
///
/// Strings that are not valid UTF-8 are decoded lossily: the Java server writes characters
/// outside the BMP as CESU-8, which is not UTF-8, in ACL ids and user names.
///
/// # Errors
/// [`DecodeError`] for a truncated string or an invalid length.
pub fn read_ustring_opt(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<Option<String>, DecodeError> {
    Ok(read_len(buf, what)?.map(|len| {
        // Copied out of the frame in place: splitting off a `Bytes` per string cost two
        // atomic reference-count updates each (20,000 for a list of 10,000 children).
        let raw = &buf[..len];
        let s = match std::str::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(raw).into_owned(),
        };
        buf.advance(len);
        s
    }))
}

/// Reads a `ustring` and maps null to the empty string (the Java client does the same).
///
/// # Errors
/// [`DecodeError`] for a truncated string or an invalid length.
pub fn read_ustring(buf: &mut Bytes, what: &'static str) -> Result<String, DecodeError> {
    Ok(read_ustring_opt(buf, what)?.unwrap_or_default())
}

/// Reads a `vector<T>`; null (count -1) gives an empty vector.
///
/// # Errors
/// [`DecodeError`] for a truncated vector, an invalid count or a bad element.
pub fn read_vec<T>(
    buf: &mut Bytes,
    what: &'static str,
    min_elem_size: usize,
    mut elem: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let count = read_i32(buf, what)?;
    if count == -1 {
        return Ok(Vec::new());
    }
    // A hostile count must not make us allocate: every element takes at least
    // `min_elem_size` bytes, so the count is bounded by what is left in the frame.
    if count < 0 || (count as usize).saturating_mul(min_elem_size.max(1)) > buf.remaining() {
        return Err(DecodeError::BadLength {
            what,
            len: count.into(),
        });
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        out.push(elem(buf)?);
    }
    Ok(out)
}

/// Reads a `vector<ustring>`.
///
/// # Errors
/// [`DecodeError`] as for [`read_vec`].
pub fn read_string_vec(buf: &mut Bytes, what: &'static str) -> Result<Vec<String>, DecodeError> {
    read_vec(buf, what, 4, |b| read_ustring(b, what))
}

/// Writes a `buffer`; `None` writes the null marker.
pub fn write_buffer(buf: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        Some(d) => {
            buf.put_i32(len_i32(d.len()));
            buf.put_slice(d);
        }
        None => buf.put_i32(-1),
    }
}

/// Writes a `ustring`.
pub fn write_ustring(buf: &mut BytesMut, s: &str) {
    buf.put_i32(len_i32(s.len()));
    buf.put_slice(s.as_bytes());
}

/// Writes a `boolean`.
pub fn write_bool(buf: &mut BytesMut, v: bool) {
    buf.put_u8(u8::from(v));
}

/// Writes a `vector<ustring>`.
pub fn write_string_vec<S: AsRef<str>>(buf: &mut BytesMut, items: &[S]) {
    buf.put_i32(len_i32(items.len()));
    for s in items {
        write_ustring(buf, s.as_ref());
    }
}

/// Jute lengths are `int`s. Callers refuse anything near this size long before encoding
/// (the frame limit is about 1 MiB), so saturating only guards against misuse: the server
/// rejects the frame rather than reading a wrapped length.
fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_null_and_empty_are_distinct() {
        let mut out = BytesMut::new();
        write_buffer(&mut out, None);
        write_buffer(&mut out, Some(b""));
        write_buffer(&mut out, Some(b"ab"));
        assert_eq!(
            &out[..],
            &[255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']
        );
        let mut b = out.freeze();
        assert_eq!(read_buffer(&mut b, "x").unwrap(), None);
        assert_eq!(read_buffer(&mut b, "x").unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(
            read_buffer(&mut b, "x").unwrap().as_deref(),
            Some(&b"ab"[..])
        );
        assert!(b.is_empty());
    }

    #[test]
    fn truncated_and_hostile_lengths_are_errors() {
        let mut b = Bytes::from_static(&[0, 0, 0, 9, 1, 2]);
        assert!(matches!(
            read_buffer(&mut b, "x"),
            Err(DecodeError::BadLength { .. })
        ));
        let mut b = Bytes::from_static(&[255, 255, 255, 0]);
        assert!(matches!(
            read_ustring(&mut b, "x"),
            Err(DecodeError::BadLength { .. })
        ));
        let mut b = Bytes::from_static(&[0x7f, 255, 255, 255]);
        assert!(matches!(
            read_string_vec(&mut b, "x"),
            Err(DecodeError::BadLength { .. })
        ));
        let mut b = Bytes::from_static(&[0, 0]);
        assert!(matches!(
            read_i32(&mut b, "x"),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_lossy_not_an_error() {
        let mut b = Bytes::from_static(&[0, 0, 0, 2, 0xff, b'a']);
        assert_eq!(read_ustring(&mut b, "x").unwrap(), "\u{fffd}a");
    }
}
