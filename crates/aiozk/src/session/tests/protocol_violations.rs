//! Protocol violations drop the connection and fail what was in flight.

use super::harness::*;

/// Submits two reads (tokens 1 and 2) and returns their xids.
fn two_pending(h: &mut Pair) -> (i32, i32) {
    h.submit(get_data(1, "/a", None));
    h.submit(get_data(2, "/b", None));
    let reqs = h.requests();
    (reqs[0].xid, reqs[1].xid)
}

/// The connection was dropped and tokens 1 and 2 failed with the violation: not retried
/// (the server would only send the same), and saying what went wrong.
fn assert_dropped_with_pending(h: &mut Pair) {
    assert_eq!(h.closes.len(), 1, "the connection must be dropped");
    let evs = h.take_events();
    let mut replies: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Reply(t, r) => Some((*t, r.clone())),
            _ => None,
        })
        .collect();
    replies.sort_by_key(|(t, _)| *t);
    assert_eq!(
        replies.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [1, 2],
        "events: {evs:?}"
    );
    for (_, r) in &replies {
        assert!(
            matches!(r, Err(Error::ProtocolViolation(_))),
            "events: {evs:?}"
        );
    }
    assert_dropped_state(&evs);
    assert_eq!(h.s.in_flight(), 0);
}

fn assert_dropped_state(evs: &[Ev]) {
    assert!(
        matches!(
            evs.last(),
            Some(Ev::State(
                SessionState::Disconnected,
                StateCause::ConnectionLost(Error::ProtocolViolation(_))
            ))
        ),
        "events: {evs:?}"
    );
}

/// After a violation the session reconnects to the same session and works.
fn assert_recovers(h: &mut Pair) {
    let c = h.next_connect_req();
    assert_eq!(c.session_id, SID);
    h.accept(SID, 30_000, false);
    assert_eq!(h.s.state(), SessionState::Connected);
    h.take_events();
    h.submit(delete(99, "/z"));
    let r = h.one_request();
    h.reply(r.xid, 1, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(99, Ok(Response::Empty))]);
}

#[test]
fn reply_out_of_order_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    let (_, second) = two_pending(&mut h);
    h.reply(second, 1, 0, &data_body(b"v", &stat(1)));
    assert_dropped_with_pending(&mut h);
    assert_recovers(&mut h);
}

#[test]
fn reply_with_nothing_pending_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    h.reply(7, 1, 0, &[]);
    assert_eq!(h.closes.len(), 1);
    assert_dropped_state(&h.take_events());
    assert_recovers(&mut h);
}

#[test]
fn truncated_reply_header_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    h.feed(&framed(&[0, 0, 0, 1, 0, 0]));
    assert_dropped_with_pending(&mut h);
    assert_recovers(&mut h);
}

#[test]
fn garbage_reply_body_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    let (first, _) = two_pending(&mut h);
    // A buffer of 5 bytes announced, 1 present, no Stat.
    h.reply(first, 1, 0, &[0, 0, 0, 5, 1]);
    assert_eq!(h.closes.len(), 1);
    let evs = h.take_events();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Ev::Reply(2, Err(Error::ProtocolViolation(_))))),
        "events: {evs:?}"
    );
    assert_dropped_state(&evs);
    assert_eq!(h.s.in_flight(), 0);
    assert_recovers(&mut h);
}

#[test]

fn garbage_reply_body_fails_the_request_it_answers() {
    let mut h = Pair::connected(config(), 30_000);
    let (first, _) = two_pending(&mut h);
    h.reply(first, 1, 0, &[0, 0, 0, 5, 1]);
    assert_dropped_with_pending(&mut h);
}

#[test]
fn bad_notification_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    let mut b = BytesMut::new();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid: -1,
        err: 0,
    }
    .encode(&mut b);
    b.put_i32(99); // no such event type
    b.put_i32(3);
    b.put_i32(2);
    b.put_slice(b"/a");
    h.feed(&framed(&b));
    assert_dropped_with_pending(&mut h);

    // A truncated notification too.
    assert_recovers(&mut h);
    h.feed(&framed(&[255, 255, 255, 255, 0, 0]));
    assert_eq!(h.closes.len(), 2);
}

#[test]
fn oversized_frame_drops_the_connection_and_fails_the_oldest_request_for_good() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    let len = i32::try_from(DEFAULT_MAX_FRAME + 1).unwrap();
    h.feed(&len.to_be_bytes());
    assert_eq!(h.closes.len(), 1, "the connection must be dropped");
    let evs = h.take_events();
    // The oversized reply answers the oldest request: it fails with an error no retry
    // policy repeats; the other one only lost its connection.
    assert!(
        matches!(
            &evs[0],
            Ev::Reply(1, Err(Error::FrameTooLarge { reply: true, .. }))
        ),
        "events: {evs:?}"
    );
    assert_eq!(evs[1], Ev::Reply(2, Err(Error::ConnectionLoss)));
    assert_dropped_state(&evs);
    assert_recovers(&mut h);
}

#[test]

fn bytes_read_after_a_violation_are_ignored() {
    let mut h = Pair::connected(config(), 30_000);
    h.feed(&(-5i32).to_be_bytes());
    assert_eq!(h.closes.len(), 1);
    h.take_events();
    let next_attempt = h.s.poll_timeout();
    // More bytes of the dropped connection, read in the same batch.
    h.feed(&[0; 64]);
    assert_eq!(h.closes.len(), 1, "no second close request");
    assert_eq!(
        h.s.poll_timeout(),
        next_attempt,
        "the back-off is not restarted"
    );
    assert!(h.take_events().is_empty());
}

#[test]
fn negative_frame_length_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    h.feed(&(-5i32).to_be_bytes());
    assert_dropped_with_pending(&mut h);
    assert_recovers(&mut h);
}

#[test]
fn auth_reply_without_auth_request_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    h.reply(xid::AUTH, 0, 0, &[]);
    assert_dropped_with_pending(&mut h);
}

#[test]
fn bad_connect_response_is_a_failed_attempt() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.submit(delete(1, "/a"));
    // A password of 3 bytes.
    h.feed(&connect_response(10_000, SID, &[1, 2, 3], Some(false)));
    assert_eq!(h.closes.len(), 1);
    assert!(
        h.take_events().is_empty(),
        "queued requests wait for the next attempt"
    );
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
    h.accept(SID, 30_000, false);
    assert_eq!(h.one_request().op, OpCode::Delete.as_i32());
}
