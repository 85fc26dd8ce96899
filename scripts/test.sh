#!/usr/bin/env bash
# The whole test suite: what CI runs (`.ci/run`) and what README.md names.
#
#   bash scripts/test.sh
#
# Installs what it needs when missing (apt packages, the Python reference in
# .venv, cargo-fuzz), then: fmt, clippy, tests (with the Python interop
# tests), docs, a bounded fuzz run, and a build of the benchmarks.
# Any failing step fails the run.
#
# Environment:
#   FUZZ_SECONDS   length of the fuzz run, in seconds (default 60; 0 skips it)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

summary=()
step_name=""
step_start=0
run_start=$SECONDS

step() {
    end_step
    step_name="$1"
    step_start=$SECONDS
    echo
    echo "==> [$(date +%H:%M:%S)] $step_name"
}
end_step() {
    if [ -n "$step_name" ]; then
        summary+=("$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")")
        step_name=""
    fi
}
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo
        echo "==> FAILED (exit $rc) in step: ${step_name:-setup}"
        for line in "${summary[@]}"; do echo "    ok $line"; done
    fi
}
trap on_exit EXIT

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# --- (a) system packages ----------------------------------------------------
step "system packages (pkg-config, libzmq3-dev; curl, iproute2, systemd for the deployment guide)"
missing=()
for pkg in pkg-config libzmq3-dev; do
    if dpkg -s "$pkg" >/dev/null 2>&1; then
        echo "present: $pkg"
    else
        missing+=("$pkg")
    fi
done
# The commands docs/deploy.md uses (its test runs them): by command, so a
# machine that has them from elsewhere installs nothing.
for pair in curl:curl ip:iproute2 systemd-analyze:systemd; do
    if command -v "${pair%%:*}" >/dev/null 2>&1; then
        echo "present: ${pair%%:*}"
    else
        missing+=("${pair#*:}")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- (b) the Python reference -------------------------------------------------
step "python reference (posttroll 1.16.0 in .venv)"
bash "$repo/scripts/setup-python.sh"
export PTRS_PYTHON="$repo/.venv/bin/python"

# --- (c) formatting -----------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
# The fuzz crate is outside the workspace: check its sources too.
rustfmt --edition 2021 --check fuzz/fuzz_targets/*.rs

# --- (d) lints ----------------------------------------------------------------
# Both engines compiled in (--all-features), then the default build (pure
# Rust only), whose cfgs differ.
step "cargo clippy -D warnings (all features, then default features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy --all-targets -- -D warnings

# --- (d2) the default build needs no C library --------------------------------
step "default build without libzmq (pkg-config finds nothing)"
# The default members and features must not depend on libzmq at all...
if cargo tree -e normal,build | grep -E "zmq-sys|zmq v"; then
    echo "the default build depends on libzmq (above)" >&2
    exit 1
fi
# ...and build and run with pkg-config pointed at an empty folder.
empty_pc="$(mktemp -d)"
PKG_CONFIG_PATH="$empty_pc" PKG_CONFIG_LIBDIR="$empty_pc" cargo build
PKG_CONFIG_PATH="$empty_pc" PKG_CONFIG_LIBDIR="$empty_pc" cargo run -q --bin nameserver -- --help >/dev/null
rmdir "$empty_pc"

# --- (e) tests ----------------------------------------------------------------
# The conformance suite: the engine-dependent tests follow POSTTROLL_ENGINE,
# so the whole workspace runs on the pure-Rust engine, then the packages
# whose tests follow the engine run again on libzmq: among them the suites
# that span crates and processes (tests/, package posttroll-tests: Python
# interop, liveness, the nameserver flood, the examples end to end) and the
# nameserver's. `-p posttroll` also builds the facade's examples, which
# tests/examples.rs runs (under CI a missing one fails, never skips).
step "cargo test, pure-Rust engine (PTRS_PYTHON=$PTRS_PYTHON)"
POSTTROLL_ENGINE=purerust cargo test --workspace --all-features
step "cargo test, libzmq engine"
POSTTROLL_ENGINE=libzmq cargo test -p posttroll -p posttroll-nameserver -p posttroll-tests \
    -p posttroll-cli -p posttroll-testkit -p posttroll-backend-securezmq --all-features

# --- (f) docs -----------------------------------------------------------------
step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

# --- (g) fuzzing --------------------------------------------------------------
if [ "$FUZZ_SECONDS" -gt 0 ]; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz missing: cargo install cargo-fuzz --locked"
        cargo install cargo-fuzz --locked
    fi
    cargo fuzz --version
    # decode: the dynamic decoder; decode_typed: the typed one. Both start
    # from the golden vectors' frames.
    for target in decode decode_typed; do
        step "cargo fuzz run $target (${FUZZ_SECONDS}s)"
        bash "$repo/fuzz/seed.sh" "$repo/fuzz/corpus/$target"
        # cargo-fuzz passes nightly-only flags (-Z sanitizer=address, ...) to
        # rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
        # -a: debug assertions (overflow checks) on. A crash, a panic, a leak,
        # a slow input (-timeout) or an out-of-memory input exits non-zero.
        RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -a "$target" "$repo/fuzz/corpus/$target" -- \
            -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    done
else
    step "cargo fuzz run: skipped (FUZZ_SECONDS=0)"
fi

# --- (h) benchmarks build -----------------------------------------------------
step "cargo bench --no-run"
# Only proves the benchmarks build: without the bench profile's LTO and
# single codegen unit, which would cost another minute on a 2-core machine.
CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
    cargo bench --workspace --all-features --no-run

end_step
echo
echo "==> summary"
for line in "${summary[@]}"; do echo "    ok $line"; done
echo "==> all steps passed in $((SECONDS - run_start))s"
