//! Moving to another server (a new server list) waits for the replies on the connection,
//! so the move fails no request.

use super::harness::*;

#[test]
fn a_move_waits_for_the_replies_then_reconnects_with_the_same_session() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(set_data(1, "/a", b"x"));
    let first = h.one_request();
    h.s.move_when_idle(h.now());
    h.drive();
    // Held back while the reply to the first is awaited; no reconnect yet.
    h.submit(set_data(2, "/b", b"y"));
    assert!(h.take_sent().is_empty());
    assert!(h.closes.is_empty());
    assert_eq!(h.s.state(), SessionState::Connected);

    h.reply(first.xid, 0x10, 0, &encode(&stat(1)));
    assert_eq!(
        h.take_events()[0],
        Ev::Reply(1, Ok(Response::Stat(stat(1))))
    );
    assert_eq!(
        h.closes.len(),
        1,
        "the move closes the connection once idle"
    );

    // The held request goes to the next server, on the same session.
    let c = h.next_connect_req();
    assert_eq!(c.session_id, SID);
    h.accept(SID, 30_000, false);
    let events = h.take_events();
    assert!(
        !events.iter().any(|e| matches!(e, Ev::Reply(_, Err(_)))),
        "{events:?}"
    );
    let r = h.one_request();
    assert_eq!(r.op, OpCode::SetData.as_i32());
    h.reply(r.xid, 0x11, 0, &encode(&stat(2)));
    assert_eq!(
        h.take_events(),
        vec![Ev::Reply(2, Ok(Response::Stat(stat(2))))]
    );
}

#[test]
fn an_idle_connection_moves_at_once_and_a_silent_one_by_the_read_timeout() {
    let mut h = Pair::connected(config(), 30_000);
    h.s.move_when_idle(h.now());
    h.drive();
    assert_eq!(h.closes.len(), 1);

    let mut h = Pair::connected(config(), 30_000);
    h.submit(set_data(1, "/a", b"x"));
    h.one_request();
    h.s.move_when_idle(h.now());
    h.drive();
    assert!(h.closes.is_empty());
    // No reply ever comes: the connection is left by the read timeout at the latest, and
    // the request fails with the connection loss, as any request on a lost connection.
    h.run_for(ms(30_000));
    assert!(!h.closes.is_empty());
    assert!(h
        .take_events()
        .iter()
        .any(|e| *e == Ev::Reply(1, Err(Error::ConnectionLoss))));
}
