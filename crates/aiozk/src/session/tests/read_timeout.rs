//! The read timeout, and requests submitted while disconnected.

use super::harness::*;

#[test]
fn read_timeout_drops_the_connection_and_resumes_the_session() {
    let mut h = Pair::connected(config(), 30_000);
    let t0 = h.now();
    h.run_until(t0 + ms(1_000));
    h.submit(get_data(1, "/a", None));
    let r = h.one_request();
    h.reply(r.xid, 0x50, 0, &data_body(b"v", &stat(1)));
    h.take_events();
    // A notification's zxid (3.9 servers send one) and a ping's count as seen too; the
    // highest is kept.
    h.feed(&notification(0x99, EventType::NodeDataChanged, "/nobody"));
    h.reply(xid::PING, 0x77, 0, &[]);
    assert_eq!(h.s.last_zxid(), 0x99);

    let last_heard = h.now();
    h.submit(get_data(2, "/b", None));
    h.one_request();

    // read timeout = 20 s: pings go out at 10 s, the connection survives until 20 s.
    h.run_until(last_heard + ms(19_999));
    let pings = h.requests();
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].xid, xid::PING);
    assert!(h.closes.is_empty());
    assert_eq!(h.s.state(), SessionState::Connected);

    h.run_until(last_heard + ms(20_000));
    assert_eq!(h.closes, vec![(last_heard + ms(20_000)) - h.base]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(2, Err(Error::ConnectionLoss)),
            Ev::State(
                SessionState::Disconnected,
                StateCause::ConnectionLost(Error::ConnectionLoss)
            ),
        ]
    );
    assert_eq!(h.s.in_flight(), 0);
    let deadline = h.s.poll_timeout().expect("a reconnect must be scheduled");
    assert!(deadline >= h.now());

    let c = h.next_connect_req();
    assert!(h.now() >= deadline);
    assert_eq!(
        c,
        ConnectReq {
            len: 45,
            protocol_version: 0,
            last_zxid_seen: 0x99,
            timeout_ms: 30_000,
            session_id: SID,
            password: PW.to_vec(),
            read_only: false,
        }
    );
    h.accept(SID, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)]
    );
    assert_eq!(h.s.stats().reconnects, 1);
    assert_eq!(h.s.stats().disconnects, 1);
    assert_eq!(h.s.stats().sessions, 1);
}

#[test]
fn timers_use_the_negotiated_timeout_and_reconnects_ask_for_the_configured_one() {
    // 30 s asked for, 24 s granted: read timeout 16 s, pings every 8 s.
    let mut h = Pair::connected(config(), 24_000);
    let t0 = h.now();
    assert_eq!(h.s.negotiated_timeout(), ms(24_000));
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(8_000)));
    h.run_until(t0 + ms(8_000));
    assert_eq!(h.one_request().xid, xid::PING);
    h.run_until(t0 + ms(15_999));
    assert!(h.closes.is_empty());
    h.run_until(t0 + ms(16_000));
    assert_eq!(h.closes.len(), 1);
    let c = h.next_connect_req();
    assert_eq!(c.timeout_ms, 30_000);
}

#[test]
fn requests_submitted_while_disconnected_wait_for_the_next_handshake() {
    let mut h = Pair::connected(config(), 30_000);
    h.transport_closed();
    assert_eq!(
        h.take_events(),
        vec![Ev::State(
            SessionState::Disconnected,
            StateCause::ConnectionLost(Error::Io("connection reset".into()))
        )]
    );
    h.dial = Dial::Refuse;
    h.submit(delete(1, "/a"));
    h.run_for(ms(5_000));
    assert!(h.attempts.len() > 2, "it keeps trying");
    assert!(
        h.take_events().is_empty(),
        "a failed attempt does not fail queued requests"
    );
    assert!(h.take_sent().is_empty());
    h.dial = Dial::Accept;
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    h.take_events();
    let r = h.one_request();
    assert_eq!(r.op, OpCode::Delete.as_i32());
    h.reply(r.xid, 1, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(1, Ok(Response::Empty))]);
}
