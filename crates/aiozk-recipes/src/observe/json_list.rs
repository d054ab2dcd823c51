//! The JSON list of strings an [`Allocator`](crate::Allocator) keeps in its base node
//! (aiozk stores `json.dumps(list(items))` there). Only what that needs: a flat array whose
//! elements are strings; numbers, booleans and null are kept as their JSON text.

/// Encodes `items` as a JSON array of strings.
pub(crate) fn encode_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        for c in item.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

/// Decodes a JSON array of scalars; `None` when the text is not one.
pub(crate) fn decode_list(text: &str) -> Option<Vec<String>> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.eat(b'[')?;
    let mut out = Vec::new();
    p.ws();
    if p.peek() == Some(b']') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            out.push(p.scalar()?);
            p.ws();
            match p.next()? {
                b',' => continue,
                b']' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == p.s.len()).then_some(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn scalar(&mut self) -> Option<String> {
        if self.peek()? == b'"' {
            self.i += 1;
            return self.string();
        }
        let start = self.i;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Option<String> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                self.eat(b'\\')?;
                                self.eat(b'u')?;
                                let lo = self.hex4()?;
                                let code =
                                    0x10000 + ((hi - 0xD800) << 10) + (lo.checked_sub(0xDC00)?);
                                char::from_u32(code)?
                            } else {
                                char::from_u32(hi)?
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let items: Vec<String> = vec![
            "a".into(),
            "q\"uote".into(),
            "back\\slash\n".into(),
            "é".into(),
        ];
        let text = encode_list(&items);
        assert_eq!(decode_list(&text), Some(items));
        assert_eq!(decode_list("[]"), Some(vec![]));
        assert_eq!(
            decode_list(" [ \"x\" , 3 ] "),
            Some(vec!["x".into(), "3".into()])
        );
        assert_eq!(decode_list("[\"\\ud83d\\ude00\"]"), Some(vec!["😀".into()]));
        assert_eq!(decode_list("{}"), None);
        assert_eq!(decode_list("[\"a\""), None);
        assert_eq!(decode_list("[\"a\"] x"), None);
    }
}
