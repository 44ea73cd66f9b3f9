/* tensor/cpu.h — what the kernels need to know about an x86-64 processor beyond its instruction
 * sets (internal; not installed).
 *
 * Two processors with AVX-512 can differ in what a 512-bit instruction costs: AMD's Zen 4 runs
 * it as two 256-bit halves, Zen 5's desktop and server parts and Intel's server cores run it
 * whole.  Which kernel is faster then differs too (docs/performance.md has each measurement), so
 * the choices below are rules over the vendor and family, written as pure functions so the tests
 * can ask about processors they do not run on.  Nothing computed depends on them, only speed:
 * every choice they make gives the same bits. */
#ifndef TG_CPU_H
#define TG_CPU_H

#include <stdbool.h>

typedef struct tg_x86_model {
    bool amd;        /* CPUID vendor "AuthenticAMD" */
    unsigned family; /* CPUID leaf 1: the base family, plus the extended one when the base is 15 */
} tg_x86_model;

/* This processor's vendor and family (all zero off x86-64). */
tg_x86_model tg_x86_model_here(void);

/* 512-bit FMAs run whole: everywhere but AMD's family 25 (Zen 4).  (Zen 5's laptop parts split
 * them too but share family 26 with the server parts: they are taken for whole.) */
bool tg_x86_fma512_whole(tg_x86_model m);

/* 512-bit division and square root give more elements a cycle than 256-bit ones: AMD's family 26
 * (Zen 5) as measured; not Zen 4 (slower), and Intel's processors are not measured. */
bool tg_x86_divides512_faster(tg_x86_model m);

/* Whether the active kernel path is AVX-512 (the processor's best, or TG_SIMD's choice: so
 * TG_SIMD=avx2 also keeps these loops at 256 bits) and this processor divides faster with it:
 * the choice of TG_VECTORIZE_DIVIDES512 over TG_VECTORIZE_DIVIDES (tensor/vmath.h). */
bool tg_divides512_here(void);

#endif
