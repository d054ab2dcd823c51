//! Requests go out in submission order and replies complete them in that order.

use super::harness::*;

#[test]
fn requests_go_out_in_submission_order_and_complete_their_tokens() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.submit(get_data(1, "/a", None));
    h.submit(exists(2, "/b", None));
    h.submit(delete(3, "/c"));
    assert!(h.take_sent().is_empty());
    h.accept(SID, 30_000, false);
    h.take_events();

    let reqs = h.requests();
    let heads: Vec<_> = reqs.iter().map(|r| (r.xid, r.op)).collect();
    assert_eq!(heads, vec![(1, 4), (2, 3), (3, 2)]);
    assert_eq!(
        reqs[0].body,
        encode(&Request::GetData {
            path: "/a",
            watch: false
        })
    );
    assert_eq!(
        reqs[1].body,
        encode(&Request::Exists {
            path: "/b",
            watch: false
        })
    );
    assert_eq!(
        reqs[2].body,
        encode(&Request::Delete {
            path: "/c",
            version: -1
        })
    );

    // While connected a request is written at once.
    h.submit(set_data(4, "/d", b"xyz"));
    let r = h.one_request();
    assert_eq!((r.xid, r.op), (4, OpCode::SetData.as_i32()));
    assert_eq!(h.s.in_flight(), 4);

    h.reply(1, 0x20, 0, &data_body(b"hello", &stat(7)));
    h.reply(2, 0x21, 0, &encode(&stat(8)));
    h.reply(3, 0x22, -101, &[]);
    h.reply(4, 0x23, 0, &encode(&stat(9)));
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Ok(data_response(b"hello", stat(7)))),
            Ev::Reply(2, Ok(Response::Stat(stat(8)))),
            Ev::Reply(3, Err(Error::NoNode)),
            Ev::Reply(4, Ok(Response::Stat(stat(9)))),
        ]
    );
    assert_eq!(h.s.last_zxid(), 0x23);
    assert_eq!(h.s.in_flight(), 0);
    assert!(h.closes.is_empty());
}

#[test]
fn replies_in_one_read_and_in_pieces() {
    let mut h = Pair::connected(config(), 30_000);
    for t in 1..=3 {
        h.submit(get_data(t, "/a", None));
    }
    let xids: Vec<_> = h.requests().iter().map(|r| r.xid).collect();
    let mut bytes = Vec::new();
    for x in &xids {
        bytes.extend(reply_frame(*x, 5, 0, &data_body(b"v", &stat(1))));
    }
    // One byte at a time: every frame is reassembled.
    for b in &bytes {
        h.feed(std::slice::from_ref(b));
    }
    let replies: Vec<_> = h.take_events();
    assert_eq!(
        replies,
        (1..=3)
            .map(|t| Ev::Reply(t, Ok(data_response(b"v", stat(1)))))
            .collect::<Vec<_>>()
    );
}

#[test]
fn xids_wrap_from_max_to_one() {
    let mut h = Pair::connected(config(), 30_000);
    h.s.requests.next_xid = i32::MAX - 1;
    for t in 1..=3 {
        h.submit(delete(t, "/x"));
    }
    let xids: Vec<_> = h.requests().iter().map(|r| r.xid).collect();
    assert_eq!(xids, vec![i32::MAX - 1, i32::MAX, 1]);
    for x in xids {
        h.reply(x, 9, 0, &[]);
    }
    assert_eq!(
        h.take_events(),
        (1..=3)
            .map(|t| Ev::Reply(t, Ok(Response::Empty)))
            .collect::<Vec<_>>()
    );
    assert!(h.closes.is_empty());
}
