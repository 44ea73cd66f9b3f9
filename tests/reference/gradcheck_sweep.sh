#!/usr/bin/env bash
# tests/reference/gradcheck_sweep.sh — `cae gradcheck` over many configurations and seeds (issue 25):
# on correct code every run must pass.  Run by hand (2800 runs for seeds 1..50, 1 thread each);
# tests/cae_e2e.sh runs the seeds that failed before the check allowed for rounding.
#   usage: gradcheck_sweep.sh CAE [FIRST_SEED LAST_SEED]    (default seeds 1..50)
# Prints one line per failure and a summary `runs=N failures=F`; exit 1 when F > 0.
# The configurations: every activation × decoder/loss × tying without the γ term (36), every
# activation × tying with it (12), and eight more (the issue's, wider and narrower models).
set -u
cae=$1 first=${2:-1} last=${3:-50}
configs=()
for act in sigmoid tanh relu softplus leaky_relu elu; do
    for dl in "linear mse" "sigmoid mse" "sigmoid bce"; do
        set -- $dl
        configs+=("--activation $act --decoder $1 --loss $2" "--activation $act --decoder $1 --loss $2 --tied")
    done
done
for act in sigmoid tanh relu softplus leaky_relu elu; do
    configs+=("--activation $act --gamma 0.5" "--activation $act --gamma 0.5 --tied")
done
configs+=(
    "--gamma 2 --decoder sigmoid --loss bce --corruptions 2 --sigma 0.3"
    "--gamma 0.1 --tied --decoder sigmoid --loss bce"
    "--activation tanh --gamma 1 --sigma 0.3 --corruptions 2"
    "--activation softplus --gamma 1 --decoder sigmoid --loss mse --sigma 0.05"
    "--activation elu --gamma 0.5 --decoder sigmoid --loss bce --tied --corruptions 3"
    "--activation leaky_relu:0.2 --gamma 0.5 --sigma 0.2"
    "--hidden 12 --lambda 1"
    "--hidden 3 --lambda 0.01 --activation tanh --decoder sigmoid --loss bce"
)
runs=0 failures=0
for cfg in "${configs[@]}"; do
    for seed in $(seq "$first" "$last"); do
        runs=$((runs + 1))
        # shellcheck disable=SC2086
        if ! out=$("$cae" gradcheck $cfg --seed "$seed" --threads 1 2>&1); then
            failures=$((failures + 1))
            echo "FAIL --seed $seed $cfg: $(printf '%s\n' "$out" | grep -m1 'term=[a-z]*: ')"
        fi
    done
done
echo "runs=$runs failures=$failures"
[ "$failures" -eq 0 ]
