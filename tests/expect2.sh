# Sourced by bad_input.sh and hostile_inputs.sh: the bad-input contract of one case.
#
# expect2_run NAME WHO WHAT -- COMMAND...: runs COMMAND and checks the contract of
# shared/spec/cli.md: exit status 2 (not a signal, not a hang), exactly one line on stderr that
# names WHO (the file or option) and says WHAT (a fragment saying the problem, or several that are
# equally right, separated by " OR "), no sanitizer report, the checkpoint at $KEEP byte for byte
# $REF's (copied there first), and no temporary file left beside it.
# The sourcing script sets WORK, REF, KEEP, TIMEOUT and defines ok and bad.
expect2_run() {
    local name=$1 who=$2 what=$3
    shift 4
    cp "$REF" "$KEEP"
    timeout -s KILL "$TIMEOUT" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" </dev/null
    local got=$? lines msg problem=""
    lines=$(wc -l <"$WORK/err.txt")
    msg=$(head -c 400 "$WORK/err.txt" | tr '\n' '|')
    if [ "$got" -eq 137 ]; then
        problem="killed after ${TIMEOUT}s: hangs"
    elif [ "$got" -ge 128 ]; then
        problem="died of signal $((got - 128))"
    elif grep -q -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'runtime error' "$WORK/err.txt"; then
        problem="sanitizer report"
    elif [ "$got" -ne 2 ]; then
        problem="exit $got, want 2"
    elif [ "$lines" -ne 1 ] || [ "$(wc -c <"$WORK/err.txt")" -le 1 ]; then
        problem="$lines stderr lines, want 1"
    elif ! grep -qF -- "$who" "$WORK/err.txt"; then
        problem="message does not name '$who'"
    elif ! grep -qiF -e "${what// OR /$'\n'}" "$WORK/err.txt"; then
        problem="message does not say '$what'"
    elif ! cmp -s "$REF" "$KEEP"; then
        problem="the existing --out checkpoint was changed"
    elif compgen -G "$KEEP.tmp*" >/dev/null; then
        problem="a temporary file was left next to --out"
    fi
    rm -f "$KEEP".tmp*
    if [ -z "$problem" ]; then ok "$name -> $msg"; else bad "$name: $problem [stderr: $msg]"; fi
}

