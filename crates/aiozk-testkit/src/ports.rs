//! Free loopback ports.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{LazyLock, Mutex};

/// Every port handed out by this process so far; never handed out twice.
static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Returns a TCP port on `127.0.0.1` that was free a moment ago.
///
/// The kernel picks it (bind to port 0, then release). A process-wide set makes sure that no
/// two calls in this process ever return the same port, so concurrent tests never collide with
/// each other. Another process can still take the port between this call and its use; callers
/// that start servers should check [`port_is_free`] right before use (the [`crate::Ensemble`]
/// does, and retries with new ports when a server cannot bind).
///
/// # Errors
///
/// Binding failed, or no unused port was found after many attempts.
pub fn free_port() -> io::Result<u16> {
    free_ports(1).map(|p| p[0])
}

/// Returns `n` distinct free ports on `127.0.0.1`; see [`free_port`].
///
/// # Errors
///
/// Binding failed, or not enough unused ports were found.
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    // Keep the listeners open until all ports are chosen so the kernel gives distinct ones.
    let mut listeners = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut attempts = 0;
    while ports.len() < n {
        attempts += 1;
        if attempts > 1000 + 10 * n {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "could not find enough unused loopback ports",
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let fresh = HANDED_OUT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port);
        if fresh {
            ports.push(port);
        }
        listeners.push(listener);
    }
    Ok(ports)
}

/// Whether a listening socket can be bound on `127.0.0.1:port` right now.
pub fn port_is_free(port: u16) -> bool {
    port_is_free_on(Ipv4Addr::LOCALHOST, port)
}

/// Whether a listening socket can be bound on `ip:port` right now.
pub fn port_is_free_on(ip: Ipv4Addr, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}
