#!/usr/bin/env bash
# Provides CPython 3.9 and 3.13 next to the machine's own Python, so that scripts/test.sh can
# run the package's tests on each. Debian 12 packages only 3.11, and PyPI distributes no
# interpreters; Debian 11 (bullseye) has 3.9 and Debian 13 (trixie) has 3.13. This script
# downloads those Debian packages (apt-get download, with a private package list: the
# machine's own apt sources and packages are not touched) and unpacks them into
# target/pythons/<version>/root. Nothing is installed system-wide.
#
# - 3.9 runs on this machine's C library; the libraries Debian 12 no longer has (OpenSSL
#   1.1, libffi 7) come from bullseye and are found through the binary's RPATH.
# - 3.13 needs a newer C library than Debian 12's: the binary is patched (patchelf) to use
#   trixie's dynamic loader and libraries from its private directory. Processes it starts
#   (the test server, ZooKeeper) run with the machine's own libraries.
#
# Prints one interpreter path per line (3.9 and 3.13); installs Debian's patchelf when it is
# missing. Environment: AIOZK_PYTHONS (default target/pythons), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if ! command -v patchelf >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq patchelf >/dev/null
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
dest=${AIOZK_PYTHONS:-$target/pythons}
apt_dir=$dest/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
cat > "$apt_dir/sources.list" <<'EOF'
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian trixie main
EOF
touch "$apt_dir/status"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent" -o "APT::Sandbox::User=root"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::State::status=$apt_dir/status")
# The lists are fetched once (a day at most).
if [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    apt-get -qq "${apt_opts[@]}" update >&2
fi

# unpack VERSION DIST PACKAGE...: downloads the packages of DIST and unpacks them.
unpack() {
    local version=$1 dist=$2
    shift 2
    local dir=$dest/$version
    if [ -x "$dir/root/usr/bin/python$version" ] && [ -f "$dir/ready" ]; then
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$dir/root"
    (cd "$dir/debs" && apt-get -qq "${apt_opts[@]}" download "${@/%//$dist}" >&2)
    for deb in "$dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$dir/root"
    done
}

lib_dirs() {
    local root=$1
    echo "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu"
}

# The standard modules that load shared libraries must import.
check_libraries() {
    local python=$1
    local missing
    missing=$("$python" - <<'EOF'
import sys
bad = []
# pip needs distutils before 3.12 (Debian ships it apart).
for name in (['distutils.cmd'] if sys.version_info < (3, 12) else []) + ['ssl', 'ctypes', 'venv', 'sqlite3', 'lzma', 'bz2', 'zlib', 'decimal', 'uuid', 'readline', 'hashlib', 'json', 'asyncio']:
    try:
        __import__(name)
    except ImportError as e:
        bad.append(f'{name}: {e}')
print('\n'.join(bad))
EOF
)
    if [ -n "$missing" ]; then
        echo "$python: modules that do not load:" >&2
        echo "$missing" >&2
        return 1
    fi
}

unpack 3.9 bullseye python3.9-minimal libpython3.9-minimal libpython3.9-stdlib python3-distutils \
    python3-lib2to3 libssl1.1 libffi7 libmpdec3
root9=$dest/3.9/root
patchelf --force-rpath --set-rpath "$(lib_dirs "$root9")" "$root9/usr/bin/python3.9"
check_libraries "$root9/usr/bin/python3.9"
touch "$dest/3.9/ready"

unpack 3.13 trixie python3.13-minimal libpython3.13-minimal libpython3.13-stdlib libc6 libgcc-s1 \
    libssl3t64 libexpat1 zlib1g libbz2-1.0 libdb5.3t64 libffi8 liblzma5 libncursesw6 libtinfo6 \
    libreadline8t64 libsqlite3-0 libuuid1 libmpdec4 libzstd1 libcrypt1
root13=$dest/3.13/root
loader=$(find "$root13" -name 'ld-linux-x86-64.so.2' -type f | head -n 1)
patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$(lib_dirs "$root13")" "$root13/usr/bin/python3.13"
check_libraries "$root13/usr/bin/python3.13"
touch "$dest/3.13/ready"

echo "$root9/usr/bin/python3.9"
echo "$root13/usr/bin/python3.13"
