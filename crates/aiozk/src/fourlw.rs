//! Four-letter words: the plain-text admin commands served on the client port.
//!
//! Each command uses a fresh TCP connection and no session: the client sends the four ASCII
//! letters, the server writes its answer and closes the connection. Servers answer only the
//! commands on their `4lw.commands.whitelist`, which by default holds just `srvr` (plus `isro`
//! when read-only mode is enabled).

use std::collections::BTreeMap;
use std::fmt;
use std::io::ErrorKind;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// The tail of the line a server sends for a command missing from its whitelist.
const NOT_WHITELISTED: &str = "is not executed because it is not in the whitelist.";

/// A four-letter command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// `ruok`: answers `imok` if the process is up (not that it has a quorum).
    Ruok,
    /// `srvr`: version, latencies, counters, zxid, `Mode:` and node count. The best readiness
    /// probe.
    Srvr,
    /// `stat`: like `srvr`, plus one line per client connection.
    Stat,
    /// `mntr`: `key<TAB>value` metric lines; see [`parse_mntr`].
    Mntr,
    /// `conf`: the serving configuration as `key=value` lines.
    Conf,
    /// `cons`: one line per connection with its counters and session.
    Cons,
    /// `envi`: the server's environment as `key=value` lines.
    Envi,
    /// `wchs`: a summary of the watches.
    Wchs,
    /// `isro`: `ro` when the server is in read-only mode, `rw` otherwise.
    Isro,
    /// `dump`: outstanding sessions and their ephemeral nodes.
    Dump,
    /// `dirs`: the size of the snapshot and log directories.
    Dirs,
    /// `wchc`: watches by session (can be expensive).
    Wchc,
    /// `wchp`: watches by path (can be expensive).
    Wchp,
    /// `crst`: resets the connection statistics.
    Crst,
    /// `srst`: resets the server statistics.
    Srst,
}

impl FourLetterWord {
    /// Every command, in declaration order.
    pub const ALL: [Self; 15] = [
        Self::Ruok,
        Self::Srvr,
        Self::Stat,
        Self::Mntr,
        Self::Conf,
        Self::Cons,
        Self::Envi,
        Self::Wchs,
        Self::Isro,
        Self::Dump,
        Self::Dirs,
        Self::Wchc,
        Self::Wchp,
        Self::Crst,
        Self::Srst,
    ];

    /// The four letters sent to the server, e.g. `"ruok"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ruok => "ruok",
            Self::Srvr => "srvr",
            Self::Stat => "stat",
            Self::Mntr => "mntr",
            Self::Conf => "conf",
            Self::Cons => "cons",
            Self::Envi => "envi",
            Self::Wchs => "wchs",
            Self::Isro => "isro",
            Self::Dump => "dump",
            Self::Dirs => "dirs",
            Self::Wchc => "wchc",
            Self::Wchp => "wchp",
            Self::Crst => "crst",
            Self::Srst => "srst",
        }
    }
}

impl fmt::Display for FourLetterWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FourLetterWord {
    type Err = Error;

    /// Parses a command name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|word| word.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidArgument(format!("unknown four-letter word {s:?}")))
    }
}

/// Sends `word` to the server at `addr` (`host:port`, resolved here) and returns its whole
/// answer.
///
/// # Errors
///
/// * [`Error::Timeout`] when resolving, connecting, sending and reading the answer together
///   take longer than `timeout`.
/// * [`Error::Io`] when the name does not resolve or the connection fails.
/// * [`Error::InvalidArgument`] when the server refuses the command because it is not in its
///   `4lw.commands.whitelist`.
pub async fn four_letter_word(
    addr: &str,
    word: FourLetterWord,
    timeout: Duration,
) -> Result<String> {
    let answer = tokio::time::timeout(timeout, exchange(addr, word))
        .await
        .map_err(|_| Error::Timeout)?
        .map_err(|e| Error::io(&e))?;
    if answer.trim_end().ends_with(NOT_WHITELISTED) {
        return Err(Error::InvalidArgument(format!(
            "the server at {addr} does not allow the four-letter word {word:?}: it is not in its \
             4lw.commands.whitelist"
        )));
    }
    Ok(answer)
}

/// True when the server at `addr` answers `ruok` with `imok`: the process is up (which says
/// nothing about quorum).
///
/// # Errors
///
/// As [`four_letter_word`]; a server that has `ruok` off its whitelist gives
/// [`Error::InvalidArgument`].
pub async fn ruok(addr: &str, timeout: Duration) -> Result<bool> {
    let answer = four_letter_word(addr, FourLetterWord::Ruok, timeout).await?;
    Ok(answer.trim() == "imok")
}

/// Parses a `mntr` answer: one `key<TAB>value` pair per line, e.g. `zk_server_state` →
/// `leader`. Lines without a tab are skipped.
pub fn parse_mntr(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .collect()
}

/// The value of the `Mode:` line of a `srvr` or `stat` answer: `standalone`, `leader`,
/// `follower`, `observer` or `read-only`. `None` when there is no such line, as when the
/// server is not currently serving requests.
pub fn parse_srvr_mode(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix("Mode:"))
        .map(str::trim)
}

/// The server's version from a `srvr` or `stat` answer: `Zookeeper version: 3.8.0-…, built
/// on …` gives `(3, 8, 0)`. `None` when the line is missing or does not start with three
/// numbers.
pub fn parse_srvr_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("Zookeeper version:"))?
        .trim_start();
    let end = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(version.len());
    let mut parts = version[..end].split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Connects, sends the command and reads until the server closes the connection.
async fn exchange(addr: &str, word: FourLetterWord) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(word.as_str().as_bytes()).await?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // Some servers reset instead of closing once they have written the answer; what
            // arrived before the reset is the complete answer.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !answer.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srvr_version() {
        let answer =
            "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2022-02-25 08:49 UTC\n\
                      Latency min/avg/max: 0/0.0/0\nMode: standalone\n";
        assert_eq!(parse_srvr_version(answer), Some((3, 8, 0)));
        assert_eq!(
            parse_srvr_version(
                "Zookeeper version: 3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, built"
            ),
            Some((3, 4, 14))
        );
        assert_eq!(parse_srvr_version("Zookeeper version: 3.9"), None);
        assert_eq!(parse_srvr_version("Zookeeper version: x.y.z"), None);
        assert_eq!(parse_srvr_version("Mode: leader"), None);
    }
    use tokio::net::TcpListener;

    #[test]
    fn names_round_trip() {
        for word in FourLetterWord::ALL {
            assert_eq!(word.as_str().len(), 4);
            assert_eq!(word.as_str().parse::<FourLetterWord>(), Ok(word));
            assert_eq!(word.to_string(), word.as_str());
        }
        assert_eq!("RUOK".parse::<FourLetterWord>(), Ok(FourLetterWord::Ruok));
        assert!(matches!(
            "nope".parse::<FourLetterWord>(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn mntr() {
        let text = "zk_version\t3.8.0-debian, built on 2022-02-01\nzk_server_state\tleader\n\
                    zk_znode_count\t5\r\nzk_watch_count\t0\n\nnot a metric\n";
        let m = parse_mntr(text);
        assert_eq!(m["zk_server_state"], "leader");
        assert_eq!(m["zk_znode_count"], "5");
        assert_eq!(m["zk_version"], "3.8.0-debian, built on 2022-02-01");
        assert_eq!(m.len(), 4);
        assert!(parse_mntr("").is_empty());
    }

    #[test]
    fn srvr_mode() {
        let text = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nReceived: 3\n\
                    Sent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x0\nMode: standalone\n\
                    Node count: 5\n";
        assert_eq!(parse_srvr_mode(text), Some("standalone"));
        assert_eq!(parse_srvr_mode("Mode: follower\r\n"), Some("follower"));
        assert_eq!(
            parse_srvr_mode("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }

    /// Serves one connection: checks the 4 bytes received, writes `answer`, closes.
    async fn one_shot_server(expect: &'static str, answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut cmd = [0u8; 4];
            sock.read_exact(&mut cmd).await.unwrap();
            assert_eq!(&cmd, expect.as_bytes());
            sock.write_all(answer.as_bytes()).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn exchange_reads_until_close() {
        let addr = one_shot_server("ruok", "imok").await;
        assert_eq!(ruok(&addr, Duration::from_secs(5)).await, Ok(true));

        let addr = one_shot_server("mntr", "zk_server_state\tfollower\n").await;
        let text = four_letter_word(&addr, FourLetterWord::Mntr, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(parse_mntr(&text)["zk_server_state"], "follower");
    }

    #[tokio::test]
    async fn not_whitelisted_is_an_invalid_argument() {
        let addr = one_shot_server(
            "stat",
            "stat is not executed because it is not in the whitelist.\n",
        )
        .await;
        let err = four_letter_word(&addr, FourLetterWord::Stat, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(msg) if msg.contains("whitelist")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            // Accept and hold the connection open without answering.
            let (sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(sock);
        });
        let result =
            four_letter_word(&addr, FourLetterWord::Srvr, Duration::from_millis(200)).await;
        assert_eq!(result, Err(Error::Timeout));
        server.abort();
    }

    #[tokio::test]
    async fn refused_connection_is_an_io_error() {
        // Bind then drop, so the port is (very likely) closed.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let result = four_letter_word(&addr, FourLetterWord::Ruok, Duration::from_secs(5)).await;
        assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    }
}
