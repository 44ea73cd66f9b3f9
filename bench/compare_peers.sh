#!/usr/bin/env bash
# Runs tapegrad's benchmarks and the peers one after the other, in the same session, and prints
# every key=value line (see ../shared/peers/README.md).  Never run two benchmarks at once.
#   usage: bench/compare_peers.sh [BUILD_DIR] [PEERS_DIR] [DATA_DIR]
# Needs the peers' packages: apt-get install -y python3-numpy python3-torch libopenblas0
set -euo pipefail
build=${1:-build}
peers=${2:-../shared/peers}
data=${3:-/usr/share/datasets/fashion-mnist}
peer_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)

# Every figure names its processor (the ratios are only comparable on the same one).
echo "# cpu: $(grep -m1 -E 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
    "$(grep -m1 -E 'cpu family' /proc/cpuinfo | tr -d '\t')," \
    "$(grep -m1 -E '^model\s' /proc/cpuinfo | tr -d '\t'), avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)," \
    "cores: $(nproc)"

echo "# matmul, 1 thread: tapegrad, then OpenBLAS"
"$build/bench/bench_matmul" --threads 1
"${peer_env[@]}" OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$peers/sgemm_openblas.py"
echo "# matmul, 2 threads: tapegrad"
"$build/bench/bench_matmul" --threads 2

echo "# CAE training epochs on Fashion-MNIST (best of 3): tapegrad, then PyTorch (1 thread, its best)"
for batch in 32 256; do
    for threads in 1 2; do
        "$build/cae" bench --data "$data" --epochs 3 --batch "$batch" --threads "$threads" 2>/dev/null
    done
    "${peer_env[@]}" /usr/bin/python3 "$peers/torch_cae.py" --batch "$batch" --threads 1 --epochs 3 | tail -n 1
done

echo "# cost against hidden size (batch 256, 2 threads)"
for hidden in 64 256 1024; do
    "$build/cae" bench --data "$data" --epochs 3 --batch 256 --threads 2 --hidden "$hidden" 2>/dev/null
done

echo "# convolution (issue 21): conv2d GFLOP/s per LeNet-5 layer at batch 64 beside the same product as one tg_gemm"
for threads in 1 2; do
    "$build/bench/bench_conv" --threads "$threads"
done
echo "# LeNet-5 training epochs on Fashion-MNIST (best of 3): tapegrad on 1 and 2 threads, then PyTorch (1 thread, its best)"
for threads in 1 2; do
    "$build/models/examples/lenet" --bench --data "$data" --epochs 3 --threads "$threads"
done
"${peer_env[@]}" /usr/bin/python3 "$peers/torch_lenet.py" --batch 64 --threads 1 --epochs 3 | tail -n 1

echo "# threads in a user's own loop (issue 22): the tutorial's MLP on 1 and the default threads, quiet and beside a busy process"
"$build/bench/bench_loop" --data "$data"
echo "# what one parallel loop costs beyond its work (issue 22)"
"$build/bench/bench_team"
