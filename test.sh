#!/usr/bin/env bash
# Installs what is missing, builds into build/ and runs the whole test suite (Criterion unit
# tests, examples, end-to-end tests of cae and mlp) once per matmul path: the library picks its
# kernels from TG_SIMD (scalar, avx2, avx512, neon; unset: the best this processor supports), and
# tests/simd_paths lists the paths this build can run here.
#
#   ./test.sh            the suite with TG_SIMD=scalar (the reference path) and on the default one
#   ./test.sh --aarch64  the AArch64 cross build (build-aarch64/, .ci/aarch64-linux-gnu.ini) under
#                        qemu-user: the suite with TG_SIMD=scalar and on the default path (neon)
#   ./test.sh --ci       the suite on every path this processor supports; then the suite under
#                        AddressSanitizer+UBSan (build-asan/, -O2, default path), a short `cae train`
#                        under valgrind memcheck (zero errors, zero leaks), each fuzz target for
#                        FUZZ_SECONDS (default 60) when clang's libFuzzer is there, and --aarch64
#                        (there the NEON path's suite, and the scalar path through paths_agree's
#                        checkpoints only: see below); on a processor with AVX-512, also the
#                        programs on an emulated AVX2-only one (qemu-x86_64 -cpu Haswell), held
#                        to the same checkpoints
#
# tests/paths_agree.sh (suite 'paths') compares the paths with each other itself: it runs once per
# build, after the runs per path, and leaves its checkpoints in build-paths-agree/ (emptied here
# first) so that the AArch64 build is compared with the x86-64 one.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh

ci=0 aarch64=0
for arg in "$@"; do
    case $arg in
        --ci) ci=1 aarch64=1 ;;
        --aarch64) aarch64=1 ;;
        *) echo "usage: $0 [--ci | --aarch64]" >&2; exit 2 ;;
    esac
done
native=$(( ci || !aarch64 )) # --aarch64 alone skips the native suite

# Each step's header says when it started (seconds since test.sh began), so a CI log shows where
# the time goes.
step() { printf '\n== %s  [%d s]\n' "$*" "$SECONDS"; }

# run_suite BUILD_DIR PATH DEFAULT LABEL [MESON_TEST_OPTION...]: `meson test` in BUILD_DIR with
# TG_SIMD=PATH, or with TG_SIMD unset when PATH is the default one (DEFAULT, e.g. path=avx512),
# so that the default choice is what gets tested.  The header names the path the programs report
# ($runner: how to start the build's programs here; the emulator for a cross build).
runner=()
run_suite() {
    local dir=$1 path=$2 default=$3 label=$4 active what=""
    shift 4
    if [ "path=$path" = "$default" ]; then
        unset TG_SIMD
        what=" (the default: TG_SIMD unset)"
    else
        export TG_SIMD=$path
    fi
    active=$("${runner[@]}" "$dir/tests/simd_paths" --active)
    if [ "$active" != "path=$path" ]; then
        echo "test.sh: TG_SIMD=${TG_SIMD-} gives $active, not path=$path" >&2
        return 1
    fi
    step "the test suite, $active$what$label"
    meson test -C "$dir" --print-errorlogs --no-suite paths "$@" || failed+=("the test suite, $active$label")
}
# What failed: every run goes on to the end (a path that fails says nothing about the others),
# and the list is printed last.
failed=()

# paths_agree BUILD_DIR LABEL: the paths of BUILD_DIR against each other (and against the
# checkpoints another build left in $TG_PATHS_AGREE_DIR).
paths_agree() {
    unset TG_SIMD
    step "every path against the others (tests/paths_agree.sh)$2"
    meson test -C "$1" --print-errorlogs --suite paths || failed+=("tests/paths_agree.sh$2")
}
export TG_PATHS_AGREE_DIR=$PWD/build-paths-agree
rm -rf "$TG_PATHS_AGREE_DIR"

if [ "$ci" = 1 ]; then
    tg_ensure_deps dataset-fashion-mnist valgrind clang libclang-rt-14-dev qemu-user
else
    tg_ensure_deps dataset-fashion-mnist
fi

if [ "$native" = 1 ]; then
    step "build/"
    tg_build build
    paths=$(./build/tests/simd_paths)
    default=$(env -u TG_SIMD ./build/tests/simd_paths --active)
    echo "paths this processor supports: $(echo $paths); the default: $default"
    # Plain: the reference path and the default one.  --ci: every path (each run takes about a
    # minute on a fast machine; twice that on a slow one).
    [ "$ci" = 1 ] || paths=$(printf 'scalar\n%s\n' "${default#path=}" | uniq)
    for path in $paths; do
        run_suite build "$path" "$default" ""
    done
    paths_agree build ""
fi

if [ "$ci" = 1 ]; then
    step "the test suite under AddressSanitizer + UBSan (build-asan/), the default path"
    unset TG_SIMD
    # debugoptimized (-O2, asserts on): the sanitizers check the same code at a fraction of an -O0
    # build's time (the suite's sum of test times about halves), which keeps CI within its hour.
    tg_build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized
    meson test -C build-asan --print-errorlogs --no-suite paths || failed+=("the test suite under ASan+UBSan")

    # On a processor with AVX-512, the AVX2 path runs beside AVX-512 code (libm's and the
    # compiler's target clones pick AVX-512): an AVX2-only processor, emulated, is the check that
    # nothing there needs more, and that it computes the same bits.
    if [ "$(uname -m)" = x86_64 ] && grep -qw avx512f /proc/cpuinfo; then
        step "an AVX2-only processor, emulated (qemu-x86_64 -cpu Haswell): its checkpoints against this one's"
        TG_PATHS_AGREE_QUICK=1 TG_RUN_WRAPPER="qemu-x86_64 -cpu Haswell" \
            bash tests/paths_agree.sh build/cae build/mlp build/tests/simd_paths 2> >(grep -v "TCG doesn't support" >&2) \
            || failed+=("tests/paths_agree.sh on an emulated AVX2-only processor")
    fi

    step "a short training run under valgrind memcheck"
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
        ./build/cae train --data synthetic --steps 20 --limit 640 --threads 2 --out "$scratch/vg.ckpt" --log "$scratch/vg.csv" \
        >/dev/null
    echo "valgrind: 0 errors, 0 leaks"

    if [ -f tests/fuzz/run.sh ]; then
        step "fuzzing (${FUZZ_SECONDS:-60} s per target)"
        # a failure to configure or build the targets is listed too, and the run goes on
        if { [ -f build-fuzz/build.ninja ] ||
             CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debug -Dtests=disabled >/dev/null; } &&
            ninja -C build-fuzz >/dev/null; then
            bash tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-60}" || failed+=("fuzzing")
        else
            failed+=("fuzzing: the fuzz build (CC=clang, -Dfuzz=true) failed")
        fi
    fi
fi

if [ "$aarch64" = 1 ]; then
    step "the AArch64 cross build (build-aarch64/, .ci/aarch64-linux-gnu.ini), run under qemu-aarch64"
    tg_ensure_aarch64_deps build-aarch64-sysroot
    tg_build build-aarch64 --cross-file build-aarch64-sysroot/sysroot.ini --cross-file .ci/aarch64-linux-gnu.ini
    runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu) # simd_paths needs the C library only
    default=$(env -u TG_SIMD "${runner[@]}" build-aarch64/tests/simd_paths --active)
    echo "under qemu-aarch64: paths $(echo $("${runner[@]}" build-aarch64/tests/simd_paths)); the default: $default"
    # Under qemu a test takes tens of times its native time, and two at once share the cores:
    # meson's timeouts (set for native runs) are tripled.
    emulated=(--timeout-multiplier 3)
    run_suite build-aarch64 "${default#path=}" "$default" ", AArch64 under qemu-aarch64" "${emulated[@]}"
    if [ "$default" != path=scalar ]; then
        # The scalar path is the same C as x86-64's scalar path, whose suite ran above; its
        # unit tests compare each kernel with itself here.  To keep within its hour on a slow
        # processor (docs/performance.md has the times), CI checks this path through its
        # checkpoints instead: paths_agree below trains on it and compares the result bit for
        # bit with x86-64's scalar one.  ./test.sh --aarch64 runs the whole suite on it.
        if [ "$ci" = 1 ]; then
            echo "(CI: the scalar path's suite is left to ./test.sh --aarch64; paths_agree checks its checkpoints)"
        else
            run_suite build-aarch64 scalar "$default" ", AArch64 under qemu-aarch64" "${emulated[@]}"
        fi
    fi
    # the quick mode (scalar and NEON, one thread): the full comparison takes ten minutes under qemu
    TG_PATHS_AGREE_QUICK=1 paths_agree build-aarch64 ", AArch64 under qemu-aarch64 (quick mode)"
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "test.sh${1:+ $1}: FAILED:"
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
echo "test.sh${1:+ $1}: all checks passed in $SECONDS s"
