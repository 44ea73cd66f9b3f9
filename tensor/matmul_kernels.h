/* tensor/matmul_kernels.h — internal: the per-ISA kernels behind tg_gemm.
 * Same contract as tg_gemm (see matmul.h); each processes the whole product on the calling
 * thread's share of output columns/rows as decided by matmul.c. */
#ifndef TG_MATMUL_KERNELS_H
#define TG_MATMUL_KERNELS_H

#include "matmul.h"

void tg_gemm_avx2(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                  float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc);
void tg_gemm_avx512(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                    float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                    float beta, float *C, size_t ldc);

#endif
