//! closeSession and the ways a close ends.

use super::harness::*;

#[test]
fn close_sends_close_session_and_waits_for_its_reply() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/w", 5, 100);
    h.submit(get_data(1, "/a", None));
    h.close();
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2);
    let close = &reqs[1];
    assert_eq!(close.op, OpCode::CloseSession.as_i32());
    assert_eq!(close.xid, reqs[0].xid + 1);
    assert!(close.body.is_empty());

    // Calls made while closing fail at once.
    h.submit(delete(2, "/b"));
    assert_eq!(h.take_events(), vec![Ev::Reply(2, Err(Error::Closed))]);
    // The request sent before close still gets its answer.
    h.reply(reqs[0].xid, 5, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        h.take_events(),
        vec![Ev::Reply(1, Ok(data_response(b"v", stat(1))))]
    );
    h.reply(close.xid, 6, 0, &[]);
    assert_eq!(h.closes.len(), 1);
    let evs = h.take_events();
    assert_eq!(
        evs,
        vec![
            Ev::Oneshot(100, session_event(SessionState::Closed, "/w")),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
    assert!(h.s.state().is_terminal());
    h.submit(delete(3, "/c"));
    assert_eq!(h.take_events(), vec![Ev::Reply(3, Err(Error::Closed))]);
    h.run_for(ms(100_000));
    assert!(h.take_sent().is_empty());
    assert_eq!(h.attempts.len(), 1, "no reconnect after close");
}

#[test]
fn close_while_disconnected_is_immediate() {
    let mut h = Pair::connected(config(), 30_000);
    h.transport_closed();
    h.take_events();
    h.dial = Dial::Refuse;
    h.submit(delete(1, "/queued"));
    h.close();
    assert!(h.take_sent().is_empty());
    assert!(h.closes.is_empty(), "no transport to close");
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::Closed)),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn close_during_handshake_drops_the_transport() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.submit(delete(1, "/queued"));
    h.close();
    assert_eq!(h.closes.len(), 1);
    assert!(h.take_sent().is_empty());
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::Closed)),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
}

#[test]
fn close_without_reply_ends_after_the_read_timeout() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(get_data(1, "/a", None));
    h.close();
    let t = h.now();
    assert_eq!(h.requests().len(), 2);
    h.run_until(t + ms(19_999));
    assert!(h.take_events().is_empty());
    assert!(h.take_sent().is_empty(), "no pings while closing");
    h.run_until(t + ms(20_000));
    assert_eq!(h.closes.len(), 1);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::Closed)),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
}

#[test]
fn connection_lost_while_closing_ends_the_close() {
    let mut h = Pair::connected(config(), 30_000);
    h.close();
    h.requests();
    h.transport_closed();
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Closed, StateCause::UserClose)]
    );
    h.run_for(ms(10_000));
    assert_eq!(h.attempts.len(), 1);
}
