//! Read-only servers and the move to a read-write one.

use super::harness::*;

#[test]
fn read_only_server_and_the_move_to_a_read_write_one() {
    let cfg = SessionConfig {
        allow_read_only: true,
        ..config()
    };
    let mut h = Pair::new(cfg);
    let c = h.connect_req();
    assert!(c.read_only);
    h.accept(SID, 30_000, true);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::NewSession(SID),
            Ev::State(SessionState::ConnectedReadOnly, StateCause::Handshake)
        ]
    );
    assert!(h.s.state().is_connected());
    // Reads work; a write gets the server's NOTREADONLY.
    h.submit(set_data(1, "/a", b"x"));
    let r = h.one_request();
    h.reply(r.xid, 0x20, -119, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(1, Err(Error::NotReadOnly))]);

    // The read-only session id is not valid on another server: ask for a new session.
    h.transport_closed();
    h.take_events();
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
    assert_eq!(c.password, vec![0; 16]);
    assert!(c.read_only);
    h.accept(SID2, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::NewSession(SID2),
            Ev::State(SessionState::Connected, StateCause::Handshake)
        ]
    );

    // From now on the read-write session is resumed.
    h.transport_closed();
    h.take_events();
    let c = h.next_connect_req();
    assert_eq!((c.session_id, c.password), (SID2, PW2.to_vec()));
}

#[test]
fn notifications_carry_the_read_only_state() {
    let cfg = SessionConfig {
        allow_read_only: true,
        ..config()
    };
    let mut h = Pair::new(cfg);
    h.connect_req();
    h.accept(SID, 30_000, true);
    h.take_events();
    h.watch_data("/d", 1, 100);
    h.notify(EventType::NodeDataChanged, "/d");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            WatchedEvent {
                state: SessionState::ConnectedReadOnly,
                ..node_event(EventType::NodeDataChanged, "/d")
            }
        )]
    );
}

#[test]
fn resumed_session_counts_as_seen_on_a_read_write_server() {
    let cfg = SessionConfig {
        allow_read_only: true,
        resume: Some((SID, PW.to_vec())),
        ..config()
    };
    let mut h = Pair::new(cfg);
    let c = h.connect_req();
    assert_eq!((c.session_id, c.password), (SID, PW.to_vec()));
    h.accept(SID, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)],
        "resuming is not a new session"
    );
}

#[test]
fn watches_follow_the_move_from_read_only_to_read_write() {
    let cfg = SessionConfig {
        allow_read_only: true,
        ..config()
    };
    let mut h = Pair::new(cfg);
    h.connect_req();
    h.accept(SID, 30_000, true);
    h.take_events();
    h.watch_data("/d", 1, 100);
    h.transport_closed();
    h.take_events();
    assert_eq!(h.next_connect_req().session_id, 0);
    h.accept(SID2, 30_000, false);
    h.take_events();
    // The new session's connection holds no watch: the local one must be re-registered.
    let sent = h.requests();
    assert_eq!(sent.len(), 1, "sent: {sent:?}");
    let sw = parse_set_watches(&sent[0]);
    assert_eq!(sw.data, vec!["/d".to_owned()]);
}
