//! The `zk_request` span of every request, captured from a real session.
//!
//! The only test of its binary: tracing caches whether a callsite is enabled process-wide,
//! and a test thread without a subscriber that reached the span first would switch it off
//! for this test's thread-local subscriber too (tokio-rs/tracing#3611).

mod common;

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_has_a_debug_span_with_its_outcome() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let zk = common::connect("").await;
    let path = common::base(&zk, "spans").await;
    let node = format!("{path}/n");
    zk.create(&node, b"s3cr3t-data").await.unwrap();
    zk.get_data(&node).await.unwrap();
    assert_eq!(
        zk.delete(&format!("{path}/none"), None).await,
        Err(aiozk::Error::NoNode)
    );
    zk.add_auth("digest", b"user:hunter2").await.unwrap();
    let session = format!("{:#x}", zk.session_id());
    zk.close().await;

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let replies: Vec<&str> = text.lines().filter(|l| l.contains(" reply ")).collect();
    let find = |op: &str, p: &str| {
        replies
            .iter()
            .find(|l| l.contains(&format!("zk_request{{op=\"{op}\" path=\"{p}\"")))
            .unwrap_or_else(|| panic!("no reply line for {op} {p} in:\n{text}"))
    };
    let get = find("getData", &node);
    assert!(get.contains(&format!("session_id={session}")), "{get}");
    assert!(get.contains("outcome=\"ok\""), "{get}");
    assert!(get.contains(" xid="), "{get}");
    assert!(get.contains("duration_us="), "{get}");
    let delete = find("delete", &format!("{path}/none"));
    assert!(delete.contains("outcome=\"no_node\""), "{delete}");
    assert!(
        replies
            .iter()
            .any(|l| l.contains("zk_request{op=\"auth\"") && l.contains("outcome=\"ok\"")),
        "{text}"
    );
    for secret in ["s3cr3t-data", "hunter2"] {
        assert!(!text.contains(secret), "{secret:?} leaked:\n{text}");
    }
}
