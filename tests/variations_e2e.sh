#!/usr/bin/env bash
# End-to-end tests of the `variations` program, run by meson as:
#   bash tests/variations_e2e.sh PATH/TO/variations PATH/TO/mlp
# Prints one line per check and, last, "N passed, M failed"; exits nonzero when a check failed.
set -u
VAR=${1:?usage: variations_e2e.sh PATH/TO/variations PATH/TO/mlp}
MLP=${2:?usage: variations_e2e.sh PATH/TO/variations PATH/TO/mlp}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
VAR=$(tg_wrap "$VAR" "$DIR")
MLP=$(tg_wrap "$MLP" "$DIR")
passed=0 failed=0
. "$(dirname "${BASH_SOURCE[0]}")/e2e_checks.sh"
run() { "$VAR" "$@" >"$DIR/out" 2>"$DIR/err"; rc=$?; }
# usage_error NAME PATTERN ARGS...: exit 2, one stderr line matching PATTERN, nothing on stdout.
usage_error() {
    local name=$1 pattern=$2; shift 2
    run "$@"
    is "$name: exit 2 ($rc)" test "$rc" -eq 2
    is "$name: one line naming it ($(head -c 120 "$DIR/err"))" \
        test "$(wc -l <"$DIR/err")" -eq 1 -a -n "$(grep -E -- "$pattern" "$DIR/err")"
}

# --- every kind on the synthetic set ----------------------------------------------------------
for kind in rot bg-rand bg-img rot-bg-img; do
    run "$kind" --data synthetic --limit 300 --out "$DIR/$kind" --preview "$DIR/$kind.png"
    is "$kind: exit 0" test "$rc" -eq 0
    is "$kind: one line per split" test "$(grep -c "^kind=$kind split=\(train\|t10k\) images=300 rows=28 cols=28" "$DIR/out")" -eq 2
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        is "$kind: $f written" test -s "$DIR/$kind/$f"
    done
    is "$kind: 300 images of 784 bytes after the 16-byte header" \
        test "$(stat -c %s "$DIR/$kind/train-images-idx3-ubyte")" -eq $((16 + 300 * 784))
    is "$kind: a PNG preview" test "$(head -c 4 "$DIR/$kind.png" | od -An -c | tr -d ' ')" = '211PNG'
done
run rot --data synthetic --limit 300 --out "$DIR/again"
is "the same seed gives the same files" cmp -s "$DIR/rot/train-images-idx3-ubyte" "$DIR/again/train-images-idx3-ubyte"
run rot --data synthetic --limit 300 --seed 2 --out "$DIR/seed2"
is "another seed gives other files" test -n "$(cmp "$DIR/rot/train-images-idx3-ubyte" "$DIR/seed2/train-images-idx3-ubyte" 2>&1)"
is "labels are copied" cmp -s "$DIR/rot/train-labels-idx1-ubyte" "$DIR/seed2/train-labels-idx1-ubyte"
run bg-img --data synthetic --limit 50 --backgrounds "$DIR/rot" --out "$DIR/bgrot"
is "bg-img with --backgrounds: exit 0" test "$rc" -eq 0
cp "$DIR/rot/train-images-idx3-ubyte" "$DIR/rot.idx"
usage_error "--out the --backgrounds directory" "same file as --backgrounds" bg-img --data synthetic --limit 50 \
    --backgrounds "$DIR/rot" --out "$DIR/rot"
is "--backgrounds left as it was" cmp -s "$DIR/rot.idx" "$DIR/rot/train-images-idx3-ubyte"

# --- the generated set trains: mlp reads it like any IDX directory ------------------------------
"$MLP" train --data "$DIR/rot" --epochs 2 --layers 64 --out "$DIR/m.ckpt" >"$DIR/mlp.txt" 2>&1
is "mlp trains on the rotated set" test $? -eq 0 -a -s "$DIR/m.ckpt"

# --- refusals ---------------------------------------------------------------------------------
usage_error "no --out" "--out DIR is required" rot --data synthetic
usage_error "a bad seed" "--seed" rot --data synthetic --seed -3 --out "$DIR/x"
is "a bad seed creates no directory" test ! -e "$DIR/x"
usage_error "--out is a file" "not a directory" rot --data synthetic --out "$DIR/rot.png"
run rot --data synthetic --limit 20 --out "$DIR/new/" --preview "$DIR/new/p.png"
is "--preview inside a new --out directory" test "$rc" -eq 0 -a -s "$DIR/new/p.png" -a -s "$DIR/new/t10k-images-idx3-ubyte"
usage_error "--preview named as one of the data files of a new --out" "not a file name of its own" rot --data synthetic \
    --out "$DIR/new2" --preview "$DIR/new2/train-labels-idx1-ubyte"
is "... and no --out directory" test ! -e "$DIR/new2"
usage_error "a missing data directory" "$DIR/none" rot --data "$DIR/none" --out "$DIR/y"
is "a missing data directory creates no --out directory" test ! -e "$DIR/y"
usage_error "--backgrounds with rot" "--backgrounds" rot --data synthetic --backgrounds "$DIR/rot" --out "$DIR/z"
usage_error "an unknown kind" "unknown command|rotate" rotate --out "$DIR/w"
mkdir "$DIR/small" # one 14x14 image: IDX magic 0x00000803, dimensions 1, 14, 14
{ printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x0e\x00\x00\x00\x0e'; head -c 196 /dev/zero; } \
    >"$DIR/small/train-images-idx3-ubyte"
usage_error "backgrounds of another size" "--backgrounds .*: images of 14x14, but --data.s are 28x28" bg-img --data synthetic --limit 5 \
    --backgrounds "$DIR/small" --out "$DIR/v"
is "backgrounds of another size: no --out directory" test ! -e "$DIR/v"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
