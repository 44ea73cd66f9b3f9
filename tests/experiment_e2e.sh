#!/usr/bin/env bash
# The paper's experiment in its --quick form, run by meson (native builds) as:
#   bash tests/experiment_e2e.sh BUILD_DIR
# Checks that one command writes the whole report (every table filled, every verdict given), that
# it is deterministic, and that the statistics it rests on are right on numbers worked by hand.
# Prints one line per check and, last, "N passed, M failed"; exits nonzero when a check failed.
set -u
BUILD=${1:?usage: experiment_e2e.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP=$ROOT/models/cae/experiment.sh
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
passed=0 failed=0
. "$(dirname "${BASH_SOURCE[0]}")/e2e_checks.sh"

# What this checks is the experiment's orchestration and report, the same whatever kernels `cae`
# runs on (cae_e2e.sh and paths_agree.sh check those): test.sh runs the suite once per path, with
# TG_SIMD set for every path but the default, and this script, a minute of dozens of runs, runs
# on the default path only (and under the sanitizers).
if [ -n "${TG_SIMD:-}" ]; then
    echo "skip - the experiment's report with TG_SIMD=$TG_SIMD: it is checked on the default path"
    exit 77
fi

# --- the statistics, on numbers worked by hand ----------------------------------------------------
(
    cd "$DIR" || exit 1
    PSEEDS=(1 2) FSEEDS=(1 2)
    . "$ROOT/models/cae/experiment_report.sh"
    # A's errors 10 12 11 13 %, B's 11 13 13 14 %: differences -1 -1 -2 -1 (mean -1.25, sd 0.5,
    # t = -5 > 3.182 for 3 degrees of freedom); per pre-training seed -1 and -1.5 (sd 0.354,
    # t = -5 < 12.706 for 1 degree of freedom).
    printf 'A\t1\t1\t0.90\t3\nA\t1\t2\t0.88\t3\nA\t2\t1\t0.89\t3\nA\t2\t2\t0.87\t3\n' >runs.tsv
    printf 'B\t1\t1\t0.89\t3\nB\t1\t2\t0.87\t3\nB\t2\t1\t0.87\t3\nB\t2\t2\t0.86\t3\n' >>runs.tsv
    paired A B >paired.txt
    significant_better A B && echo better >>paired.txt
    significant_better B A && echo worse >>paired.txt
    { errors A | stats; echo; printf '5\n7\n' | stats; echo; } >stats.txt
)
is "paired differences: n, mean, sd, t, verdict over the pairs and over the seeds, wins ($(head -1 "$DIR/paired.txt"))" \
    test "$(head -1 "$DIR/paired.txt")" = "4 -1.250 0.500 -5.00 yes | 2 -1.250 0.354 -5.00 no | 4"
is "significant_better wants both counts significant" test "$(sed -n 2p "$DIR/paired.txt")" = ""
is "mean ± sd ($(tr '\n' ';' <"$DIR/stats.txt"))" test "$(cat "$DIR/stats.txt")" = "$(printf '11.5 ± 1.3\n6 ± 1.4')"

# --- one command, the whole report ---------------------------------------------------------------
BUILD_DIR=$BUILD bash "$EXP" --quick synthetic "$DIR/a" >"$DIR/out" 2>"$DIR/err"
rc=$?
is "experiment.sh --quick: exit 0 ($rc; $(tail -1 "$DIR/err"))" test "$rc" -eq 0
R=$DIR/a/report.md
is "a report" test -s "$R"
for m in AE AE+wd DAE-g DAE-b CAE CAE+H; do
    is "Table 1: $m has six 'mean ± sd' cells" \
        test "$(grep -F "| $m |" "$R" | head -1 | grep -o '± ' | wc -l)" -eq 6
    is "paired: $m − random over 4 pairs" grep -qF "| $m − random | " "$R"
done
is "Table 1: the stacked CAE and both random inits have a test error" \
    test "$(grep -E '^\| (CAE-2 \(stacked\)|MLP from random init|2-layer MLP from random init) \| [0-9.]+ ± ' "$R" | wc -l)" -eq 3
is "paired rows all over 4 pairs" test "$(grep -c "(n = 4)" "$R")" -eq 13
is "nine claims, each with a verdict" test "$(sed -n '/^## The claims/,/^## /p' "$R" | grep -cE '\| \*\*(yes|no)\*\* \|')" -eq 9
is "no empty number where one is due" test -z "$(grep -E 'nan|inf|\*\*\*\*' "$R")"
is "the fine-tuning runs: 9 arms × 4 pairs" test "$(wc -l <"$DIR/a/runs.tsv")" -eq 36
is "the charts and pictures" test -s "$DIR/a/charts/contraction.svg" -a -s "$DIR/a/render-CAE/tangents.png"
is "the tangent and orthogonal curves" grep -q "contraction_orthogonal_10=" "$DIR/a/CAE-s1.tangent.txt"
is "... in the report" grep -qF "| radius | CAE tangent | CAE orthogonal |" "$R"
is "a progress line per run" test "$(grep -c '^experiment: \[' "$DIR/err")" -ge 40

BUILD_DIR=$BUILD bash "$EXP" --quick synthetic "$DIR/b" >/dev/null 2>&1
is "the same settings give the same runs" cmp -s "$DIR/a/runs.tsv" "$DIR/b/runs.tsv"
is "... and the same Table 1" cmp -s <(sed -n '/^## Table 1/,/^## /p' "$R") <(sed -n '/^## Table 1/,/^## /p' "$DIR/b/report.md")

BUILD_DIR=$BUILD bash "$EXP" --quick synthetic "$DIR/a" >/dev/null 2>"$DIR/err"
is "started again, it keeps every finished run ($(grep -c '\] .* kept ' "$DIR/err") kept)" \
    test "$(grep -c '\] .* kept ' "$DIR/err")" -eq "$(grep -c '^experiment: \[' "$DIR/err")"
is "... and writes the same report" cmp -s <(sed -n '/^## Table 1/,/^## Time/p' "$R") <(sed -n '/^## Table 1/,/^## Time/p' "$DIR/b/report.md")
HIDDEN=20 BUILD_DIR=$BUILD bash "$EXP" --quick synthetic "$DIR/a" >"$DIR/out" 2>"$DIR/err"
rc=$?
is "other settings on top of a run: exit 2, one line naming the directory" \
    test "$rc" -eq 2 -a "$(wc -l <"$DIR/err")" -eq 1 -a -n "$(grep "$DIR/a holds a run with other settings" "$DIR/err")"

# --- usage errors ---------------------------------------------------------------------------------
BUILD_DIR=$BUILD bash "$EXP" --fast >"$DIR/out" 2>"$DIR/err"
rc=$?
is "an unknown option: exit 2, one line naming it" test "$rc" -eq 2 -a "$(wc -l <"$DIR/err")" -eq 1 -a -n "$(grep -- --fast "$DIR/err")"
BUILD_DIR=$BUILD bash "$EXP" --quick "$DIR/no-such-dir" "$DIR/c" >"$DIR/out" 2>"$DIR/err"
rc=$?
is "a missing data directory: exit 2, one line naming it" test "$rc" -eq 2 -a "$(wc -l <"$DIR/err")" -eq 1 -a -n "$(grep no-such-dir "$DIR/err")"
BUILD_DIR=$DIR/nothing bash "$EXP" --quick >"$DIR/out" 2>"$DIR/err"
rc=$?
is "no programs: exit 2, one line saying to build" test "$rc" -eq 2 -a -n "$(grep 'build first' "$DIR/err")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
