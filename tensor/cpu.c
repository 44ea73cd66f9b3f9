/* tensor/cpu.c — the processor's vendor and family, and the rules of cpu.h. */
#include "cpu.h"

#include "matmul.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

bool tg_x86_fma512_whole(tg_x86_model m) { return !(m.amd && m.family == 25); }

bool tg_x86_divides512_faster(tg_x86_model m) { return m.amd && m.family >= 26; }

tg_x86_model tg_x86_model_from(const char *vendor, unsigned signature)
{
    const unsigned base = (signature >> 8) & 0xf; /* the extended family counts only past 15 */
    return (tg_x86_model){.amd = strncmp(vendor, "AuthenticAMD", 12) == 0,
                          .family = base == 0xf ? base + ((signature >> 20) & 0xff) : base};
}

static tg_x86_model ask_cpuid(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    char vendor[13] = {0};
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        memcpy(vendor, &b, 4), memcpy(vendor + 4, &d, 4), memcpy(vendor + 8, &c, 4);
        if (__get_cpuid(1, &a, &b, &c, &d))
            return tg_x86_model_from(vendor, a);
    }
#endif
    return (tg_x86_model){false, 0};
}

/* Asked once: in a virtual machine every CPUID traps to the host, and the kernels ask each step. */
tg_x86_model tg_x86_model_here(void)
{
    static _Atomic unsigned known; /* 0: not asked yet; else 1 | amd << 1 | family << 2 */
    unsigned k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k == 0) {
        tg_x86_model m = ask_cpuid();
        k = 1u | (unsigned)m.amd << 1 | m.family << 2;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return (tg_x86_model){.amd = (k >> 1) & 1u, .family = k >> 2};
}

bool tg_divides512_here(void)
{
    return tg_simd_active() == TG_PATH_AVX512 && tg_x86_divides512_faster(tg_x86_model_here());
}
