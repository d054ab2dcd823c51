//! Node names: the ids in them, and the `<label>-<guid>-<10-digit sequence>` layout of
//! sequential nodes that the recipes share with the Python library aiozk.

/// A random version-4 UUID as 32 lowercase hex digits, like Python's `uuid4().hex`.
pub(crate) fn new_guid() -> String {
    let mut bits: u128 = rand::random();
    // Version 4 in bits 76..80, variant 0b10 in bits 62..64 (RFC 4122).
    bits &= !(0xF_u128 << 76);
    bits |= 0x4_u128 << 76;
    bits &= !(0x3_u128 << 62);
    bits |= 0x2_u128 << 62;
    format!("{bits:032x}")
}

/// A child of a recipe's base node whose name ends in a 10-digit sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sibling {
    /// The child's name.
    pub(crate) name: String,
    /// aiozk's label: the name without its last two `-` separated parts
    /// (`name.rsplit('-', 2)[0]`).
    pub(crate) label: String,
    /// The sequence number (the last 10 characters).
    pub(crate) seq: i64,
}

impl Sibling {
    /// Parses `name` as aiozk does: it is a sibling when it ends with 10 ASCII digits.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let split = name.len().checked_sub(10)?;
        if !name.is_char_boundary(split) {
            return None;
        }
        let tail = &name[split..];
        if !tail.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq = tail.parse().ok()?;
        // `rsplitn` always yields at least one piece.
        let label = name.rsplitn(3, '-').last().unwrap_or(name);
        Some(Self {
            name: name.to_owned(),
            label: label.to_owned(),
            seq,
        })
    }
}

/// The siblings among `children`, sorted by sequence number (aiozk's `analyze_siblings`).
pub(crate) fn sorted_siblings(children: &[String]) -> Vec<Sibling> {
    let mut siblings: Vec<Sibling> = children.iter().filter_map(|c| Sibling::parse(c)).collect();
    siblings.sort_by_key(|s| s.seq);
    siblings
}

/// The 10-digit sequence number at the end of a sequential node's name.
pub(crate) fn sequence_of(name: &str) -> Option<u64> {
    let tail = name.get(name.len().checked_sub(10)?..)?;
    if tail.bytes().all(|b| b.is_ascii_digit()) {
        tail.parse().ok()
    } else {
        None
    }
}

/// aiozk's label of a `<label>-<guid>-<sequence>` node: everything before the last two
/// dashes.
pub(crate) fn label_of(name: &str) -> &str {
    let mut parts = name.rsplitn(3, '-');
    let _seq = parts.next();
    let _guid = parts.next();
    parts.next().unwrap_or(name)
}

/// The sequential children of `parent` (names ending in 10 digits), lowest sequence first.
pub(crate) fn sorted_sequential(children: Vec<String>) -> Vec<String> {
    let mut seq: Vec<(u64, String)> = children
        .into_iter()
        .filter_map(|c| sequence_of(&c).map(|s| (s, c)))
        .collect();
    seq.sort();
    seq.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_is_uuid4_hex() {
        let g = new_guid();
        assert_eq!(g.len(), 32);
        assert!(g
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(&g[12..13], "4");
        assert!(matches!(&g[16..17], "8" | "9" | "a" | "b"));
        assert_ne!(new_guid(), g);
    }

    #[test]
    fn siblings_parse_like_aiozk() {
        let s = Sibling::parse("lock-0123abcd-0000000042").unwrap();
        assert_eq!((s.label.as_str(), s.seq), ("lock", 42));
        let s = Sibling::parse("my-read-lock-g-0000000001").unwrap();
        assert_eq!(s.label, "my-read-lock");
        // No dashes: the whole name is the label, as with Python's rsplit.
        assert_eq!(Sibling::parse("0000000007").unwrap().label, "0000000007");
        assert!(Sibling::parse("lock-g-000000001x").is_none());
        assert!(Sibling::parse("short").is_none());
        assert!(Sibling::parse("é000000001").is_none());
        let sorted = sorted_siblings(&[
            "b-g-0000000003".into(),
            "sentinel".into(),
            "a-g-0000000001".into(),
            "c-h-0000000002".into(),
        ]);
        let names: Vec<_> = sorted.iter().map(|s| s.seq).collect();
        assert_eq!(names, [1, 2, 3]);
    }

    #[test]
    fn names() {
        assert_eq!(sequence_of("worker-abc-0000000042"), Some(42));
        assert_eq!(sequence_of("sentinel"), None);
        assert_eq!(sequence_of("x000000001a"), None);
        assert_eq!(label_of("worker-abc-0000000042"), "worker");
        assert_eq!(label_of("my-name-abc-0000000042"), "my-name");
        assert_eq!(label_of("plain"), "plain");
        assert_eq!(
            sorted_sequential(vec![
                "b-g-0000000002".into(),
                "sentinel".into(),
                "a-g-0000000001".into()
            ]),
            vec!["a-g-0000000001".to_owned(), "b-g-0000000002".to_owned()]
        );
    }
}
