//! Writing results: text and JSON shapes shared by the commands.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use aiozk::{Acl, Perms, Stat};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::exit::{self, Failure};

/// Whether the last output left a line open (raw data without a final newline).
static OPEN_LINE: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to standard output and flushes. A closed pipe ends zk quietly.
pub fn raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if let Some(last) = bytes.last() {
        OPEN_LINE.store(*last != b'\n', Ordering::Relaxed);
    }
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(write_failure)
}

/// Ends the line that raw output left open, if any (so a prompt starts on a line of its
/// own).
pub fn end_open_line() -> Result<(), Failure> {
    if OPEN_LINE.swap(false, Ordering::Relaxed) {
        return raw(b"\n");
    }
    Ok(())
}

/// Writes one line to standard output.
pub fn line(text: &str) -> Result<(), Failure> {
    OPEN_LINE.store(false, Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(write_failure)
}

/// Writes a JSON value on one line.
pub fn json(value: &Value) -> Result<(), Failure> {
    line(&value.to_string())
}

fn write_failure(err: std::io::Error) -> Failure {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::silent(exit::OK)
    } else {
        Failure::new(exit::GENERIC, format!("cannot write the output: {err}"))
    }
}

/// The Stat as a JSON object with the Stat field names.
pub fn stat_json(stat: &Stat) -> Value {
    json!({
        "czxid": stat.czxid,
        "mzxid": stat.mzxid,
        "ctime": stat.ctime,
        "mtime": stat.mtime,
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeral_owner": stat.ephemeral_owner,
        "data_length": stat.data_length,
        "num_children": stat.num_children,
        "pzxid": stat.pzxid,
    })
}

/// The Stat as `name = value` lines: zxids and the owner in hex, times as UTC dates.
pub fn stat_text(stat: &Stat) -> String {
    let rows: [(&str, String); 11] = [
        ("czxid", hex(stat.czxid)),
        ("mzxid", hex(stat.mzxid)),
        ("ctime", utc(stat.ctime)),
        ("mtime", utc(stat.mtime)),
        ("pzxid", hex(stat.pzxid)),
        ("cversion", stat.cversion.to_string()),
        ("version", stat.version.to_string()),
        ("aversion", stat.aversion.to_string()),
        ("ephemeral_owner", hex(stat.ephemeral_owner)),
        ("data_length", stat.data_length.to_string()),
        ("num_children", stat.num_children.to_string()),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `0x` and the value in hex (as the unsigned 64-bit pattern).
pub fn hex(v: i64) -> String {
    format!("{:#x}", v as u64)
}

/// Milliseconds since the epoch as an ISO 8601 UTC date with milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Node data as `{"data": .., "encoding": "utf8"|"base64"}` members.
pub fn data_fields(data: &[u8]) -> (Value, &'static str) {
    match std::str::from_utf8(data) {
        Ok(text) => (Value::String(text.to_owned()), "utf8"),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(data)),
            "base64",
        ),
    }
}

/// Decodes data written by [`data_fields`].
pub fn decode_data(data: &str, encoding: &str) -> Result<Vec<u8>, String> {
    match encoding {
        "utf8" => Ok(data.as_bytes().to_vec()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("bad base64 data: {e}")),
        other => Err(format!("unknown encoding {other:?} (utf8 or base64)")),
    }
}

/// An ACL as `[{"scheme", "id", "perms"}]`.
pub fn acl_json(acl: &[Acl]) -> Value {
    Value::Array(
        acl.iter()
            .map(|a| json!({"scheme": a.id.scheme, "id": a.id.id, "perms": perms(a.perms)}))
            .collect(),
    )
}

/// Reads an ACL written by [`acl_json`].
pub fn acl_from_json(value: &Value) -> Result<Vec<Acl>, String> {
    let entries = value.as_array().ok_or("\"acl\" is not an array")?;
    entries
        .iter()
        .map(|e| {
            let field = |name: &str| {
                e.get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("ACL entry without a string {name:?}"))
            };
            let perms: Perms = field("perms")?
                .parse()
                .map_err(|err| format!("bad ACL perms: {err}"))?;
            Ok(Acl::new(perms, field("scheme")?, field("id")?))
        })
        .collect()
}

/// Permissions as the `cdrwa` letters that apply.
pub fn perms(p: Perms) -> String {
    p.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn data_round_trips() {
        for data in [&b""[..], b"hello", b"\xff\x00\xfe", "é".as_bytes()] {
            let (v, enc) = data_fields(data);
            assert_eq!(decode_data(v.as_str().unwrap(), enc).unwrap(), data);
        }
        assert_eq!(data_fields(b"\xff").1, "base64");
        assert!(decode_data("x", "rot13").is_err());
    }

    #[test]
    fn acls_round_trip() {
        let acl = vec![
            Acl::anyone_all(),
            Acl::new(Perms::READ | Perms::ADMIN, "ip", "10.0.0.0/8"),
        ];
        let v = acl_json(&acl);
        assert_eq!(v[0]["perms"], "cdrwa");
        assert_eq!(v[1]["perms"], "ra");
        assert_eq!(acl_from_json(&v).unwrap(), acl);
        assert!(acl_from_json(&json!([{"scheme": "world"}])).is_err());
    }

    #[test]
    fn hex_is_unsigned() {
        assert_eq!(hex(0), "0x0");
        assert_eq!(hex(-1), "0xffffffffffffffff");
    }
}
