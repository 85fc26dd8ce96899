#!/usr/bin/env bash
# Every benchmark of both ZMTP engines and the Python reference's scripts,
# then the table of the performance targets (issue 14) as markdown: ours,
# the raw baseline measured in the same run, their ratio, the goal, met or
# MISSED, and the Python reference's figure where it has one.
#
#   bash scripts/bench.sh            # the full runs (about 12 minutes once built)
#   bash scripts/bench.sh --quick    # smaller runs, for a first look
#
# Compare ratios, not absolute figures, on a machine that does anything
# else: the two sides of each ratio run alternately in the same run.
#
# Environment:
#   PTRS_PYTHON       the reference's Python (default .venv/bin/python, made
#                     by scripts/setup-python.sh); missing: no Python column
#   PTRS_REFERENCE    the reference's benchmark scripts (default
#                     ../shared/reference/python-bench, relative to the
#                     repository); missing: no Python column
#   BENCH_OUT         where the logs go (default $CARGO_TARGET_DIR/bench or
#                     target/bench)
#   BENCH_SKIP        space-separated steps to leave out: e2e-purerust
#                     e2e-libzmq curve memory engines stalled python
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
fi
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
out="${BENCH_OUT:-$target_dir/bench}"
python="${PTRS_PYTHON:-$repo/.venv/bin/python}"
reference="${PTRS_REFERENCE:-../shared/reference/python-bench}"
case "$reference" in
    /*) ;;
    *) reference="$repo/$reference" ;;
esac
skip=" ${BENCH_SKIP:-} "
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$out"

if [ "$quick" = 1 ]; then
    export E2E_MESSAGES="${E2E_MESSAGES:-200000}" E2E_RUNS="${E2E_RUNS:-3}"
    export E2E_LATENCY_MESSAGES="${E2E_LATENCY_MESSAGES:-2000}"
    export E2E_LOOKUP_SECONDS="${E2E_LOOKUP_SECONDS:-1}" E2E_FANOUT_MESSAGES="${E2E_FANOUT_MESSAGES:-50000}"
    export PTRS_BENCH_N="${PTRS_BENCH_N:-100000}" PTRS_BENCH_RUNS="${PTRS_BENCH_RUNS:-3}"
    export BENCH_SECONDS="${BENCH_SECONDS:-5}"
fi

wanted() {
    case "$skip" in
        *" $1 "*) return 1 ;;
        *) return 0 ;;
    esac
}

# Runs "$@" with its output in $out/$1.log (and on the terminal).
run() {
    local name="$1"
    shift
    echo
    echo "==> [$(date +%H:%M:%S)] $name: $*"
    if ! "$@" 2>&1 | tee "$out/$name.log"; then
        echo "==> $name FAILED (its targets are missing from the table)"
    fi
}

rm -f "$out"/*.log
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# --- the benchmarks ----------------------------------------------------------
if wanted e2e-purerust; then
    run e2e-purerust env E2E_ENGINE=purerust cargo bench -p posttroll --features zmq --bench e2e
fi
if wanted e2e-libzmq; then
    run e2e-libzmq env E2E_ENGINE=libzmq E2E_CODEC_TARGETS=0 cargo bench -p posttroll --features zmq --bench e2e
fi
if wanted curve; then
    run curve cargo bench -p posttroll-backend-securezmq --bench secure_pubsub
fi
if wanted memory; then
    # The nameserver of the default release build, and of release-small.
    # Copied away: the bench profile writes target/release too.
    cargo build --release -p posttroll-cli --bin nameserver
    mkdir -p "$out/release" "$out/release-small"
    cp "$target_dir/release/nameserver" "$out/release/nameserver"
    cargo build --profile release-small -p posttroll-cli --bin nameserver
    cp "$target_dir/release-small/nameserver" "$out/release-small/nameserver"
    run memory-release env NAMESERVER_BIN="$out/release/nameserver" \
        cargo bench -p posttroll-cli --bench nameserver_rss
    run memory-release-small env NAMESERVER_BIN="$out/release-small/nameserver" \
        cargo bench -p posttroll-cli --bench nameserver_rss
fi
if wanted engines; then
    run engine-purerust cargo bench -p posttroll-backend-purerust --bench pubsub
    run engine-libzmq cargo bench -p posttroll-backend-zmq --bench pubsub
fi
if wanted stalled; then
    run stalled-purerust env POSTTROLL_ENGINE=purerust cargo bench -p posttroll --features zmq --bench stalled_subscriber
    run stalled-libzmq env POSTTROLL_ENGINE=libzmq cargo bench -p posttroll --features zmq --bench stalled_subscriber
fi

# --- the Python reference ----------------------------------------------------
python_ok=0
if wanted python && [ -x "$python" ] && [ -d "$reference" ]; then
    python_ok=1
    for script in bench_encode bench_decode bench_zmq_raw bench_posttroll_pubsub bench_latency bench_ns_lookup bench_ns_memory; do
        # Each script stops itself within 60 s; run from its folder (it
        # imports its helpers), writing nothing there.
        run "python-$script" bash -c 'cd "$1" && timeout 90 "$2" "$3.py"' _ "$reference" "$python" "$script"
    done
else
    echo
    echo "==> no Python reference (PTRS_PYTHON=$python, PTRS_REFERENCE=$reference): its column stays empty"
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# --- the table ---------------------------------------------------------------
# The Python reference's figure for a target key, from its RESULT lines.
python_result() {
    local name="" unit=""
    case "$1" in
        e2e) name=posttroll_pubsub_recv_rate unit="msg/s" ;;
        latency_p50) name=latency_p50_us unit="us" ;;
        latency_p99) name=latency_p99_us unit="us" ;;
        lookups) name=ns_lookup_rate unit="lookups/s" ;;
        discovery) name=ns_discovery_delay_ms unit="ms" ;;
        memory) name='ns_after_[0-9]*_lookups_vmhwm' unit="MiB peak (1000 lookups)" ;;
        codec_encode) name=construct_encode_us unit="us" ;;
        codec_decode) name=decode_json_us unit="us" ;;
        *) return 0 ;;
    esac
    [ "$python_ok" = 1 ] || return 0
    local value
    value="$(cat "$out"/python-*.log 2>/dev/null | sed -n "s/^RESULT $name=\([0-9.]*\).*/\1/p" | head -n1)"
    if [ -n "$value" ]; then
        echo "$value $unit"
    fi
}

table="$out/table.md"
{
    echo "| target | engine | ours | baseline (same run) | ratio | goal | | Python reference |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    cat "$out"/*.log | grep '^TARGET|' | while IFS='|' read -r _ key what engine ours baseline ratio goal verdict; do
        echo "| $what | $engine | $ours | $baseline | $ratio | $goal | $verdict | $(python_result "$key") |"
    done
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $load_before before and" \
        "$load_after after; \`bash scripts/bench.sh$([ "$quick" = 1 ] && echo ' --quick')\`;" \
        "the Python reference is posttroll $("$python" -c 'from importlib.metadata import version; print(version("posttroll"))' 2>/dev/null || echo '(not run)')."
} > "$table"
echo
echo "==> the table ($table)"
echo
cat "$table"
