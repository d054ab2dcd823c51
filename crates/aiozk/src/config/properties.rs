//! The `java.util.Properties` text format, as `Properties.load` reads it.

use crate::error::{Error, Result};

/// One `key = value` entry and the line it starts on (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Parses properties text: comment lines start with `#` or `!`; a key ends at the first
/// unescaped `=`, `:` or blank, and blanks around the separator are skipped; a line ending
/// in an odd number of backslashes continues on the next one; `\t`, `\n`, `\r`, `\f` and
/// `\uXXXX` are escapes, and a backslash before any other character stands for that
/// character.
///
/// # Errors
/// [`Error::InvalidArgument`] for a malformed `\u` escape.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut lines = physical_lines(text).enumerate().peekable();
    while let Some((index, first)) = lines.next() {
        let first = trim_blanks_start(first);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::from(first);
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(trim_blanks_start(next)),
                None => break,
            }
        }
        let line = index + 1;
        let (raw_key, raw_value) = split_entry(&logical);
        entries.push(Entry {
            line,
            key: unescape(raw_key, line)?,
            value: unescape(raw_value, line)?,
        });
    }
    Ok(entries)
}

/// Lines ended by `\n`, `\r` or `\r\n`.
fn physical_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\n', '\r']) {
            Some(end) => {
                let skip = if current[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[end + skip..]);
                Some(&current[..end])
            }
            None => {
                rest = None;
                (!current.is_empty()).then_some(current)
            }
        }
    })
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn trim_blanks_start(s: &str) -> &str {
    s.trim_start_matches(is_blank)
}

fn ends_in_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The raw key and raw value of a logical line (escapes still in place).
fn split_entry(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = trim_blanks_start(&line[key_end..]);
    if let Some(after) = rest.strip_prefix(['=', ':']) {
        rest = trim_blanks_start(after);
    }
    (key, rest)
}

fn unescape(raw: &str, line: usize) -> Result<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let decoded = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match decoded {
                    Some(ch) => out.push(ch),
                    None => {
                        return Err(Error::InvalidArgument(format!(
                            "line {line}: malformed \\uXXXX escape"
                        )))
                    }
                }
            }
            Some(other) => out.push(other),
            // A lone backslash at the very end of the input.
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(usize, String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.line, e.key, e.value))
            .collect()
    }

    fn p(line: usize, k: &str, v: &str) -> (usize, String, String) {
        (line, k.to_owned(), v.to_owned())
    }

    #[test]
    fn separators_comments_and_blanks() {
        let text = "# comment\n! also\n\n  a=1\nb : 2\nc 3\nd\ne=\n f = x = y \n";
        assert_eq!(
            pairs(text),
            vec![
                p(4, "a", "1"),
                p(5, "b", "2"),
                p(6, "c", "3"),
                p(7, "d", ""),
                p(8, "e", ""),
                p(9, "f", "x = y "),
            ]
        );
    }

    #[test]
    fn continuations_and_line_endings() {
        let text = "a = one, \\\n    two, \\\r\n three\rb=\\\\\nc=end\\";
        assert_eq!(
            pairs(text),
            vec![
                p(1, "a", "one, two, three"),
                p(4, "b", "\\"),
                p(5, "c", "end")
            ]
        );
    }

    #[test]
    fn escapes() {
        let text = "key\\ with\\=seps = tab\\tnl\\nu\\u00e9\\q\n";
        assert_eq!(pairs(text), vec![p(1, "key with=seps", "tab\tnl\nuéq")]);
        assert!(parse("a=\\u12").is_err());
        assert!(parse("a=\\uzzzz").is_err());
    }

    #[test]
    fn a_comment_line_does_not_continue() {
        assert_eq!(pairs("# x \\\na=1"), vec![p(2, "a", "1")]);
    }
}
