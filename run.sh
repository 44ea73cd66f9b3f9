#!/usr/bin/env bash
# The main job: installs what is missing, builds, trains the CAE on Fashion-MNIST with the
# seed's settings (784->64 sigmoid, linear decoder, lambda 1e-4, Adam 1e-3, batch 32, 5 epochs),
# evaluates it and renders the pictures into out/.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
tg_ensure_deps dataset-fashion-mnist
tg_build build

data=${CAE_DATA:-/usr/share/datasets/fashion-mnist}
mkdir -p out
./build/cae train --data "$data" --hidden 64 --lambda 1e-4 --epochs 5 --batch 32 --lr 1e-3 \
    --out out/cae.ckpt --log out/train.csv | tee out/train.txt
./build/cae eval --model out/cae.ckpt --data "$data" | tee out/eval.txt
./build/cae render --model out/cae.ckpt --data "$data" --log out/train.csv --out out
echo "run.sh: checkpoint out/cae.ckpt; metrics out/eval.txt; pictures out/filters.png out/recon.png" \
     "out/tangents.png out/spectrum.svg out/loss.svg"
