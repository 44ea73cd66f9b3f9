#!/usr/bin/env bash
# The paper's experiment, reproducibly: AE (λ = 0), CAE (λ > 0) and CAE+H (λ and γ > 0) trained
# with the same budget, their diagnostics (Jacobian norm, Hessian term, contraction ratio against
# radius, singular-value spectra, saturation, linear probe), and the pre-training comparison
# (an MLP from random initialization against the same MLP whose first layer starts from each
# encoder, fine-tuned with the same budget).  Writes OUT_DIR/report.md with the numbers of this
# run, the charts, and whether the paper's claims hold here.
#
#   models/cae/experiment.sh [DATA_DIR] [OUT_DIR]
#
# DATA_DIR: IDX files (default $CAE_DATA, else /usr/share/datasets/fashion-mnist); OUT_DIR:
# default out/experiment.  The programs come from $BUILD_DIR (default build/; build it first
# with `meson setup build && ninja -C build`).  The settings below can be overridden from the
# environment, e.g. HIDDEN=128 EPOCHS=1 LIMIT=5000 for a quick look.  Same settings and seed,
# same numbers (the programs are deterministic for any thread count).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${1:-${CAE_DATA:-/usr/share/datasets/fashion-mnist}}
OUT=${2:-out/experiment}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
CAE=$BUILD_DIR/cae
MLP=$BUILD_DIR/mlp

# The budget: chosen so that the whole script runs in well under 15 minutes on 2 cores.
HIDDEN=${HIDDEN:-256}        # hidden units of every encoder (and of the MLP's hidden layer)
EPOCHS=${EPOCHS:-5}          # passes over the training images, for every autoencoder
LIMIT=${LIMIT:-60000}        # training images used (the autoencoders and the MLPs)
BATCH=${BATCH:-64}
LR=${LR:-1e-3}               # Adam
LAMBDA=${LAMBDA:-1e-2}       # CAE and CAE+H: weight of ‖J‖²
GAMMA=${GAMMA:-1}            # CAE+H: weight of E‖J(x) - J(x+ε)‖²
CORRUPTIONS=${CORRUPTIONS:-4}
SIGMA=${SIGMA:-0.1}
MLP_EPOCHS=${MLP_EPOCHS:-5}  # fine-tuning budget, the same for every MLP
SEED=${SEED:-1}

die() { echo "experiment.sh: $*" >&2; exit 2; }
[ -x "$CAE" ] && [ -x "$MLP" ] || die "$CAE or $MLP is missing: build first (meson setup build && ninja -C build), or set BUILD_DIR"
[ -d "$DATA" ] || die "$DATA: no such data directory (Fashion-MNIST: apt-get install dataset-fashion-mnist)"
mkdir -p "$OUT" || die "cannot create $OUT"
# Absolute paths: the rest runs inside OUT_DIR (short model names in the charts' legends).
CAE=$(cd "$(dirname "$CAE")" && pwd)/cae
MLP=$(cd "$(dirname "$MLP")" && pwd)/mlp
DATA=$(cd "$DATA" && pwd)
cd "$OUT"
OUT=$(pwd)

# ---- timing -------------------------------------------------------------------------------------
START=$EPOCHREALTIME
: >timings.txt
# timed NAME COMMAND...: runs the command, appends "NAME SECONDS" to timings.txt.
timed() {
    local name=$1 t0=$EPOCHREALTIME
    shift
    "$@"
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$name" 'BEGIN { printf "%s %.1f\n", n, b - a }' >>timings.txt
}
note() { echo "experiment: $*" >&2; }

# ---- 1. the three autoencoders ---------------------------------------------------------------------
common=(--data "$DATA" --hidden "$HIDDEN" --activation sigmoid --decoder linear --loss mse
        --epochs "$EPOCHS" --limit "$LIMIT" --batch "$BATCH" --lr "$LR" --seed "$SEED")
train_ae() { # NAME ARGS...
    local name=$1
    shift
    note "training $name"
    "$CAE" train "${common[@]}" "$@" --out "$name.ckpt" --log "$name.csv" >"$name.train.txt"
}
timed "train AE" train_ae AE --lambda 0
timed "train CAE" train_ae CAE --lambda "$LAMBDA"
timed "train CAE+H" train_ae CAE+H --lambda "$LAMBDA" --gamma "$GAMMA" --corruptions "$CORRUPTIONS" --sigma "$SIGMA"

# ---- 2. diagnostics: one table, one set of charts ------------------------------------------------
note "comparing (eval of each model, charts)"
timed "compare" "$CAE" compare --data "$DATA" --model AE.ckpt --model CAE.ckpt --model CAE+H.ckpt \
    --out charts >compare.txt
note "rendering the CAE's pictures"
timed "render CAE" "$CAE" render --model CAE.ckpt --data "$DATA" --log CAE.csv --out render-CAE 2>/dev/null

# ---- 3. pre-training for classification -----------------------------------------------------------
mlp_common=(--data "$DATA" --layers "$HIDDEN" --activation sigmoid --epochs "$MLP_EPOCHS" --limit "$LIMIT"
            --batch "$BATCH" --lr "$LR" --seed "$SEED")
fine_tune() { # NAME [ENCODER]
    local name=$1 init=()
    [ $# -gt 1 ] && init=(--init-encoder "$2")
    note "MLP from $name"
    "$MLP" train "${mlp_common[@]}" "${init[@]}" --out "mlp-$name.ckpt" >"mlp-$name.train.txt"
    "$MLP" eval --model "mlp-$name.ckpt" --data "$DATA" >"mlp-$name.eval.txt"
}
timed "MLP random" fine_tune random
for name in AE CAE CAE+H; do
    timed "MLP from $name" fine_tune "$name" "$name.ckpt"
done
TOTAL=$(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')

# ---- 4. the report --------------------------------------------------------------------------------
# value KEY FILE: the value of KEY= in FILE's first line that has it.
value() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -n 1; }
# metric NAME KEY: KEY of model NAME's line in compare.txt.
metric() { grep "^model=$1.ckpt " compare.txt | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# ratios NAME: the contraction ratios of NAME at the charts' radii, in order, one per line.
ratios() { awk -F, -v m="$1.ckpt" '$1 == m { print $3 }' charts/contraction.csv; }
radii=$(awk -F, '$1 == "AE.ckpt" { print $2 }' charts/contraction.csv)
INPUT=$(grep -a -m 1 '^input=' AE.ckpt | cut -d= -f2) # the checkpoint's metadata (one key=value a line)
fmt() { awk -v x="$1" 'BEGIN { printf "%.4g", x }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; } # a < b
verdict() { if "$@"; then echo "**yes**"; else echo "**no**"; fi; }

mlp_acc() { value test_acc "mlp-$1.eval.txt"; }
every_radius_below() { # A B: every contraction ratio of A is below B's at the same radius
    paste <(ratios "$1") <(ratios "$2") | awk 'NF == 2 { n++; if ($1 < $2) k++ } END { exit !(n > 0 && k == n) }'
}
count_below() { paste <(ratios "$1") <(ratios "$2") | awk 'NF == 2 { n++; if ($1 < $2) k++ } END { printf "%d of %d", k, n }'; }

{
    echo "# AE, CAE and CAE+H on $(basename "$DATA"): the contractive autoencoder's claims, checked"
    echo
    echo "Generated by \`models/cae/experiment.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores;"
    echo "the whole run took **${TOTAL} s**. Every number below comes from this run's files in this directory."
    echo
    echo "## Setup"
    echo
    echo "- Data: \`$DATA\`, the first $LIMIT training images; metrics on the test split (t10k)."
    echo "- Encoders: $INPUT → $HIDDEN sigmoid, linear decoder, mean squared error;"
    echo "  Adam lr $LR, batch $BATCH, $EPOCHS epochs, seed $SEED — the same budget for all three."
    echo "- **AE**: λ = 0. **CAE**: λ = $LAMBDA (weight of ‖J‖_F²). **CAE+H**: λ = $LAMBDA and γ = $GAMMA"
    echo "  (weight of E‖J(x) − J(x+ε)‖_F², $CORRUPTIONS Gaussian corruptions of σ = $SIGMA per image)."
    echo "- Classification (the paper's pre-training protocol): an MLP $INPUT → $HIDDEN (sigmoid) → 10, trained on"
    echo "  the labels for $MLP_EPOCHS epochs (Adam lr $LR, batch $BATCH, seed $SEED), from random initialization or"
    echo "  with its first layer initialized from each encoder (\`mlp train --init-encoder\`)."
    echo
    echo "## Results"
    echo
    echo "| model | test MSE | mean ‖J‖_F² | Hessian term E‖J(x)−J(x+ε)‖_F² | contraction r = 0.1 | r = 1 | r = 3 | saturated units | linear probe acc | MLP test acc after fine-tuning |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    echo "| MLP from random init | | | | | | | | | $(mlp_acc random) |"
    for m in AE CAE CAE+H; do
        echo "| $m | $(fmt "$(metric $m test_mse)") | $(fmt "$(metric $m jac_fro2)") | $(fmt "$(metric $m hess_fro2)") |" \
             "$(fmt "$(metric $m contraction_0.1)") | $(fmt "$(metric $m contraction_1)") | $(fmt "$(metric $m contraction_3)") |" \
             "$(metric $m saturated) | $(metric $m probe_acc) | $(mlp_acc "$m") |"
    done
    echo
    echo "Metrics over all the test images. The Hessian term is measured with one σ for every model"
    echo "(cae compare's common σ: $(metric CAE+H hess_sigma)), 4 corruptions per image."
    echo
    echo "Contraction ratio ‖h(x+ε) − h(x)‖ / ‖ε‖, ε uniform on the sphere of radius r (mean over 1000 test images):"
    echo
    echo "| radius | $(for m in AE CAE CAE+H; do printf '%s | ' "$m"; done)"
    echo "|---|---|---|---|"
    paste <(echo "$radii") <(ratios AE) <(ratios CAE) <(ratios CAE+H) |
        awk '{ printf "| %.3g | %.4g | %.4g | %.4g |\n", $1, $2, $3, $4 }'
    echo
    echo "![contraction ratio against radius](charts/contraction.svg)"
    echo
    echo "![mean singular values of the Jacobian](charts/spectrum.svg)"
    echo
    echo "Tangent directions (the leading right singular vectors of J at four test images) of the CAE:"
    echo
    echo "![CAE tangents](render-CAE/tangents.png)"
    echo
    echo "Other files of this run (not copied into docs/): \`render-CAE/{filters,recon}.png\`, \`render-CAE/loss.svg\`;"
    echo "raw numbers: \`compare.txt\`, \`charts/*.csv\`, \`*.train.txt\`, \`*.csv\` (every training step), \`mlp-*.eval.txt\`."
    echo "Pictures of the other models: \`cae render --model AE.ckpt --out DIR\`."
    echo
    echo "## The claims, on this run"
    echo
    echo "| claim (Rifai et al. 2011) | holds here? | numbers |"
    echo "|---|---|---|"
    echo "| the CAE's mean ‖J‖_F² is below the AE's | $(verdict below "$(metric CAE jac_fro2)" "$(metric AE jac_fro2)") | $(fmt "$(metric CAE jac_fro2)") vs $(fmt "$(metric AE jac_fro2)") |"
    echo "| the CAE's contraction ratio is below the AE's at every radius | $(verdict every_radius_below CAE AE) | below at $(count_below CAE AE) radii |"
    echo "| CAE+H's Hessian term is below the CAE's | $(verdict below "$(metric CAE+H hess_fro2)" "$(metric CAE hess_fro2)") | $(fmt "$(metric CAE+H hess_fro2)") vs $(fmt "$(metric CAE hess_fro2)") |"
    echo "| CAE+H's contraction ratio is below the AE's at every radius | $(verdict every_radius_below CAE+H AE) | below at $(count_below CAE+H AE) radii |"
    echo "| the CAE saturates more hidden units than the AE | $(verdict below "$(metric AE saturated)" "$(metric CAE saturated)") | $(metric CAE saturated) vs $(metric AE saturated) |"
    echo "| pre-training with the CAE beats random initialization after fine-tuning | $(verdict below "$(mlp_acc random)" "$(mlp_acc CAE)") | $(mlp_acc CAE) vs $(mlp_acc random) |"
    echo "| pre-training with CAE+H beats random initialization after fine-tuning | $(verdict below "$(mlp_acc random)" "$(mlp_acc CAE+H)") | $(mlp_acc CAE+H) vs $(mlp_acc random) |"
    echo "| pre-training with the CAE beats pre-training with the AE | $(verdict below "$(mlp_acc AE)" "$(mlp_acc CAE)") | $(mlp_acc CAE) vs $(mlp_acc AE) |"
    echo
    echo "## Timings (seconds)"
    echo
    echo "| step | seconds |"
    echo "|---|---|"
    awk '{ s = $NF; $NF = ""; sub(/ $/, ""); printf "| %s | %s |\n", $0, s }' timings.txt
    echo "| **total** | **$TOTAL** |"
} >report.md
note "wrote $OUT/report.md (total ${TOTAL} s)"
grep -A 12 '^| claim' report.md
