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

# tg_as_root COMMAND: runs the shell command as root (directly, or through sudo), output to stderr;
# without either, prints it for the user to run and fails.
tg_as_root() {
    if [ "$(id -u)" = 0 ]; then
        sh -c "$1" >&2
    elif command -v sudo >/dev/null 2>&1; then
        sudo sh -c "$1" >&2
    else
        echo "tapegrad: missing packages; run as root:" >&2
        echo "    $1" >&2
        return 1
    fi
}

tg_ensure_deps() {
    local missing
    missing=$(tg_missing_packages "$@")
    [ -z "$missing" ] && return 0
    echo "tapegrad: installing: $missing" >&2
    tg_as_root "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing" ||
        return 1
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

# What the AArch64 cross build (.ci/aarch64-linux-gnu.ini) needs: the cross compiler and qemu-user
# from Debian, and Criterion for arm64 with its runtime libraries, extracted from their arm64
# .debs into SYSROOT (default build-aarch64-sysroot: beside the build directory, not in it,
# so that `meson setup --wipe` keeps it).  Criterion
# cannot be installed as libcriterion-dev:arm64 through multiarch: bookworm's amd64 and arm64
# builds of libnanomsg5 differ in version, so apt would remove the amd64 Criterion.  apt sees
# arm64 packages once dpkg knows the architecture (dpkg --add-architecture arm64, done here once;
# nothing arm64 gets installed).  The C library, libgcc_s and libgomp come with the cross
# compiler, so their arm64 packages are left out.  Writes SYSROOT/sysroot.ini, the cross file
# to give meson before .ci/aarch64-linux-gnu.ini.  Usage: tg_ensure_aarch64_deps [SYSROOT]
tg_ensure_aarch64_deps() {
    local sysroot=${1:-build-aarch64-sysroot} pkgs deb
    # binfmt-support is named so that apt does not pick systemd for qemu-user-binfmt's dependency
    tg_ensure_deps gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-user-binfmt binfmt-support || return 1
    tg_ensure_aarch64_binfmt || return 1
    [ -f "$sysroot/.complete" ] && return 0
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "tapegrad: adding the arm64 architecture to apt, for Criterion's arm64 packages" >&2
        tg_as_root "dpkg --add-architecture arm64 && apt-get update" || return 1
    elif ! apt-cache show libcriterion3:arm64 >/dev/null 2>&1; then
        tg_as_root "apt-get update" || return 1
    fi
    pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
               --no-enhances libcriterion3:arm64 | grep -v '^ ' | grep ':arm64$' |
           grep -Ev '^(libc6|libgcc-s1|gcc-[0-9]+-base):' | sort -u) || return 1
    echo "tapegrad: extracting Criterion for arm64 into $sysroot: libcriterion-dev:arm64" $pkgs >&2
    rm -rf "$sysroot"
    mkdir -p "$sysroot/debs"
    # (as root, apt would fetch as user _apt, which cannot write here: it would warn and go on)
    # shellcheck disable=SC2086
    (cd "$sysroot/debs" && apt-get download -q=2 -o APT::Sandbox::User=root libcriterion-dev:arm64 $pkgs) >&2 ||
        return 1
    for deb in "$sysroot"/debs/*.deb; do
        dpkg-deb -x "$deb" "$sysroot" || return 1
    done
    local pc=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig/criterion.pc
    [ -f "$pc" ] || { echo "tapegrad: no arm64 criterion.pc in $sysroot after the download" >&2; return 1; }
    # The tests link libcriterion.so, which names its own libraries: the private requirements
    # (for static linking) would send pkg-config after -dev packages not extracted here.
    sed -i -e '/^Requires.private:/d' -e '/^Libs.private:/d' "$pc" || return 1
    # The first cross file of the build: where the sysroot is (.ci/aarch64-linux-gnu.ini uses it).
    printf "# written by tg_ensure_aarch64_deps (.ci/deps.sh)\n[constants]\nsysroot = '%s'\n" \
        "$(cd "$sysroot" && pwd)" >"$sysroot/sysroot.ini" || return 1
    touch "$sysroot/.complete"
}

# Criterion runs each test in a child that re-executes the test program (BoxFort: fork, then
# exec): under qemu-user that exec of an AArch64 file needs the kernel to hand it to qemu, i.e.
# the binfmt_misc entry of qemu-user-binfmt.  Its package registers it only outside containers
# and when binfmt_misc is mounted; this mounts it if needed and registers the package's entry
# (what systemd-binfmt would do).  Kernel state: gone after a reboot, so checked on every run.
tg_ensure_aarch64_binfmt() {
    local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64 conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ -f "$entry" ] && head -n 1 "$entry" | grep -qx enabled && return 0
    echo "tapegrad: registering qemu-aarch64 with binfmt_misc (for Criterion's test processes)" >&2
    tg_as_root "{ [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; } &&
        { [ -f $entry ] || cat $conf >/proc/sys/fs/binfmt_misc/register; } && echo 1 >$entry" || true
    if ! head -n 1 "$entry" 2>/dev/null | grep -qx enabled; then
        echo "tapegrad: cannot register qemu-aarch64 with binfmt_misc (a container without the right?)" >&2
        return 1
    fi
}
