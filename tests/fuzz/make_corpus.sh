#!/usr/bin/env bash
# Regenerates the seed corpora in tests/fuzz/corpus/ (committed; rerun after changing this).
# Usage: tests/fuzz/make_corpus.sh
#
# A few valid and near-valid inputs per target, all tiny: libFuzzer mutates from these, so each
# seed should reach a different part of the parser.  Only printf and the system gzip are used;
# gzip runs with fixed names and times (-n, or a fixed touch -d time) so the bytes are reproducible.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/corpus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/fuzz_idx" "$OUT/fuzz_gzip" "$OUT/fuzz_checkpoint"

be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
le16() { printf '\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)); }
# bytes N: N bytes counting up from 0 (mod 256), as printf escapes
bytes() { local i s=""; for ((i = 0; i < $1; i++)); do s+=$(printf '\\x%02x' $((i * 37 % 256))); done; printf '%s' "$s"; }
# The zlib CRC-32 of a file, little-endian, as printf escapes: the first 4 bytes of a gzip trailer.
crc_of() { gzip -c <"$1" | tail -c 8 | head -c 4 | od -An -tx1 | tr -s ' ' | sed 's/ /\\x/g'; }

# ---- IDX ------------------------------------------------------------------------------------------
I=$OUT/fuzz_idx
printf "\x00\x00\x08\x03$(be32 2)$(be32 3)$(be32 3)$(bytes 18)" >"$I/images-2x3x3.idx"
printf "\x00\x00\x08\x01$(be32 5)\x00\x01\x02\x09\x03" >"$I/labels-5.idx"
printf "\x00\x00\x08\x04$(be32 1)$(be32 2)$(be32 2)$(be32 2)$(bytes 8)" >"$I/4d-1x2x2x2.idx"
printf "\x00\x00\x08\x02$(be32 3)$(be32 2)$(bytes 6)xy" >"$I/2d-trailing.idx"
printf "\x00\x00\x08\x03$(be32 4)$(be32 3)$(be32 3)$(bytes 20)" >"$I/images-truncated.idx"
printf "\x00\x00\x08\x03$(be32 4294967295)$(be32 4294967295)$(be32 2)" >"$I/images-overflow.idx"
gzip -9 -n -c "$I/images-2x3x3.idx" >"$I/images-2x3x3.idx.gz"
gzip -1 -n -c "$I/labels-5.idx" >"$I/labels-5.idx.gz"

# ---- gzip and raw DEFLATE -----------------------------------------------------------------------
G=$OUT/fuzz_gzip
printf 'tapegrad tapegrad tapegrad!\n' >"$TMP/short.txt"
for i in $(seq 1 12); do printf 'The %d boxing wizards jump quickly over %d lazy dogs.\n' "$i" $((i * i * 7)); done >"$TMP/long.txt"
printf "$(bytes 40)" >"$TMP/noise.bin"
: >"$TMP/empty"
gzip -9 -n -c "$TMP/short.txt" >"$G/fixed-huffman.gz"
gzip -9 -n -c "$TMP/long.txt" >"$G/dynamic-huffman.gz"
gzip -9 -n -c "$TMP/noise.bin" >"$G/noise.gz"
gzip -n -c "$TMP/empty" >"$G/empty.gz"
touch -d @1000000000 "$TMP/short.txt" && gzip -c "$TMP/short.txt" >"$G/with-name.gz" # FNAME header field
# A stored block by hand: BFINAL=1 BTYPE=00, LEN=5, NLEN=~5, 5 bytes.
printf '\x01\x05\x00\xfa\xffhello' >"$G/stored.deflate"
# Raw DEFLATE bodies of the members above: gzip minus its 10-byte header and 8-byte trailer.
for name in fixed-huffman dynamic-huffman; do
    size=$(stat -c %s "$G/$name.gz")
    tail -c +11 "$G/$name.gz" | head -c $((size - 18)) >"$G/$name.deflate"
done
cat "$G/fixed-huffman.gz" "$G/empty.gz" >"$G/two-members.gz"

# ---- checkpoints ----------------------------------------------------------------------------------
C=$OUT/fuzz_checkpoint
# ckpt FILE META TENSORS-ESCAPES COUNT: header, metadata, count, tensors, then the CRC.
ckpt() {
    local meta=$2
    printf "TGCK$(le32 1)$(le32 ${#meta})%s$(le32 "$4")$3" "$meta" >"$TMP/body"
    { cat "$TMP/body"; printf "$(crc_of "$TMP/body")"; } >"$1"
}
# tensor NAME DIMS...: name_len, name, ndim, dims, then product-of-dims floats (1.0, -2.0, 0.5, ...)
tensor() {
    local name=$1 count=1 d s
    shift
    s="$(le16 ${#name})$name$(le32 $#)"
    for d in "$@"; do s+=$(le32 "$d"); count=$((count * d)); done
    local floats=('\x00\x00\x80\x3f' '\x00\x00\x00\xc0' '\x00\x00\x00\x3f')
    for ((d = 0; d < count; d++)); do s+=${floats[d % 3]}; done
    printf '%s' "$s"
}
ckpt "$C/empty.ckpt" "" "" 0
ckpt "$C/one-tensor.ckpt" $'model=test\n' "$(tensor w 2 3)" 1
cae_meta=$'model=cae\ninput=4\nhidden=2\nactivation=sigmoid\ndecoder=linear\nloss=mse\nlambda=0.0001\ntied=0\n'
ckpt "$C/cae-4x2.ckpt" "$cae_meta" \
    "$(tensor enc.weight 4 2)$(tensor enc.bias 2)$(tensor dec.weight 2 4)$(tensor dec.bias 4)$(tensor adam.step 1)" 5
ckpt "$C/4d.ckpt" $'a=1\nb=\n' "$(tensor t 1 2 1 2)" 1
cp "$C/one-tensor.ckpt" "$C/trailing-byte.ckpt" && printf 'x' >>"$C/trailing-byte.ckpt"
cp "$C/one-tensor.ckpt" "$C/bad-crc.ckpt" && printf '\xff' | dd of="$C/bad-crc.ckpt" bs=1 seek=44 conv=notrunc status=none
ckpt "$C/duplicate-names.ckpt" "" "$(tensor w 1)$(tensor w 1)" 2

du -cb "$OUT"/*/* | tail -1
