#!/usr/bin/env bash
# The examples' command lines (run by `meson test`): usage: examples_cli.sh EXAMPLES_DIR
#
# Each example reads a few numbers from its command line (models/examples/example_data.h's
# example_whole and example_real).  A value that is not one ("abc", "3x", "1.5" for a count, a
# sign, out of range) must stop it with exit 2 and one line naming the option, as the programs do
# (docs/cli.md), never train on a default or on zero epochs; data that cannot be loaded is bad
# input too (exit 2, naming the directory).  The cases stop before any training, so the script
# is quick under an emulator too.
set -u
DIR=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
pass=0 failed=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }

TIMEOUT=${BAD_INPUT_TIMEOUT:-60}
REF=$WORK/ref.ckpt # the bad-input contract protects an --out file: the examples write none
KEEP=$WORK/keep.ckpt
echo "not a checkpoint" >"$REF"
. "$(dirname "${BASH_SOURCE[0]}")/bad_input_lib.sh"

for name in vae sparse_dae resmlp lenet; do
    prog=$(tg_wrap "$DIR/$name" "$WORK")
    for value in abc 0 -1 +2 3x 1.5 " 2" 99999999999999999999; do
        expect2_run "$name --epochs '$value'" "--epochs" "not a whole number" -- "$prog" --epochs "$value"
    done
    expect2_run "$name --limit 0" "--limit" "not a whole number" -- "$prog" --limit 0
    expect2_run "$name --epochs (no value)" "usage" "--epochs N" -- "$prog" --epochs
    expect2_run "$name --bogus 1" "usage" "--data" -- "$prog" --bogus 1
    expect2_run "$name --data (missing)" "$WORK/missing" "not a data directory" -- "$prog" --data "$WORK/missing"
done
sparse_dae=$(tg_wrap "$DIR/sparse_dae" "$WORK")
for value in x -0.5 1e999 nan inf " 0.5" ""; do
    expect2_run "sparse_dae --l1 '$value'" "--l1" "not a number" -- "$sparse_dae" --l1 "$value"
done
# a tiny real is a number (strtod's underflow): the line is about the next option, not --l1
expect2_run "sparse_dae --l1 1e-310 --epochs x" "--epochs" "not a whole number" -- "$sparse_dae" --l1 1e-310 --epochs x
lenet=$(tg_wrap "$DIR/lenet" "$WORK")
good_data "$WORK/small" # 4x4 images (bad_input_lib.sh)
expect2_run "lenet on 4x4 images" "$WORK/small" "takes 28x28" -- "$lenet" --data "$WORK/small"
for option in --batch --threads; do
    for value in 0 x 1e3 100000; do
        expect2_run "lenet $option '$value'" "$option" "not a whole number" -- "$lenet" "$option" "$value"
    done
done
gru=$(tg_wrap "$DIR/gru_adding" "$WORK")
expect2_run "gru_adding --length 1" "--length" "in 2..100000" -- "$gru" --length 1
expect2_run "gru_adding --steps abc" "--steps" "not a whole number" -- "$gru" --steps abc
expect2_run "gru_adding --threads 0" "--threads" "not a whole number" -- "$gru" --threads 0
expect2_run "gru_adding --seed -3" "--seed" "not a whole number" -- "$gru" --seed -3
expect2_run "gru_adding --check x" "--check" "not a number" -- "$gru" --check x
expect2_run "gru_adding --steps (no value)" "usage" "--steps N" -- "$gru" --steps

mlp_fit=$(tg_wrap "$DIR/mlp_fit" "$WORK") # positional: mlp_fit [DIR|synthetic] [EPOCHS]
for value in abc 0 -1 3x; do
    expect2_run "mlp_fit synthetic '$value'" "EPOCHS" "not a whole number" -- "$mlp_fit" synthetic "$value"
done
expect2_run "mlp_fit (missing data)" "$WORK/missing" "not a data directory" -- "$mlp_fit" "$WORK/missing"
expect2_run "mlp_fit (three arguments)" "usage" "EPOCHS" -- "$mlp_fit" synthetic 1 2

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
