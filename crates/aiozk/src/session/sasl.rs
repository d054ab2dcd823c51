//! SASL DIGEST-MD5 (RFC 2831), the mechanism ZooKeeper's `DigestLoginModule` speaks.
//!
//! Pure computation: the session feeds it the server's tokens and sends what it returns.

use md5::{Digest, Md5};

use super::types::SaslStep as Step;

/// Credentials for SASL authentication. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// ZooKeeper's fixed service and server names for DIGEST-MD5.
const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

enum Stage {
    Start,
    Challenged { expected_rspauth: String },
    Done,
}

/// One DIGEST-MD5 exchange.
pub(crate) struct DigestMd5 {
    creds: SaslCredentials,
    cnonce: String,
    stage: Stage,
}

impl DigestMd5 {
    pub(crate) fn new(creds: SaslCredentials, cnonce: String) -> Self {
        Self {
            creds,
            cnonce,
            stage: Stage::Start,
        }
    }

    /// The first token: DIGEST-MD5 has no initial response.
    pub(crate) fn initial(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Consumes a server token.
    pub(crate) fn step(&mut self, token: &[u8]) -> Result<Step, String> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Start => {
                let fields = parse_fields(token)?;
                let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                let nonce = get("nonce").ok_or("challenge without nonce")?;
                let realm = get("realm").unwrap_or("");
                let qop = get("qop").unwrap_or("auth");
                if !qop.split(',').any(|q| q.trim() == "auth") {
                    return Err(format!("server offers no qop=auth (offers {qop})"));
                }
                let nc = "00000001";
                let a1 = {
                    let mut inner = Md5::new();
                    inner.update(self.creds.username.as_bytes());
                    inner.update(b":");
                    inner.update(realm.as_bytes());
                    inner.update(b":");
                    inner.update(self.creds.password.as_bytes());
                    let mut a1 = inner.finalize().to_vec();
                    a1.extend_from_slice(format!(":{nonce}:{}", self.cnonce).as_bytes());
                    a1
                };
                let ha1 = hex(&Md5::digest(&a1));
                let response = |a2: &str| {
                    let ha2 = hex(&Md5::digest(a2.as_bytes()));
                    hex(&Md5::digest(
                        format!("{ha1}:{nonce}:{nc}:{}:auth:{ha2}", self.cnonce).as_bytes(),
                    ))
                };
                let client_response = response(&format!("AUTHENTICATE:{DIGEST_URI}"));
                let expected_rspauth = response(&format!(":{DIGEST_URI}"));
                let mut out = format!(
                    "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"{}\",nc={nc},cnonce=\"{}\",digest-uri=\"{DIGEST_URI}\",maxbuf=65536,response={client_response},qop=auth",
                    quote(&self.creds.username),
                    quote(realm),
                    quote(nonce),
                    quote(&self.cnonce),
                );
                out.shrink_to_fit();
                self.stage = Stage::Challenged { expected_rspauth };
                Ok(Step::Send(out.into_bytes()))
            }
            Stage::Challenged { expected_rspauth } => {
                let fields = parse_fields(token)?;
                match fields.iter().find(|(n, _)| n == "rspauth") {
                    Some((_, v)) if *v == expected_rspauth => Ok(Step::Done),
                    Some(_) => Err("the server's rspauth does not match: wrong server".into()),
                    None => Err("final server token has no rspauth".into()),
                }
            }
            Stage::Done => Err("unexpected SASL token after completion".into()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Parses `key=value,key="quoted value",...`.
fn parse_fields(token: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(token).map_err(|_| "SASL token is not UTF-8".to_owned())?;
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err("unterminated quoted value in SASL token".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2831_example_response() {
        // The worked example of RFC 2831 section 4 (IMAP service), recomputed with our URI
        // scheme replaced: check the algorithm on the RFC's own inputs.
        let ha1 = {
            let mut a1 = Md5::digest(b"chris:elwood.innosoft.com:secret").to_vec();
            a1.extend_from_slice(b":OA6MG9tEQGm2hh:OA6MHXh6VqTrRk");
            hex(&Md5::digest(&a1))
        };
        let ha2 = hex(&Md5::digest(b"AUTHENTICATE:imap/elwood.innosoft.com"));
        let response = hex(&Md5::digest(
            format!("{ha1}:OA6MG9tEQGm2hh:00000001:OA6MHXh6VqTrRk:auth:{ha2}").as_bytes(),
        ));
        assert_eq!(response, "d388dad90d4bbd760a152321f2143af7");
    }

    #[test]
    fn full_exchange_and_rspauth_check() {
        let creds = SaslCredentials {
            username: "bob".into(),
            password: "bobsecret".into(),
        };
        let mut c = DigestMd5::new(creds, "abc".into());
        assert!(c.initial().is_empty());
        let Step::Send(resp) = c
            .step(
                b"realm=\"zk-sasl-md5\",nonce=\"n1\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            )
            .unwrap()
        else {
            panic!("expected a response")
        };
        let resp = String::from_utf8(resp).unwrap();
        assert!(resp.contains("username=\"bob\""));
        assert!(resp.contains("digest-uri=\"zookeeper/zk-sasl-md5\""));
        assert!(!resp.contains("bobsecret"));
        assert!(c.step(b"rspauth=0000").is_err());
    }

    #[test]
    fn debug_redacts_password() {
        let creds = SaslCredentials {
            username: "bob".into(),
            password: "bobsecret".into(),
        };
        assert!(!format!("{creds:?}").contains("bobsecret"));
    }

    #[test]
    fn parses_quoted_fields() {
        let f = parse_fields(br#"a="x,\"y",b=2"#).unwrap();
        assert_eq!(
            f,
            vec![("a".into(), "x,\"y".into()), ("b".into(), "2".into())]
        );
        assert!(parse_fields(b"a=\"open").is_err());
    }
}
