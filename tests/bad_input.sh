#!/usr/bin/env bash
# Bad input never crashes `cae` (run by `meson test`): usage: bad_input.sh PATH/TO/cae
#
# Feeds the program malformed IDX files, gzip files, checkpoints and option values.  For EACH case
# it checks the contract of shared/spec/cli.md: exit status 2 (not a signal, not a hang), exactly
# one line on stderr that names the file or option AND says what is wrong (two fragments are
# looked for), no sanitizer report, and that the checkpoint already at the --out path is byte for
# byte what it was, with no temporary file left beside it.  Run it with a normal and with an
# ASan/UBSan build: it runs whatever binary it is given.
#
# Every input is built here: IDX files with printf, .gz files with the system gzip, damaged
# checkpoints from one this script trains on `--data synthetic` (offsets found by walking the
# format of shared/spec/checkpoint.md; a CRC made valid again where a case must get past the CRC
# check to reach a deeper one).
set -u
CAE=$1
WORK=$(mktemp -d)
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
CAE=$(tg_wrap "$CAE" "$WORK") # through the emulator in a cross build
pass=0 failed=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }

TIMEOUT=${BAD_INPUT_TIMEOUT:-60} # seconds per case: a hang is a failure, not a stuck test
REF=$WORK/ref.ckpt   # the valid checkpoint every corruption starts from (never modified)
KEEP=$WORK/keep.ckpt # the --out target of every train case: must survive every failed run

# ---- the case runner ---------------------------------------------------------------------------

# expect2 NAME WHO WHAT -- ARGS...: runs `cae ARGS` and checks the bad-input contract
# (tests/bad_input_lib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/bad_input_lib.sh"
expect2() {
    local name=$1 who=$2 what=$3
    shift 4
    expect2_run "$name" "$who" "$what" -- "$CAE" "$@"
}

# Byte and checkpoint helpers (le32, poke, fix_crc, derive, ...): tests/bad_input_lib.sh.

# ---- the valid inputs the cases start from ------------------------------------------------------

reference_inputs # $REF and $GOOD (tests/bad_input_lib.sh)
SMALL=$WORK/small.ckpt # a model of 16 inputs, for eval on the 4x4 data sets
"$CAE" train --data "$GOOD" --steps 2 --hidden 3 --out "$SMALL" >/dev/null 2>&1
if [ ! -s "$SMALL" ]; then
    echo "FAIL - cannot train on the valid 4x4 IDX data set"
    echo "0 passed, 1 failed"
    exit 1
fi
META_LEN=$(u32_at "$REF" 8)
T0=$((16 + META_LEN)) # the first tensor, enc.weight [784,4]: after magic, version, meta_len, meta, count
NAME0_LEN=$(u16_at "$REF" "$T0")
NDIM0_AT=$((T0 + 2 + NAME0_LEN))

# train_on DIR: a cheap training run on a data directory, writing to the protected checkpoint.
train_on() { echo train --data "$1" --epochs 1 --hidden 3 --batch 8 --out "$KEEP"; }

# ================================================================================================
# IDX files (plain)

# idx_case COMMAND NAME FILE-IN-DIR WHAT WRITER...: a valid data set whose FILE is replaced by the
# output of the WRITER command; then `cae train` (a short run) or `cae eval` (the 16-input model)
# on that directory.  eval reads the t10k-* files, and the train-* files for the probe.
idx_case() {
    local command=$1 name=$2 file=$3 what=$4 dir
    shift 4
    dir=$WORK/d$((pass + failed))
    good_data "$dir"
    rm -f "$dir/$file"
    "$@" >"$dir/$file"
    case $command in
    train) expect2 "$name" "$dir/$file" "$what" -- $(train_on "$dir") ;;
    eval) expect2 "$name (eval)" "$dir/$file" "$what" -- eval --model "$SMALL" --data "$dir" ;;
    esac
}
TI=train-images-idx3-ubyte TL=train-labels-idx1-ubyte EI=t10k-images-idx3-ubyte EL=t10k-labels-idx1-ubyte

idx_case train "IDX images with the labels magic 0x00000801" $TI "bad magic" idx_labels 16
idx_case train "IDX magic not starting with two zero bytes" $TI "bad magic" printf 'JUNK----------------'
idx_case train "IDX element type 0x0D (float)" $TI "bad magic" \
    bash -c "printf '\x00\x00\x0d\x03$(be32 1)$(be32 4)$(be32 4)'; head -c 64 /dev/zero"
idx_case train "IDX ndim 0" $TI "bad magic" printf '\x00\x00\x08\x00'
idx_case train "IDX ndim 5" $TI "bad magic" printf "\x00\x00\x08\x05$(be32 1)$(be32 1)$(be32 1)$(be32 1)$(be32 1)x"
# dims product 2^32-1 cubed > 2^64
idx_case train "IDX dims whose product overflows 64 bits" $TI "overflow" \
    printf "\x00\x00\x08\x03$(be32 4294967295)$(be32 4294967295)$(be32 4294967295)"
idx_case train "IDX a zero dimension" $TI "is 0" printf "\x00\x00\x08\x03$(be32 16)$(be32 0)$(be32 4)"
idx_case train "IDX truncated header (6 bytes)" $TI "truncated" printf '\x00\x00\x08\x03\x00\x00'
idx_case train "IDX header cut inside the dims" $TI "truncated" printf "\x00\x00\x08\x03$(be32 16)$(be32 4)"
idx_case train "IDX truncated data (16 images announced, 15 present)" $TI "truncated" \
    bash -c "$(declare -f idx_images be32); idx_images 16 4 4 | head -c -16"
idx_case train "IDX huge count, small file" $TI "truncated" \
    bash -c "printf '\x00\x00\x08\x03$(be32 4000000000)$(be32 4000)$(be32 4000)'; head -c 100 /dev/zero"
idx_case train "IDX trailing garbage after the data" $TI "trailing" \
    bash -c "$(declare -f idx_images be32); idx_images 16 4 4; printf 'extra'"
idx_case train "IDX empty file" $TI "empty" true
idx_case eval "IDX test images with trailing garbage" $EI "trailing" \
    bash -c "$(declare -f idx_images be32); idx_images 8 4 4; printf 'x'"
idx_case eval "IDX test images truncated" $EI "truncated" \
    bash -c "$(declare -f idx_images be32); idx_images 8 4 4 | head -c 40"
# Labels: a broken label file that exists must be reported, not skipped (spec: a malformed file is
# exit 2).  The probe needs the labels; training does not, but a broken file is still bad input.
idx_case train "IDX labels count differs from images" $TL "disagree" idx_labels 15
idx_case eval "IDX labels count differs from images" $EL "disagree" idx_labels 9
idx_case eval "IDX labels file with the images magic" $EL "bad magic" idx_images 8 1 1
idx_case eval "IDX labels file truncated" $EL "truncated" printf "\x00\x00\x08\x01$(be32 8)\x01\x02"
idx_case eval "IDX broken train images (the probe's training set)" $TI "bad magic" printf 'garbage-garbage-garbage'
idx_case eval "IDX train labels count differs (the probe's training set)" $TL "disagree" idx_labels 15

# Label values: the reader accepts any byte (n_classes = largest label + 1, see nn/io/data.h), and the
# probe sizes its classes from both splits, so a label of 255 is odd but valid: it must work.
dir=$WORK/label255 && good_data "$dir" && idx_labels 8 255 >"$dir/$EL"
timeout -s KILL "$TIMEOUT" "$CAE" eval --model "$SMALL" --data "$dir" >"$WORK/out.txt" 2>"$WORK/err.txt"
got=$?
if [ $got -eq 0 ] && grep -q 'probe_acc=' "$WORK/out.txt" &&
    ! grep -q -e 'AddressSanitizer' -e 'runtime error' "$WORK/err.txt"; then
    ok "test labels all 255 (valid: 256 classes) -> exit 0, $(grep -o 'probe_acc=[^ ]*' "$WORK/out.txt")"
else
    bad "test labels all 255: exit $got, want 0 with probe_acc [stderr: $(head -c 300 "$WORK/err.txt")]"
fi

# ---- gzip-compressed IDX ------------------------------------------------------------------------

# gz_case NAME WHAT WRITER...: train-images-idx3-ubyte.gz (and no plain file) = WRITER's output.
gz_case() {
    local name=$1 what=$2 dir
    shift 2
    dir=$WORK/d$((pass + failed))
    good_data "$dir"
    rm -f "$dir/$TI"
    "$@" >"$dir/$TI.gz"
    expect2 "$name" "$dir/$TI.gz" "$what" -- $(train_on "$dir")
}
idx_images 16 4 4 >"$WORK/plain.idx"
gzip -9 -n -c "$WORK/plain.idx" >"$WORK/plain.idx.gz"
GZ_SIZE=$(stat -c %s "$WORK/plain.idx.gz")
# damaged_gz OFFSET ESCAPES: the valid .gz with bytes overwritten.
damaged_gz() { cp "$WORK/plain.idx.gz" "$WORK/dam.gz"; poke "$WORK/dam.gz" "$1" "$2"; cat "$WORK/dam.gz"; }

gz_case ".gz that is not gzip (a plain IDX file)" "not a gzip file" cat "$WORK/plain.idx"
gz_case ".gz truncated (last 10 bytes cut)" "truncated" head -c $((GZ_SIZE - 10)) "$WORK/plain.idx.gz"
gz_case ".gz of 5 bytes" "truncated" head -c 5 "$WORK/plain.idx.gz"
gz_case ".gz with a bad CRC-32 in the trailer" "CRC" damaged_gz $((GZ_SIZE - 8)) '\x55\xaa'
gz_case ".gz with a wrong ISIZE in the trailer" "ISIZE" damaged_gz $((GZ_SIZE - 4)) '\x01'
gz_case ".gz with an ISIZE of 4 GiB-1 (bomb guard)" "ISIZE" damaged_gz $((GZ_SIZE - 4)) '\xff\xff\xff\xff'
gz_case ".gz with compression method 7" "compression method" damaged_gz 2 '\x07'
gz_case ".gz with reserved header flags" "reserved" damaged_gz 3 '\xe0'
gz_case ".gz whose first block has the reserved type 3" "block type" damaged_gz 10 '\x07'
gz_case ".gz of two members (cat a.gz a.gz)" "more than one gzip member" cat "$WORK/plain.idx.gz" "$WORK/plain.idx.gz"
gz_case ".gz with garbage after the member" "trailing" bash -c "cat '$WORK/plain.idx.gz'; printf 'xyz'"
gz_case ".gz holding an IDX file with trailing garbage" "trailing" \
    bash -c "{ cat '$WORK/plain.idx'; printf 'xx'; } | gzip -n -c"
gz_case ".gz holding a truncated IDX file" "truncated" bash -c "head -c 50 '$WORK/plain.idx' | gzip -n -c"

# ---- files that are not regular files --------------------------------------------------------

dir=$WORK/dirfile && good_data "$dir" && rm "$dir/$TI" && mkdir "$dir/$TI"
expect2 "IDX path is a directory" "$dir/$TI" "directory" -- $(train_on "$dir")
dir=$WORK/fifo && good_data "$dir" && rm "$dir/$TI" && mkfifo "$dir/$TI"
expect2 "IDX path is a FIFO (must not block)" "$dir/$TI" "not a regular file" -- $(train_on "$dir")
dir=$WORK/dangling && good_data "$dir" && rm "$dir/$TI" && ln -s "$WORK/nothing-here" "$dir/$TI"
expect2 "IDX path is a dangling symlink" "$dir/$TI" "neither exists" -- $(train_on "$dir")
expect2 "--data names a regular file" "$WORK/plain.idx" "not a directory (the data are a directory" -- $(train_on "$WORK/plain.idx")
if [ "$(id -u)" -ne 0 ]; then
    dir=$WORK/unreadable && good_data "$dir" && chmod 000 "$dir/$TI"
    expect2 "IDX file unreadable (mode 000)" "$dir/$TI" "Permission denied" -- $(train_on "$dir")
    cp "$REF" "$WORK/noread.ckpt" && chmod 000 "$WORK/noread.ckpt"
    expect2 "checkpoint unreadable (mode 000)" "$WORK/noread.ckpt" "Permission denied" -- \
        eval --model "$WORK/noread.ckpt" --data synthetic
else
    echo "skip - unreadable IDX file and checkpoint: running as root, which reads everything"
fi

# ---- images of another size than the model -----------------------------------------------------

dir=$WORK/size14 && mkdir -p "$dir"
idx_images 8 14 14 >"$dir/$EI" && idx_labels 8 >"$dir/$EL"
idx_images 8 14 14 >"$dir/$TI" && idx_labels 8 >"$dir/$TL"
expect2 "eval of a 784-input model on 14x14 images" "14x14" "784" -- eval --model "$REF" --data "$dir"
expect2 "render of a 784-input model on 14x14 images" "14x14" "784" -- \
    render --model "$REF" --data "$dir" --out "$WORK/render14"
expect2 "--resume a 784-input run on 14x14 images (names the checkpoint)" "$REF" "takes 784 inputs" -- \
    train --resume "$REF" --data "$dir" --out "$KEEP"
expect2 "--init a 784-input model, training on 14x14 images" "$REF" "shape" -- \
    train --init "$REF" --hidden 4 --data "$dir" --epochs 1 --out "$KEEP"

# A model whose checkpoint (weights + Adam's moments) would pass the format's 4 GiB: refused before
# anything is allocated or trained (64x64 images x 65536 hidden units = 6.4 GB of floats).
dir=$WORK/size64 && mkdir -p "$dir"
idx_images 4 64 64 >"$dir/$TI" && idx_labels 4 >"$dir/$TL"
expect2 "--hidden 65536 on 64x64 images: checkpoint over the format's limit" "--hidden" "limit" -- \
    train --data "$dir" --hidden 65536 --epochs 1 --out "$KEEP"

# ================================================================================================
# Checkpoints: every defect of shared/spec/checkpoint.md, read by eval (--model), --init, --resume.

# ckpt_case NAME WHAT FILE: eval --model FILE must reject FILE with a message naming it.
ckpt_case() { expect2 "$1" "$3" "$2" -- eval --model "$3" --data synthetic; }

f=$(derive) && poke "$f" 0 'X'
ckpt_case "checkpoint with a bad magic" "bad magic" "$f"
f=$(derive) && poke "$f" 4 "$(le32 2)"
ckpt_case "checkpoint of version 2" "version" "$f"
f=$(derive) && poke "$f" 8 "$(le32 2147483647)"
ckpt_case "checkpoint meta_len past the end" "metadata length" "$f"
f=$(derive) && poke "$f" $(($(offset_of "$f" "model=cae") + 5)) ':' && fix_crc "$f"
ckpt_case "checkpoint metadata line without '=' (valid CRC)" "not key=value" "$f"
f=$(derive) && poke "$f" $((12 + META_LEN - 1)) 'x' && fix_crc "$f"
ckpt_case "checkpoint metadata not ending with a newline (valid CRC)" "newline" "$f"
# "decoder=linear" (14 bytes) becomes "loss=mse\nd=ear": a second loss= line, same length.
f=$(derive) && poke "$f" "$(offset_of "$f" "decoder=linear")" 'loss=mse\nd=ear' && fix_crc "$f"
ckpt_case "checkpoint duplicate metadata key (valid CRC)" "duplicate key" "$f"
f=$(derive) && poke "$f" $((12 + META_LEN)) "$(le32 4000000000)"
ckpt_case "checkpoint tensor count impossible for the file size" "tensor count" "$f"
f=$(derive) && poke "$f" "$T0" "$(le16 0)"
ckpt_case "checkpoint name_len 0" "name length" "$f"
# One tensor announced (so the count is possible), its name 255 bytes long, the file cut after 100.
f=$(derive) && poke "$f" $((12 + META_LEN)) "$(le32 1)$(le16 255)"
head -c $((T0 + 100)) "$f" >"$f.cut" && mv "$f.cut" "$f"
ckpt_case "checkpoint name_len past the end of the file" "truncated" "$f"
# A name is quoted in the messages: a newline in it must not make the message two lines.
f=$(derive) && poke "$f" $((T0 + 2)) 'enc\nweight' && poke "$f" "$NDIM0_AT" "$(le32 5)"
ckpt_case "checkpoint tensor name with a newline, and ndim 5" "ndim 5" "$f"
f=$(derive) && poke "$f" "$NDIM0_AT" "$(le32 0)"
ckpt_case "checkpoint ndim 0" "ndim 0" "$f"
f=$(derive) && poke "$f" "$NDIM0_AT" "$(le32 5)"
ckpt_case "checkpoint ndim 5" "ndim 5" "$f"
f=$(derive) && poke "$f" $((NDIM0_AT + 4)) "$(le32 0)"
ckpt_case "checkpoint zero dimension" "is 0" "$f"
f=$(derive) && poke "$f" "$NDIM0_AT" "$(le32 4)$(le32 4294967295)$(le32 4294967295)$(le32 4294967295)$(le32 4294967295)"
ckpt_case "checkpoint dims whose product overflows" "overflow" "$f"
f=$(derive) && poke "$f" $((NDIM0_AT + 4)) "$(le32 4000000000)"
ckpt_case "checkpoint data past the end (huge dim)" "truncated" "$f"
f=$(derive) && head -c $(($(stat -c %s "$REF") / 2)) "$REF" >"$f"
ckpt_case "checkpoint truncated in the data" "truncated" "$f"
f=$(derive) && head -c -2 "$REF" >"$f"
ckpt_case "checkpoint with the CRC cut short" "truncated" "$f"
f=$(derive) && poke "$f" $((NDIM0_AT + 12 + 40)) '\x7f'
ckpt_case "checkpoint with a flipped data byte (bad CRC)" "CRC mismatch" "$f"
f=$(derive) && printf 'x' >>"$f"
ckpt_case "checkpoint with trailing bytes after the CRC" "trailing" "$f"
f=$(derive) && poke "$f" "$(offset_of "$f" "dec.weight")" 'enc.weight' && fix_crc "$f"
ckpt_case "checkpoint duplicate tensor names (valid CRC)" "duplicate tensor name" "$f"
f=$(derive) && poke "$f" "$(offset_of "$f" "dec.bias")" 'xyz.bias' && fix_crc "$f"
ckpt_case "checkpoint missing tensor dec.bias (valid CRC)" "missing tensor dec.bias" "$f"
f=$(derive) && poke "$f" "$(offset_of "$f" "hidden=4")" 'hidden=5' && fix_crc "$f"
ckpt_case "checkpoint shapes disagree with its metadata hidden=5 (valid CRC)" "shape" "$f"
f=$(derive) && poke "$f" "$(offset_of "$f" "model=cae")" 'model=mlp' && fix_crc "$f"
ckpt_case "checkpoint of another model kind (model=mlp)" "not a cae checkpoint" "$f"
f=$(derive) && poke "$f" "$(offset_of "$f" "activation=sigmoid")" 'activation=sigmuid' && fix_crc "$f"
ckpt_case "checkpoint with an unknown activation in its metadata" "activation=sigmuid" "$f"
# A small file whose metadata claims a model of 16777216 x 65536 weights (4 TiB): the reader must
# find out that the tensors do not match before it tries to allocate that.  Skipped when the
# kernel overcommits memory unconditionally (mode 1): there a wrong allocation might succeed and
# the run would touch terabytes.
if [ "$(cat /proc/sys/vm/overcommit_memory 2>/dev/null)" != 1 ]; then
    f=$(derive)
    { head -c 8 "$REF"
      tail -c +13 "$REF" | head -c "$META_LEN" | sed -e 's/^input=784$/input=16777216/' -e 's/^hidden=4$/hidden=65536/' >"$f.meta"
      printf "$(le32 "$(stat -c %s "$f.meta")")"; cat "$f.meta"
      tail -c +$((13 + META_LEN)) "$REF"; } >"$f"
    rm -f "$f.meta"
    fix_crc "$f"
    ckpt_case "checkpoint metadata claiming a 4 TiB model (input=16777216 hidden=65536)" \
        "shape OR cannot allocate OR too large" "$f"
else
    echo "skip - checkpoint claiming a 4 TiB model: vm.overcommit_memory is 1"
fi
ckpt_case "checkpoint that is an IDX file" "bad magic" "$WORK/plain.idx"
: >"$WORK/zero-bytes.ckpt"
ckpt_case "checkpoint empty file" "empty" "$WORK/zero-bytes.ckpt"
mkdir -p "$WORK/dir.ckpt"
ckpt_case "checkpoint path is a directory" "directory" "$WORK/dir.ckpt"
mkfifo "$WORK/fifo.ckpt"
ckpt_case "checkpoint path is a FIFO (must not block)" "not a regular file" "$WORK/fifo.ckpt"

# The same reader behind --init and --resume, and what only they check.
f=$(derive) && poke "$f" $((NDIM0_AT + 12 + 40)) '\x7f'
expect2 "--init with a damaged checkpoint" "$f" "CRC mismatch" -- \
    train --data synthetic --hidden 4 --steps 1 --init "$f" --out "$KEEP"
expect2 "--init with another --hidden than the checkpoint's" "$REF" "expected [784,6]" -- \
    train --data synthetic --hidden 6 --steps 1 --init "$REF" --out "$KEEP"
"$CAE" train --data synthetic --hidden 4 --tied --steps 1 --out "$WORK/tied.ckpt" >/dev/null 2>&1
expect2 "--init with a checkpoint of tied weights for an untied model" "$WORK/tied.ckpt" "missing tensor dec.weight" -- \
    train --data synthetic --hidden 4 --steps 1 --init "$WORK/tied.ckpt" --out "$KEEP"
f=$(derive) && printf 'xy' >>"$f"
expect2 "--resume with a damaged checkpoint" "$f" "trailing" -- train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && poke "$f" "$(offset_of "$f" "optimizer=adam")" 'optimizeR=adam' && fix_crc "$f"
expect2 "--resume with a non-resumable checkpoint (no optimizer)" "$f" "not resumable" -- \
    train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && poke "$f" "$(offset_of "$f" "adam.v/enc.bias")" 'adam.v/enc.biaS' && fix_crc "$f"
expect2 "--resume with an optimizer moment missing" "$f" "not resumable" -- \
    train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && poke "$f" "$(offset_of "$f" "train_step=")" 'train_stEp=' && fix_crc "$f"
expect2 "--resume with the run position missing" "$f" "train_step" -- train --data synthetic --resume "$f" --out "$KEEP"
# The run stopped 96 images into its epoch; with limit=8 an epoch has only 8 images.
f=$(derive) && poke "$f" "$(offset_of "$f" "limit=0")" 'limit=8' && fix_crc "$f"
expect2 "--resume with a position past the epoch (limit=8, position 96)" "$f" "past the epoch" -- \
    train --data synthetic --resume "$f" --out "$KEEP"
expect2 "--resume with an IDX file" "$WORK/plain.idx" "bad magic" -- \
    train --data synthetic --resume "$WORK/plain.idx" --out "$KEEP"
expect2 "--resume with a missing file" "$WORK/none.ckpt" "No such file" -- \
    train --data synthetic --resume "$WORK/none.ckpt" --out "$KEEP"
expect2 "--init and --resume together" "--init" "cannot be combined OR exclude each other" -- \
    train --data synthetic --init "$REF" --resume "$REF" --out "$KEEP"

# ================================================================================================
# Option values

# opt_case NAME OPTION WHAT ARGS...: a short training run with one bad option.
opt_case() { local name=$1 who=$2 what=$3; shift 3; expect2 "$name" "$who" "$what" -- "$@"; }
T="train --data synthetic --steps 1 --hidden 4 --out $KEEP"
opt_case "--batch 0" --batch "whole number" $T --batch 0
opt_case "--batch 2^64 (overflows long)" --batch "whole number" $T --batch 18446744073709551616
opt_case "--hidden -1" --hidden "whole number" $T --hidden -1
opt_case "--hidden 0" --hidden "whole number" $T --hidden 0
opt_case "--hidden 12abc" --hidden "whole number" $T --hidden 12abc
opt_case "--lr nan" --lr "not a number" $T --lr nan
opt_case "--lr -1" --lr "not a number" $T --lr -1
opt_case "--lr 0" --lr "not a number" $T --lr 0
opt_case "--lr inf" --lr "not a number" $T --lr inf
opt_case "--lr 1e999 (overflows double)" --lr "not a number" $T --lr 1e999
opt_case "--lambda -1" --lambda "not a number" $T --lambda -1
opt_case "--momentum 1" --momentum "not a number" $T --momentum 1 --optimizer sgd
opt_case "--adam-eps 0" --adam-eps "not a number" $T --adam-eps 0
opt_case "--threads 100000" --threads "whole number" $T --threads 100000
opt_case "--threads 0" --threads "whole number" $T --threads 0
opt_case "--epochs abc" --epochs "whole number" $T --epochs abc
opt_case "--epochs 1e3" --epochs "whole number" $T --epochs 1e3
opt_case "--epochs ''" --epochs "whole number OR empty value" $T --epochs ''
opt_case "--data '' (not the root directory)" --data "empty value" $T --data ''
opt_case "eval --model ''" --model "empty value" eval --model '' --data synthetic
opt_case "--steps -3" --steps "whole number" $T --steps -3
opt_case "--limit 0" --limit "whole number" $T --limit 0
opt_case "--seed -5" --seed "whole number" $T --seed -5
opt_case "eval --seed x" --seed "whole number" eval --model "$REF" --data synthetic --seed x
opt_case "eval --threads -2" --threads "whole number" eval --model "$REF" --data synthetic --threads -2
opt_case "unknown option --bogus" --bogus "unknown option" $T --bogus
opt_case "eval --radii 0" --radii "positive" eval --model "$REF" --data synthetic --radii 0
opt_case "eval --radii 2,1 (decreasing)" --radii "increase" eval --model "$REF" --data synthetic --radii 2,1
opt_case "eval --radii 1,,2" --radii "not a list" eval --model "$REF" --data synthetic --radii 1,,2
opt_case "eval --radii 1e308 (x + r·u overflows a float: NaN ratios)" --radii "up to" \
    eval --model "$REF" --data synthetic --radii 1e308
opt_case "eval --radii 1..65 (too many)" --radii "more than 64" eval --model "$REF" --data synthetic --radii "$(seq -s, 1 65)"
opt_case "eval --directions sideways" --directions "unknown value" eval --model "$REF" --data synthetic --directions sideways
opt_case "compare --sigma 0" --sigma "not a number" compare --model "$REF" --data synthetic --out "$WORK/cmp" --sigma 0
opt_case "compare --seed -1" --seed "whole number" compare --model "$REF" --data synthetic --out "$WORK/cmp" --seed -1
opt_case "option of another command (eval --lr)" --lr "unknown option" eval --model "$REF" --lr 1
opt_case "single-dash option -x" "'-x'" "unknown option" $T -x
opt_case "stray positional argument" "'extra'" "unknown option" $T extra
opt_case "missing value (--out at the end)" --out "needs a value" train --data synthetic --steps 1 --out
opt_case "missing value (--model at the end)" --model "needs a value" eval --data synthetic --model
opt_case "unknown activation" --activation "unknown value" $T --activation swish
opt_case "unknown decoder" --decoder "unknown value" $T --decoder softmax
opt_case "unknown loss" --loss "unknown value" $T --loss huber
opt_case "unknown optimizer" --optimizer "unknown value" $T --optimizer adagrad
opt_case "--weight-decay -1" --weight-decay "not a number" $T --weight-decay -1
opt_case "--weight-decay nan" --weight-decay "not a number" $T --weight-decay nan
opt_case "--optimizer adamw --momentum 0.9 (adamw has none)" --momentum "applies to --optimizer rmsprop|sgd only" \
    $T --optimizer adamw --momentum 0.9
opt_case "--rms-alpha with adam" --rms-alpha "rmsprop only" $T --rms-alpha 0.9
opt_case "--centered with sgd" --centered "rmsprop only" $T --optimizer sgd --centered
opt_case "--adam-eps with rmsprop" --adam-eps "adam|adamw only" $T --optimizer rmsprop --adam-eps 1e-6
opt_case "--rms-alpha 1" --rms-alpha "not a number" $T --optimizer rmsprop --rms-alpha 1
opt_case "--schedule step:0:0.5" --schedule "step:EVERY:GAMMA" $T --schedule step:0:0.5
opt_case "--schedule step:10:0 (GAMMA 0)" --schedule "step:EVERY:GAMMA" $T --schedule step:10:0
opt_case "--schedule step:10:2 (a growing rate)" --schedule "GAMMA in (0, 1]" $T --schedule step:10:2
opt_case "--schedule step:10 (no GAMMA)" --schedule "step:EVERY:GAMMA" $T --schedule step:10
opt_case "--schedule cosine:0" --schedule "cosine[:T_MAX[:ETA_MIN]]" $T --schedule cosine:0
opt_case "--schedule cosine:10:-1" --schedule "ETA_MIN" $T --schedule cosine:10:-1
opt_case "--schedule cosine:10:0:1 (a field too many)" --schedule "cosine[:T_MAX" $T --schedule cosine:10:0:1
opt_case "--schedule linear (unknown)" --schedule "none|step" $T --schedule linear
opt_case "--warmup -1" --warmup "whole number" $T --warmup -1
opt_case "--warmup 1.5" --warmup "whole number" $T --warmup 1.5
opt_case "--loss bce with the linear decoder" "--loss bce" "--decoder sigmoid" $T --loss bce --decoder linear
TE="train --data synthetic --steps 1 --out $KEEP" # a deep encoder (--encoder) instead of --hidden
opt_case "--encoder 784 (no layer)" --encoder "layer widths" $TE --encoder 784
opt_case "--encoder 783,64 on 28x28 data" --encoder "pixel count, 784" $TE --encoder 783,64
opt_case "--encoder 784,0,64" --encoder "'0' is not a layer width" $TE --encoder 784,0,64
opt_case "--encoder 784,256,64x" --encoder "'64x' is not a layer width" $TE --encoder 784,256,64x
opt_case "--encoder with nine layers" --encoder "more than 8 layers" $TE --encoder 784,1,2,3,4,5,6,7,8,9
opt_case "--encoder with --hidden" --encoder "exclude each other" $TE --encoder 784,16,4 --hidden 4
opt_case "--probes 0" --probes "whole number" $TE --encoder 784,16,4 --probes 0
opt_case "--probes with --penalty exact" --probes "hutchinson" $TE --encoder 784,16,4 --penalty exact --probes 2
opt_case "--penalty fused with a deep --encoder" "--penalty fused" "one-layer" $TE --encoder 784,16,4 --penalty fused
opt_case "--penalty unknown" --penalty "unknown value" $TE --penalty trace
opt_case "--gamma with a deep --encoder" --gamma "one-layer" $TE --encoder 784,16,4 --gamma 0.1
opt_case "--noise mask:1.5" --noise "0 < P < 1" $T --noise mask:1.5
opt_case "--noise mask:0" --noise "0 < P < 1" $T --noise mask:0
opt_case "--noise gauss:0.1 (unknown kind)" --noise "gaussian:SIGMA" $T --noise gauss:0.1
opt_case "--noise mask: (no P)" --noise "mask:P" $T --noise mask:
opt_case "--noise gaussian:-1" --noise "0 < SIGMA" $T --noise gaussian:-1
opt_case "--noise gaussian:0.1x" --noise "gaussian:SIGMA" $T --noise gaussian:0.1x
opt_case "--noise with --resume" --noise "cannot be combined" train --data synthetic --resume "$REF" --noise mask:0.1 --out "$KEEP"
opt_case "--stack-on with --encoder" --stack-on "--hidden" $TE --encoder 4,2 --stack-on "$REF"
opt_case "--stack-on a missing file" "$WORK/none.ckpt" "No such file" $T --stack-on "$WORK/none.ckpt"
opt_case "--stack-on an IDX file" "$WORK/plain.idx" "bad magic" $T --stack-on "$WORK/plain.idx"
opt_case "--stack-on a model of 16 inputs on 28x28 data" "$SMALL" "takes 16 inputs" $T --stack-on "$SMALL"
STACKED=$WORK/stacked.ckpt # a CAE on the codes of $REF's
OTHER=$WORK/other.ckpt # $REF's shape, other weights
"$CAE" train --data synthetic --steps 2 --hidden 3 --stack-on "$REF" --out "$STACKED" >/dev/null 2>&1
"$CAE" train --data synthetic --steps 1 --hidden 4 --seed 2 --out "$OTHER" >/dev/null 2>&1
opt_case "--stack-on: resumed against another lower CAE" "$OTHER" "not the CAE" \
    train --data synthetic --resume "$STACKED" --stack-on "$OTHER" --out "$KEEP"
opt_case "--stack-on a stacked CAE (its input: codes)" "$STACKED" "takes 4 inputs" $T --stack-on "$STACKED"
opt_case "eval of a stacked CAE" "$STACKED" "stacked CAE" eval --model "$STACKED" --data synthetic
# A model of 784 inputs on 4x4 images: the line names the model's file (among several, the one).
opt_case "eval of a 784-input model on 4x4 images" "$REF" "takes 784 inputs" eval --model "$REF" --data "$GOOD"
opt_case "compare whose second model takes 784 inputs, on 4x4 images" "$REF" "takes 784 inputs" \
    compare --model "$SMALL" --model "$REF" --data "$GOOD" --out "$WORK/cmp784"
opt_case "render of a 784-input model on 4x4 images" "$REF" "takes 784 inputs" \
    render --model "$REF" --data "$GOOD" --out "$WORK/pics784"
# a refused render or compare leaves no --out directory behind (it is made when the outputs are written)
for d in render14 cmp784 pics784; do
    if [ -e "$WORK/$d" ]; then bad "a refused run left --out $d behind"; else ok "a refused run left no --out $d"; fi
done
opt_case "--resume with --lr (settings come from the run)" --lr "cannot be combined" \
    train --data synthetic --resume "$REF" --lr 0.1 --out "$KEEP"
opt_case "gradcheck with two --model" --model "one" gradcheck --model "$REF" --model "$REF"
opt_case "gradcheck --model with --hidden (would be ignored)" --hidden "cannot be combined with --model" \
    gradcheck --model "$REF" --hidden 5
opt_case "compare without --out" --out "required" compare --model "$REF" --model "$REF" --data synthetic
opt_case "render without --out" --out "required" render --model "$REF" --data synthetic
opt_case "unknown command" "'frobnicate'" "unknown command" frobnicate --data synthetic
opt_case "--data names a missing directory" "$WORK/no-such-dir" "not a data directory" $T --data "$WORK/no-such-dir"

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
