#!/usr/bin/env bash
# Installs Debian's ZooKeeper (and Java) when they are missing, and tmux (the pseudo-terminal
# of the `zk shell` test). Idempotent.
set -euo pipefail
packages=()
if [ -z "${ZOOKEEPER_HOME:-}" ] && [ ! -f /usr/share/java/zookeeper.jar ]; then
  packages+=(zookeeper)
fi
command -v tmux >/dev/null || packages+=(tmux)
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing the Debian packages ${packages[*]}..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
