//! SASL exchanges whose tokens the driver computes (GSSAPI): the session asks with
//! `Event::Sasl`, sends what the driver answers, and holds everything else back until the
//! exchange is complete.

use super::harness::*;

fn external() -> SessionConfig {
    SessionConfig {
        external_sasl: true,
        ..config()
    }
}

/// A session whose handshake is done and whose exchange `round` has just been asked for.
fn handshaken(round: u64) -> Pair {
    let mut h = Pair::new(external());
    h.connect_req();
    h.accept(SID, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![Ev::NewSession(SID), Ev::Sasl(round, SaslInput::Start)]
    );
    h
}

fn step(h: &mut Pair, round: u64, step: Result<SaslStep, String>) {
    let now = h.now();
    h.s.sasl_step(now, round, step);
    h.drive();
}

/// The token of a SASL request.
fn sasl_token(req: &Req) -> Vec<u8> {
    assert_eq!(req.op, OpCode::Sasl.as_i32(), "not a SASL request: {req:?}");
    assert!(req.xid > 0, "SASL requests carry a normal xid");
    let mut body = req.body.clone();
    read_buffer(&mut body, "token").unwrap().unwrap().to_vec()
}

fn server_token(token: Option<&[u8]>) -> Vec<u8> {
    let mut b = BytesMut::new();
    write_buffer(&mut b, token);
    b.to_vec()
}

#[test]
fn tokens_go_back_and_forth_and_requests_wait_for_the_end() {
    let mut h = handshaken(1);
    h.submit(get_data(1, "/a", None));
    assert!(h.take_sent().is_empty(), "nothing before the first token");

    step(&mut h, 1, Ok(SaslStep::Send(b"first".to_vec())));
    let r = h.one_request();
    assert_eq!(sasl_token(&r), b"first");
    h.reply(r.xid, 0, 0, &server_token(Some(b"challenge")));
    assert_eq!(
        h.take_events(),
        vec![Ev::Sasl(1, SaslInput::Server(Some(b"challenge".to_vec())))]
    );
    assert!(h.take_sent().is_empty(), "the driver's answer comes first");

    step(&mut h, 1, Ok(SaslStep::Send(Vec::new())));
    let r = h.one_request();
    assert_eq!(sasl_token(&r), b"");
    // The server's last reply carries no token.
    h.reply(r.xid, 0, 0, &server_token(None));
    assert_eq!(h.take_events(), vec![Ev::Sasl(1, SaslInput::Server(None))]);
    assert!(h.take_sent().is_empty());

    step(&mut h, 1, Ok(SaslStep::Done));
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)]
    );
    let r = h.one_request();
    assert_eq!(r.op, OpCode::GetData.as_i32());
}

#[test]
fn an_answer_for_a_lost_connection_is_ignored() {
    let mut h = handshaken(1);
    h.transport_closed();
    h.take_events();
    h.run_for(ms(2_000));
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    assert_eq!(h.take_events(), vec![Ev::Sasl(2, SaslInput::Start)]);
    // The first connection's answer arrives late.
    step(&mut h, 1, Ok(SaslStep::Send(b"stale".to_vec())));
    step(&mut h, 1, Ok(SaslStep::Done));
    assert!(h.take_sent().is_empty());
    assert!(h.take_events().is_empty());

    step(&mut h, 2, Ok(SaslStep::Send(b"fresh".to_vec())));
    assert_eq!(sasl_token(&h.one_request()), b"fresh");
}

#[test]
fn a_failed_step_fails_the_session() {
    let mut h = handshaken(1);
    h.submit(get_data(1, "/a", None));
    step(&mut h, 1, Err("no ticket".into()));
    let evs = h.take_events();
    assert!(
        evs.contains(&Ev::Reply(1, Err(Error::AuthFailed))),
        "{evs:?}"
    );
    // The cause says why, on this side.
    assert_eq!(
        evs.last(),
        Some(&Ev::State(
            SessionState::AuthFailed,
            StateCause::AuthRejected(Error::SaslFailed("no ticket".into()))
        ))
    );
    assert!(h.s.state().is_terminal());
    assert!(h.take_sent().is_empty());
}

#[test]
fn a_refused_token_fails_the_session() {
    let mut h = handshaken(1);
    step(&mut h, 1, Ok(SaslStep::Send(b"forged".to_vec())));
    let r = h.one_request();
    h.reply(r.xid, 0, -115, &[]);
    assert_eq!(
        h.take_events().last(),
        Some(&Ev::State(
            SessionState::AuthFailed,
            StateCause::AuthRejected(Error::AuthFailed)
        ))
    );
    // Later answers of the driver change nothing.
    step(&mut h, 1, Ok(SaslStep::Done));
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::AuthFailed);
}
