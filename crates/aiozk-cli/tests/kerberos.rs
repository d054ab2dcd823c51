//! `zk --sasl-gssapi` against a real server that requires SASL and a KDC of the test kit:
//! a keytab login, a ticket cache filled by `kinit`, and a cache without tickets (refused).
//! Only with the `gssapi` feature.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use aiozk_testkit::{Ensemble, Kdc, ServerConfig, TEST_REALM};
use serde_json::Value;

const ZK: &str = env!("CARGO_BIN_EXE_zk");
const NO_AUTH: i32 = 7;

fn zk(krb5_conf: &Path, args: &[&str]) -> Output {
    Command::new(ZK)
        .env("KRB5_CONFIG", krb5_conf)
        .env_remove("ZK_SERVERS")
        .env_remove("ZK_SASL")
        .env_remove("KRB5CCNAME")
        .args(["--timeout", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run zk")
}

fn sasl_ids(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "{out:?}");
    let ids: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    ids.as_array()
        .expect("a list of ids")
        .iter()
        .filter(|i| i["scheme"] == "sasl")
        .map(|i| i["user"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn zk_authenticates_with_a_keytab_or_a_ticket_cache() {
    let kdc = Kdc::start().expect("start the KDC");
    let keytab = kdc.add_principal("cli", None).expect("principal");
    let config = ServerConfig::new()
        .sasl_kerberos(&kdc, true)
        .expect("server principal");
    let zk_server = Ensemble::start(1, config).expect("start ZooKeeper");
    let servers = format!("localhost:{}", zk_server.client_port(0));
    let conf = kdc.krb5_conf();
    let principal = format!("cli@{TEST_REALM}");
    let keytab_s = keytab.to_string_lossy().into_owned();

    let out = zk(
        &conf,
        &[
            "--servers",
            &servers,
            "--sasl-gssapi",
            "--keytab",
            &keytab_s,
            "--principal",
            &principal,
            "--json",
            "whoami",
        ],
    );
    assert_eq!(sasl_ids(&out), ["cli"], "the keytab login");

    // A ticket cache that kinit filled.
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = format!("FILE:{}", dir.path().join("cc").display());
    let kinit = Command::new("kinit")
        .env("KRB5_CONFIG", &conf)
        .args(["-k", "-t", &keytab_s, "-c", &cache, &principal])
        .output()
        .expect("run kinit (Debian's krb5-user)");
    assert!(kinit.status.success(), "{kinit:?}");
    let out = zk(
        &conf,
        &[
            "--servers",
            &servers,
            "--sasl-gssapi",
            "--ccache",
            &cache,
            "--json",
            "whoami",
        ],
    );
    assert_eq!(sasl_ids(&out), ["cli"], "the ticket cache");

    // An empty cache: the exchange fails on the client's side, as an authentication failure.
    let empty = format!("FILE:{}", dir.path().join("empty").display());
    let out = zk(
        &conf,
        &[
            "--servers",
            &servers,
            "--sasl-gssapi",
            "--ccache",
            &empty,
            "exists",
            "/",
        ],
    );
    assert_eq!(out.status.code(), Some(NO_AUTH), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    println!("without tickets: {}", err.trim_end());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}
