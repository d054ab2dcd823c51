//! Joint writes: requests held back while many are on the wire.

use super::harness::*;

/// The threshold of on-the-wire requests above which requests are held back.
const MIN: u32 = WRITE_BATCH_MIN_IN_FLIGHT as u32;

/// Submits get_data requests with tokens `tokens`; returns how many writes they took.
fn submit_gets(h: &mut Pair, tokens: std::ops::RangeInclusive<u32>) -> usize {
    let before = h.writes;
    for t in tokens {
        h.submit(get_data(t, "/a", None));
    }
    h.writes - before
}

fn xids(reqs: &[Req]) -> Vec<i32> {
    reqs.iter().map(|r| r.xid).collect()
}

/// A connected session with `MIN` requests (xids 1..=MIN) on the wire; its write count
/// starts from zero.
fn deep_pipeline(config: SessionConfig) -> Pair {
    let mut h = Pair::connected(config, 30_000);
    h.writes = 0;
    assert_eq!(submit_gets(&mut h, 1..=MIN), MIN as usize);
    assert_eq!(xids(&h.requests()), (1..=MIN as i32).collect::<Vec<_>>());
    h
}

#[test]
fn shallow_pipelines_write_every_request_at_once() {
    // Up to the threshold, each request has a write of its own, at once.
    let h = deep_pipeline(config());
    assert!(
        h.s.poll_timeout().unwrap() > h.now() + ms(1),
        "no hold deadline"
    );
}

#[test]
fn deep_pipelines_write_requests_together_once_fewer_are_on_the_wire() {
    let mut h = deep_pipeline(config());
    // With MIN on the wire, new requests wait...
    assert_eq!(submit_gets(&mut h, MIN + 1..=2 * MIN - 1), 0);
    assert!(h.take_sent().is_empty());
    assert_eq!(h.s.poll_timeout(), Some(h.now() + DEFAULT_MAX_WRITE_DELAY));
    // ...until as many wait as are on the wire: one write, in call order.
    assert_eq!(submit_gets(&mut h, 2 * MIN..=2 * MIN), 1);
    assert_eq!(
        xids(&h.requests()),
        (MIN as i32 + 1..=2 * MIN as i32).collect::<Vec<_>>()
    );

    // 2 * MIN on the wire, 10 waiting: replies drain the wire below the threshold.
    assert_eq!(submit_gets(&mut h, 2 * MIN + 1..=2 * MIN + 10), 0);
    for xid in 1..=MIN as i32 {
        h.reply(xid, 1, 0, &data_body(b"v", &stat(1)));
        assert!(h.take_sent().is_empty(), "written after reply {xid}");
    }
    h.reply(MIN as i32 + 1, 1, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        xids(&h.requests()),
        (2 * MIN as i32 + 1..=2 * MIN as i32 + 10).collect::<Vec<_>>()
    );
    // Every reply reached its caller while the writes waited.
    let replies = h.take_events();
    assert_eq!(replies.len(), MIN as usize + 1);
    assert!(replies
        .iter()
        .zip(1..)
        .all(|(e, t)| *e == Ev::Reply(t, Ok(data_response(b"v", stat(1))))));
}

#[test]
fn held_requests_are_written_when_the_delay_runs_out() {
    let mut h = deep_pipeline(config());
    assert_eq!(submit_gets(&mut h, MIN + 1..=MIN + 1), 0);
    h.run_for(DEFAULT_MAX_WRITE_DELAY - Duration::from_micros(1));
    assert!(h.take_sent().is_empty());
    h.run_for(Duration::from_micros(1));
    assert_eq!(xids(&h.requests()), vec![MIN as i32 + 1]);
    // The deadline went with them.
    assert!(h.s.poll_timeout().unwrap() > h.now() + ms(1));
}

#[test]
fn a_zero_delay_writes_every_request_at_once() {
    let cfg = SessionConfig {
        max_write_delay: Duration::ZERO,
        ..config()
    };
    let mut h = deep_pipeline(cfg);
    assert_eq!(submit_gets(&mut h, MIN + 1..=4 * MIN), 3 * MIN as usize);
    assert_eq!(h.requests().len(), 3 * MIN as usize);
}

#[test]
fn held_requests_go_out_with_anything_that_cannot_wait() {
    let mut h = deep_pipeline(config());
    assert_eq!(submit_gets(&mut h, MIN + 1..=MIN + 2), 0);
    h.add_auth("digest", b"u:p", 7);
    let sent = h.requests();
    assert_eq!(
        sent.iter().map(|r| (r.xid, r.op)).collect::<Vec<_>>(),
        vec![
            (MIN as i32 + 1, OpCode::GetData.as_i32()),
            (MIN as i32 + 2, OpCode::GetData.as_i32()),
            (xid::AUTH, OpCode::Auth.as_i32()),
        ]
    );
    assert_eq!(h.writes, MIN as usize + 1, "one write for all three");

    // A ping due while requests wait takes them along too.
    assert_eq!(submit_gets(&mut h, MIN + 3..=MIN + 3), 0);
    let now = h.now();
    h.s.handle_timeout(now + ms(10_000));
    h.drive();
    let sent = h.requests();
    assert_eq!(
        sent.iter().map(|r| r.xid).collect::<Vec<_>>(),
        vec![MIN as i32 + 3, xid::PING]
    );
}

#[test]
fn held_requests_are_written_once_they_fill_64_kib() {
    let mut h = deep_pipeline(config());
    let data = vec![b'x'; 20 * 1024];
    for t in 0..3 {
        h.submit(set_data(100 + t, "/big", &data));
    }
    assert!(h.take_sent().is_empty(), "60 KiB wait");
    h.submit(set_data(103, "/big", &data));
    let sent = h.requests();
    assert_eq!(sent.len(), 4);
    assert_eq!(h.writes, MIN as usize + 1);
}

#[test]
fn held_requests_fail_with_the_connection_and_are_not_written_after_it() {
    let mut h = deep_pipeline(config());
    assert_eq!(submit_gets(&mut h, MIN + 1..=MIN + 2), 0);
    h.transport_closed();
    let failed: Vec<u32> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Ev::Reply(t, Err(Error::ConnectionLoss)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(failed, (1..=MIN + 2).collect::<Vec<_>>());
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    assert!(h.take_sent().is_empty(), "nothing stale is written");
    // The new connection starts with nothing on the wire: requests go out at once.
    assert_eq!(submit_gets(&mut h, 200..=201), 2);
}
