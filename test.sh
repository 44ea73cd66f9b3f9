#!/usr/bin/env bash
# Installs what is missing, builds into build/ and runs the whole test suite.
#
#   ./test.sh          the suite (Criterion unit tests, examples, end-to-end tests of cae and mlp)
#   ./test.sh --ci     also: the suite again under AddressSanitizer+UBSan (build-asan/), a short
#                      `cae train` under valgrind memcheck (zero errors, zero leaks), and each
#                      fuzz target for FUZZ_SECONDS (default 60) when clang's libFuzzer is there
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh

ci=0
[ "${1:-}" = "--ci" ] && ci=1

if [ "$ci" = 1 ]; then
    tg_ensure_deps dataset-fashion-mnist valgrind clang libclang-rt-14-dev
else
    tg_ensure_deps dataset-fashion-mnist
fi

step() { printf '\n== %s\n' "$*"; }

step "build/ and the test suite"
tg_build build
meson test -C build --print-errorlogs

[ "$ci" = 1 ] || exit 0

step "the test suite under AddressSanitizer + UBSan (build-asan/)"
tg_build build-asan -Db_sanitize=address,undefined -Dbuildtype=debug
meson test -C build-asan --print-errorlogs

step "a short training run under valgrind memcheck"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    ./build/cae train --data synthetic --steps 20 --limit 640 --threads 1 --out "$scratch/vg.ckpt" --log "$scratch/vg.csv" \
    >/dev/null
echo "valgrind: 0 errors, 0 leaks"

if [ -f tests/fuzz/run.sh ]; then
    step "fuzzing (${FUZZ_SECONDS:-60} s per target)"
    if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debug -Dtests=disabled >/dev/null
    fi
    ninja -C build-fuzz >/dev/null
    bash tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-60}"
fi
echo
echo "test.sh --ci: all checks passed"
