# Sourced by bad_input.sh and hostile_inputs.sh: the bad-input contract of one case, and the
# IDX files and byte-level helpers both build their cases from.
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

# ---- byte helpers --------------------------------------------------------------------------------

# printf escapes for an integer as little-endian u32 and u16.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
le16() { printf '\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)); }
# Little-endian integers read from FILE at OFFSET.
u32_at() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
u16_at() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
# poke FILE OFFSET ESCAPES: overwrites bytes in place (the escapes are printf's, e.g. '\x00\x05').
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# Byte offset of the first occurrence of a text in a binary file.
offset_of() { grep -obUaF -- "$2" "$1" | head -1 | cut -d: -f1; }
# Replaces the last 4 bytes of FILE by the CRC-32 of the bytes before them.  The first 4 bytes of
# a gzip trailer are exactly that CRC (zlib's crc32, little-endian), so gzip computes it for us.
fix_crc() {
    local size; size=$(stat -c %s "$1")
    head -c $((size - 4)) "$1" >"$1.body"
    { cat "$1.body"; gzip -c <"$1.body" | tail -c 8 | head -c 4; } >"$1"
    rm -f "$1.body"
}


# ---- checkpoint helpers ----------------------------------------------------------------------

# derive: a fresh copy of the valid checkpoint to damage, its path printed.  The names are
# random letters, so that no file name contains the words its message is searched for.
derive() { local f; f=$(mktemp "$WORK/cXXXXXX"); cp "$REF" "$f"; echo "$f"; }

# reference_inputs: the valid inputs the cases start from: the checkpoint $REF (trained with
# $CAE) and the data set $GOOD (set here, in $WORK); ends the script when $REF cannot be made.
reference_inputs() {
    "$CAE" train --data synthetic --steps 3 --hidden 4 --seed 3 --out "$REF" >/dev/null 2>"$WORK/train.err"
    if [ $? -ne 0 ] || [ ! -s "$REF" ]; then
        echo "FAIL - cannot train the reference checkpoint: $(head -c 300 "$WORK/train.err")"
        echo "0 passed, 1 failed"
        exit 1
    fi
    GOOD=$WORK/good
    good_data "$GOOD"
}
