//! Expiry reported by the server, and refusals that are not expiries.

use super::harness::*;

/// A connected session with watches: data `/w` (100), child `/c` (101), exist `/e` (102),
/// persistent `/p` (stream 200) and recursive `/r` (stream 201).
fn session_with_watches(cfg: SessionConfig) -> Pair {
    let mut h = Pair::connected(cfg, 30_000);
    h.watch_data("/w", 1, 100);
    h.watch_child("/c", 2, 101);
    h.watch_exist("/e", 3, 102);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_persistent("/r", AddWatchMode::PersistentRecursive, 201);
    assert_eq!(h.s.watch_count(), 5);
    h
}

fn assert_watches_ended(evs: &[Ev], state: SessionState) {
    assert_oneshot_watches_ended(evs, state);
    for (stream, path) in [(200, "/p"), (201, "/r")] {
        let got: Vec<_> = evs
            .iter()
            .filter(|e| matches!(e, Ev::Stream(s, _) | Ev::StreamEnded(s) if *s == stream))
            .collect();
        assert_eq!(
            got,
            vec![
                &Ev::Stream(stream, session_event(state, path)),
                &Ev::StreamEnded(stream)
            ],
            "events: {evs:?}"
        );
    }
}

fn assert_oneshot_watches_ended(evs: &[Ev], state: SessionState) {
    for (token, path) in [(100, "/w"), (101, "/c"), (102, "/e")] {
        let fired: Vec<_> = evs
            .iter()
            .filter(|e| matches!(e, Ev::Oneshot(t, _) if *t == token))
            .collect();
        assert_eq!(
            fired,
            vec![&Ev::Oneshot(token, session_event(state, path))],
            "events: {evs:?}"
        );
    }
}

#[test]
fn server_expiry_ends_oneshot_watches_and_carries_persistent_ones_to_a_new_session() {
    let mut h = session_with_watches(config());
    h.submit(get_data(9, "/in-flight", None));
    h.one_request();
    h.transport_closed();
    let evs = h.take_events();
    assert_eq!(evs[0], Ev::Reply(9, Err(Error::ConnectionLoss)));
    h.submit(delete(10, "/queued"));

    let c = h.next_connect_req();
    assert_eq!((c.session_id, c.password.clone()), (SID, PW.to_vec()));
    let closes = h.closes.len();
    h.feed(&expired_response());
    assert_eq!(h.closes.len(), closes + 1, "the server closes; so do we");
    let evs = h.take_events();
    assert!(evs.contains(&Ev::Reply(10, Err(Error::SessionExpired))));
    assert!(evs.contains(&Ev::State(SessionState::Expired, StateCause::ServerExpired)));
    assert_oneshot_watches_ended(&evs, SessionState::Expired);
    assert!(
        !evs.iter()
            .any(|e| matches!(e, Ev::Stream(..) | Ev::StreamEnded(_))),
        "the persistent watches carry over: {evs:?}"
    );
    assert_eq!(h.s.watch_count(), 2);
    assert_eq!(h.s.session_id(), 0);
    let zxid = h.s.last_zxid();

    // A new session: id 0 and a zero password.
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
    assert_eq!(c.password, vec![0; 16]);
    h.accept(SID2, 30_000, false);
    let evs = h.take_events();
    assert!(evs.contains(&Ev::NewSession(SID2)), "events: {evs:?}");
    assert_eq!(
        evs.last(),
        Some(&Ev::State(SessionState::Connected, StateCause::Handshake))
    );
    assert_eq!(h.s.session_id(), SID2);
    assert_eq!(h.s.password(), &PW2);
    assert_eq!(h.s.stats().sessions, 2);
    // Each persistent watcher is told, before the state change, that its watch is added
    // again on the new session.
    let told: Vec<_> = evs
        .iter()
        .filter(|e| matches!(e, Ev::Stream(..)))
        .cloned()
        .collect();
    assert_eq!(
        told,
        vec![
            Ev::Stream(200, watch_event(EventKind::NewSession, "/p")),
            Ev::Stream(201, watch_event(EventKind::NewSession, "/r")),
        ]
    );
    // They are re-registered, caught up from the last zxid of the old session; the request
    // queued while disconnected failed with the old session instead of running on the new one.
    let sent = h.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sw = parse_set_watches(&sent[0]);
    assert_eq!(sw.relative_zxid, zxid);
    assert_eq!(
        (sw.data.clone(), sw.child.clone()),
        (vec!["/p".into()], vec!["/p".into()])
    );
    assert_eq!(
        (sw.persistent, sw.recursive),
        (vec!["/p".into()], vec!["/r".into()])
    );
    // /p went with the old session (an ephemeral node): its data and child catch-up watches
    // both report the deletion, delivered once; the recursive watch resyncs.
    h.notify(EventType::NodeDeleted, "/p");
    h.notify(EventType::NodeDeleted, "/p");
    h.reply(sent[0].xid, zxid + 5, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Stream(200, catch_up_event(EventType::NodeDeleted, "/p")),
            Ev::Stream(201, watch_event(EventKind::Resync, "/r")),
        ]
    );
}

#[test]
fn server_expiry_without_reconnect_stops_the_session() {
    let cfg = SessionConfig {
        reconnect_after_expiry: false,
        ..config()
    };
    let mut h = session_with_watches(cfg);
    h.transport_closed();
    h.take_events();
    h.submit(delete(10, "/queued"));
    h.add_auth("digest", b"u:p", 11);
    h.next_connect_req();
    h.feed(&expired_response());
    let evs = h.take_events();
    assert!(evs.contains(&Ev::Reply(10, Err(Error::SessionExpired))));
    assert!(evs.contains(&Ev::Reply(11, Err(Error::SessionExpired))));
    assert!(evs.contains(&Ev::State(SessionState::Expired, StateCause::ServerExpired)));
    assert_watches_ended(&evs, SessionState::Expired);
    assert_eq!(h.s.state(), SessionState::Expired);
    assert_eq!(h.s.poll_timeout(), None);

    // Stopped for good: no reconnect, every call fails at once.
    let attempts = h.attempts.len();
    h.run_for(ms(120_000));
    assert_eq!(h.attempts.len(), attempts);
    assert!(h.take_sent().is_empty());
    h.submit(delete(12, "/late"));
    h.add_auth("digest", b"u:p", 13);
    h.add_persistent("/q", AddWatchMode::Persistent, 202, 14);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(12, Err(Error::SessionExpired)),
            Ev::Reply(13, Err(Error::SessionExpired)),
            Ev::StreamEnded(202),
            Ev::Reply(14, Err(Error::SessionExpired)),
        ]
    );
    assert!(h.take_sent().is_empty());
    assert_eq!(h.s.watch_count(), 0);
}

#[test]

fn close_after_a_final_expiry_reports_closed() {
    let cfg = SessionConfig {
        reconnect_after_expiry: false,
        ..config()
    };
    let mut h = Pair::connected(cfg, 30_000);
    h.transport_closed();
    h.next_connect_req();
    h.feed(&expired_response());
    h.take_events();
    assert_eq!(h.s.state(), SessionState::Expired);
    h.close();
    assert!(h.take_sent().is_empty());
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Closed, StateCause::UserClose)]
    );
    assert!(h.s.state().is_terminal());
}

#[test]
fn bare_error_reply_to_the_handshake_is_a_refusal() {
    let mut h = Pair::new(config());
    h.connect_req();
    // What a read-only server without local sessions sends instead of a ConnectResponse.
    h.feed(&reply_frame(0, 0, -119, &[]));
    assert_eq!(h.closes.len(), 1);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
}

#[test]
fn refusal_of_a_new_session_is_not_an_expiry() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.feed(&expired_response());
    assert_eq!(h.closes.len(), 1);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
}

#[test]

fn queued_add_watch_fails_when_the_session_expires() {
    let mut h = Pair::connected(config(), 30_000);
    h.transport_closed();
    h.take_events();
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    h.next_connect_req();
    h.feed(&expired_response());
    let evs = h.take_events();
    assert!(evs.contains(&Ev::StreamEnded(200)), "events: {evs:?}");
    // The stream ended with the session, so the registration must fail too rather than
    // reach the new session as a server watch no local watcher owns.
    assert!(
        evs.contains(&Ev::Reply(10, Err(Error::SessionExpired))),
        "events: {evs:?}"
    );
    h.next_connect_req();
    h.accept(SID2, 30_000, false);
    let sent = h.requests();
    assert!(
        sent.iter().all(|r| r.op != OpCode::AddWatch.as_i32()),
        "sent: {sent:?}"
    );
}
