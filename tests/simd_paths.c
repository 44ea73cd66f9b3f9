/* tests/simd_paths.c — which matmul paths this build can run on this processor, for test.sh.
 *
 *   simd_paths            the supported paths, one name per line, scalar first
 *                         (x86-64 with AVX-512: scalar avx2 avx512; AArch64: scalar neon)
 *   simd_paths --active   path=NAME: the path tg_gemm takes here (TG_SIMD if set and supported,
 *                         else the best one), so a run can show which path it tested */
#include <stdio.h>
#include <string.h>

#include "tensor/matmul.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--active") == 0) {
        printf("path=%s\n", tg_simd_name(tg_simd_active()));
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: simd_paths [--active]\n");
        return 2;
    }
    for (int p = TG_PATH_SCALAR; p < TG_PATH_COUNT; p++)
        if (tg_simd_supported((tg_simd_path)p))
            printf("%s\n", tg_simd_name((tg_simd_path)p));
    return 0;
}
