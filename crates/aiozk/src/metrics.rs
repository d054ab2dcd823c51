//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! The client records the metrics below with whatever recorder the program installed
//! (`metrics-exporter-prometheus`, `metrics-util`'s, ...). Without a recorder every
//! handle is a no-op: the client keeps its handles (registered once per client and label
//! set) and takes no clock reading of its own for them, so a program that installs none
//! pays a branch per request. Install the recorder before building clients: handles
//! registered before it stay no-ops (the facade's rule).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `zookeeper_client_requests_total` | counter | `op`, `outcome` | requests completed; `op` is ZooKeeper's name (`getData`, `create2`, ...), `outcome` `ok` or the error (`no_node`, `connection_loss`, ...) |
//! | `zookeeper_client_request_duration_seconds` | histogram | `op` | from the request's submission to its reply |
//! | `zookeeper_client_disconnects_total` | counter | `cause` | connections lost, by the error that ended them |
//! | `zookeeper_client_reconnects_total` | counter | `cause` | reconnections to the same session, by the cause of the loss before |
//! | `zookeeper_client_session_events_total` | counter | `event` | state changes (`connected`, `connected_read_only`, `disconnected`, `expired`, `auth_failed`, `closed`) and `new_session` |
//! | `zookeeper_client_watches` | gauge | | live local watches, all clients of the process together |
//! | `zookeeper_client_watch_events_total` | counter | | watch notifications received |
//! | `zookeeper_client_sent_bytes_total` | counter | | bytes written to servers |
//! | `zookeeper_client_received_bytes_total` | counter | | bytes read from servers |
//! | `zookeeper_client_coalesced_reads_total` | counter | | reads sent inside MultiRead batches (read coalescing, [`ClientBuilder::coalesce_reads`](crate::ClientBuilder::coalesce_reads)) |
//!
//! `examples/prometheus.rs` exports them in the Prometheus text format.

use std::sync::Once;
use std::time::Duration;

use aiozk_proto::OpCode;
use metrics::{Counter, Gauge, Histogram, Unit};

use crate::error::Error;
use crate::session::{SessionState, StateCause};

/// `zookeeper_client_requests_total{op, outcome}`.
pub const REQUESTS: &str = "zookeeper_client_requests_total";
/// `zookeeper_client_request_duration_seconds{op}`.
pub const REQUEST_DURATION: &str = "zookeeper_client_request_duration_seconds";
/// `zookeeper_client_disconnects_total{cause}`.
pub const DISCONNECTS: &str = "zookeeper_client_disconnects_total";
/// `zookeeper_client_reconnects_total{cause}`.
pub const RECONNECTS: &str = "zookeeper_client_reconnects_total";
/// `zookeeper_client_session_events_total{event}`.
pub const SESSION_EVENTS: &str = "zookeeper_client_session_events_total";
/// `zookeeper_client_watches`.
pub const WATCHES: &str = "zookeeper_client_watches";
/// `zookeeper_client_watch_events_total`.
pub const WATCH_EVENTS: &str = "zookeeper_client_watch_events_total";
/// `zookeeper_client_sent_bytes_total`.
pub const SENT_BYTES: &str = "zookeeper_client_sent_bytes_total";
/// `zookeeper_client_received_bytes_total`.
pub const RECEIVED_BYTES: &str = "zookeeper_client_received_bytes_total";
/// `zookeeper_client_coalesced_reads_total`.
pub const COALESCED_READS: &str = "zookeeper_client_coalesced_reads_total";

/// The metric handles of one client (owned by its driver).
pub(crate) struct ClientMetrics {
    requests: Vec<(OpCode, &'static str, Counter)>,
    durations: Vec<(OpCode, Histogram)>,
    causes: Vec<(&'static str, &'static str, Counter)>,
    watches: Gauge,
    watches_reported: usize,
    watch_events: Counter,
    sent: Counter,
    received: Counter,
    /// Why the last connection was lost, until the next one is established.
    lost_because: Option<&'static str>,
}

impl ClientMetrics {
    /// Registers the fixed handles with the current recorder.
    pub(crate) fn new() -> Self {
        static DESCRIBE: Once = Once::new();
        DESCRIBE.call_once(describe);
        Self {
            requests: Vec::new(),
            durations: Vec::new(),
            causes: Vec::new(),
            watches: metrics::gauge!(WATCHES),
            watches_reported: 0,
            watch_events: metrics::counter!(WATCH_EVENTS),
            sent: metrics::counter!(SENT_BYTES),
            received: metrics::counter!(RECEIVED_BYTES),
            lost_because: None,
        }
    }

    /// A request completed after `elapsed`.
    pub(crate) fn request(&mut self, op: OpCode, error: Option<&Error>, elapsed: Duration) {
        let outcome = error.map_or("ok", outcome);
        let counter = match self
            .requests
            .iter()
            .find(|(o, out, _)| *o == op && *out == outcome)
        {
            Some((_, _, c)) => c,
            None => {
                let c = metrics::counter!(REQUESTS, "op" => op.name(), "outcome" => outcome);
                self.requests.push((op, outcome, c));
                // Just pushed.
                &self.requests[self.requests.len() - 1].2
            }
        };
        counter.increment(1);
        let histogram = match self.durations.iter().find(|(o, _)| *o == op) {
            Some((_, h)) => h,
            None => {
                let h = metrics::histogram!(REQUEST_DURATION, "op" => op.name());
                self.durations.push((op, h));
                &self.durations[self.durations.len() - 1].1
            }
        };
        histogram.record(elapsed.as_secs_f64());
    }

    /// The session state changed.
    pub(crate) fn state(&mut self, state: SessionState, cause: &StateCause) {
        self.count(SESSION_EVENTS, "event", state_name(state));
        match (state, cause) {
            (SessionState::Disconnected, StateCause::ConnectionLost(e)) => {
                let why = outcome(e);
                self.count(DISCONNECTS, "cause", why);
                self.lost_because = Some(why);
            }
            (SessionState::Connected | SessionState::ConnectedReadOnly, _) => {
                if let Some(why) = self.lost_because.take() {
                    self.count(RECONNECTS, "cause", why);
                }
            }
            // A new session is not a reconnection.
            (SessionState::Expired | SessionState::Closed | SessionState::AuthFailed, _) => {
                self.lost_because = None;
            }
            _ => {}
        }
    }

    /// A session was established (the first, or one replacing an expired one).
    pub(crate) fn new_session(&mut self) {
        self.lost_because = None;
        self.count(SESSION_EVENTS, "event", "new_session");
    }

    /// The client now has `live` local watches.
    pub(crate) fn watches(&mut self, live: usize) {
        if live != self.watches_reported {
            // Deltas, so the gauge sums the watches of every client in the process.
            self.watches
                .increment(live as f64 - self.watches_reported as f64);
            self.watches_reported = live;
        }
    }

    /// A watch notification arrived.
    pub(crate) fn watch_event(&self) {
        self.watch_events.increment(1);
    }

    /// `n` bytes were written.
    pub(crate) fn sent(&self, n: usize) {
        self.sent.increment(n as u64);
    }

    /// `n` bytes were read.
    pub(crate) fn received(&self, n: usize) {
        self.received.increment(n as u64);
    }

    fn count(&mut self, name: &'static str, label: &'static str, value: &'static str) {
        if let Some((_, _, c)) = self
            .causes
            .iter()
            .find(|(n, v, _)| *n == name && *v == value)
        {
            c.increment(1);
            return;
        }
        let c = metrics::counter!(name, label => value);
        c.increment(1);
        self.causes.push((name, value, c));
    }
}

impl Drop for ClientMetrics {
    fn drop(&mut self) {
        // The client's watches are gone with it.
        self.watches(0);
    }
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "Requests completed, by operation and outcome");
    metrics::describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's submission to its reply"
    );
    metrics::describe_counter!(DISCONNECTS, "Connections lost, by cause");
    metrics::describe_counter!(
        RECONNECTS,
        "Reconnections to the same session, by the cause of the loss"
    );
    metrics::describe_counter!(SESSION_EVENTS, "Session state changes and new sessions");
    metrics::describe_gauge!(WATCHES, "Live local watches");
    metrics::describe_counter!(WATCH_EVENTS, "Watch notifications received");
    metrics::describe_counter!(SENT_BYTES, Unit::Bytes, "Bytes written to servers");
    metrics::describe_counter!(RECEIVED_BYTES, Unit::Bytes, "Bytes read from servers");
    metrics::describe_counter!(
        COALESCED_READS,
        "Reads sent inside MultiRead batches (read coalescing)"
    );
}

/// Records that `n` more reads went out inside MultiRead batches (read coalescing); the
/// driver reports the session's counter. A no-op without a recorder, with no allocation.
pub(crate) fn coalesced_reads(n: u64) {
    metrics::counter!(COALESCED_READS).increment(n);
}

/// The `event` label of a state.
pub(crate) fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Connecting => "connecting",
        SessionState::Connected => "connected",
        SessionState::ConnectedReadOnly => "connected_read_only",
        SessionState::Disconnected => "disconnected",
        SessionState::Expired => "expired",
        SessionState::AuthFailed => "auth_failed",
        SessionState::Closed => "closed",
    }
}

/// The `outcome` (or `cause`) label of an error: its variant in snake case.
pub(crate) fn outcome(err: &Error) -> &'static str {
    match err {
        Error::SystemError => "system_error",
        Error::RuntimeInconsistency => "runtime_inconsistency",
        Error::DataInconsistency => "data_inconsistency",
        Error::ConnectionLoss => "connection_loss",
        Error::MarshallingError => "marshalling_error",
        Error::Unimplemented => "unimplemented",
        Error::OperationTimeout => "operation_timeout",
        Error::BadArguments => "bad_arguments",
        Error::InvalidState => "invalid_state",
        Error::UnknownSession => "unknown_session",
        Error::NewConfigNoQuorum => "new_config_no_quorum",
        Error::ReconfigInProgress => "reconfig_in_progress",
        Error::SslConnectionError => "ssl_connection_error",
        Error::ApiError => "api_error",
        Error::NoNode => "no_node",
        Error::NoAuth => "no_auth",
        Error::BadVersion => "bad_version",
        Error::NoChildrenForEphemerals => "no_children_for_ephemerals",
        Error::NodeExists => "node_exists",
        Error::NotEmpty => "not_empty",
        Error::SessionExpired => "session_expired",
        Error::InvalidCallback => "invalid_callback",
        Error::InvalidAcl => "invalid_acl",
        Error::AuthFailed => "auth_failed",
        Error::SaslFailed(_) => "sasl_failed",
        Error::Closing => "closing",
        Error::Nothing => "nothing",
        Error::SessionMoved => "session_moved",
        Error::NotReadOnly => "not_read_only",
        Error::EphemeralOnLocalSession => "ephemeral_on_local_session",
        Error::NoWatcher => "no_watcher",
        Error::RequestTimeout => "request_timeout",
        Error::ReconfigDisabled => "reconfig_disabled",
        Error::SessionClosedRequireSaslAuth => "session_closed_require_sasl_auth",
        Error::QuotaExceeded => "quota_exceeded",
        Error::Throttled => "throttled",
        Error::Unknown(_) => "unknown",
        Error::RolledBack => "rolled_back",
        Error::TransactionFailed { .. } => "transaction_failed",
        Error::Timeout => "timeout",
        Error::Closed => "closed",
        Error::InvalidPath { .. } => "invalid_path",
        Error::InvalidArgument(_) => "invalid_argument",
        Error::ProtocolViolation(_) => "protocol_violation",
        Error::FrameTooLarge { .. } => "frame_too_large",
        Error::NoHosts(_) => "no_hosts",
        Error::Tls(_) => "tls",
        Error::Io(_) => "io",
        Error::RetriesExhausted { .. } => "retries_exhausted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_snake_case() {
        for e in [
            Error::NoNode,
            Error::ConnectionLoss,
            Error::Io("x".into()),
            Error::SessionClosedRequireSaslAuth,
        ] {
            let label = outcome(&e);
            assert!(
                label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{label}"
            );
        }
        assert_eq!(
            state_name(SessionState::ConnectedReadOnly),
            "connected_read_only"
        );
    }

    /// The Prometheus text of what `f` records.
    /// (What `f` returns is dropped after the rendering.)
    fn recorded<T>(f: impl FnOnce() -> T) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _kept = metrics::with_local_recorder(&recorder, f);
        handle.render()
    }

    fn has(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }

    #[test]
    fn requests_are_counted_by_op_and_outcome() {
        let text = recorded(|| {
            let mut m = ClientMetrics::new();
            m.request(OpCode::GetData, None, Duration::from_millis(2));
            m.request(OpCode::GetData, None, Duration::from_millis(4));
            m.request(
                OpCode::GetData,
                Some(&Error::NoNode),
                Duration::from_millis(1),
            );
            m.request(OpCode::Create2, None, Duration::from_millis(3));
            m.sent(100);
            m.received(40);
            m.watch_event();
            coalesced_reads(3);
        });
        has(
            &text,
            r#"zookeeper_client_requests_total{op="getData",outcome="ok"} 2"#,
        );
        has(
            &text,
            r#"zookeeper_client_requests_total{op="getData",outcome="no_node"} 1"#,
        );
        has(
            &text,
            r#"zookeeper_client_requests_total{op="create2",outcome="ok"} 1"#,
        );
        has(
            &text,
            r#"zookeeper_client_request_duration_seconds_count{op="getData"} 3"#,
        );
        has(
            &text,
            r#"zookeeper_client_request_duration_seconds_sum{op="getData"} 0.007"#,
        );
        has(&text, "zookeeper_client_sent_bytes_total 100");
        has(&text, "zookeeper_client_received_bytes_total 40");
        has(&text, "zookeeper_client_watch_events_total 1");
        has(&text, "zookeeper_client_coalesced_reads_total 3");
    }

    #[test]
    fn reconnects_count_the_cause_of_the_loss_before() {
        let text = recorded(|| {
            let mut m = ClientMetrics::new();
            m.new_session();
            m.state(SessionState::Connected, &StateCause::Handshake);
            let lost = StateCause::ConnectionLost(Error::Io("reset".into()));
            m.state(SessionState::Disconnected, &lost);
            m.state(SessionState::Connecting, &StateCause::Attempt);
            m.state(SessionState::Connected, &StateCause::Handshake);
            let lost = StateCause::ConnectionLost(Error::ConnectionLoss);
            m.state(SessionState::Disconnected, &lost);
            m.state(SessionState::Expired, &StateCause::ClientExpired);
            // After an expiry: a new session, not a reconnection.
            m.new_session();
            m.state(SessionState::Connected, &StateCause::Handshake);
        });
        has(&text, r#"zookeeper_client_disconnects_total{cause="io"} 1"#);
        has(
            &text,
            r#"zookeeper_client_disconnects_total{cause="connection_loss"} 1"#,
        );
        has(&text, r#"zookeeper_client_reconnects_total{cause="io"} 1"#);
        assert!(
            !text.contains(r#"reconnects_total{cause="connection_loss"}"#),
            "{text}"
        );
        has(
            &text,
            r#"zookeeper_client_session_events_total{event="connected"} 3"#,
        );
        has(
            &text,
            r#"zookeeper_client_session_events_total{event="new_session"} 2"#,
        );
        has(
            &text,
            r#"zookeeper_client_session_events_total{event="expired"} 1"#,
        );
    }

    #[test]
    fn the_watch_gauge_sums_the_clients() {
        let text = recorded(|| {
            let mut a = ClientMetrics::new();
            let mut b = ClientMetrics::new();
            a.watches(3);
            b.watches(5);
            a.watches(1);
            drop(b);
            a
        });
        has(&text, "zookeeper_client_watches 1");
    }
}
