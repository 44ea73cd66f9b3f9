/* models/cae/cae_bench.h — the matrix-product rate that bounds a CAE training epoch. */
#ifndef CAE_BENCH_H
#define CAE_BENCH_H

#include <stddef.h>

/* GFLOP of the matrix products that training on `images` images costs (loss without the γ term):
 * per batch of B, forward x·W and h·V, backward dy·Vᵀ, hᵀ·dy and xᵀ·dz — five products of
 * 2·B·D·H flops each, whatever the options. */
double cae_matmul_gflop(size_t images, size_t input, size_t hidden);

/* GFLOP/s of tg_gemm on those five products for batch B, D inputs and H hidden units, with the
 * operands laid out and transposed as the tape runs them, on the current thread setting and
 * inside a team as training is: the best of a few timed loops, each long enough for the clock's
 * resolution not to matter.  Caches are warm, so this is an upper bound of what a training step
 * gets.  0 when out of memory. */
double cae_step_matmul_gflops(size_t batch, size_t input, size_t hidden);

#endif
