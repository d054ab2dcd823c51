//! Expiry detected locally, when no server is reached for the session timeout.

use super::harness::*;

#[test]
fn no_server_for_the_session_timeout_expires_the_session_locally() {
    let mut h = Pair::connected(config(), 30_000);
    h.run_until(h.now() + ms(5_000));
    h.reply(xid::PING, 0, 0, &[]);
    let last_heard = h.now();
    h.submit(delete(1, "/queued"));
    h.one_request();
    // The connection breaks 7 s later; the clock runs from when the server was last heard.
    h.run_until(last_heard + ms(7_000));
    h.transport_closed();
    h.take_events();
    h.take_sent();

    h.dial = Dial::Refuse;
    h.run_until(last_heard + ms(29_999));
    assert_eq!(h.s.state(), SessionState::Disconnected);
    assert!(h.attempts.len() > 5, "it kept trying: {:?}", h.attempts);
    assert!(h.take_events().is_empty());

    h.run_until(last_heard + ms(30_000));
    let evs = h.take_events();
    assert!(
        evs.contains(&Ev::State(SessionState::Expired, StateCause::ClientExpired)),
        "events: {evs:?}"
    );
    assert_eq!(h.s.session_id(), 0);

    // Then a new session.
    h.dial = Dial::Accept;
    let c = h.next_connect_req();
    assert_eq!((c.session_id, c.password), (0, vec![0; 16]));
    h.accept(SID2, 30_000, false);
    assert!(h.take_events().contains(&Ev::NewSession(SID2)));
}

#[test]
fn failed_attempts_right_at_the_expiry_time_expire_the_session() {
    // Each attempt opens TCP and is then closed by the server without an answer. The
    // first connection answered, so the new session is asked for at once.
    let mut h = Pair::connected(config(), 30_000);
    h.submit(delete(1, "/a"));
    let r = h.one_request();
    h.reply(r.xid, 1, 0, &[]);
    h.take_events();
    let last_heard = h.now();
    h.transport_closed();
    h.take_events();
    let mut evs = Vec::new();
    for _ in 0..10_000 {
        let c = h.next_connect_req();
        evs.extend(h.take_events());
        if c.session_id == 0 {
            // The session expired while waiting for this attempt.
            break;
        }
        assert_eq!(c.session_id, SID);
        h.transport_closed();
        evs.extend(h.take_events());
        if !evs.is_empty() {
            break;
        }
    }
    assert_eq!(
        evs,
        vec![
            Ev::State(SessionState::Expired, StateCause::ClientExpired),
            Ev::State(SessionState::Connecting, StateCause::Attempt),
        ]
    );
    assert!(h.now() >= last_heard + ms(30_000));
    assert!(
        h.now() < last_heard + ms(31_000),
        "late: {:?}",
        h.now() - last_heard
    );
}

#[test]

fn hanging_attempt_does_not_delay_local_expiry() {
    let mut h = Pair::connected(config(), 30_000);
    let last_heard = h.now();
    h.submit(delete(1, "/a"));
    h.one_request();
    // The server goes silent: the read timeout drops the connection after 20 s.
    h.dial = Dial::Hang;
    h.run_until(last_heard + ms(20_000));
    assert_eq!(h.s.state(), SessionState::Disconnected);
    h.take_events();
    // The reconnect attempt hangs (its deadline is 30 s away); the session is still known
    // to be gone 30 s after the server was last heard.
    h.run_until(last_heard + ms(30_000));
    // Expired, then at once a new attempt for a new session.
    assert!(h
        .take_events()
        .contains(&Ev::State(SessionState::Expired, StateCause::ClientExpired)));
}
