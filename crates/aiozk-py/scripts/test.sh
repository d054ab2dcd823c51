#!/usr/bin/env bash
# Builds the Python package (a wheel) into a venv, then runs aiozk 0.32.0's own test suite
# (from PyPI's sdist, MIT; the tests listed in tests/aiozk_suite_excluded.txt are left out)
# against a server of `zk-testkit serve`, and this package's pytest suite (tests/) against
# one of `zk-testkit serve --ttl --sasl bob:bobsecret --tls` (see tests/conftest.py); its
# interoperability test installs kazoo from PyPI into the venv.
#
# Environment: AIOZK_PY_VENV (default target/aiozk-pyo3-venv), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
crate=$(pwd)
root=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=${AIOZK_PY_VENV:-$target/aiozk-pyo3-venv}
py=$venv/bin/python

[ -x "$py" ] || python3 -m venv "$venv"
"$py" -m pip install -q maturin pytest pytest-asyncio pytest-timeout mypy

# The Python sources and stubs type-check.
(cd "$crate/python" && "$venv/bin/mypy" --ignore-missing-imports aiozk)

# The wheel, installed as a user would (replacing an editable `maturin develop` install).
rm -rf "$target/aiozk-py-wheels"
"$venv/bin/maturin" build -q -o "$target/aiozk-py-wheels" --manifest-path "$crate/Cargo.toml" --interpreter "$py"
"$py" -m pip install -q --force-reinstall --no-deps "$target"/aiozk-py-wheels/aiozk_rs-*.whl
site=$(cd /tmp && "$py" -c 'import aiozk, os; print(os.path.dirname(aiozk.__file__))')

# aiozk's test suite, copied into the installed package (its tests use relative imports).
suite=$target/aiozk-suite
if [ ! -d "$suite/aiozk-0.32.0/aiozk/test" ]; then
    mkdir -p "$suite"
    "$py" -m pip download -q --no-binary :all: --no-deps aiozk==0.32.0 -d "$suite"
    tar -xzf "$suite/aiozk-0.32.0.tar.gz" -C "$suite" aiozk-0.32.0/aiozk/test aiozk-0.32.0/LICENSE
fi
rm -rf "$site/test"
cp -r "$suite/aiozk-0.32.0/aiozk/test" "$site/test"
cp "$suite/aiozk-0.32.0/LICENSE" "$site/test/LICENSE"

cargo build -q -p aiozk-testkit --bin zk-testkit
# `zk`: the Rust contender of tests/test_interop.py.
cargo build -q -p aiozk-cli --bin zk
bin=$target/debug

# One server for aiozk's suite; it stops when its stdin closes (when this script exits).
coproc ZK { exec "$bin/zk-testkit" serve; }
read -r connect <&"${ZK[0]}"
trap 'exec {ZK[1]}>&-; wait' EXIT
deselect=()
while read -r id _; do
    [ -n "$id" ] && deselect+=(--deselect "$id")
done < <(grep -v '^#' "$crate/tests/aiozk_suite_excluded.txt")
echo "aiozk 0.32.0 test suite against aiozk-rs ($((${#deselect[@]} / 2)) exclusions, see tests/aiozk_suite_excluded.txt):"
(cd "$site" && ZK_HOST=${connect%:*} ZK_PORT=${connect##*:} "$py" -m pytest -q -p no:cacheprovider \
    -o addopts='' -o asyncio_mode=auto -o asyncio_default_fixture_loop_scope=function \
    --rootdir "$site" --timeout 120 "${deselect[@]}" test)

echo "aiozk-rs test suite:"
(cd "$crate" && ZK_TESTKIT="$bin/zk-testkit" ZK_CLI="$bin/zk" "$py" -m pytest -q -p no:cacheprovider --timeout 120 tests)
