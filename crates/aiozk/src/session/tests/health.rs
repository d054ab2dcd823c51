//! What the session learns of its servers: when one last heard from it, connections that
//! die young (the back-off holds), and servers that all refuse or send garbage (requests
//! fail at once with the cause).

use super::harness::*;

fn two_hosts(fail_eagerly: bool) -> SessionConfig {
    SessionConfig {
        host_count: 2,
        fail_eagerly,
        ..config()
    }
}

/// The replies among `evs`, by token.
fn replies(evs: &[Ev]) -> Vec<(u32, Result<Response, Error>)> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Reply(t, r) => Some((*t, r.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn garbage_handshakes_from_every_server_for_two_rounds_fail_the_requests() {
    let mut h = Pair::new(two_hosts(false));
    h.s.set_peer("zk1:2181");
    h.submit(get_data(1, "/a", None));
    for attempt in 1..=4 {
        h.next_connect_req();
        assert!(h.s.connect_failure().is_none(), "attempt {attempt}");
        assert!(replies(&h.take_events()).is_empty(), "attempt {attempt}");
        h.feed(&framed(&[1, 2, 3]));
    }
    // Two rounds of two servers: the waiting request fails with the last violation.
    let got = replies(&h.take_events());
    assert!(
        matches!(&got[..], [(1, Err(Error::ProtocolViolation(m)))] if m.contains("zk1:2181") && m.contains("connect response")),
        "{got:?}"
    );
    assert_eq!(h.s.connect_failure(), Some(&got[0].1.clone().unwrap_err()));
    // New requests fail at once while it lasts.
    h.submit(get_data(2, "/b", None));
    assert!(matches!(
        &replies(&h.take_events())[..],
        [(2, Err(Error::ProtocolViolation(_)))]
    ));
    // It keeps trying; a proper handshake ends it.
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    assert!(h.s.connect_failure().is_none());
    h.take_events();
    h.submit(get_data(3, "/c", None));
    assert_eq!(h.one_request().op, OpCode::GetData.as_i32());
}

#[test]
fn refusals_fail_requests_only_when_failing_eagerly() {
    // By default the requests wait, however long every server refuses.
    let mut h = Pair::with_dial(two_hosts(false), Dial::Refuse);
    h.submit(get_data(1, "/a", None));
    h.run_for(ms(60_000));
    assert!(h.attempts.len() > 8);
    assert!(replies(&h.take_events()).is_empty());
    assert!(h.s.connect_failure().is_none());

    // Failing eagerly, after two rounds.
    let mut h = Pair::with_dial(two_hosts(true), Dial::Refuse);
    h.submit(get_data(1, "/a", None));
    h.run_for(ms(10_000));
    let got = replies(&h.take_events());
    assert!(
        matches!(&got[..], [(1, Err(Error::NoHosts(m)))] if m.contains("refused")),
        "{got:?}"
    );
    assert!(h.attempts.len() >= 4);
    h.submit(get_data(2, "/b", None));
    assert!(matches!(
        &replies(&h.take_events())[..],
        [(2, Err(Error::NoHosts(_)))]
    ));
}

#[test]
fn once_a_session_was_established_refusals_are_waited_out() {
    let mut h = Pair::connected(two_hosts(true), 30_000);
    h.transport_closed();
    h.take_events();
    h.dial = Dial::Refuse;
    h.submit(get_data(1, "/a", None));
    h.run_for(ms(20_000));
    assert!(h.attempts.len() > 8);
    assert!(replies(&h.take_events()).is_empty());
    assert!(h.s.connect_failure().is_none());
}

#[test]
fn a_silent_server_is_no_refusal() {
    let mut h = Pair::with_dial(two_hosts(true), Dial::Hang);
    h.submit(get_data(1, "/a", None));
    h.run_for(ms(120_000));
    assert!(h.attempts.len() > 4);
    assert!(replies(&h.take_events()).is_empty());
}

#[test]
fn a_tiny_negotiated_timeout_is_floored_and_young_deaths_back_off() {
    let mut h = Pair::new(config());
    let t0 = h.now();
    // Every connection negotiates 1 ms and then never answers.
    while h.now() < t0 + ms(3_000) {
        h.next_connect_req();
        let closes = h.closes.len();
        h.accept(SID, 1, false);
        while h.closes.len() == closes {
            let deadline = h.s.poll_timeout().expect("a read timeout");
            h.run_until(deadline.max(h.now()));
        }
        // At most two pings per connection: the timers work with 100 ms.
        let pings = h.take_sent().len();
        assert!(pings <= 2, "{pings} pings");
    }
    let n = h.attempts.len();
    assert!(
        (3..=8).contains(&n),
        "{n} connections in 3 s: {:?}",
        h.attempts
    );
    let gaps: Vec<Duration> = h.attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= ms(500)),
        "half a second at least: {gaps:?}"
    );
}

#[test]
fn heard_at_is_when_the_last_answered_request_was_sent() {
    let mut h = Pair::connected(config(), 6_000);
    let handshake = h.now();
    assert_eq!(h.s.heard_at(), Some(handshake));
    h.run_for(ms(500));
    let sent = h.now();
    h.submit(get_data(1, "/a", None));
    let r = h.one_request();
    h.run_for(ms(700));
    h.reply(r.xid, 1, 0, &data_body(b"v", &stat(1)));
    // The send time, not the time the answer came.
    assert_eq!(h.s.heard_at(), Some(sent));
    // A ping reply nobody asked for proves nothing.
    h.reply(xid::PING, 0, 0, &[]);
    assert_eq!(h.s.heard_at(), Some(sent));
    // An answered ping moves it to when the ping went out.
    h.run_until(sent + ms(2_000));
    let ping = h.one_request();
    assert_eq!(ping.xid, xid::PING);
    let ping_sent = h.now();
    h.run_for(ms(300));
    h.reply(xid::PING, 0, 0, &[]);
    assert_eq!(h.s.heard_at(), Some(ping_sent));
    // A connection loss keeps it; an expiry clears it.
    h.transport_closed();
    assert_eq!(h.s.heard_at(), Some(ping_sent));
    h.next_connect_req();
    h.feed(&expired_response());
    assert_eq!(h.s.heard_at(), None);
}
