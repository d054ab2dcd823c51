//! Opening a TCP connection to a name with several addresses: every address in the
//! resolver's order, staggered in the "happy eyeballs" way (RFC 8305).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpStream;

/// How long an attempt may go unanswered before the next address is tried as well.
pub(crate) const STAGGER: Duration = Duration::from_millis(250);

type Attempt = Pin<Box<dyn Future<Output = (SocketAddr, io::Result<TcpStream>)> + Send>>;

/// Connects to the first of `addrs` that answers. Attempts start in order: the next one when
/// the previous has not succeeded within `stagger`, or at once when it failed. Earlier
/// attempts keep running, so a slow first address can still win; the losers are dropped.
///
/// # Errors
///
/// The last attempt's error when every address failed; [`io::ErrorKind::NotFound`] for an
/// empty list.
///
/// # Cancellation safety
///
/// Dropping the future drops every attempt under way.
pub(crate) async fn connect_staggered(
    addrs: Vec<SocketAddr>,
    stagger: Duration,
) -> io::Result<(TcpStream, SocketAddr)> {
    let start = |addr: SocketAddr| -> Attempt {
        Box::pin(async move { (addr, TcpStream::connect(addr).await) })
    };
    let mut waiting = addrs.into_iter();
    let mut running: Vec<Attempt> = Vec::new();
    let mut last_error = None;
    let mut next_start = Box::pin(tokio::time::sleep(stagger));
    if let Some(first) = waiting.next() {
        running.push(start(first));
    }
    poll_fn(|cx| loop {
        let mut i = 0;
        let mut started = false;
        while i < running.len() {
            match running[i].as_mut().poll(cx) {
                Poll::Ready((addr, Ok(stream))) => return Poll::Ready(Ok((stream, addr))),
                Poll::Ready((_, Err(e))) => {
                    drop(running.swap_remove(i));
                    last_error = Some(e);
                    // A failed attempt hands over to the next address at once.
                    if let Some(next) = waiting.next() {
                        running.push(start(next));
                        next_start
                            .as_mut()
                            .reset(tokio::time::Instant::now() + stagger);
                        started = true;
                    }
                }
                Poll::Pending => i += 1,
            }
        }
        if running.is_empty() {
            return Poll::Ready(Err(last_error.take().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
            })));
        }
        if started {
            // Poll the new attempt once, so that it registers its wake-up.
            continue;
        }
        if waiting.len() > 0 && next_start.as_mut().poll(cx).is_ready() {
            if let Some(next) = waiting.next() {
                running.push(start(next));
            }
            next_start
                .as_mut()
                .reset(tokio::time::Instant::now() + stagger);
            continue;
        }
        return Poll::Pending;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A loopback port with nothing listening (connections are refused at once).
    async fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        addr
    }

    #[tokio::test]
    async fn a_refused_address_hands_over_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = listener.local_addr().unwrap();
        let refused = closed_port().await;
        let t0 = std::time::Instant::now();
        // A stagger far longer than the test: only the refusal can start the second attempt.
        let (_, addr) = connect_staggered(vec![refused, live], Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(addr, live);
        assert!(t0.elapsed() < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn the_first_address_wins_when_it_answers() {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let second = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = vec![first.local_addr().unwrap(), second.local_addr().unwrap()];
        let (_, addr) = connect_staggered(addrs.clone(), STAGGER).await.unwrap();
        assert_eq!(addr, addrs[0]);
    }

    #[tokio::test]
    async fn every_address_failing_gives_the_last_error() {
        let addrs = vec![closed_port().await, closed_port().await];
        let err = connect_staggered(addrs, STAGGER).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let err = connect_staggered(Vec::new(), STAGGER).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
