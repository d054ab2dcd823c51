#!/usr/bin/env bash
# Installs what the tests' ZooKeeper servers need, idempotently:
# - Debian's packages zookeeper (3.8.0, the `ZK_VERSION=debian` leg; it brings Java), maven and
#   a JDK (javac, for the Curator peer of the interoperability tests), when missing, and tmux
#   (the pseudo-terminal of the `zk shell` test), nftables and iproute2 (network namespaces),
#   libkrb5-dev, krb5-kdc, krb5-admin-server and krb5-user (the `gssapi` feature, its test
#   realm and kinit);
# - the releases named in ZK_RELEASES (default: 3.9.5 and the newest 3.8.x that Maven Central
#   serves) from Maven Central into the Maven cache (~/.m2), through the test kit, which
#   starts and stops one server of each to prove it runs. A warm cache downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
releases=${ZK_RELEASES:-"3.9.5 3.8.6"}

missing=()
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v mvn >/dev/null || missing+=(maven)
# javac: the interoperability tests compile their Curator peer (aiozk_testkit::Peer).
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v tmux >/dev/null || missing+=(tmux)
# nft and ip: the tests that build their own network namespaces (tests/addresses.rs, the
# proof harness) need them.
command -v nft >/dev/null || missing+=(nftables)
command -v ip >/dev/null || missing+=(iproute2)
# Kerberos: the C libraries the `gssapi` feature links (headers and .so links), and MIT's KDC
# with kadmin.local for the test kit's realm.
[ -e /usr/include/gssapi/gssapi_ext.h ] || missing+=(libkrb5-dev)
[ -x /usr/sbin/krb5kdc ] || missing+=(krb5-kdc)
[ -x /usr/sbin/kadmin.local ] || missing+=(krb5-admin-server)
command -v kinit >/dev/null || missing+=(krb5-user)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "installing the Debian packages ${missing[*]}..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build -q -p aiozk-testkit --bin zk-testkit
bin=${CARGO_TARGET_DIR:-target}/debug/zk-testkit
for v in $releases; do
  if ! connect=$("$bin" serve --version "$v" </dev/null 2>/tmp/zk-testkit-install.$$); then
    cat /tmp/zk-testkit-install.$$ >&2
    rm -f /tmp/zk-testkit-install.$$
    exit 1
  fi
  echo "ZooKeeper $v ready (a test server ran on $connect)" >&2
done
rm -f /tmp/zk-testkit-install.$$
