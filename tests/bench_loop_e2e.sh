#!/usr/bin/env bash
# End-to-end checks of bench/bench_loop (issue 22's user-loop benchmark), run by meson as:
#   bash tests/bench_loop_e2e.sh PATH/TO/bench_loop
# Its output format and errors, and that its busy child never outlives it.  Not its timings:
# those are a benchmark's business, not a test's.  Prints one line per check, then
# "N passed, M failed"; exits nonzero when a check failed.
set -u
BENCH=${1:?usage: bench_loop_e2e.sh PATH/TO/bench_loop}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
BENCH=$(tg_wrap "$BENCH" "$DIR")
passed=0 failed=0
. "$(dirname "${BASH_SOURCE[0]}")/e2e_checks.sh"
run() { "$BENCH" "$@" >"$DIR/out" 2>"$DIR/err"; rc=$?; }
one_line_naming() { test "$rc" -eq 2 && test "$(wc -l <"$DIR/err")" -eq 1 && grep -q -- "$1" "$DIR/err"; }

number='[0-9]+(\.[0-9]+)?'
run --data synthetic --images 256 --epochs 1
is "exits 0" test "$rc" -eq 0
is "first line: images, epochs, batch and the default thread count" \
    grep -Eq '^images=256 epochs=1 batch=64 default_threads=[0-9]+$' "$DIR/out"
for load in quiet busy; do
    for threads in 1 default; do
        is "a line for load=$load threads=$threads" grep -Eq "^load=$load threads=$threads epoch_s=$number\$" "$DIR/out"
    done
done
is "last line: the two ratios" grep -Eq "^ratio_quiet=$number ratio_busy=$number\$" "$DIR/out"
is "six lines in all" test "$(wc -l <"$DIR/out")" -eq 6

run --epochs 5x
is "--epochs 5x: exit 2, one line naming --epochs" one_line_naming --epochs
run --images 63
is "--images 63: exit 2, one line naming --images" one_line_naming --images
run --data "$DIR/no-such-dir"
is "a missing data directory: exit 2, one line naming it" one_line_naming "$DIR/no-such-dir"
run --bogus
is "an unknown option: exit 2 with the usage" one_line_naming usage

# Killed while its busy child spins, the benchmark takes the child with it.  Under an emulator
# the process tree is the emulator's: skipped there.
# children PID: the processes whose parent is PID, from /proc (pgrep is not always installed);
# a name in stat may hold spaces and parentheses, so the fields are read after the last ") ".
children() {
    local parent=$1 stat fields
    for stat in /proc/[0-9]*/stat; do
        read -r fields <"$stat" 2>/dev/null || continue # (a builtin: no process per entry)
        set -- ${fields##*) } # state, parent, ...
        [ "${2:-}" = "$parent" ] || continue
        stat=${stat#/proc/}
        echo "${stat%/stat}"
    done
}
if tg_emulated; then
    echo "skip: the busy child's end (emulated)"
else
    "$BENCH" --data synthetic --images 256 --epochs 64 >/dev/null 2>&1 & # a busy phase of a few tenths of a second or more
    bench=$!
    child=
    while kill -0 "$bench" 2>/dev/null; do # the quiet settings first, then the child
        child=$(children "$bench" | head -n 1)
        [ -n "$child" ] && break
        sleep 0.05
    done
    kill -KILL "$bench" 2>/dev/null
    wait "$bench" 2>/dev/null
    gone=1
    if [ -n "$child" ]; then
        for _ in $(seq 100); do
            kill -0 "$child" 2>/dev/null || { gone=0; break; }
            sleep 0.05
        done
        kill -KILL "$child" 2>/dev/null
    fi
    is "the busy child started" test -n "$child"
    is "killing the benchmark ends its busy child" test "$gone" -eq 0
fi

echo "$passed passed, $failed failed"
test "$failed" -eq 0
