#!/usr/bin/env bash
# Hostile inputs, second set (run by `meson test`): usage: hostile_inputs.sh PATH/TO/cae PATH/TO/mlp
#
# A table of cases beside bad_input.sh, one section per class of issue 26: outputs that are not
# regular files, files that could make a read or write hang, values that must be checked where
# they enter, and messages that could lie.  Each expect2 case checks the contract of
# shared/spec/cli.md: exit 2 (not a signal, not a hang), exactly one stderr line naming the file
# or option and saying what is wrong, no sanitizer report, and that the checkpoint at the
# protected --out path is unchanged with no temporary beside it.  Cases that check something else
# (a device still a device, exit 130 after a signal, no temporary left) say so themselves.
set -u
CAE=$1
MLP=$2
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    chmod -R u+rwx "$WORK" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
CAE=$(tg_wrap "$CAE" "$WORK") # through the emulator in a cross build
MLP=$(tg_wrap "$MLP" "$WORK")
pass=0 failed=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
skip() { echo "skip - $1"; }

TIMEOUT=${BAD_INPUT_TIMEOUT:-60} # seconds per case: a hang is a failure, not a stuck test
REF=$WORK/ref.ckpt               # a valid checkpoint (never modified)
KEEP=$WORK/keep.ckpt             # the --out target the cases protect

# expect2 NAME WHO WHAT -- PROGRAM ARGS...: runs PROGRAM ARGS and checks the bad-input contract
# (tests/bad_input_lib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/bad_input_lib.sh"
expect2() { expect2_run "$@"; }

# still_kind NAME TEST PATH: after a case, PATH must still be of its kind (test -c, -p, -d ...).
still_kind() {
    if [ "$2" "$3" ]; then ok "$1: $3 is still what it was"; else bad "$1: $3 was replaced"; fi
}

# no_temporaries NAME DIR: no "*.tmp-*" file is left in DIR.
no_temporaries() {
    local left
    left=$(find "$2" -maxdepth 1 -name '*.tmp-*' | head -3 | tr '\n' ' ')
    if [ -z "$left" ]; then ok "$1: no temporary left"; else bad "$1: temporaries left: $left"; fi
}

# IDX helpers (be32, idx_images, idx_labels, good_data): tests/bad_input_lib.sh.

reference_inputs # $REF and $GOOD (tests/bad_input_lib.sh)
# A run that would take far longer than TIMEOUT: a check made only after the work shows as a hang.
LONG="--data synthetic --hidden 4 --epochs 1000000"

# ================================================================================================
# 1. Outputs that are not regular files, outputs that collide, temporaries

mkfifo "$WORK/fifo"
if [ "$(id -u)" = 0 ] && cp -a /dev/full "$WORK/full" 2>/dev/null && [ -c "$WORK/full" ]; then
    expect2 "train --out a character device (a copy of /dev/full)" "$WORK/full" "character device" -- \
        "$CAE" train $LONG --out "$WORK/full"
    still_kind "train --out a character device" -c "$WORK/full"
    expect2 "mlp train --out a character device" "$WORK/full" "character device" -- \
        "$MLP" train --data synthetic --epochs 1000000 --out "$WORK/full"
    still_kind "mlp train --out a character device" -c "$WORK/full"
    expect2 "train --log a character device" "$WORK/full" "character device" -- \
        "$CAE" train $LONG --out "$KEEP" --log "$WORK/full"
    still_kind "train --log a character device" -c "$WORK/full"
else
    skip "--out a character device: making a device node needs root"
fi
expect2 "train --out a FIFO" "$WORK/fifo" "FIFO" -- "$CAE" train $LONG --out "$WORK/fifo"
still_kind "train --out a FIFO" -p "$WORK/fifo"
mkdir "$WORK/adir"
expect2 "train --out a directory" "$WORK/adir" "directory" -- "$CAE" train $LONG --out "$WORK/adir"
expect2 "train --out ''" "--out" "empty file name OR empty value" -- "$CAE" train $LONG --out ''
expect2 "train --out in a missing directory (checked before training)" "$WORK/none/x.ckpt" "No such file" -- \
    "$CAE" train $LONG --out "$WORK/none/x.ckpt"
expect2 "mlp train --out ''" "--out" "empty file name OR empty value" -- "$MLP" train --data synthetic --epochs 1000000 --out ''
expect2 "train --log the same file as --out" "--log" "same file as --out" -- \
    "$CAE" train $LONG --out "$KEEP" --log "$KEEP"
expect2 "train --log the same file as --out, spelled differently" "--log" "same file as --out" -- \
    "$CAE" train $LONG --out "$KEEP" --log "$WORK/./keep.ckpt"
expect2 "train --log the --init checkpoint" "--log" "same file as --init" -- \
    "$CAE" train $LONG --init "$REF" --out "$KEEP" --log "$REF"
expect2 "train --log a data file" "--log" "same file as --data" -- \
    "$CAE" train --data "$GOOD" --hidden 3 --epochs 1000000 --out "$KEEP" --log "$GOOD/train-labels-idx1-ubyte"
# The lower CAE (--stack-on) and the pre-trained encoder (--init-encoder) outlive the run: only
# --resume X and --init X may be replaced by --out X.  KEEP is both here, so it must survive.
expect2 "train --stack-on X --out X (the stacked CAE would replace its lower CAE)" "--out" "same file as --stack-on" -- \
    "$CAE" train $LONG --stack-on "$KEEP" --out "$KEEP"
expect2 "mlp train --init-encoder X --out X" "--out" "same file as --init-encoder" -- \
    "$MLP" train --data synthetic --layers 4 --epochs 1000000 --init-encoder "$KEEP" --out "$KEEP"
long_name=$(printf 'n%.0s' {1..255})
if "$CAE" train --data synthetic --steps 1 --hidden 4 --out "$WORK/$long_name" >/dev/null 2>"$WORK/err.txt" &&
    [ -s "$WORK/$long_name" ]; then
    ok "train --out a file name of 255 bytes (the longest legal one)"
else
    bad "train --out a file name of 255 bytes: $(head -c 200 "$WORK/err.txt")"
fi
no_temporaries "train --out a file name of 255 bytes" "$WORK"
mkdir "$WORK/pics"
mkfifo "$WORK/pics/recon.png"
expect2 "render --out DIR whose recon.png is a FIFO" "recon.png" "FIFO" -- \
    "$CAE" render --model "$REF" --data synthetic --out "$WORK/pics"
still_kind "render into a FIFO" -p "$WORK/pics/recon.png"
rm -f "$WORK/pics/recon.png"
expect2 "compare --out names a regular file" "$KEEP" "not a directory" -- \
    "$CAE" compare --model "$REF" --model "$REF" --data synthetic --out "$KEEP"

# Temporaries of a writer that no longer exists (killed with SIGKILL) are removed by the next
# write to the same path; one of a live process (this shell) is left alone.  2147483000 is above
# any pid the kernel hands out (pid_max is at most 2^22).
: >"$KEEP.tmp-2147483000-0"
: >"$KEEP.tmp-$$-7"
"$CAE" train --data synthetic --steps 1 --hidden 4 --out "$KEEP" >/dev/null 2>&1
if [ ! -e "$KEEP.tmp-2147483000-0" ] && [ -e "$KEEP.tmp-$$-7" ]; then
    ok "a stale temporary of a dead writer is removed; a live process's is kept"
else
    bad "stale temporaries: $(ls "$WORK" | grep tmp | tr '\n' ' ')"
fi
rm -f "$KEEP".tmp-*

# SIGINT/SIGTERM while `render` writes: exit 130 and no temporary left behind.  The signal lands
# at a different point each time; a run that finished first (exit 0) is fine too, and so is one
# the signal ended before main installed its handlers (128 + the signal's number, nothing said,
# nothing written: under a sanitizer on a loaded machine start-up can outlast the first delay).
if tg_emulated; then
    skip "SIGINT/SIGTERM during render: timing-dependent, and too slow under emulation"
else
    "$CAE" train --data synthetic --steps 1 --hidden 64 --out "$WORK/h64.ckpt" >/dev/null 2>&1
    for delay in 0.05 0.1 0.2 0.3 0.5; do
        for sig in INT TERM; do
            rm -rf "$WORK/sig"
            "$CAE" render --model "$WORK/h64.ckpt" --data synthetic --out "$WORK/sig" >/dev/null 2>"$WORK/err.txt" &
            pid=$!
            PIDS+=("$pid")
            sleep "$delay"
            kill -"$sig" "$pid" 2>/dev/null
            wait "$pid"
            got=$?
            left=$(find "$WORK/sig" -name '*.tmp-*' 2>/dev/null | head -1)
            before_main=$(( 128 + $(kill -l "$sig") ))
            if [ "$got" -eq "$before_main" ] && [ -s "$WORK/err.txt" ]; then
                before_main=-1 # it had started: the handler should have answered
            fi
            if { [ "$got" -eq 130 ] || [ "$got" -eq 0 ] || [ "$got" -eq "$before_main" ]; } && [ -z "$left" ] &&
                [ "$(wc -l <"$WORK/err.txt")" -le 1 ]; then
                ok "SIG$sig after ${delay}s of render: exit $got, no temporary"
            else
                bad "SIG$sig after ${delay}s of render: exit $got, left '$left' [$(head -c 200 "$WORK/err.txt")]"
            fi
        done
    done
fi

# ================================================================================================
# 2. Files that could make an open, read or write wait forever

expect2 "train --log a FIFO (no reader)" "$WORK/fifo" "FIFO" -- "$CAE" train $LONG --out "$KEEP" --log "$WORK/fifo"
expect2 "render --log a FIFO (no writer)" "$WORK/fifo" "FIFO" -- \
    "$CAE" render --model "$REF" --data synthetic --out "$WORK/pics" --log "$WORK/fifo"
expect2 "render --log a directory" "$WORK/adir" "is a directory" -- \
    "$CAE" render --model "$REF" --data synthetic --out "$WORK/pics" --log "$WORK/adir"
: >"$WORK/empty.csv"
expect2 "render --log an empty file" "$WORK/empty.csv" "empty" -- \
    "$CAE" render --model "$REF" --data synthetic --out "$WORK/pics" --log "$WORK/empty.csv"
mkdir "$WORK/cmp"
mkfifo "$WORK/cmp/spectrum.csv"
expect2 "compare --out DIR whose spectrum.csv is a FIFO" "spectrum.csv" "FIFO" -- \
    "$CAE" compare --model "$REF" --model "$REF" --data synthetic --out "$WORK/cmp"
still_kind "compare into a FIFO" -p "$WORK/cmp/spectrum.csv"
expect2 "eval --model a FIFO" "$WORK/fifo" "FIFO" -- "$CAE" eval --model "$WORK/fifo" --data synthetic
expect2 "mlp eval --model a FIFO" "$WORK/fifo" "FIFO" -- "$MLP" eval --model "$WORK/fifo" --data synthetic
expect2 "mlp train --init-encoder a FIFO" "$WORK/fifo" "FIFO" -- \
    "$MLP" train --data synthetic --epochs 1 --init-encoder "$WORK/fifo" --out "$KEEP"
good_data "$WORK/fifodata"
rm "$WORK/fifodata/train-images-idx3-ubyte"
mkfifo "$WORK/fifodata/train-images-idx3-ubyte"
expect2 "train --data DIR whose images file is a FIFO" "train-images-idx3-ubyte" "FIFO" -- \
    "$CAE" train --data "$WORK/fifodata" --hidden 3 --steps 1 --out "$KEEP"
mkdir "$WORK/fifodata2"
good_data "$WORK/fifodata2"
rm "$WORK/fifodata2/t10k-labels-idx1-ubyte"
mkfifo "$WORK/fifodata2/t10k-labels-idx1-ubyte"
expect2 "eval --data DIR whose labels file is a FIFO" "t10k-labels-idx1-ubyte" "FIFO" -- \
    "$CAE" eval --model "$REF" --data "$WORK/fifodata2"

# ================================================================================================
# 4. Numbers checked where they enter: checkpoints with valid CRCs but impossible values, options

# Byte and checkpoint helpers (le32, u32_at, poke, offset_of, fix_crc, derive): tests/bad_input_lib.sh.
# set_meta FILE KEY VALUE: the metadata line KEY=... becomes KEY=VALUE (any length), CRC fixed.
set_meta() {
    local len; len=$(u32_at "$1" 8)
    tail -c +13 "$1" | head -c "$len" | sed -e "s/^$2=.*$/$2=$3/" >"$1.meta"
    { head -c 8 "$1"; printf "$(le32 "$(stat -c %s "$1.meta")")"; cat "$1.meta"; tail -c +$((13 + len)) "$1"; } >"$1.new"
    mv "$1.new" "$1"
    rm -f "$1.meta"
    fix_crc "$1"
}
# poke_value FILE TENSOR NDIM INDEX ESCAPES: overwrites float INDEX of TENSOR, CRC fixed.
poke_value() {
    local at; at=$(offset_of "$1" "$2")
    poke "$1" $((at + ${#2} + 4 + 4 * $3 + 4 * $4)) "$5"
    fix_crc "$1"
}
NAN='\x00\x00\xc0\x7f' MINUS_ONE='\x00\x00\x80\xbf' INF='\x00\x00\x80\x7f'

f=$(derive) && poke_value "$f" enc.weight 2 5 "$NAN"
expect2 "eval of a checkpoint with a NaN weight (valid CRC)" "$f" "enc.weight" -- "$CAE" eval --model "$f" --data synthetic
expect2 "--resume from a checkpoint with a NaN weight" "$f" "finite" -- \
    "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && poke_value "$f" dec.bias 1 3 "$INF"
expect2 "render of a checkpoint with an infinite bias" "$f" "dec.bias" -- \
    "$CAE" render --model "$f" --data synthetic --out "$WORK/pics"
f=$(derive) && poke_value "$f" adam.v/enc.bias 1 0 "$MINUS_ONE"
expect2 "--resume with a negative Adam second moment" "adam.v/enc.bias" "must not be negative" -- \
    "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && poke_value "$f" adam.m/enc.bias 1 1 "$NAN"
expect2 "--resume with a NaN Adam first moment" "$f" "adam.m/enc.bias" -- \
    "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && set_meta "$f" lambda 1e308
expect2 "checkpoint with lambda=1e308" "$f" "lambda=1e308" -- "$CAE" eval --model "$f" --data synthetic
f=$(derive) && set_meta "$f" lr inf
expect2 "--resume with lr=inf" "$f" "lr=inf" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && set_meta "$f" lr 1e-50
expect2 "--resume with lr=1e-50 (0 as a float)" "$f" "lr=1e-50" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && set_meta "$f" adam_eps 0
expect2 "--resume with adam_eps=0" "$f" "adam_eps=0" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && set_meta "$f" momentum 1
expect2 "--resume with momentum=1" "$f" "momentum=1" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && set_meta "$f" sigma 0
expect2 "checkpoint with sigma=0" "$f" "sigma=0" -- "$CAE" eval --model "$f" --data synthetic
T="train --data synthetic --steps 1 --hidden 4 --out $KEEP"
expect2 "--lr 1e-50 (0 as a float)" "--lr" "not a number OR too small" -- "$CAE" $T --lr 1e-50
expect2 "--adam-eps 1e-45 (a float denormal)" "--adam-eps" "not a number OR too small" -- "$CAE" $T --adam-eps 1e-45
expect2 "mlp --lr 1e-50" "--lr" "not a number OR too small" -- "$MLP" train --data synthetic --lr 1e-50 --out "$KEEP"
expect2 "cae --momentum with Adam (would be ignored)" "--momentum" "rmsprop|sgd only" -- "$CAE" $T --momentum 0.9
expect2 "cae --adam-eps with SGD (would be ignored)" "--adam-eps" "adam|adamw only" -- "$CAE" $T --optimizer sgd --adam-eps 1e-6
expect2 "mlp --optimizer adamw --momentum 0.9" "--momentum" "rmsprop|sgd only" -- \
    "$MLP" train --data synthetic --optimizer adamw --momentum 0.9 --out "$KEEP"
expect2 "mlp --schedule step:0:0.5" "--schedule" "step:EVERY:GAMMA" -- \
    "$MLP" train --data synthetic --schedule step:0:0.5 --out "$KEEP"
expect2 "mlp --weight-decay 1e-50 (0 as a float)" "--weight-decay" "not a number OR too small" -- \
    "$MLP" train --data synthetic --weight-decay 1e-50 --out "$KEEP"
# A scheduled RMSprop run's checkpoint, its new keys damaged (each CRC fixed).
"$CAE" train --data synthetic --steps 3 --hidden 4 --seed 3 --optimizer rmsprop --weight-decay 0.1 --schedule cosine:9 \
    --warmup 2 --out "$WORK/sched.ckpt" >/dev/null 2>&1
f=$(derive) && cp "$WORK/sched.ckpt" "$f" && set_meta "$f" schedule cosine
expect2 "--resume with schedule=cosine (no T_MAX)" "schedule=cosine" "T_MAX" -- \
    "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && cp "$WORK/sched.ckpt" "$f" && set_meta "$f" schedule step:0:0.5
expect2 "--resume with schedule=step:0:0.5" "schedule=step:0:0.5" "not none|step" -- \
    "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && cp "$WORK/sched.ckpt" "$f" && set_meta "$f" weight_decay -1
expect2 "--resume with weight_decay=-1" "$f" "weight_decay" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && cp "$WORK/sched.ckpt" "$f" && set_meta "$f" rms_alpha 1
expect2 "--resume with rms_alpha=1" "$f" "rms_alpha" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && cp "$WORK/sched.ckpt" "$f" && set_meta "$f" optimizer adagrad
expect2 "--resume with optimizer=adagrad" "$f" "optimizer=adagrad" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
f=$(derive) && cp "$WORK/sched.ckpt" "$f" && set_meta "$f" warmup -3
expect2 "--resume with warmup=-3" "$f" "warmup" -- "$CAE" train --data synthetic --resume "$f" --out "$KEEP"
good_data "$WORK/oneclass"
"$MLP" train --data synthetic --layers 4 --epochs 1 --limit 64 --out "$WORK/m784.ckpt" >/dev/null 2>&1
expect2 "mlp eval of a 784-input model on 4x4 images (names the model)" "$WORK/m784.ckpt" "model expects 784" -- \
    "$MLP" eval --model "$WORK/m784.ckpt" --data "$GOOD"
idx_labels 16 0 >"$WORK/oneclass/train-labels-idx1-ubyte"
expect2 "mlp train on labels of one class" "$WORK/oneclass/train-labels-idx1-ubyte" "at least 2 classes" -- \
    "$MLP" train --data "$WORK/oneclass" --epochs 1 --out "$KEEP"

# ================================================================================================
# 3. Memory and work bounded by the data, not by its claims

# A .gz bomb: 256 MiB of zeros behind an IDX header announcing 16 images of 4x4 (272 bytes).
# Before, the stream was inflated whole (256 MiB resident) before the header was looked at; now
# no more than the header announces is stored.  The peak RSS is measured when /usr/bin/time is
# there, natively (an emulator's RSS is its own).
mkdir "$WORK/bomb"
good_data "$WORK/bomb"
rm "$WORK/bomb/train-images-idx3-ubyte"
{ printf "\x00\x00\x08\x03$(be32 16)$(be32 4)$(be32 4)"; head -c 268435456 /dev/zero; } | gzip -1 >"$WORK/bomb/train-images-idx3-ubyte.gz"
expect2 "a .gz bomb (256 MiB of zeros, header announcing 272 bytes)" "train-images-idx3-ubyte.gz" "trailing bytes" -- \
    "$CAE" train --data "$WORK/bomb" --hidden 3 --steps 1 --out "$KEEP"
if [ -x /usr/bin/time ] && ! tg_emulated; then
    /usr/bin/time -f '%M' -o "$WORK/rss.txt" "$CAE" train --data "$WORK/bomb" --hidden 3 --steps 1 --out "$KEEP" \
        >/dev/null 2>&1
    rss_kb=$(tail -1 "$WORK/rss.txt")
    if [ "$rss_kb" -lt 131072 ]; then ok "the .gz bomb: peak RSS ${rss_kb} kB, under 128 MiB"; else bad "the .gz bomb: peak RSS ${rss_kb} kB"; fi
else
    skip "the .gz bomb's peak RSS: no /usr/bin/time, or under emulation"
fi
rm -rf "$WORK/bomb"

# Images that claim more than the labels: the two headers are compared before the images' body is
# inflated (47 MB of it here, 46 kB compressed), so the refusal costs no memory.
mkdir "$WORK/claims"
good_data "$WORK/claims"
rm "$WORK/claims/train-images-idx3-ubyte"
{ printf "\x00\x00\x08\x03$(be32 60000)$(be32 28)$(be32 28)"; head -c 47040000 /dev/zero; } | gzip -1 >"$WORK/claims/train-images-idx3-ubyte.gz"
expect2 "60000 gzipped images beside 16 labels" "train-labels-idx1-ubyte" "60000 images, 16 labels" -- \
    "$MLP" train --data "$WORK/claims" --epochs 1 --out "$KEEP"
if [ -x /usr/bin/time ] && ! tg_emulated; then
    /usr/bin/time -f '%M' -o "$WORK/rss.txt" "$MLP" train --data "$WORK/claims" --epochs 1 --out "$KEEP" >/dev/null 2>&1
    rss_kb=$(tail -1 "$WORK/rss.txt")
    if [ "$rss_kb" -lt 32768 ]; then ok "images claiming more than the labels: peak RSS ${rss_kb} kB, under 32 MiB"
    else bad "images claiming more than the labels: peak RSS ${rss_kb} kB (the body was read)"; fi
else
    skip "the claims' peak RSS: no /usr/bin/time, or under emulation"
fi
rm -rf "$WORK/claims"

# A model too large to save is refused before anything is allocated or trained, naming the option.
expect2 "mlp train --layers 65536,65536 (a 17 GB checkpoint)" "--layers" "over the format's" -- \
    "$MLP" train --data synthetic --layers 65536,65536 --out "$KEEP"

# gradcheck samples each parameter by default: a wide model is checked in seconds, not hours.
if tg_emulated; then
    skip "gradcheck --hidden 4096: too slow under emulation"
else
    timeout -s KILL "$TIMEOUT" "$CAE" gradcheck --hidden 4096 >"$WORK/out.txt" 2>"$WORK/err.txt"
    got=$?
    checked=$(sed -n 's/.*checked=\([0-9]*\).*/\1/p' "$WORK/out.txt")
    if [ "$got" -eq 0 ] && [ -n "$checked" ] && [ "$checked" -lt 2000 ]; then
        ok "gradcheck --hidden 4096 samples: checked=$checked"
    else
        bad "gradcheck --hidden 4096: exit $got, $(head -c 200 "$WORK/out.txt") $(head -c 200 "$WORK/err.txt")"
    fi
fi
"$CAE" gradcheck --all >"$WORK/out.txt" 2>/dev/null
all=$(sed -n 's/.*checked=\([0-9]*\).*/\1/p' "$WORK/out.txt")
"$CAE" gradcheck >"$WORK/out.txt" 2>/dev/null
sampled=$(sed -n 's/.*checked=\([0-9]*\).*/\1/p' "$WORK/out.txt")
if [ -n "$all" ] && [ -n "$sampled" ] && [ "$all" -gt "$sampled" ]; then
    ok "gradcheck --all checks every element ($all), the default a sample ($sampled)"
else
    bad "gradcheck --all: checked '$all', default '$sampled'"
fi

# ================================================================================================
# 5. Messages: one line whatever a path or a file holds, the problem stated before a path is cut

# no_raw_controls NAME: the last case's stderr holds no CR, ESC or other control byte but its
# final newline (a file's bytes echoed raw could forge a "cae: wrote ..." line or drive the terminal).
no_raw_controls() {
    if LC_ALL=C tr -d '\n' <"$WORK/err.txt" | LC_ALL=C grep -q '[[:cntrl:]]'; then
        bad "$1: control bytes reach the terminal: $(od -c "$WORK/err.txt" | head -3 | tr '\n' ' ')"
    else
        ok "$1: control bytes escaped"
    fi
}
f=$(derive) && set_meta "$f" activation $'sigm\r\e[2Kcae: wrote x.ckpt'
expect2 "checkpoint metadata with CR and ESC bytes" "$f" "activation=sigm" -- "$CAE" eval --model "$f" --data synthetic
no_raw_controls "checkpoint metadata with CR and ESC bytes"
nl_dir=$WORK/$'line1\nline2'
expect2 "--out in a missing directory whose name holds a newline" "--out" "No such file" -- \
    "$CAE" train $LONG --out "$nl_dir/x.ckpt"
no_raw_controls "--out with a newline"
expect2 "--lr value with an escape sequence" "--lr" "not a number" -- "$CAE" $T --lr $'1\e]0;pwned\a'
no_raw_controls "--lr with an escape sequence"
# An environment's thread count is not read when --threads is given: no warning line about it.
expect2 "--threads 0 with TG_THREADS=abc" "--threads" "whole number" -- \
    env TG_THREADS=abc "$CAE" train $LONG --threads 0 --out "$KEEP"
# A directory path of 455+ bytes (several components: each stays under NAME_MAX).
long_dir=$WORK
for part in a b c d; do long_dir=$long_dir/$(printf "$part%.0s" {1..110}); done
mkdir -p "$long_dir"
good_data "$long_dir"
head -c 40 "$GOOD/train-images-idx3-ubyte" >"$long_dir/train-images-idx3-ubyte"
expect2 "a truncated IDX file under a ${#long_dir}-byte path" "train-images-idx3-ubyte" "truncated" -- \
    "$CAE" train --data "$long_dir" --hidden 3 --steps 1 --out "$KEEP"
expect2 "--data a missing ${#long_dir}-byte directory" "$WORK" "not a data directory" -- \
    "$CAE" train --data "$long_dir/missing" --hidden 3 --steps 1 --out "$KEEP"
printf 'step,epoch,loss,mse,penalty\n5e-324,1,5e-324,5e-324,0\n5e-324,1,5e-324,5e-324,0\n' >"$WORK/tiny.csv"
rm -rf "$WORK/tiny"
if "$CAE" render --model "$REF" --data synthetic --out "$WORK/tiny" --log "$WORK/tiny.csv" >/dev/null 2>"$WORK/err.txt" &&
    [ -s "$WORK/tiny/loss.svg" ] && ! grep -qi 'nan\|inf' "$WORK/tiny/loss.svg"; then
    ok "render --log whose steps are all 5e-324: loss.svg has finite coordinates"
else
    bad "render --log whose steps are all 5e-324: $(grep -oi -m3 '.\{20\}nan.\{5\}' "$WORK/tiny/loss.svg" 2>/dev/null) $(head -c 200 "$WORK/err.txt")"
fi

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
