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

/* The model from CPUID leaf 0's vendor string (12 characters) and leaf 1's EAX (the signature). */
tg_x86_model tg_x86_model_from(const char *vendor, unsigned signature);
/* This processor's vendor and family (all zero off x86-64), asked of CPUID once. */
tg_x86_model tg_x86_model_here(void);

/* 512-bit FMAs run whole: everywhere but AMD's family 25 (Zen 4).  Taken for whole but not
 * measured: Zen 5's laptop parts (which split them, but share family 26 with the server parts)
 * and Intel's client cores with one 512-bit FMA unit; a wrong guess costs speed, not bits. */
bool tg_x86_fma512_whole(tg_x86_model m);

/* 512-bit division and square root give more elements a cycle than 256-bit ones: AMD's family 26
 * (Zen 5, measured) and later ones (assumed); not Zen 4 (measured slower); Intel's processors are
 * not measured, so they keep 256 bits. */
bool tg_x86_divides512_faster(tg_x86_model m);

/* Whether the active kernel path is AVX-512 (the processor's best, or TG_SIMD's choice: so
 * TG_SIMD=avx2 also keeps these loops at 256 bits) and this processor divides faster with it:
 * the choice of TG_VECTORIZE_DIVIDES512 over TG_VECTORIZE_DIVIDES (tensor/vmath.h). */
bool tg_divides512_here(void);

#endif
