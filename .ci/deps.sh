# Sourced by ./run.sh and ./test.sh: installs what a fresh Debian 12 machine lacks.
# Usage: tg_ensure_deps [extra-debian-package ...]
# Through apt-get as root, or sudo when present; otherwise prints the one command to run.

tg_missing_packages() {
    local missing=()
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v meson >/dev/null 2>&1 || missing+=(meson)
    command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v gzip >/dev/null 2>&1 || missing+=(gzip)
    if ! pkg-config --exists criterion 2>/dev/null; then missing+=(libcriterion-dev); fi
    local pkg
    for pkg in "$@"; do
        case "$pkg" in
            dataset-fashion-mnist) [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=("$pkg") ;;
            *) dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg") ;;
        esac
    done
    echo "${missing[@]}"
}

tg_ensure_deps() {
    local missing
    missing=$(tg_missing_packages "$@")
    [ -z "$missing" ] && return 0
    local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"
    echo "tapegrad: installing: $missing" >&2
    if [ "$(id -u)" = 0 ]; then
        sh -c "$cmd" >&2 || return 1
    elif command -v sudo >/dev/null 2>&1; then
        sudo sh -c "$cmd" >&2 || return 1
    else
        echo "tapegrad: missing packages; run as root:" >&2
        echo "    $cmd" >&2
        return 1
    fi
    missing=$(tg_missing_packages "$@")
    if [ -n "$missing" ]; then
        echo "tapegrad: still missing after install: $missing" >&2
        return 1
    fi
}

# Configures build dir $1 (extra meson options after it) once, then builds it.
tg_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" >/dev/null || ninja -C "$dir"
}
