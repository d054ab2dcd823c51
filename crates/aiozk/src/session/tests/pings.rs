//! Pings on an idle connection.

use super::harness::*;

#[test]
fn idle_connection_pings_at_a_third_of_the_session_timeout() {
    let mut h = Pair::connected(config(), 6_000);
    let t0 = h.now();
    // read timeout 4 s, ping after 2 s of not sending.
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(2_000)));
    h.run_until(t0 + ms(1_999));
    assert!(h.take_sent().is_empty());
    h.run_until(t0 + ms(2_000));
    let ping = h.one_request();
    assert_eq!((ping.xid, ping.op), (xid::PING, OpCode::Ping.as_i32()));
    assert!(ping.body.is_empty());

    // The ping reply is taken out of band; its zxid (the server's last one as it answered)
    // counts as seen.
    h.run_until(t0 + ms(2_100));
    h.reply(xid::PING, 0x777, 0, &[]);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.last_zxid(), 0x777);
    assert!(h.closes.is_empty());
    assert_eq!(h.s.state(), SessionState::Connected);

    // Any write resets the idle-send clock.
    h.run_until(t0 + ms(2_500));
    h.submit(get_data(1, "/a", None));
    let r = h.one_request();
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(4_500)));
    // A ping reply overtaking a pending request is fine too.
    h.reply(xid::PING, 0x778, 0, &[]);
    h.reply(r.xid, 0x30, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        h.take_events(),
        vec![Ev::Reply(1, Ok(data_response(b"v", stat(1))))]
    );
    h.run_until(t0 + ms(4_499));
    assert!(h.take_sent().is_empty());
    h.run_until(t0 + ms(4_500));
    assert_eq!(h.one_request().xid, xid::PING);
}

#[test]
fn ping_interval_is_capped_at_ten_seconds() {
    let mut h = Pair::connected(config(), 60_000);
    let t0 = h.now();
    // read timeout 40 s would give 20 s; the cap is 10 s.
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(10_000)));
    h.run_until(t0 + ms(9_999));
    assert!(h.take_sent().is_empty());
    h.run_until(t0 + ms(10_000));
    assert_eq!(h.one_request().xid, xid::PING);
    h.reply(xid::PING, 0, 0, &[]);
    h.run_until(t0 + ms(20_000));
    assert_eq!(h.one_request().xid, xid::PING);
}
