#!/usr/bin/env bash
# Builds the Python package (a wheel) into a venv, then runs aiozk 0.32.0's own test suite
# (from PyPI's sdist, MIT; the tests listed in tests/aiozk_suite_excluded.txt are left out)
# against a server of `zk-testkit serve`, and this package's pytest suite (tests/) against
# one of `zk-testkit serve --ttl --sasl bob:bobsecret --tls` (see tests/conftest.py), on this
# machine's Python and on CPython 3.9 and 3.13 from Debian's archive (scripts/pythons.sh). It
# prints how many of aiozk's tests apply and pass. The interoperability tests (kazoo from PyPI,
# installed into the venv, and Curator) run on this machine's Python only.
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
# With Kerberos (the `gssapi` feature: tests/test_kerberos.py), which links the system's
# libgssapi_krb5: no manylinux repair (the wheel is for this machine).
"$venv/bin/maturin" build -q -o "$target/aiozk-py-wheels" --manifest-path "$crate/Cargo.toml" --interpreter "$py" \
    --features gssapi --auditwheel skip
"$py" -m pip install -q --force-reinstall --no-deps "$target"/aiozk-py-wheels/aiozk_rs-*.whl
site=$(cd /tmp && "$py" -c 'import aiozk, os; print(os.path.dirname(aiozk.__file__))')

# aiozk's test suite, copied into the installed package (its tests use relative imports).
suite=$target/aiozk-suite
if [ ! -d "$suite/aiozk-0.32.0/aiozk/protocol" ]; then
    mkdir -p "$suite"
    [ -f "$suite/aiozk-0.32.0.tar.gz" ] ||
        "$py" -m pip download -q --no-binary :all: --no-deps aiozk==0.32.0 -d "$suite"
    # Its tests, and its sources: the package's own tests read them (tests/test_send.py).
    tar -xzf "$suite/aiozk-0.32.0.tar.gz" -C "$suite" aiozk-0.32.0/aiozk aiozk-0.32.0/LICENSE
fi
rm -rf "$site/test"
cp -r "$suite/aiozk-0.32.0/aiozk/test" "$site/test"
cp "$suite/aiozk-0.32.0/LICENSE" "$site/test/LICENSE"

cargo build -q -p aiozk-testkit --bin zk-testkit
# `zk`: the Rust contender of tests/test_interop.py and tests/test_interop_contention.py.
cargo build -q -p aiozk-cli --bin zk
bin=$target/debug

# One server for aiozk's suite; it stops when its stdin closes (when this script exits).
coproc ZK { exec "$bin/zk-testkit" serve; }
read -r connect <&"${ZK[0]}"
trap 'exec {ZK[1]}>&-; wait' EXIT
deselect=()
not_applicable=()
not_run=()
while IFS= read -r line; do
    id=${line%%[[:space:]]*}
    [ -n "$id" ] || continue
    deselect+=(--deselect "$id")
    case $line in
        *"# not applicable:"*) not_applicable+=("$id") ;;
        *) not_run+=("$id") ;;
    esac
done < <(grep -v '^#' "$crate/tests/aiozk_suite_excluded.txt")
suite_pytest=("$py" -m pytest -p no:cacheprovider -o addopts='' -o asyncio_mode=auto
    -o asyncio_default_fixture_loop_scope=function --rootdir "$site")
# Test counts from pytest's collection: "N tests collected" (or "N/M tests collected").
collected() {
    (cd "$site" && ZK_HOST=${connect%:*} ZK_PORT=${connect##*:} "${suite_pytest[@]}" --collect-only -q "$@" |
        tail -n 1 | grep -oE '^[0-9]+')
}
total=$(collected test)
na=$(collected "${not_applicable[@]}")
excluded=$(collected "${not_run[@]}")
echo "aiozk 0.32.0 test suite against aiozk-rs (exclusions with reasons: tests/aiozk_suite_excluded.txt):"
log=$(mktemp)
status=0
(cd "$site" && ZK_HOST=${connect%:*} ZK_PORT=${connect##*:} "${suite_pytest[@]}" -q --timeout 120 \
    "${deselect[@]}" test) | tee "$log" || status=$?
count() { grep -E '^=*[[:space:]]*[0-9]+ (passed|failed)' "$log" | tail -n 1 | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
passed=$(count passed)
echo "aiozk 0.32.0 suite: $passed of $((total - na)) applicable tests passed ($total tests:" \
    "$na not applicable, $excluded not run, $((total - na - excluded - passed)) failed)"
rm -f "$log"
[ "$status" -eq 0 ] || exit "$status"

# The Rust API that tests/test_parity.py compares with the Python one: rustdoc's JSON output
# (an unstable option, which RUSTC_BOOTSTRAP allows on the stable toolchain).
# The client with its Kerberos items (the `gssapi` feature), as the package is built.
RUSTC_BOOTSTRAP=1 cargo rustdoc -q -p aiozk --lib --features gssapi --target-dir "$target/rustdoc-json" -- \
    -Zunstable-options --output-format json
RUSTC_BOOTSTRAP=1 cargo rustdoc -q -p aiozk-recipes --lib --target-dir "$target/rustdoc-json" -- \
    -Zunstable-options --output-format json

# The package's own suite, on this machine's Python and on the CPython versions that
# scripts/pythons.sh takes from Debian's archive (3.9 and 3.13): each gets a venv with the
# same abi3 wheel.
run_suite() {
    local python=$1
    shift
    echo "aiozk-rs test suite on $("$python" -c 'import platform; print("CPython", platform.python_version())'):"
    (cd "$crate" && ZK_TESTKIT="$bin/zk-testkit" ZK_CLI="$bin/zk" AIOZK_RUSTDOC_JSON="$target/rustdoc-json/doc" \
        AIOZK_REFERENCE="$suite/aiozk-0.32.0/aiozk" "$python" -m pytest -q -p no:cacheprovider --timeout 120 "$@" tests)
}
run_suite "$py"
mapfile -t pythons < <("$crate/scripts/pythons.sh")
for interpreter in "${pythons[@]}"; do
    version=$("$interpreter" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    other=$target/aiozk-py$version-venv
    if [ ! -x "$other/bin/pip" ]; then
        rm -rf "$other"
        "$interpreter" -m venv --without-pip "$other"
        # Debian's interpreters come without ensurepip's wheels: pip from PyPI, run from
        # its wheel, installs itself.
        wheels=$target/pip-wheel/$version
        mkdir -p "$wheels"
        "$py" -m pip download -q --only-binary :all: --no-deps --python-version "$version" pip -d "$wheels"
        "$other/bin/python" "$(ls "$wheels"/pip-*.whl | head -n 1)/pip" install -q --no-index "$wheels"/pip-*.whl
    fi
    "$other/bin/python" -m pip install -q pytest pytest-asyncio pytest-timeout
    "$other/bin/python" -m pip install -q --force-reinstall --no-deps "$target"/aiozk-py-wheels/aiozk_rs-*.whl
    run_suite "$other/bin/python" --ignore tests/test_interop.py --ignore tests/test_interop_contention.py
done
