# Sourced by bad_input.sh and hostile_inputs.sh: the bad-input contract of one case, and the
# IDX files both build their cases from.
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


# be32 N: the four bytes of N, big-endian, as printf escapes.
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }

# IDX files: magic = 0 0 type ndim, then big-endian dims, then the bytes.
idx_images() { # N ROWS COLS: pixels from a fixed pattern
    printf '\x00\x00\x08\x03'; printf "$(be32 "$1")$(be32 "$2")$(be32 "$3")"
    head -c $(($1 * $2 * $3)) /dev/zero | tr '\0' '\200'
}
idx_labels() { # N [VALUE]: labels 0..9 cycling (or all VALUE)
    printf '\x00\x00\x08\x01'; printf "$(be32 "$1")"
    local i escapes=""
    for ((i = 0; i < $1; i++)); do escapes+=$(printf '\\x%02x' "${2:-$((i % 10))}"); done
    printf "$escapes"
}

# A data directory with valid train and test sets of 16 (8) images of 4x4 and their labels.
good_data() {
    mkdir -p "$1"
    idx_images 16 4 4 >"$1/train-images-idx3-ubyte"
    idx_labels 16 >"$1/train-labels-idx1-ubyte"
    idx_images 8 4 4 >"$1/t10k-images-idx3-ubyte"
    idx_labels 8 >"$1/t10k-labels-idx1-ubyte"
}
