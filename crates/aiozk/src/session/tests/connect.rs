//! Connection attempts: their timeout and back-off.

use super::harness::*;

#[test]
fn connect_attempts_time_out_and_back_off() {
    let cfg = SessionConfig {
        session_timeout: ms(9_000),
        host_count: 3,
        ..SessionConfig::default()
    };
    let mut h = Pair::with_dial(cfg, Dial::Hang);
    let t0 = h.now();
    assert_eq!(h.attempts.len(), 1);
    assert_eq!(h.s.connect_timeout(), ms(3_000));
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(3_000)));
    h.run_until(t0 + ms(2_999));
    assert!(h.closes.is_empty());
    h.run_until(t0 + ms(3_000));
    assert_eq!(h.closes, vec![ms(3_000)]);
    assert!(h.s.poll_timeout().unwrap() > h.now());

    h.run_until(t0 + ms(60_000));
    let cap = ms(900); // a tenth of the session timeout
    assert!(h.attempts.len() >= 10);
    for (k, close) in h.closes.iter().enumerate() {
        // Attempt k (0-based) timed out after the connect timeout...
        assert_eq!(*close - h.attempts[k], ms(3_000), "attempt {k}");
        // ...and the next one started no earlier, with a pause after each round of hosts.
        if let Some(next) = h.attempts.get(k + 1) {
            let pause = *next - *close;
            assert!(pause <= ms(1_800), "pause {pause:?} after attempt {k}");
            if (k + 1) % 3 == 0 {
                assert!(pause >= cap, "pause {pause:?} after a full round");
            }
        }
    }
    assert!(h.take_sent().is_empty());
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connecting);
}

#[test]
fn refused_connections_are_not_retried_in_a_busy_loop() {
    let cfg = SessionConfig {
        session_timeout: ms(9_000),
        host_count: 3,
        ..SessionConfig::default()
    };
    let mut h = Pair::with_dial(cfg, Dial::Refuse);
    h.run_for(ms(10_000));
    // At least 900 ms after every round of three hosts.
    let rounds = 10_000 / 900 + 1;
    assert!(
        h.attempts.len() <= 3 * rounds,
        "{} attempts in 10 s",
        h.attempts.len()
    );
    assert!(h.attempts.len() > 3);
    // After any failure the next deadline is in the future.
    assert!(h.s.poll_timeout().unwrap() > h.now());
}

#[test]
fn connect_timeout_follows_the_negotiated_timeout() {
    let cfg = SessionConfig {
        host_count: 3,
        ..config()
    };
    let mut h = Pair::new(cfg);
    assert_eq!(h.s.connect_timeout(), ms(10_000));
    h.connect_req();
    h.accept(SID, 6_000, false);
    assert_eq!(h.s.connect_timeout(), ms(2_000));
    h.dial = Dial::Hang;
    h.transport_closed();
    let t = h.now();
    h.run_until(t + ms(2_600));
    assert!(h.attempts.len() >= 2);
    assert_eq!(h.closes[0], h.attempts[1] + ms(2_000));
}
