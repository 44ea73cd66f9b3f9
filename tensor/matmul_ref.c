/* The scalar reference kernel: the definition every optimized path is tested against. */
#include "matmul.h"

void tg_gemm_ref(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                 float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                 float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            float acc = 0.0f;
            for (size_t k = 0; k < K; k++) {
                float a = ta == TG_TRANS ? A[k * lda + i] : A[i * lda + k]; /* op(A)[i,k] */
                float b = tb == TG_TRANS ? B[j * ldb + k] : B[k * ldb + j]; /* op(B)[k,j] */
                acc += a * b;
            }
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
        }
    }
}
