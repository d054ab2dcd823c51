//! The handshake: the ConnectRequest, the ConnectResponse and its variants.

use super::harness::*;

#[test]
fn new_session_handshake() {
    let cfg = SessionConfig {
        session_timeout: Duration::from_millis(12_345),
        ..SessionConfig::default()
    };
    let mut h = Pair::new(cfg);
    assert_eq!(
        h.attempts,
        vec![Duration::ZERO],
        "the first attempt is immediate"
    );
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.connect_req();
    assert_eq!(
        c,
        ConnectReq {
            len: 45,
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 12_345,
            session_id: 0,
            password: vec![0; 16],
            read_only: false,
        }
    );
    assert!(h.take_events().is_empty());

    // Nothing else goes out before the ConnectResponse.
    h.submit(get_data(1, "/a", None));
    assert!(h.take_sent().is_empty());

    h.accept(SID, 10_000, false);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::NewSession(SID),
            Ev::State(SessionState::Connected, StateCause::Handshake)
        ]
    );
    assert_eq!(h.s.state(), SessionState::Connected);
    assert_eq!(h.s.session_id(), SID);
    assert_eq!(h.s.password(), &PW);
    assert_eq!(h.s.negotiated_timeout(), ms(10_000));
    assert_eq!(h.s.stats().sessions, 1);
    let r = h.one_request();
    assert_eq!((r.xid, r.op), (1, OpCode::GetData.as_i32()));
}

#[test]
fn connect_response_without_read_only_byte_is_accepted() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.feed(&connect_response(8_000, SID, &PW, None));
    assert_eq!(h.s.state(), SessionState::Connected);
    assert_eq!(h.s.negotiated_timeout(), ms(8_000));
    assert!(h.closes.is_empty());
}

#[test]
fn connect_response_split_across_reads() {
    let mut h = Pair::new(config());
    h.connect_req();
    let bytes = connect_response(8_000, SID, &PW, Some(false));
    let (a, b) = bytes.split_at(7);
    h.feed(a);
    assert_eq!(h.s.state(), SessionState::Connecting);
    h.feed(b);
    assert_eq!(h.s.state(), SessionState::Connected);
}
