#!/usr/bin/env bash
# The README's promise about kernel paths, checked on whole training runs:
#   - every SIMD path (avx2, avx512, neon) gives byte-identical checkpoints;
#   - so does each path on 1 and 2 threads (the scalar one too).
# usage: paths_agree.sh CAE MLP SIMD_PATHS [SHARED_DIR]
#   SIMD_PATHS  tests/simd_paths: the paths this build can run here
#   SHARED_DIR  optional (default: $TG_PATHS_AGREE_DIR, set by test.sh): checkpoints of another build (e.g. the x86-64 one, for the AArch64 run
#               under qemu) to compare with; the first build to run writes them, later ones
#               compare, so the two architectures are held to the same bits.  test.sh empties it
#               before each run.  Only the variants marked "any-arch" are compared across
#               architectures: tanh, softplus and BCE call glibc's tanhf and log1pf, which round
#               differently on x86-64 and AArch64 (README, "Processors and kernel paths").
# Programs run through TG_RUN_WRAPPER (tests/run_wrapper.sh) in a cross build.
# TG_PATHS_AGREE_QUICK=1: the scalar path and the best SIMD path only, one thread, and only the
# variants compared across builds (for a slow emulated processor, where the full set takes ten
# minutes; under CI's qemu-aarch64 this is what checks AArch64's scalar path).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/run_wrapper.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CAE=$(tg_wrap "$1" "$work")
MLP=$(tg_wrap "$2" "$work")
SIMD_PATHS=$(tg_wrap "$3" "$work")
shared=${4:-${TG_PATHS_AGREE_DIR:-}}
quick=${TG_PATHS_AGREE_QUICK:-0}

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }

# Short runs that go through every kind of kernel a step uses: the dense and zero-skipping
# products, the fused decoder losses (explicit and Gram routes), the penalty for each activation
# family, CAE+H's noise, Adam and SGD, and the MLP's softmax cross-entropy.
# A dozen steps cover every op; the same count everywhere, as builds compare with each other.
steps=12
variants=( # name|program|compared across architectures?|options
    "cae-seed|cae|any-arch|--data synthetic --steps $steps --limit 640 --batch 32"
    "cae-gram|cae|any-arch|--data synthetic --steps $steps --limit 640 --batch 256"
    "cae-h|cae|any-arch|--data synthetic --steps $steps --limit 640 --hidden 32 --gamma 0.1 --corruptions 2 --optimizer sgd --momentum 0.9 --lr 0.01"
    "cae-tied-bce|cae|one-arch|--data synthetic --steps $steps --limit 640 --activation tanh --decoder sigmoid --loss bce --tied"
    "cae-softplus|cae|one-arch|--data synthetic --steps $steps --limit 640 --activation softplus --gamma 0.1 --corruptions 2"
    "mlp|mlp|any-arch|--data synthetic --epochs 1 --limit 640 --layers 64,32"
)

run() { # run NAME PROGRAM PATH THREADS ARGS... : writes $work/NAME.PATH.tTHREADS.ckpt
    local name=$1 program=$2 path=$3 threads=$4
    shift 4
    local bin=$CAE
    [ "$program" = mlp ] && bin=$MLP
    [ "$program" = cae ] && set -- train "$@"
    [ "$program" = mlp ] && set -- train "$@"
    TG_SIMD=$path "$bin" "$@" --threads "$threads" --out "$work/$name.$path.t$threads.ckpt" \
        >"$work/$name.$path.t$threads.log" 2>&1
}

# against_shared NAME KIND PATH CKPT: CKPT (this build's, on PATH) against the KIND checkpoint
# (simd or scalar) of NAME that an earlier build left in $shared; the first build leaves its own.
against_shared() {
    local name=$1 kind=$2 path=$3 ckpt=$4 kept=$shared/$1.$2.ckpt
    mkdir -p "$shared"
    if [ ! -f "$kept" ]; then
        cp "$ckpt" "$kept"
        echo "$path on $(uname -m)" >"$kept.from"
    elif cmp -s "$kept" "$ckpt"; then
        pass "$name: $path here and $(cat "$kept.from") give the same checkpoint"
    else
        fail "$name: $path here and $(cat "$kept.from") give different checkpoints"
    fi
}

paths=$("$SIMD_PATHS") || { fail "simd_paths did not run"; echo "$passed passed, $failed failed"; exit 1; }
echo "paths here: $(echo $paths)"
simd=()
for p in $paths; do [ "$p" = scalar ] || simd+=("$p"); done
threads="1 2"
if [ "$quick" = 1 ]; then
    [ "${#simd[@]}" -gt 0 ] && simd=("${simd[-1]}") # the best: simd_paths lists slowest first
    paths="scalar ${simd[*]:-}"
    threads=1
fi

for v in "${variants[@]}"; do
    IFS='|' read -r name program reach args <<<"$v"
    [ "$quick" = 1 ] && [ "$reach" != any-arch ] && continue
    # shellcheck disable=SC2086
    for p in $paths; do
        for t in $threads; do
            if ! run "$name" "$program" "$p" "$t" $args; then
                fail "$name on $p, $t thread(s) did not train: $(tail -n 1 "$work/$name.$p.t$t.log")"
                continue 3
            fi
        done
        [ "$quick" = 1 ] && continue
        if cmp -s "$work/$name.$p.t1.ckpt" "$work/$name.$p.t2.ckpt"; then
            pass "$name on $p: 1 and 2 threads give the same checkpoint"
        else
            fail "$name on $p: 1 and 2 threads give different checkpoints"
        fi
    done
    # the scalar path against another build's (a build without SIMD paths is compared too)
    [ -n "$shared" ] && [ "$reach" = any-arch ] && against_shared "$name" scalar scalar "$work/$name.scalar.t1.ckpt"
    if [ "${#simd[@]}" -eq 0 ]; then
        echo "skip - $name: no SIMD path on this processor or build, no other path to compare with"
        continue
    fi
    first=$work/$name.${simd[0]}.t1.ckpt
    [ "$quick" = 1 ] || for p in "${simd[@]:1}"; do
        if cmp -s "$first" "$work/$name.$p.t1.ckpt"; then
            pass "$name: ${simd[0]} and $p give the same checkpoint"
        else
            fail "$name: ${simd[0]} and $p give different checkpoints"
        fi
    done
    if cmp -s "$first" "$work/$name.scalar.t1.ckpt"; then
        # not a promise either way, but worth knowing if it ever happens: the scalar reference
        # rounds differently, so identical bits would mean the SIMD path was not taken
        fail "$name: scalar and ${simd[0]} give the same checkpoint (was the SIMD path taken?)"
    else
        pass "$name: the scalar reference's checkpoint differs from ${simd[0]}'s, as documented"
    fi
    if [ -n "$shared" ] && [ "$reach" = any-arch ]; then
        against_shared "$name" simd "${simd[0]}" "$first"
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
