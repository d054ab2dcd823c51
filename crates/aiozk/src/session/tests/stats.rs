//! The session's counters.

use super::harness::*;

#[test]
fn stats_count_what_happened() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/d", 1, 100);
    h.submit(get_data(2, "/x", None));
    let r = h.one_request();
    h.reply(r.xid, 1, -101, &[]);
    h.notify(EventType::NodeDataChanged, "/d");
    h.reconnect_same_session();
    let s = h.s.stats();
    assert_eq!(s.requests, 2);
    assert_eq!(s.errors, 1);
    assert_eq!(s.notifications, 1);
    assert_eq!(s.sessions, 1);
    assert_eq!(s.reconnects, 1);
    assert_eq!(s.disconnects, 1);
    assert_eq!(s.set_watches_batches, 0, "the only watch already fired");
}
