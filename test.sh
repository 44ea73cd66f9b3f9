#!/usr/bin/env bash
# Installs what is missing, builds into build/ and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
tg_ensure_deps dataset-fashion-mnist
tg_build build
meson test -C build --print-errorlogs "$@"
