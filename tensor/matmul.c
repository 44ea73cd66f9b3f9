/* Path selection, threading and the checked tensor wrapper for tg_gemm. */
#include "matmul.h"
#include "matmul_kernels.h"

#include <stdlib.h>
#include <string.h>

const char *tg_simd_name(tg_simd_path path)
{
    switch (path) {
    case TG_PATH_SCALAR: return "scalar";
    case TG_PATH_AVX2: return "avx2";
    case TG_PATH_AVX512: return "avx512";
    default: return "auto";
    }
}

int tg_simd_parse(const char *name)
{
    static const char *names[] = {"auto", "scalar", "avx2", "avx512"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

bool tg_simd_supported(tg_simd_path path)
{
    switch (path) {
    case TG_PATH_AUTO:
    case TG_PATH_SCALAR:
        return true;
#if defined(TG_HAVE_X86_SIMD)
    case TG_PATH_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TG_PATH_AVX512:
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return false;
    }
}

tg_simd_path tg_simd_active(void)
{
    static tg_simd_path active = TG_PATH_AUTO; /* decided once */
    if (active != TG_PATH_AUTO)
        return active;
    const char *env = getenv("TG_SIMD");
    int forced = env ? tg_simd_parse(env) : -1;
    if (forced > 0 && tg_simd_supported((tg_simd_path)forced))
        active = (tg_simd_path)forced;
    else if (tg_simd_supported(TG_PATH_AVX512))
        active = TG_PATH_AVX512;
    else if (tg_simd_supported(TG_PATH_AVX2))
        active = TG_PATH_AVX2;
    else
        active = TG_PATH_SCALAR;
    return active;
}

void tg_gemm_path(tg_simd_path path, tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                  float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc)
{
    if (path == TG_PATH_AUTO)
        path = tg_simd_active();
    if (!tg_simd_supported(path))
        path = TG_PATH_SCALAR;
#if defined(TG_HAVE_X86_SIMD)
    if (path == TG_PATH_AVX512) {
        tg_gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (path == TG_PATH_AVX2) {
        tg_gemm_avx2(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    tg_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void tg_gemm(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
             float alpha, const float *A, size_t lda, const float *B, size_t ldb,
             float beta, float *C, size_t ldc)
{
    tg_gemm_path(TG_PATH_AUTO, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int tg_tensor_matmul(tg_tensor *C, const tg_tensor *A, tg_trans ta, const tg_tensor *B, tg_trans tb,
              float alpha, float beta, tg_error *err)
{
    size_t ar = tg_tensor_nrows(A), ac = tg_tensor_ncols(A);
    size_t br = tg_tensor_nrows(B), bc = tg_tensor_ncols(B);
    size_t M = ta ? ac : ar, K = ta ? ar : ac;
    size_t Kb = tb ? bc : br, N = tb ? br : bc;
    char sa[64], sb[64], sc[64];
    if (K != Kb)
        return tg_error_set(err, TG_ERR_SHAPE, "matmul: %s%s x %s%s: inner dimensions differ",
                            tg_tensor_shape_str(sa, sizeof sa, A), ta ? "ᵀ" : "",
                            tg_tensor_shape_str(sb, sizeof sb, B), tb ? "ᵀ" : "");
    if (tg_tensor_nrows(C) != M || tg_tensor_ncols(C) != N)
        return tg_error_set(err, TG_ERR_SHAPE, "matmul: output %s, expected [%zu,%zu]",
                            tg_tensor_shape_str(sc, sizeof sc, C), M, N);
    tg_gemm(ta, tb, M, N, K, alpha, A->data, ac, B->data, bc, beta, C->data, N);
    return TG_OK;
}
