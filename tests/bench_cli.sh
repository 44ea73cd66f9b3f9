#!/usr/bin/env bash
# The benchmarks' command lines (run by meson as: bash tests/bench_cli.sh BENCH_DIR): a number that
# is not one in range ("abc", "-1", "64x", too large) must stop each benchmark with exit 2 and one
# line naming the option (bench/bench_args.h), never time a default.  No case runs a benchmark.
set -u
DIR=${1:?usage: bench_cli.sh BENCH_DIR}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
passed=0 failed=0
. "$(dirname "${BASH_SOURCE[0]}")/e2e_checks.sh"

# refused PROGRAM WORD ARGS...: PROGRAM ARGS exits 2 with one stderr line containing WORD.
refused() {
    local program=$1 word=$2
    shift 2
    timeout -s KILL 60 "$(tg_wrap "$DIR/$program" "$WORK")" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    local rc=$?
    local ok=1 said
    [ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -qF -- "$word" "$WORK/err" && ok=0
    said=$(head -c 120 "$WORK/err" | tr '\n' '|')
    verdict "$program $* -> exit 2, one line naming $word (got exit $rc: $said)" "$ok"
}

for value in abc -1 64x 0 99999999999999999999; do
    refused bench_conv --threads --threads "$value"
    refused bench_conv --batch --batch "$value"
    refused bench_jvp BATCH "$value"
    refused bench_recurrent --hidden --hidden "$value"
    refused bench_loop --epochs --epochs "$value"
    refused bench_matmul --threads --threads "$value"
    refused bench_matmul --batch --batch "$value"
    refused bench_matmul "$value" --square 64 "$value" # a later entry of the list: the message quotes it
    refused bench_team --loops --loops "$value"
    refused bench_optim --hidden --hidden "$value"
    refused bench_optim --threads --threads "$value"
done
refused bench_jvp REPEATS 8 1001
refused bench_recurrent --cell --cell xyz
refused bench_recurrent --reps --reps 1001
refused bench_optim lbfgs --optimizer lbfgs
refused bench_optim --bogus --bogus
refused bench_matmul --bogus --bogus
refused bench_matmul "at most" --batch 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
