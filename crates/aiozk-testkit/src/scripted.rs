//! A scripted ZooKeeper server: a TCP listener on `127.0.0.1` whose every connection runs a
//! script, for what a real server never does (garbage, broken handshakes, absurd timeouts).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP server on `127.0.0.1` that runs `script` on its own thread for every connection it
/// accepts, and records when each connection was accepted.
///
/// It speaks only what the script writes: [`ScriptedConn`] has helpers for the frames of the
/// ZooKeeper protocol (the length prefix, the handshake, reply headers). Dropping the server
/// stops accepting; connections end when their script returns.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// use aiozk_testkit::ScriptedServer;
///
/// // Completes the handshake, then answers every request with a frame of garbage.
/// let server = ScriptedServer::start(|mut conn| {
///     conn.handshake(10_000, 0x1234)?;
///     loop {
///         conn.read_frame()?;
///         conn.write_frame(&[0xff; 7])?;
///     }
/// })?;
/// println!("connect to {}", server.addr());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ScriptedServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

/// One accepted connection, as a script sees it. Reads time out after 60 s, so a script
/// never outlives a test by much.
#[derive(Debug)]
pub struct ScriptedConn {
    stream: TcpStream,
    /// The connection's number, counting from 0 in accept order.
    index: usize,
}

impl ScriptedServer {
    /// Binds a free port on `127.0.0.1` and starts accepting.
    ///
    /// # Errors
    /// Binding failed.
    pub fn start<F>(script: F) -> io::Result<Self>
    where
        F: Fn(ScriptedConn) -> io::Result<()> + Send + Sync + 'static,
    {
        Self::start_on(0, script)
    }

    /// Like [`ScriptedServer::start`], on `127.0.0.1:port` (0 for a free port): to bring up
    /// a server where a client has been trying to connect.
    ///
    /// # Errors
    /// Binding failed.
    pub fn start_on<F>(port: u16, script: F) -> io::Result<Self>
    where
        F: Fn(ScriptedConn) -> io::Result<()> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = {
                            let mut times = accepted2.lock().unwrap_or_else(|e| e.into_inner());
                            times.push(Instant::now());
                            times.len() - 1
                        };
                        let script = script.clone();
                        std::thread::spawn(move || {
                            if stream.set_nonblocking(false).is_err()
                                || stream
                                    .set_read_timeout(Some(Duration::from_secs(60)))
                                    .is_err()
                            {
                                return;
                            }
                            let _ = script(ScriptedConn { stream, index });
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            addr,
            stop,
            accepted,
        })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections have been accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted().len()
    }

    /// When each connection was accepted, in order.
    pub fn accepted(&self) -> Vec<Instant> {
        self.accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl ScriptedConn {
    /// The connection's number, counting from 0 in accept order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The underlying socket.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Reads one length-prefixed frame and returns its payload.
    ///
    /// # Errors
    /// The peer closed the connection, the read timed out, or the length is negative.
    pub fn read_frame(&mut self) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = usize::try_from(i32::from_be_bytes(len))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative frame length"))?;
        let mut payload = vec![0; len];
        self.stream.read_exact(&mut payload)?;
        Ok(payload)
    }

    /// Reads one request frame and returns its header's `(xid, opcode)` and its body.
    ///
    /// # Errors
    /// As for [`ScriptedConn::read_frame`]; a frame shorter than a request header.
    pub fn read_request(&mut self) -> io::Result<(i32, i32, Vec<u8>)> {
        let frame = self.read_frame()?;
        if frame.len() < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "short request frame",
            ));
        }
        let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let op = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        Ok((xid, op, frame[8..].to_vec()))
    }

    /// Writes `bytes` as they are (no length prefix added).
    ///
    /// # Errors
    /// The peer is gone.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Writes `payload` as one frame (with its 4-byte length prefix).
    ///
    /// # Errors
    /// The peer is gone.
    pub fn write_frame(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let mut bytes = Vec::with_capacity(payload.len() + 4);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(payload);
        self.write_raw(&bytes)
    }

    /// Reads the client's ConnectRequest and answers with a valid ConnectResponse that
    /// grants session `session_id` with a negotiated timeout of `timeout_ms`.
    ///
    /// # Errors
    /// As for [`ScriptedConn::read_frame`] and [`ScriptedConn::write_frame`].
    pub fn handshake(&mut self, timeout_ms: i32, session_id: i64) -> io::Result<()> {
        self.read_frame()?;
        self.write_frame(&connect_response(timeout_ms, session_id))
    }

    /// Writes a reply frame: the header `(xid, zxid, err)` followed by `body`.
    ///
    /// # Errors
    /// The peer is gone.
    pub fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: &[u8]) -> io::Result<()> {
        let mut payload = Vec::with_capacity(16 + body.len());
        payload.extend_from_slice(&xid.to_be_bytes());
        payload.extend_from_slice(&zxid.to_be_bytes());
        payload.extend_from_slice(&err.to_be_bytes());
        payload.extend_from_slice(body);
        self.write_frame(&payload)
    }

    /// Reads requests until the peer goes, answering pings (and nothing else), so a
    /// connection whose requests "hang" stays up.
    ///
    /// # Errors
    /// The peer is gone (the usual way out).
    pub fn answer_pings_only(&mut self) -> io::Result<()> {
        loop {
            let (xid, op, _) = self.read_request()?;
            if op == 11 {
                self.reply(xid, 0, 0, &[])?;
            }
        }
    }

    /// Reads and drops whatever the client sends until it goes.
    ///
    /// # Errors
    /// The peer is gone (the usual way out).
    pub fn drain(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            if self.stream.read(&mut buf)? == 0 {
                return Ok(());
            }
        }
    }
}

/// The payload of a ConnectResponse frame: protocol version 0, `timeout_ms`, `session_id`,
/// a 16-byte password and the read-only flag false.
pub fn connect_response(timeout_ms: i32, session_id: i64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(37);
    payload.extend_from_slice(&0i32.to_be_bytes());
    payload.extend_from_slice(&timeout_ms.to_be_bytes());
    payload.extend_from_slice(&session_id.to_be_bytes());
    payload.extend_from_slice(&16i32.to_be_bytes());
    payload.extend_from_slice(&[7u8; 16]);
    payload.push(0);
    payload
}
