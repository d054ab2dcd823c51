//! Auth packets and their replies.

use super::harness::*;

#[test]
fn auth_reply_is_matched_out_of_band() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(get_data(1, "/a", None));
    h.add_auth("digest", b"user:pw", 2);
    let reqs = h.requests();
    assert_eq!((reqs[0].xid, reqs[0].op), (1, OpCode::GetData.as_i32()));
    assert_eq!(
        parse_auth(&reqs[1]),
        (0, "digest".to_owned(), b"user:pw".to_vec())
    );
    // The auth reply overtakes the read.
    h.reply(xid::AUTH, 0, 0, &[]);
    h.reply(1, 0x10, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(2, Ok(Response::Empty)),
            Ev::Reply(1, Ok(data_response(b"v", stat(1)))),
        ]
    );
    assert!(h.closes.is_empty());
    assert_eq!(h.s.last_zxid(), 0x10);
}

#[test]
fn several_auth_replies_complete_in_order() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_auth("digest", b"a:1", 1);
    h.add_auth("digest", b"b:2", 2);
    assert_eq!(h.requests().len(), 2);
    h.reply(xid::AUTH, 0, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(1, Ok(Response::Empty))]);
    h.reply(xid::AUTH, 0, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(2, Ok(Response::Empty))]);
}

#[test]
fn rejected_auth_stops_the_session() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/w", 5, 100);
    h.submit(get_data(1, "/a", None));
    h.add_auth("bogus", b"x", 2);
    h.requests();
    h.reply(xid::AUTH, 0, -115, &[]);
    assert_eq!(h.closes.len(), 1);
    let evs = h.take_events();
    assert_eq!(evs[0], Ev::Reply(2, Err(Error::AuthFailed)));
    assert!(evs.contains(&Ev::Reply(1, Err(Error::AuthFailed))));
    assert!(evs.contains(&Ev::Oneshot(
        100,
        session_event(SessionState::AuthFailed, "/w")
    )));
    assert_eq!(
        evs.last(),
        Some(&Ev::State(
            SessionState::AuthFailed,
            StateCause::AuthRejected(Error::AuthFailed)
        ))
    );
    assert!(h.s.state().is_terminal());
    assert_eq!(h.s.poll_timeout(), None);

    h.submit(delete(3, "/b"));
    h.add_auth("digest", b"u:p", 4);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(3, Err(Error::AuthFailed)),
            Ev::Reply(4, Err(Error::AuthFailed)),
        ]
    );
    h.run_for(ms(100_000));
    assert!(h.take_sent().is_empty());
    assert_eq!(h.attempts.len(), 1);
}
