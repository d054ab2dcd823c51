//! A load that keeps clients busy while an ensemble changes under them, and the tally of
//! what it saw (the ensemble-operation and certificate-rotation tests).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiozk::{Client, Error, SessionEvent, SessionState};

/// Waits for `fut` at most `secs` seconds; panics naming `what` when it takes longer.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s waiting for {what}"),
    }
}

/// What the load of one client saw.
#[derive(Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub connection_losses: AtomicU64,
    /// Any other failure, or a new session: each is a test failure.
    pub bad: std::sync::Mutex<Vec<String>>,
}

/// Writes and reads `path` in a loop until `stop`; counts the outcomes.
pub fn load(client: Client, path: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    tokio::spawn(async move {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let value = n.to_string();
            let write = client.set_data(&path, value.as_bytes(), None).await;
            let read = client.get_data(&path).await.map(|_| ());
            for outcome in [write.map(|_| ()), read] {
                match outcome {
                    Ok(()) => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Err(Error::ConnectionLoss) => {
                        tally.connection_losses.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        tally.bad.lock().unwrap().push(format!("{path}: {e}"));
                        0
                    }
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Records every new session and expiry of `client` in `tally`.
pub fn watch_session(client: &Client, tally: Arc<Tally>) {
    let mut events = client.state_changes();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                SessionEvent::NewSession { session_id } => tally
                    .bad
                    .lock()
                    .unwrap()
                    .push(format!("new session {session_id:#x}")),
                SessionEvent::State(SessionState::Expired, _) => {
                    tally.bad.lock().unwrap().push("session expired".into())
                }
                _ => {}
            }
        }
    });
}
