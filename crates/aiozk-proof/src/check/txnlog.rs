//! A reader of ZooKeeper's transaction log files (`dataDir/version-2/log.<zxid>`), enough
//! to list which node each transaction changed. Written here rather than running
//! `TxnLogToolkit` once per file: a JVM start per file costs seconds, the format is small,
//! and only the headers and the first path are needed.
//!
//! A file is a header (`ZKLG`, format version, database id) followed by entries: a
//! checksum (8 bytes), a length (4), the serialized transaction (its header: session id,
//! cxid, zxid, time, type; then the record, which starts with the path for the types read
//! here) and an end-of-record byte `B`. Files are preallocated with zeros, so a length of
//! 0 ends the file.

use std::collections::BTreeMap;
use std::path::Path;

/// One transaction: its zxid, type, and the path it touched (when it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Txn {
    pub(crate) zxid: i64,
    pub(crate) kind: i32,
    pub(crate) path: Option<String>,
}

/// Transaction types whose record starts with a path.
pub(crate) const CREATE: i32 = 1;
pub(crate) const DELETE: i32 = 2;
pub(crate) const SET_DATA: i32 = 5;
const CREATE2: i32 = 15;
const CREATE_CONTAINER: i32 = 19;
const CREATE_TTL: i32 = 21;
const DELETE_CONTAINER: i32 = 20;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let buf: &'a [u8] = self.buf;
        let s = buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The transactions of one log file, in file order. Stops quietly at the end of the
/// written part (or at a torn last entry).
pub(crate) fn read_file(bytes: &[u8]) -> Vec<Txn> {
    let mut out = Vec::new();
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.take(4) != Some(b"ZKLG") || r.i32().is_none() || r.i64().is_none() {
        return out;
    }
    while let (Some(_crc), Some(len)) = (r.i64(), r.i32()) {
        let Ok(len) = usize::try_from(len) else { break };
        if len == 0 {
            break;
        }
        let Some(entry) = r.take(len) else { break };
        if r.take(1) != Some(b"B") {
            break;
        }
        let mut e = Reader { buf: entry, pos: 0 };
        let (Some(_sid), Some(_cxid), Some(zxid), Some(_time), Some(kind)) =
            (e.i64(), e.i32(), e.i64(), e.i64(), e.i32())
        else {
            break;
        };
        let path = match kind {
            CREATE | DELETE | SET_DATA | CREATE2 | CREATE_CONTAINER | CREATE_TTL
            | DELETE_CONTAINER => e
                .i32()
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| e.take(n))
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        out.push(Txn { zxid, kind, path });
    }
    out
}

/// Every transaction in the logs under these members' directories, merged by zxid (a
/// member that was down may lack some; another has them).
pub(crate) fn read_members(dirs: &[std::path::PathBuf]) -> BTreeMap<i64, Txn> {
    let mut all = BTreeMap::new();
    for dir in dirs {
        let logs = dir.join("data").join("version-2");
        let Ok(entries) = std::fs::read_dir(&logs) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if is_log(&path) {
                if let Ok(bytes) = std::fs::read(&path) {
                    for t in read_file(&bytes) {
                        all.insert(t.zxid, t);
                    }
                }
            }
        }
    }
    all
}

fn is_log(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("log."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(zxid: i64, kind: i32, path: &str) -> Vec<u8> {
        let mut txn = Vec::new();
        txn.extend(7i64.to_be_bytes());
        txn.extend(1i32.to_be_bytes());
        txn.extend(zxid.to_be_bytes());
        txn.extend(0i64.to_be_bytes());
        txn.extend(kind.to_be_bytes());
        txn.extend((path.len() as i32).to_be_bytes());
        txn.extend(path.as_bytes());
        txn.extend([0, 0, 0, 1, b'x', 0, 0, 0, 3]);
        let mut out = Vec::new();
        out.extend(0i64.to_be_bytes());
        out.extend((txn.len() as i32).to_be_bytes());
        out.extend(txn);
        out.push(b'B');
        out
    }

    #[test]
    fn reads_entries_until_the_zero_padding() {
        let mut file = b"ZKLG".to_vec();
        file.extend(2i32.to_be_bytes());
        file.extend(0i64.to_be_bytes());
        file.extend(entry(0x100000001, SET_DATA, "/a"));
        file.extend(entry(0x100000002, DELETE, "/b"));
        file.extend([0u8; 64]);
        let txns = read_file(&file);
        assert_eq!(txns.len(), 2);
        assert_eq!(txns[0].path.as_deref(), Some("/a"));
        assert_eq!(txns[1].kind, DELETE);
        assert_eq!(txns[1].zxid, 0x100000002);
    }

    #[test]
    fn a_torn_entry_ends_the_file() {
        let mut file = b"ZKLG".to_vec();
        file.extend(2i32.to_be_bytes());
        file.extend(0i64.to_be_bytes());
        let e = entry(5, SET_DATA, "/a");
        file.extend(&e[..e.len() - 3]);
        assert!(read_file(&file).is_empty());
    }
}
