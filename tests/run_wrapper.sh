# Sourced by the end-to-end scripts: how they start the programs under test.
#
# A cross build's programs run through an emulator (the cross file's exe_wrapper, e.g.
# "qemu-aarch64 -L /usr/aarch64-linux-gnu ..."), which tests/meson.build passes to the scripts as
# TG_RUN_WRAPPER: a command whose words are separated by spaces; empty for a native build.

# tg_wrap PROGRAM DIR: prints the command to run for PROGRAM: PROGRAM itself without a wrapper,
# else a script written into DIR that execs "$TG_RUN_WRAPPER PROGRAM ARGS...".  A single path
# either way, so the scripts keep writing "$CAE" args, and exec keeps the process id, so the
# signals a test sends go to the emulated program itself (qemu-user delivers them to it).
tg_wrap() {
    local program=$1 dir=$2 shim word
    if [ -z "${TG_RUN_WRAPPER:-}" ]; then
        echo "$program"
        return
    fi
    case $program in /*) ;; *) program=$PWD/$program ;; esac
    shim=$dir/wrapped-$(basename "$program")
    {
        echo '#!/usr/bin/env bash'
        printf 'exec'
        for word in $TG_RUN_WRAPPER "$program"; do printf ' %q' "$word"; done
        echo ' "$@"'
    } >"$shim"
    chmod +x "$shim"
    echo "$shim"
}

# tg_emulated: true when the programs run under an emulator (tens of times slower than native).
tg_emulated() { [ -n "${TG_RUN_WRAPPER:-}" ]; }

# tg_native_only WHAT: true for a native build; under an emulator it prints "skip - WHAT: ..." and
# is false.  For checks of option handling and of what a report says, which run the same code on
# every processor and path: the native runs (every path, and under the sanitizers) check them, and
# under an emulator they would cost minutes of CI's hour.
tg_native_only() {
    tg_emulated || return 0
    echo "skip - $1: the same code on every processor, checked by the native runs (slow under an emulator)"
    return 1
}
