#!/usr/bin/env bash
# Checks that the crates and the Python package can be published, without uploading anything:
# - the published crates carry a registry page's metadata, and the test-only crates are
#   `publish = false`;
# - `cargo package` of the published crates, in dependency order (each one is built from its
#   package, against the packages of the crates before it);
# - `cargo publish --dry-run` of aiozk-proto;
# - the Python package's wheel (`maturin build`) and sdist (`maturin sdist`), and `pip install`
#   of that sdist in a fresh venv, which then imports the package.
# With --quick (a few seconds): only the metadata checks and the file lists of the crates'
# packages (`cargo package --list`), without building anything.
# With --suite (the test suite's step, under a minute): the metadata checks, `cargo package`
# of the published crates without building each from its package, `cargo publish --dry-run`
# of aiozk-proto (which does build it from its package), and the Python package's sdist; the
# wheel is built and tested by crates/aiozk-py/scripts/test.sh. The full checks build every
# crate from its package and install the sdist with pip.
#
# Environment: CARGO_TARGET_DIR.
set -euo pipefail
quick=false
suite=false
[ "${1:-}" = --quick ] && quick=true
[ "${1:-}" = --suite ] && suite=true
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$target/packaging
published=(aiozk-proto aiozk-mutants aiozk aiozk-recipes aiozk-cli)
unpublished=(aiozk-testkit aiozk-bench aiozk-py aiozk-proof)

echo "packaging: manifests"
cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
published, unpublished = sys.argv[1].split(), sys.argv[2].split()
packages = {p["name"]: p for p in json.load(sys.stdin)["packages"]}
bad = []
for name in published:
    p = packages[name]
    for field in ("description", "license", "readme", "documentation"):
        if not p.get(field):
            bad.append(f"{name}: no {field}")
    for field in ("keywords", "categories"):
        if not p.get(field):
            bad.append(f"{name}: no {field}")
    if p.get("publish") == []:
        bad.append(f"{name}: publish = false")
    for dep in p["dependencies"]:
        if dep.get("path") and dep["kind"] != "dev" and dep["req"] == "*":
            bad.append(f"{name}: path dependency {dep['name']} without a version")
for name in unpublished:
    if packages[name].get("publish") != []:
        bad.append(f"{name}: a test-only crate without publish = false")
if bad:
    sys.exit("\n".join(bad))
' "${published[*]}" "${unpublished[*]}"

if $quick; then
    for crate in "${published[@]}"; do
        echo "packaging: cargo package --list -p $crate"
        files=$(cargo package -q --list --allow-dirty -p "$crate")
        grep -qx README.md <<<"$files" || { echo "$crate: no README.md in its package" >&2; exit 1; }
    done
    echo "packaging: quick checks passed (the full checks: scripts/check-packaging.sh)"
    exit 0
fi

if $suite; then
    starget=$work/suite-target
    pkg_args=()
    for crate in "${published[@]}"; do pkg_args+=(-p "$crate"); done
    echo "packaging: cargo package --no-verify ${published[*]}"
    rm -rf "$starget/package"
    cargo package -q --no-verify --allow-dirty --target-dir "$starget" "${pkg_args[@]}"
    for crate in "${published[@]}"; do
        version=$(cargo pkgid -p "$crate" | sed 's/.*[#@]//')
        tar -tzf "$starget/package/$crate-$version.crate" "$crate-$version/README.md" \
            "$crate-$version/Cargo.toml" >/dev/null
    done
    echo "packaging: cargo publish --dry-run -p aiozk-proto"
    cargo publish -q --dry-run --allow-dirty --target-dir "$starget" -p aiozk-proto
    echo "packaging: Python sdist"
    venv=$work/venv
    [ -x "$venv/bin/maturin" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q maturin; }
    rm -rf "$work/suite-dist"
    "$venv/bin/maturin" sdist -o "$work/suite-dist" -m crates/aiozk-py/Cargo.toml
    sdist=$(ls "$work"/suite-dist/aiozk_rs-*.tar.gz)
    files=$(tar -tzf "$sdist")
    for needed in pyproject.toml python/aiozk/__init__.py python/aiozk/_aiozk.pyi; do
        grep -q "/$needed\$" <<<"$files" || grep -q "/crates/aiozk-py/$needed\$" <<<"$files" ||
            { echo "the sdist has no $needed" >&2; exit 1; }
    done
    echo "packaging: suite checks passed (the full checks: scripts/check-packaging.sh)"
    exit 0
fi

# Each crate is verified against the packages of the ones before it, through a local
# registry. Cargo treats registry packages as immutable: it unpacks each version once and
# keeps what it built from it, even when a package changed since. So the unpacked copies
# (never those from crates.io) and the builds of these crates go before every run; the
# builds happen in a target directory of their own, where the dependencies stay built.
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*; do
    case $(basename "$dir") in index.crates.io-*) continue ;; esac
    for crate in "${published[@]}"; do rm -rf "$dir/$crate"-[0-9]*; done
done
ptarget=$work/package-target
rm -rf "$ptarget"/package "$ptarget"/debug/.fingerprint/aiozk* "$ptarget"/debug/deps/*aiozk*

# --allow-dirty: what is checked is the packaging, not whether everything is committed.
echo "packaging: cargo package ${published[*]}"
pkg_args=()
for crate in "${published[@]}"; do pkg_args+=(-p "$crate"); done
cargo package -q --allow-dirty --target-dir "$ptarget" "${pkg_args[@]}"
for crate in "${published[@]}"; do
    version=$(cargo pkgid -p "$crate" | sed 's/.*[#@]//')
    tar -tzf "$ptarget/package/$crate-$version.crate" "$crate-$version/README.md" >/dev/null
done

echo "packaging: cargo publish --dry-run -p aiozk-proto"
cargo publish -q --dry-run --allow-dirty --target-dir "$ptarget" -p aiozk-proto

echo "packaging: Python wheel and sdist"
venv=$work/venv
[ -x "$venv/bin/maturin" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q maturin; }
rm -rf "$work/dist" "$work/fresh"
"$venv/bin/maturin" build -q -o "$work/dist" -m crates/aiozk-py/Cargo.toml --interpreter "$venv/bin/python"
"$venv/bin/maturin" sdist -o "$work/dist" -m crates/aiozk-py/Cargo.toml
wheel=$(ls "$work"/dist/aiozk_rs-*.whl)
sdist=$(ls "$work"/dist/aiozk_rs-*.tar.gz)
"$venv/bin/python" - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for needed in ("aiozk/__init__.py", "aiozk/py.typed", "aiozk/_aiozk.pyi"):
    assert needed in names, f"{needed} is not in the wheel"
assert any(n.startswith("aiozk/_aiozk.") and n.endswith(".so") for n in names), "no extension module"
EOF

echo "packaging: pip install of the sdist in a fresh venv"
python3 -m venv "$work/fresh"
# The sdist builds in a target directory of its own, where its dependencies stay built. Its
# files carry one fixed date, which cargo cannot tell from an older build's: the builds of
# this workspace's crates go first.
starget=$work/sdist-target
rm -rf "$starget"/*/.fingerprint/aiozk* "$starget"/*/deps/*aiozk*
CARGO_TARGET_DIR=$starget "$work/fresh/bin/pip" install -q "$sdist"
(cd /tmp && "$work/fresh/bin/python" -c '
import aiozk, aiozk._aiozk
assert aiozk.__file__.startswith(__import__("sys").prefix), aiozk.__file__
print("packaging: installed", aiozk.__name__, "from", aiozk.__file__)
')
echo "packaging: all checks passed"
