#!/usr/bin/env bash
# Rifai et al. (ICML 2011), Table 1 and its claims, as the authors ran the model: the CAE and the
# paper's baselines (AE, AE with weight decay, denoising AEs with Gaussian and masking noise),
# CAE+H, and a stacked two-layer CAE, each pre-trained with several seeds, measured (test error
# after fine-tuning, mean ‖J‖_F, saturation, dead units, Hessian term, contraction curves along
# random / data / tangent / orthogonal directions, spectra, tangent images) and fine-tuned as an
# MLP with several seeds, with paired differences against random initialization.  Writes
# OUT_DIR/report.md; with --docs, docs/experiment.md and its pictures in docs/experiment/.
#
#   models/cae/experiment.sh [--quick] [--docs] [DATA_DIR] [OUT_DIR]
#
# DATA_DIR: IDX files (default $CAE_DATA, else /usr/share/datasets/fashion-mnist; --quick:
# synthetic).  OUT_DIR: default out/experiment (--quick: out/experiment-quick).  The programs come
# from $BUILD_DIR (default build/).  --quick shrinks everything (for the test suite: a few
# seconds); any setting below can be overridden from the environment.  The programs are
# deterministic for any thread count: the same settings give the same report.  An interrupted
# run, started again with the same settings and OUT_DIR, keeps the runs it finished.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QUICK=0 DOCS=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --docs) DOCS=1 ;;
        --help|-h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --*) echo "experiment.sh: unknown option $1 (--quick, --docs)" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
if [ $QUICK = 1 ]; then
    DATA=${1:-synthetic}
    OUT=${2:-out/experiment-quick}
else
    DATA=${1:-${CAE_DATA:-/usr/share/datasets/fashion-mnist}}
    OUT=${2:-out/experiment}
fi
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RUN=${TG_RUN_WRAPPER:-} # the test suite's emulator or checker, if any

# ---- settings: the paper's model (cae train --preset rifai2011), a budget of ~30 min on 2 cores ----
q() { if [ $QUICK = 1 ]; then echo "$2"; else echo "$1"; fi; } # q FULL QUICK
HIDDEN=${HIDDEN:-$(q 1000 24)}          # units of every encoder (and of the MLP's hidden layers)
HIDDEN2=${HIDDEN2:-$(q 1000 16)}        # the stacked CAE's second layer
LIMIT=${LIMIT:-$(q 12000 600)}          # training images read; VALID of them held out (by seed)
VALID=${VALID:-$(q 2000 100)}           # as the MNIST-variations sets: 10000 train, 2000 valid
PRE_EPOCHS=${PRE_EPOCHS:-$(q 10 2)}     # pre-training, SGD (the preset's lr 0.01, batch 32)
MLP_EPOCHS=${MLP_EPOCHS:-$(q 10 2)}     # fine-tuning, Adam 1e-3, batch 64; best epoch on VALID
PRE_SEEDS=${PRE_SEEDS:-$(q "1 2 3" "1 2")}
FT_SEEDS=${FT_SEEDS:-$(q "1 2 3" "1 2")}
LAMBDA=${LAMBDA:-1}                     # the CAE's λ on the summed cross-entropy (the paper's convention)
LAMBDA_SWEEP=${LAMBDA_SWEEP:-"0.3 3 10"} # more CAEs (first seed): CAE+H compared at matched ‖J‖_F
GAMMA=${GAMMA:-10}                      # CAE+H: weight of E‖J(x) − J(x+ε)‖²
CORRUPTIONS=${CORRUPTIONS:-4}
SIGMA=${SIGMA:-0.3}                     # CAE+H's corruptions, and every model's Hessian term
WEIGHT_DECAY=${WEIGHT_DECAY:-1e-3}      # AE+wd (L2 on the weights, not the biases)
DAE_SIGMA=${DAE_SIGMA:-0.3}             # DAE-g: Gaussian noise
DAE_MASK=${DAE_MASK:-0.25}              # DAE-b: masking noise (a pixel zeroed with this probability)
RADII=${RADII:-$(q "0.5,1,2,5,10,20,40" "0.5,2,10")}
CHART_MODELS=${CHART_MODELS:-"AE DAE-g CAE CAE+H"} # drawn side by side (each adds its mean spectrum)
TANGENT_MODELS=${TANGENT_MODELS:-"CAE"}  # tangent/orthogonal contraction (a Jacobian SVD per image)

die() { echo "experiment.sh: $*" >&2; exit 2; }
CAE=$BUILD_DIR/cae MLP=$BUILD_DIR/mlp
[ -x "$CAE" ] && [ -x "$MLP" ] || die "$CAE or $MLP is missing: build first (meson setup build && ninja -C build), or set BUILD_DIR"
[ "$DATA" = synthetic ] || [ -d "$DATA" ] || die "$DATA: no such data directory (Fashion-MNIST: apt-get install dataset-fashion-mnist)"
mkdir -p "$OUT" || die "cannot create $OUT"
CAE=$(cd "$(dirname "$CAE")" && pwd)/cae MLP=$(cd "$(dirname "$MLP")" && pwd)/mlp
[ "$DATA" = synthetic ] || DATA=$(cd "$DATA" && pwd)
cd "$OUT"
OUT=$(pwd)
# The settings of this OUT_DIR's runs: a run with other settings starts elsewhere, never on top
# (the λ sweep's runs are named by their λ: adding one keeps the others).
SETTINGS="data=$DATA hidden=$HIDDEN hidden2=$HIDDEN2 limit=$LIMIT valid=$VALID pre_epochs=$PRE_EPOCHS
mlp_epochs=$MLP_EPOCHS lambda=$LAMBDA gamma=$GAMMA corruptions=$CORRUPTIONS sigma=$SIGMA wd=$WEIGHT_DECAY
dae_sigma=$DAE_SIGMA dae_mask=$DAE_MASK radii=$RADII charts=$CHART_MODELS tangents=$TANGENT_MODELS"
if [ -f settings.txt ] && [ "$(cat settings.txt)" != "$SETTINGS" ]; then
    die "$OUT holds a run with other settings (its settings.txt): remove it or choose another OUT_DIR"
fi
[ -f settings.txt ] || : >timings.txt # a resumed run adds its times to the finished runs
echo "$SETTINGS" >settings.txt
# finished FILE PATTERN: FILE exists and has PATTERN (a finished run's last words): skip the run.
finished() { [ -f "$1" ] && grep -q "$2" "$1"; }
cae() { $RUN "$CAE" "$@"; }
mlp() { $RUN "$MLP" "$@"; }

# The baselines and the CAEs: NAME|cae train options beyond the preset and the budget.
MODELS=("AE|--lambda 0"
        "AE+wd|--lambda 0 --weight-decay $WEIGHT_DECAY"
        "DAE-g|--lambda 0 --noise gaussian:$DAE_SIGMA"
        "DAE-b|--lambda 0 --noise mask:$DAE_MASK"
        "CAE|--lambda $LAMBDA"
        "CAE+H|--lambda $LAMBDA --gamma $GAMMA --corruptions $CORRUPTIONS --sigma $SIGMA")
NAMES=() && for m in "${MODELS[@]}"; do NAMES+=("${m%%|*}"); done
read -r -a PSEEDS <<<"$PRE_SEEDS"
read -r -a FSEEDS <<<"$FT_SEEDS"
FIRST=${PSEEDS[0]}

# ---- progress and timing -------------------------------------------------------------------------
START=$EPOCHREALTIME
read -r -a SWEEP <<<"$LAMBDA_SWEEP"
STEPS=$(( ${#PSEEDS[@]} * (2 * ${#MODELS[@]} + 1) + 2 * ${#SWEEP[@]} + ${#PSEEDS[@]} * ${#FSEEDS[@]} * (${#MODELS[@]} + 3) ))
DONE=0
note() { echo "experiment: $*" >&2; }
progress() { # one line a run: [done/total] elapsed what
    DONE=$((DONE + 1))
    awk -v d=$DONE -v n=$STEPS -v a="$START" -v b="$EPOCHREALTIME" -v w="$1" \
        'BEGIN { printf "experiment: [%3d/%d %3.0f%%] %5.0f s  %s\n", d, n, 100 * d / n, b - a, w }' >&2
}
timed() { # timed GROUP COMMAND...: adds the command's seconds to GROUP in timings.txt
    local group=$1 t0=$EPOCHREALTIME
    shift
    "$@"
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v g="$group" 'BEGIN { printf "%s\t%.1f\n", g, b - a }' >>timings.txt
}

# ---- 1. pre-training ----------------------------------------------------------------------------
budget=(--data "$DATA" --preset rifai2011 --hidden "$HIDDEN" --epochs "$PRE_EPOCHS" --limit "$LIMIT"
        --valid "$VALID")
pretrain() { # NAME SEED OPTIONS...: NAME-sSEED.ckpt, its training output and its evaluation
    local name=$1 seed=$2
    shift 2
    finished "$name-s$seed.train.txt" "^cae: wrote " && { progress "kept $name, seed $seed"; return; }
    cae train "${budget[@]}" --seed "$seed" "$@" --out "$name-s$seed.ckpt" --log "$name-s$seed.csv" \
        >"$name-s$seed.train.txt" 2>&1 || die "cae train of $name (seed $seed) failed: see $OUT/$name-s$seed.train.txt"
    progress "trained $name, seed $seed"
}
evaluate() { # NAME SEED: cae eval with the report's radii, directions and σ
    finished "$1-s$2.eval.txt" "^test_mse=" && { progress "kept the evaluation of $1, seed $2"; return; }
    cae eval --model "$1-s$2.ckpt" --data "$DATA" --radii "$RADII" --directions data --sigma "$SIGMA" \
        --seed 1 >"$1-s$2.eval.txt" 2>&1 || die "cae eval of $1 (seed $2) failed: see $OUT/$1-s$2.eval.txt"
    progress "evaluated $1, seed $2"
}
for seed in "${PSEEDS[@]}"; do
    for m in "${MODELS[@]}"; do
        read -r -a opts <<<"${m#*|}"
        timed "pre-train ${m%%|*}" pretrain "${m%%|*}" "$seed" "${opts[@]}"
        timed "evaluate" evaluate "${m%%|*}" "$seed"
    done
    # The stacked CAE: a second CAE trained on the first one's codes (greedy, as the paper),
    # measured by its fine-tuning only (cae eval takes models on pixels).
    timed "pre-train CAE-2" pretrain CAE-2 "$seed" --lambda "$LAMBDA" --stack-on "CAE-s$seed.ckpt" --hidden "$HIDDEN2"
done
for lambda in "${SWEEP[@]}"; do # CAEs at other λ: the CAE's Hessian term against its ‖J‖_F
    timed "pre-train CAE λ sweep" pretrain "CAE@$lambda" "$FIRST" --lambda "$lambda"
    timed "evaluate" evaluate "CAE@$lambda" "$FIRST"
done

# ---- 2. fine-tuning: every (pre-training seed, fine-tuning seed) pair, one MLP per arm -------------
# The MLP's seed (initialization of what no encoder gives, the batches, the validation split) is
# 100·p + f, the same in every arm: the arms differ only in where their hidden layers start, so
# their test errors can be compared pair by pair.
fine_tune() { # ARM P F LAYERS ENCODERS...: one line of runs.tsv in mlp-ARM-pP-fF.run
    local arm=$1 p=$2 f=$3 layers=$4 seed=$((100 * $2 + $3)) init=()
    shift 4
    [ -s "mlp-$arm-p$p-f$f.run" ] && { progress "kept $arm ($p, $f)"; return; }
    for e in "$@"; do init+=(--init-encoder "$e"); done
    local name="mlp-$arm-p$p-f$f"
    mlp train --data "$DATA" --layers "$layers" --activation sigmoid --epochs "$MLP_EPOCHS" --limit "$LIMIT" \
        --valid "$VALID" --seed "$seed" "${init[@]}" --out "$name.ckpt" >"$name.train.txt" 2>&1 &&
        mlp eval --model "$name.ckpt" --data "$DATA" >"$name.eval.txt" 2>&1 ||
        die "fine-tuning $arm ($p, $f) failed: see $OUT/$name.train.txt and .eval.txt"
    local acc best
    acc=$(tr ' ' '\n' <"$name.eval.txt" | sed -n 's/^test_acc=//p' | head -n 1)
    best=$(sed -n 's/.*best epoch \([0-9]*\).*/\1/p' "$name.train.txt" | head -n 1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$arm" "$p" "$f" "$acc" "${best:-$MLP_EPOCHS}" >"$name.run"
    progress "fine-tuned $arm ($p, $f): test_acc=$acc"
}
for p in "${PSEEDS[@]}"; do
    for f in "${FSEEDS[@]}"; do
        timed "fine-tune" fine_tune random "$p" "$f" "$HIDDEN"
        for name in "${NAMES[@]}"; do
            timed "fine-tune" fine_tune "$name" "$p" "$f" "$HIDDEN" "$name-s$p.ckpt"
        done
        timed "fine-tune" fine_tune random-2 "$p" "$f" "$HIDDEN,$HIDDEN2"
        timed "fine-tune" fine_tune CAE-2 "$p" "$f" "$HIDDEN,$HIDDEN2" "CAE-s$p.ckpt" "CAE-2-s$p.ckpt"
    done
done
for p in "${PSEEDS[@]}"; do for f in "${FSEEDS[@]}"; do
    for arm in random "${NAMES[@]}" random-2 CAE-2; do cat "mlp-$arm-p$p-f$f.run"; done
done; done >runs.tsv

# ---- 3. pictures: the first seed's models side by side, the CAE's tangents ------------------------
note "charts and pictures"
models=() && for name in $CHART_MODELS; do models+=(--model "$name-s$FIRST.ckpt"); done
[ -s charts/spectrum.svg ] && finished compare.txt "^model=" ||
    timed "charts" cae compare --data "$DATA" "${models[@]}" --radii "$RADII" --directions data --sigma "$SIGMA" \
        --out charts >compare.txt 2>compare.err || die "cae compare failed: see $OUT/compare.err"
for name in $TANGENT_MODELS; do
    note "contraction along tangent and orthogonal directions: $name"
    finished "$name-s$FIRST.tangent.txt" "^test_mse=" ||
        timed "tangent directions" cae eval --model "$name-s$FIRST.ckpt" --data "$DATA" --radii "$RADII" \
            --directions tangent,orthogonal --sigma "$SIGMA" --seed 1 >"$name-s$FIRST.tangent.txt" 2>&1 ||
        die "cae eval --directions of $name failed: see $OUT/$name-s$FIRST.tangent.txt"
done
[ -s render-CAE/filters.png ] || timed "charts" cae render --model "CAE-s$FIRST.ckpt" --data "$DATA" --log "CAE-s$FIRST.csv" --out render-CAE \
    >/dev/null 2>render.err || die "cae render failed: see $OUT/render.err"
TOTAL=$(awk -F'\t' '{ s += $2 } END { printf "%.0f", s }' timings.txt) # every run's time, resumed or not

# ---- 4. the report ------------------------------------------------------------------------------
# shellcheck source=models/cae/experiment_report.sh
. "$ROOT/models/cae/experiment_report.sh"
IMG=. write_report >report.md
note "wrote $OUT/report.md (total ${TOTAL} s)"
if [ $DOCS = 1 ]; then
    mkdir -p "$ROOT/docs/experiment"
    cp charts/contraction.svg charts/spectrum.svg render-CAE/tangents.png render-CAE/filters.png "$ROOT/docs/experiment/"
    IMG=experiment DOCS_LINKS=1 write_report >"$ROOT/docs/experiment.md"
    note "wrote $ROOT/docs/experiment.md and docs/experiment/"
fi
sed -n '/^## The claims/,/^## /p' report.md | sed '$d'
