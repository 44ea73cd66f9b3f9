#!/usr/bin/env bash
# An interrupt loses nothing and a resume is exact (run by `meson test`):
# usage: interrupt_test.sh PATH/TO/cae
#
# Interrupts `cae train --data synthetic` with SIGINT or SIGTERM early, mid-epoch and near the
# end, and checks for each: exit status 130; a stderr line saying where it stopped, whose step
# agrees with the saved checkpoint; the checkpoint complete (no temporary file left, `cae eval`
# loads it); and that `cae train --resume` ends with a checkpoint AND a step log byte-identical to
# an uninterrupted run with the same options.  Then the same through two interrupts.
#
# Where a run stops depends on timing, so the test never predicts the step: it reads it from the
# message and the checkpoint, and only the final bytes are compared.  Progress is watched, not
# guessed with sleeps: the --log CSV (rows appear in buffered chunks, so "at least N rows" means at
# least N steps) and the per-epoch stdout lines (flushed after every epoch).
set -u
CAE=$1
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/run_wrapper.sh"
CAE=$(tg_wrap "$CAE" "$WORK") # through the emulator in a cross build (exec: same pid, signals reach it)
pass=0 failed=0 interrupted=0 skipped=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }

# 6 epochs of 128 steps: long enough to be interrupted anywhere, a few seconds in a release build.
OPTS=(--data synthetic --epochs 6 --batch 16 --hidden 128 --seed 5)
# Under an emulator (qemu: 60 s for that run), the same 768 steps on a smaller model and half
# the images in batches of 8 (9 s): the cases watch steps and epochs, not the model.
tg_emulated && OPTS=(--data synthetic --epochs 6 --batch 8 --limit 1024 --hidden 16 --seed 5)
STEPS_PER_EPOCH=128 TOTAL_STEPS=768
RUN_LIMIT=${INTERRUPT_TIMEOUT:-600} # seconds any one run may take before the test gives up on it
STOP_LIMIT=30                       # seconds a run may take to stop and save after a signal

# The uninterrupted reference run (timed: the sleep case below takes a fraction of it).
ref_start=$(date +%s%N)
timeout -s KILL "$RUN_LIMIT" "$CAE" train "${OPTS[@]}" --out "$WORK/ref.ckpt" --log "$WORK/ref.csv" \
    >"$WORK/ref.out" 2>"$WORK/ref.err"
if [ $? -ne 0 ] || [ ! -s "$WORK/ref.ckpt" ]; then
    echo "FAIL - the uninterrupted reference run failed: $(head -c 300 "$WORK/ref.err")"
    echo "0 passed, 1 failed"
    exit 1
fi
REF_MS=$((($(date +%s%N) - ref_start) / 1000000))
if [ "$(($(wc -l <"$WORK/ref.csv") - 1))" -ne "$TOTAL_STEPS" ]; then
    echo "FAIL - the reference run did not take $TOTAL_STEPS steps"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- helpers -----------------------------------------------------------------------------------

# Whether process $1 is running (an exited child stays a zombie until waited for: not running).
alive() { local state; state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]; }

# wait_for SECONDS COMMAND...: polls COMMAND every 10 ms until it succeeds; false on timeout or
# when the training process ($RUN_PID) has ended before that.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ] || ! alive "$RUN_PID"; then return 1; fi
        sleep 0.01
    done
}

# signal_and_wait SIGNAL...: sends the signals to $RUN_PID (10 ms apart), then waits for it to
# exit; sets RUN_RC (its exit status, or 999 when it had not stopped within STOP_LIMIT seconds
# and was killed).  A signalled run must stop after its current step: that takes milliseconds.
signal_and_wait() {
    local sig first=1
    for sig in "$@"; do
        [ $first = 1 ] || sleep 0.01
        first=0
        kill "-$sig" "$RUN_PID" 2>/dev/null
    done
    local deadline=$((SECONDS + STOP_LIMIT))
    while alive "$RUN_PID" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.01; done
    if alive "$RUN_PID"; then
        kill -KILL "$RUN_PID"
        wait "$RUN_PID"
        RUN_RC=999
    else
        wait "$RUN_PID"
        RUN_RC=$?
    fi
}
log_rows_at_least() { [ -f "$1" ] && [ "$(($(wc -l <"$1") - 1))" -ge "$2" ]; }
epoch_line_seen() { grep -q "^epoch=$2 " "$1" 2>/dev/null; }

# A metadata value of a checkpoint ("key=value\n" lines near the start of the file).
meta() { head -c 4096 "$1" | grep -a "^$2=" | head -1 | cut -d= -f2; }

# start_run NAME ARGS...: starts `cae train ARGS` in the background; RUN_PID, files $WORK/NAME.*
# Not under timeout(1), which would forward each signal twice (to the child and to its group).
start_run() {
    local name=$1
    shift
    "$CAE" train "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    RUN_PID=$!
    PIDS+=("$RUN_PID")
}

# check_interrupted RUN LABEL RC CKPT: the checks on run RUN (its files $WORK/RUN.*) after a
# signal; LABEL names the case in the output.  Sets STOP_STEP.
check_interrupted() {
    local run=$1 name=$2 rc=$3 ckpt=$4 line step saved
    STOP_STEP=
    if [ "$rc" -eq 999 ]; then
        bad "$name: still running ${STOP_LIMIT}s after the signal"
        return 1
    elif [ "$rc" -ne 130 ]; then
        bad "$name: exit $rc, want 130 [stderr: $(head -c 300 "$WORK/$run.err" | tr '\n' '|')]"
        return 1
    fi
    line=$(grep 'interrupted at step' "$WORK/$run.err")
    step=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' <<<"$line")
    if [ -z "$step" ] || [ "$(wc -l <"$WORK/$run.err")" -ne 1 ]; then
        bad "$name: stderr should be one line saying where it stopped [$(head -c 300 "$WORK/$run.err" | tr '\n' '|')]"
        return 1
    fi
    if [ ! -s "$ckpt" ]; then
        bad "$name: no checkpoint at $ckpt"
        return 1
    fi
    if compgen -G "$ckpt.tmp*" >/dev/null; then
        bad "$name: a temporary file was left next to $ckpt"
        return 1
    fi
    saved=$(meta "$ckpt" train_step)
    if [ "$saved" != "$step" ]; then
        bad "$name: the message says step $step, the checkpoint says train_step=$saved"
        return 1
    fi
    if ! "$CAE" eval --model "$ckpt" --data synthetic >/dev/null 2>"$WORK/$run.eval.err"; then
        bad "$name: cae eval cannot load the checkpoint [$(head -c 300 "$WORK/$run.eval.err")]"
        return 1
    fi
    STOP_STEP=$step
    interrupted=$((interrupted + 1))
    ok "$name: exit 130, $(sed 's/;.*//' <<<"$line"), checkpoint loads"
}

# resume_and_compare NAME FROM TO LOG: resumes FROM into TO and compares with the reference.
resume_and_compare() {
    local name=$1 from=$2 to=$3 log=$4
    timeout -s KILL "$RUN_LIMIT" "$CAE" train --data synthetic --resume "$from" --out "$to" --log "$log" \
        >"$WORK/$name.resume.out" 2>"$WORK/$name.resume.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        bad "$name: resume exit $rc [$(head -c 300 "$WORK/$name.resume.err")]"
    elif ! cmp -s "$WORK/ref.ckpt" "$to"; then
        bad "$name: resumed checkpoint differs from the uninterrupted run"
    elif ! cmp -s "$WORK/ref.csv" "$log"; then
        bad "$name: the step log (interrupted + resumed) differs from the uninterrupted run's"
    else
        ok "$name: resumed checkpoint and step log byte-identical to the uninterrupted run"
    fi
}

# ran_to_the_end CSV LABEL: true (after a skip line) when the run just signalled had finished all
# its steps before the signal came.  A loaded machine can let it finish between the look and the
# signal (the CSV's rows come in buffered chunks, so a look can be a hundred steps late): exit 0
# with every step logged is then right, and says nothing about interrupts.
# A program that ignored the signals would skip every case: the end of the script fails unless
# more runs were interrupted than skipped.
ran_to_the_end() {
    if [ "$RUN_RC" = 0 ] && log_rows_at_least "$1" "$TOTAL_STEPS"; then
        echo "skip - $2: the run had finished its $TOTAL_STEPS steps when the signal came"
        skipped=$((skipped + 1))
        return 0
    fi
    return 1
}

# interrupt_case NAME SIGNAL WHEN...: one run interrupted by SIGNAL once WHEN succeeds (a wait_for
# condition on $WORK/NAME.csv / .out), checked, then resumed into a second file and compared.
interrupt_case() {
    local name=$1 sig=$2
    shift 2
    local ckpt=$WORK/$name.ckpt
    start_run "$name" "${OPTS[@]}" --out "$ckpt" --log "$WORK/$name.csv"
    if ! wait_for "$RUN_LIMIT" "$@"; then
        signal_and_wait KILL
        bad "$name: the run ended (exit $RUN_RC) before the moment to interrupt it came"
        return
    fi
    signal_and_wait "$sig"
    ran_to_the_end "$WORK/$name.csv" "$name ($sig)" && return
    check_interrupted "$name" "$name ($sig)" "$RUN_RC" "$ckpt" || return
    resume_and_compare "$name" "$ckpt" "$WORK/$name.resumed.ckpt" "$WORK/$name.csv"
}

# ---- single interrupts -----------------------------------------------------------------------

# Early: as soon as the log exists (the signal handlers are installed before the log is opened).
interrupt_case early INT test -f "$WORK/early.csv"
interrupt_case early-term TERM test -f "$WORK/early-term.csv"
# After a number of steps, read from the CSV log.
interrupt_case after-100-steps INT log_rows_at_least "$WORK/after-100-steps.csv" 100
interrupt_case after-300-steps TERM log_rows_at_least "$WORK/after-300-steps.csv" 300
# Just after epoch 2's line was printed (the first steps of epoch 3), and in the last epoch.
interrupt_case after-epoch-2 INT epoch_line_seen "$WORK/after-epoch-2.out" 2
interrupt_case last-epoch TERM epoch_line_seen "$WORK/last-epoch.out" 5
# After a plain sleep of 40% of the reference run's time, whatever step that is.  The only case
# that depends on timing: when the machine got much faster meanwhile and the run ended first,
# it is skipped, not failed.
SLEEP=$(printf '%d.%03d' $((REF_MS * 4 / 10000)) $((REF_MS * 4 / 10 % 1000)))
start_run sleep "${OPTS[@]}" --out "$WORK/sleep.ckpt" --log "$WORK/sleep.csv"
sleep "$SLEEP"
if alive "$RUN_PID"; then
    signal_and_wait INT
    # The run may have been past its last step when the signal came (seen in CI: a reference run
    # slowed by the machine, 680 ms, then this one done in under 272).
    if ! ran_to_the_end "$WORK/sleep.csv" "sleep ${SLEEP}s (INT)"; then
        check_interrupted sleep "sleep ${SLEEP}s (INT)" "$RUN_RC" "$WORK/sleep.ckpt" &&
            resume_and_compare sleep "$WORK/sleep.ckpt" "$WORK/sleep.resumed.ckpt" "$WORK/sleep.csv"
    fi
else
    wait "$RUN_PID"
    echo "skip - sleep ${SLEEP}s (INT): the run ended (exit $?) before the signal"
fi

# A stop exactly at an epoch boundary cannot be timed with a signal; --steps makes one (the saved
# position is then the start of the next epoch).
timeout -s KILL "$RUN_LIMIT" "$CAE" train "${OPTS[@]}" --steps $((2 * STEPS_PER_EPOCH)) --out "$WORK/boundary.ckpt" \
    --log "$WORK/boundary.csv" >/dev/null 2>"$WORK/boundary.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(meta "$WORK/boundary.ckpt" train_epoch)" = 2 ] && [ "$(meta "$WORK/boundary.ckpt" train_position)" = 0 ]; then
    ok "stop at the end of epoch 2 (--steps $((2 * STEPS_PER_EPOCH))): saved at train_epoch=2 train_position=0"
    resume_and_compare boundary "$WORK/boundary.ckpt" "$WORK/boundary.resumed.ckpt" "$WORK/boundary.csv"
else
    bad "stop at the end of epoch 2: exit $rc, train_epoch=$(meta "$WORK/boundary.ckpt" train_epoch) train_position=$(meta "$WORK/boundary.ckpt" train_position)"
fi

# Two signals in quick succession (an impatient user): still one clean save.
start_run double-signal "${OPTS[@]}" --out "$WORK/double.ckpt" --log "$WORK/double.csv"
if wait_for "$RUN_LIMIT" log_rows_at_least "$WORK/double.csv" 150; then
    signal_and_wait INT INT TERM
    if ! ran_to_the_end "$WORK/double.csv" "double-signal (INT, INT, TERM)"; then
        check_interrupted double-signal "double-signal (INT, INT, TERM)" "$RUN_RC" "$WORK/double.ckpt" &&
            resume_and_compare double-signal "$WORK/double.ckpt" "$WORK/double.resumed.ckpt" "$WORK/double.csv"
    fi
else
    signal_and_wait KILL
    bad "double-signal: the run ended before it could be interrupted"
fi

# ---- interrupted twice ----------------------------------------------------------------------------

# twice_case NAME IN_PLACE: interrupt, resume and interrupt the resumed run, resume again; with
# IN_PLACE=1 every run reads and writes the same file (--resume F --out F).
twice_case() {
    local name=$1 in_place=$2 first second
    first=$WORK/$name.1.ckpt
    second=$([ "$in_place" = 1 ] && echo "$first" || echo "$WORK/$name.2.ckpt")
    start_run "$name.1" "${OPTS[@]}" --out "$first" --log "$WORK/$name.csv"
    if ! wait_for "$RUN_LIMIT" log_rows_at_least "$WORK/$name.csv" 150; then
        signal_and_wait KILL; bad "$name: the first run ended before it could be interrupted"; return
    fi
    signal_and_wait INT
    ran_to_the_end "$WORK/$name.csv" "$name: first interrupt (INT)" && return
    check_interrupted "$name.1" "$name: first interrupt (INT)" "$RUN_RC" "$first" || return
    local first_step=$STOP_STEP
    # On a loaded machine the first stop can come late (the poll above sleeps between looks): too
    # close to the end, a second interrupt cannot be timed, which says nothing about resuming.
    if [ "$first_step" -gt $((TOTAL_STEPS - 100)) ]; then
        echo "skip - $name: the first stop came at step $first_step of $TOTAL_STEPS, too late for a second"
        return
    fi
    # The resumed run appends to the same log; interrupt it a quarter of the way to the end.
    start_run "$name.2" --data synthetic --resume "$first" --out "$second" --log "$WORK/$name.csv"
    if ! wait_for "$RUN_LIMIT" log_rows_at_least "$WORK/$name.csv" $((first_step + (TOTAL_STEPS - first_step) / 4)); then
        signal_and_wait KILL; bad "$name: the resumed run ended before it could be interrupted"; return
    fi
    signal_and_wait TERM
    ran_to_the_end "$WORK/$name.csv" "$name: second interrupt (TERM) of the resumed run" && return
    check_interrupted "$name.2" "$name: second interrupt (TERM) of the resumed run" "$RUN_RC" "$second" || return
    if [ "$STOP_STEP" -le "$first_step" ]; then
        bad "$name: the resumed run stopped at step $STOP_STEP, not after the first stop at $first_step"
        return
    fi
    resume_and_compare "$name" "$second" "$WORK/$name.final.ckpt" "$WORK/$name.csv"
}
twice_case twice 0
twice_case twice-in-place 1

# ---- each optimizer resumes ------------------------------------------------------------------------

# optimizer_resumes NAME OPTIONS...: a run of these options stopped by --steps 100 resumes to the
# uninterrupted run's bytes: the optimizer's kind, settings and state and the schedule all come
# back from the checkpoint.
optimizer_resumes() {
    local name=$1; shift
    local base=(--data synthetic --epochs 2 --batch 16 --hidden 16 --seed 5 "$@") f=$WORK/opt-${name// /_}
    if timeout -s KILL "$RUN_LIMIT" "$CAE" train "${base[@]}" --out "$f.full.ckpt" >/dev/null 2>"$f.err" &&
        timeout -s KILL "$RUN_LIMIT" "$CAE" train "${base[@]}" --steps 100 --out "$f.half.ckpt" >/dev/null 2>>"$f.err" &&
        timeout -s KILL "$RUN_LIMIT" "$CAE" train --data synthetic --resume "$f.half.ckpt" --out "$f.resumed.ckpt" \
            >/dev/null 2>>"$f.err"; then
        if cmp -s "$f.full.ckpt" "$f.resumed.ckpt"; then
            ok "$name: stopped at step 100, resumed, byte-identical to the uninterrupted run"
        else
            bad "$name: the resumed checkpoint differs from the uninterrupted run's"
        fi
    else
        bad "$name: a run or its resume failed [$(head -c 300 "$f.err" | tr '\n' '|')]"
    fi
}
# SGD's checkpoint stores adam_eps=0, which the resume once refused as outside Adam's range.
optimizer_resumes "SGD with momentum" --optimizer sgd --momentum 0.9 --lr 0.01
optimizer_resumes "AdamW with a cosine schedule and a warm-up" --optimizer adamw --weight-decay 0.1 --schedule cosine \
    --warmup 20
optimizer_resumes "centered RMSprop with momentum and a step schedule" --optimizer rmsprop --momentum 0.5 --centered \
    --rms-alpha 0.95 --schedule step:30:0.7

if [ "$interrupted" -le "$skipped" ]; then
    bad "$interrupted runs stopped by a signal, $skipped finished before it: the signals seem ignored"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
