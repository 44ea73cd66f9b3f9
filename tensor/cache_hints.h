/* tensor/cache_hints.h — telling the processor which cache lines a loop is about to write.
 *
 * A thread that writes lines another core has read (an optimizer's thread updating weights that
 * every thread's products read) waits at each store for the other copies to be invalidated, and
 * the processor keeps only a few such stores in flight.  Asking for the lines ahead of the loop
 * (PREFETCHW on x86-64, PRFM PSTL1KEEP on AArch64) puts many of those requests in flight at once.
 * A hint only: nothing a program computes depends on it. */
#ifndef TG_CACHE_HINTS_H
#define TG_CACHE_HINTS_H

#include <stddef.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Whether the processor says it has PREFETCHW (CPUID 8000_0001h, ECX bit 8); GCC emits it for
 * __builtin_prefetch only when built for such a processor, hence the instruction by name below. */
static inline bool tg_has_prefetchw(void)
{
    static _Atomic int known; /* 0: not asked yet, 1: no, 2: yes */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k == 0) {
        unsigned a, b, c, d;
        k = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & bit_PRFCHW) ? 2 : 1;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 2;
}

/* Floats [0, n) of p, a 64-byte line at a time. */
static inline void tg_claim_for_write(const float *p, size_t n)
{
    if (tg_has_prefetchw())
        for (size_t i = 0; i < n; i += 16)
            __asm__ volatile("prefetchw %0" ::"m"(p[i]));
}
#else
static inline void tg_claim_for_write(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i += 16)
        __builtin_prefetch(p + i, 1, 3);
}
#endif

#endif
