#!/usr/bin/env bash
# Runs every fuzz target for a while from its seed corpus; fails on any finding.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS      (BUILD_DIR configured with -Dfuzz=true, see
#        tests/fuzz/meson.build; the targets are built first if needed)
#
# As many targets at a time as there are processors.  The committed corpus is copied to a temporary
# directory first, so the inputs libFuzzer adds never touch the checkout.  A finding (crash,
# sanitizer report, broken contract, leak, timeout of one input, out-of-memory) fails the run;
# its input is kept in BUILD_DIR/fuzz-artifacts/TARGET/ and the report's first lines are printed.
# Reproduce one with:  BUILD_DIR/tests/fuzz/TARGET BUILD_DIR/fuzz-artifacts/TARGET/crash-...
set -u
if [ $# -ne 2 ] || ! [ "$2" -gt 0 ] 2>/dev/null; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
BUILD=$1 SECONDS_EACH=$2
HERE=$(cd "$(dirname "$0")" && pwd)
TARGETS=(fuzz_idx fuzz_gzip fuzz_checkpoint)
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT # no fuzzer outlives the script

if ! ninja -C "$BUILD" "${TARGETS[@]/#/tests/fuzz/}" >"$TMP/build.log" 2>&1; then
    tail -20 "$TMP/build.log"
    echo "cannot build the fuzz targets in $BUILD (configured with CC=clang and -Dfuzz=true?)" >&2
    exit 2
fi

# fuzz_one TARGET: runs it and writes its verdict (one "ok" or "FAIL" line, and the report's
# first lines on a failure) to $TMP/TARGET.verdict.
fuzz_one() {
    local target=$1 exe corpus artifacts seeds rc execs units cov
    exe=$BUILD/tests/fuzz/$target
    corpus=$TMP/corpus/$target
    artifacts=$BUILD/fuzz-artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    cp "$HERE/corpus/$target"/* "$corpus/"
    seeds=$(ls "$corpus" | wc -l)
    # -timeout: one input taking 10 s is a hang.  -rss_limit_mb: 2 GB is an out-of-memory finding.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        "$exe" "$corpus" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" >"$TMP/$target.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/$target.log" | tail -1)
    units=$(ls "$corpus" | wc -l)
    cov=$(grep -o 'cov: [0-9]*' "$TMP/$target.log" | tail -1)
    if [ $rc -eq 0 ] && [ -n "$execs" ]; then
        echo "ok   - $target: ${execs} executions in ${SECONDS_EACH}s, corpus $seeds -> $units inputs, $cov"
    else
        echo "FAIL - $target: exit $rc after ${execs:-?} executions; input(s) kept in $artifacts/:"
        ls "$artifacts" | sed 's/^/         /'
        grep -m1 -B2 -A12 -E 'ERROR: |runtime error|fuzz contract broken|SUMMARY' "$TMP/$target.log" | head -30 | sed 's/^/    /'
    fi >"$TMP/$target.verdict"
}

# As many targets at a time as there are processors (each uses one core), verdicts in order.
max_jobs=$(nproc 2>/dev/null || echo 1)
for target in "${TARGETS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n; done
    fuzz_one "$target" &
done
wait
pass=0 failed=0
for target in "${TARGETS[@]}"; do
    cat "$TMP/$target.verdict" 2>/dev/null || echo "FAIL - $target: no verdict"
    if grep -q '^ok' "$TMP/$target.verdict" 2>/dev/null; then pass=$((pass + 1)); else failed=$((failed + 1)); fi
done
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
