//! `watch`: print a node's changes until interrupted, across reconnects and expiries.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aiozk::{
    Error, EventKind, EventType, OneshotWatcher, PersistentWatcher, SessionEvent, SessionState,
    StateCause, WatchedEvent,
};
use serde_json::json;
use tokio::sync::broadcast;

use crate::exit::{self, Failure};
use crate::output;
use crate::session::Ctx;

/// How long to wait before setting a watch again after a failed attempt.
const RETRY: Duration = Duration::from_millis(250);

/// The options of `watch`.
pub struct WatchArgs {
    /// `-r`.
    pub recursive: bool,
    /// `--persistent`.
    pub persistent: bool,
    /// `-n`.
    pub count: Option<u64>,
}

/// What ended a wait.
enum Wake {
    Event(WatchedEvent),
    Ended,
    State(Result<SessionEvent, broadcast::error::RecvError>),
    Interrupted,
}

/// `watch`.
pub async fn watch(ctx: &Ctx, path: &str, args: WatchArgs) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let mut printer = Printer {
        json: ctx.json,
        left: args.count,
        new_session: false,
    };
    if printer.done() {
        return Ok(exit::OK);
    }
    let mut states = ctx.client.state_changes();
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    if args.persistent || args.recursive {
        persistent(
            ctx,
            path,
            args.recursive,
            &mut printer,
            &mut states,
            interrupted,
        )
        .await
    } else {
        oneshot(ctx, path, &mut printer, &mut states, interrupted).await
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn persistent(
    ctx: &Ctx,
    path: &str,
    recursive: bool,
    printer: &mut Printer,
    states: &mut broadcast::Receiver<SessionEvent>,
    mut interrupted: Pin<&mut impl Future<Output = ()>>,
) -> Result<u8, Failure> {
    let mut watcher: Option<PersistentWatcher> = None;
    loop {
        if watcher.is_none() {
            // Keep trying while the servers are away. The watch then lives across
            // reconnects and session expiries; the client reports what it missed.
            watcher = arm(ctx, path, || ctx.client.add_watch(path, recursive)).await?;
        }
        let wake = tokio::select! {
            ev = next_event(&mut watcher) => ev.map_or(Wake::Ended, Wake::Event),
            st = states.recv() => Wake::State(st),
            () = &mut interrupted => Wake::Interrupted,
        };
        match wake {
            Wake::Event(ev) if ev.is_end() => {
                watcher = None;
                check_session_end(ev.state)?;
            }
            // The state line says it; the catch-up follows.
            Wake::Event(ev) if ev.kind == EventKind::NewSession => {}
            Wake::Event(ev) => {
                printer.event(&ev)?;
                if printer.done() {
                    return Ok(exit::OK);
                }
            }
            Wake::Ended => watcher = None,
            Wake::State(st) => printer.state(ctx, st)?,
            Wake::Interrupted => return Ok(exit::OK),
        }
        if watcher.is_none() {
            tokio::time::sleep(RETRY).await;
        }
    }
}

async fn next_event(watcher: &mut Option<PersistentWatcher>) -> Option<WatchedEvent> {
    match watcher {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

async fn oneshot(
    ctx: &Ctx,
    path: &str,
    printer: &mut Printer,
    states: &mut broadcast::Receiver<SessionEvent>,
    mut interrupted: Pin<&mut impl Future<Output = ()>>,
) -> Result<u8, Failure> {
    let mut data: Option<OneshotWatcher> = None;
    let mut child: Option<OneshotWatcher> = None;
    loop {
        if data.is_none() {
            data = arm(ctx, path, || data_watch(ctx, path)).await?;
        }
        if child.is_none() {
            // Only an existing node has a children list to watch; when it is created the
            // data watch fires and this is tried again.
            child = arm(ctx, path, || child_watch(ctx, path)).await?.flatten();
        }
        let wake = tokio::select! {
            ev = wait(&mut data) => { data = None; Wake::Event(ev) }
            ev = wait(&mut child) => {
                child = None;
                // A deletion fires both watches: the data watch reports it.
                if ev.event_type == EventType::NodeDeleted { Wake::Ended } else { Wake::Event(ev) }
            }
            st = states.recv() => Wake::State(st),
            () = &mut interrupted => Wake::Interrupted,
        };
        match wake {
            Wake::Event(ev) if ev.is_end() => {
                check_session_end(ev.state)?;
                tokio::time::sleep(RETRY).await;
            }
            Wake::Event(ev) => {
                printer.event(&ev)?;
                if printer.done() {
                    return Ok(exit::OK);
                }
            }
            Wake::Ended => {}
            Wake::State(st) => printer.state(ctx, st)?,
            Wake::Interrupted => return Ok(exit::OK),
        }
    }
}

async fn wait(w: &mut Option<OneshotWatcher>) -> WatchedEvent {
    match w {
        Some(w) => w.await,
        None => std::future::pending().await,
    }
}

/// A data watch: on the data if the node exists, else on its creation.
async fn data_watch(ctx: &Ctx, path: &str) -> aiozk::Result<OneshotWatcher> {
    match ctx.client.get_data_watched(path).await {
        Ok((_, _, w)) => Ok(w),
        Err(Error::NoNode) => ctx.client.exists_watched(path).await.map(|(_, w)| w),
        Err(e) => Err(e),
    }
}

/// A child watch, or `None` when the node does not exist.
async fn child_watch(ctx: &Ctx, path: &str) -> aiozk::Result<Option<OneshotWatcher>> {
    match ctx.client.get_children_watched(path).await {
        Ok((_, _, w)) => Ok(Some(w)),
        Err(Error::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets a watch with `make`, retrying while the connection or session is being
/// re-established; other errors end the watch.
async fn arm<T, F: Future<Output = aiozk::Result<T>>>(
    ctx: &Ctx,
    path: &str,
    make: impl Fn() -> F,
) -> Result<Option<T>, Failure> {
    loop {
        match ctx.bounded(make()).await {
            Ok(w) => return Ok(Some(w)),
            Err(e) if e.is_retryable() || matches!(e, Error::SessionExpired) => {
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => return Err(Failure::zk(path, &e)),
        }
    }
}

/// After a watch ended with the session: go on if a new session is coming, else fail.
fn check_session_end(state: SessionState) -> Result<(), Failure> {
    match state {
        SessionState::AuthFailed => Err(Failure::zk("", &Error::AuthFailed)),
        SessionState::Closed => Err(Failure::zk("", &Error::Closed)),
        _ => Ok(()),
    }
}

struct Printer {
    json: bool,
    left: Option<u64>,
    new_session: bool,
}

impl Printer {
    fn done(&self) -> bool {
        self.left == Some(0)
    }

    fn event(&mut self, ev: &WatchedEvent) -> Result<(), Failure> {
        if let Some(n) = &mut self.left {
            *n = n.saturating_sub(1);
        }
        let resync = ev.kind == EventKind::Resync;
        let catch_up = ev.kind == EventKind::CatchUp;
        let name = if resync {
            "Resync".to_owned()
        } else {
            format!("{:?}", ev.event_type)
        };
        if self.json {
            output::json(&json!({
                "type": "event",
                "event": name,
                "path": ev.path,
                "zxid": ev.zxid,
                "catch_up": catch_up,
                "resync": resync,
            }))
        } else if catch_up {
            output::line(&format!("{name} {} (catch-up)", ev.path))
        } else {
            output::line(&format!("{name} {}", ev.path))
        }
    }

    fn state(
        &mut self,
        ctx: &Ctx,
        st: Result<SessionEvent, broadcast::error::RecvError>,
    ) -> Result<(), Failure> {
        let session = || output::hex(ctx.client.session_id());
        let (state, text, reason) = match st {
            Ok(SessionEvent::NewSession { session_id }) => {
                // The Connected state that follows belongs to this new session.
                self.new_session = true;
                let id = output::hex(session_id);
                (
                    "new_session",
                    format!("session expired; new session {id}"),
                    None,
                )
            }
            Ok(SessionEvent::State(SessionState::Disconnected, cause)) => {
                let why = match cause {
                    StateCause::ConnectionLost(e) => e.to_string(),
                    other => format!("{other:?}"),
                };
                ("disconnected", format!("disconnected: {why}"), Some(why))
            }
            Ok(SessionEvent::State(s, _)) if s.is_connected() => {
                if std::mem::take(&mut self.new_session) {
                    return Ok(());
                }
                (
                    "reconnected",
                    format!("reconnected (session {})", session()),
                    None,
                )
            }
            Ok(SessionEvent::State(SessionState::AuthFailed, _)) => {
                return Err(Failure::zk("", &Error::AuthFailed));
            }
            Ok(SessionEvent::State(SessionState::Closed, _)) => {
                return Err(Failure::zk("", &Error::Closed));
            }
            // Expired is followed by NewSession, Connecting by Connected: say it once then.
            Ok(SessionEvent::State(..)) => return Ok(()),
            Err(broadcast::error::RecvError::Lagged(_)) => return Ok(()),
            Err(broadcast::error::RecvError::Closed) => {
                return Err(Failure::zk("", &Error::Closed));
            }
        };
        if self.json {
            let mut v = json!({"type": "state", "state": state, "session": session()});
            if let Some(reason) = reason {
                v["reason"] = json!(reason);
            }
            output::json(&v)
        } else {
            output::line(&text)
        }
    }
}
