/* AVX-512 kernel (placeholder: forwards to the reference until the optimized kernel lands). */
#include "matmul_kernels.h"

void tg_gemm_avx512(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                  float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc)
{
    tg_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
