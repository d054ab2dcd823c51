//! Four-letter words (`ruok`, `srvr`, `mntr`, ...) and the server mode they report.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The role a server reports on the `Mode:` line of `srvr`/`stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A single server that is not part of a quorum.
    Standalone,
    /// The quorum leader.
    Leader,
    /// A quorum follower.
    Follower,
    /// A non-voting observer.
    Observer,
    /// A quorum member that lost its quorum and serves reads only (`readonlymode.enabled`).
    ReadOnly,
}

impl Mode {
    /// Parses the output of the `srvr` or `stat` four-letter word. `None` when there is no
    /// `Mode:` line, for example when the server says it is not currently serving requests.
    pub fn from_srvr(text: &str) -> Option<Mode> {
        text.lines()
            .find_map(|line| line.trim().strip_prefix("Mode:"))
            .and_then(|m| Mode::from_name(m.trim()))
    }

    /// Parses a mode name as the server prints it (`standalone`, `leader`, `follower`,
    /// `observer`, `read-only`).
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "standalone" => Some(Mode::Standalone),
            "leader" => Some(Mode::Leader),
            "follower" => Some(Mode::Follower),
            "observer" => Some(Mode::Observer),
            "read-only" => Some(Mode::ReadOnly),
            _ => None,
        }
    }

    /// The name the server prints for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::ReadOnly => "read-only",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn timed_out(addr: SocketAddr, word: &str, timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("four-letter word {word:?} to {addr} timed out after {timeout:?}"),
    )
}

fn check_word(word: &str) -> io::Result<()> {
    if word.len() == 4 && word.is_ascii() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a four-letter word must be 4 ASCII characters, got {word:?}"),
        ))
    }
}

/// Sends a four-letter word (`ruok`, `srvr`, `mntr`, `stat`, `conf`, `cons`, `dump`, `isro`,
/// ...) to a ZooKeeper client port on a fresh connection and returns the whole answer (the
/// server closes the connection after answering). Blocking.
///
/// `timeout` bounds the whole exchange: connecting, sending and reading to end of stream.
///
/// # Errors
///
/// Connection failures, an error of kind [`io::ErrorKind::TimedOut`] when the answer is not
/// complete within `timeout`, and [`io::ErrorKind::InvalidInput`] when `word` is not 4 ASCII
/// characters. An answer that is not valid UTF-8 is converted lossily.
pub fn four_letter_word(addr: SocketAddr, word: &str, timeout: Duration) -> io::Result<String> {
    check_word(word)?;
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| timed_out(addr, word, timeout))
    };
    let mut stream = TcpStream::connect_timeout(&addr, remaining()?)?;
    let _ = stream.set_nodelay(true);
    stream.set_write_timeout(Some(remaining()?))?;
    stream
        .write_all(word.as_bytes())
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(addr, word, timeout),
            _ => e,
        })?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream.set_read_timeout(Some(remaining()?))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out(addr, word, timeout))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Async version of [`four_letter_word`] (tokio). Uses tokio timers, so it needs a runtime with
/// time enabled and does not work under `tokio::time::pause()`.
///
/// # Errors
///
/// As for [`four_letter_word`].
pub async fn four_letter_word_async(
    addr: SocketAddr,
    word: &str,
    timeout: Duration,
) -> io::Result<String> {
    check_word(word)?;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        stream.write_all(word.as_bytes()).await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        Ok::<_, io::Error>(String::from_utf8_lossy(&out).into_owned())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(addr, word, timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::Mode;

    #[test]
    fn parses_mode_lines() {
        let text = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29\n\
                    Latency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(Mode::from_srvr(text), Some(Mode::Follower));
        assert_eq!(Mode::from_srvr("Mode: read-only\n"), Some(Mode::ReadOnly));
        assert_eq!(
            Mode::from_srvr("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
        for m in [
            Mode::Standalone,
            Mode::Leader,
            Mode::Follower,
            Mode::Observer,
            Mode::ReadOnly,
        ] {
            assert_eq!(Mode::from_name(m.as_str()), Some(m));
        }
    }
}
