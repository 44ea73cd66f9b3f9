/* tests/emulated.h — whether the tests run under an emulator.
 *
 * A cross build's tests run through qemu-user, tens of times slower than native, and
 * tests/meson.build sets TG_TEST_EMULATED=1 for them; a test run by hand under the cross file's
 * emulator has QEMU_LD_PREFIX set instead.  Exhaustive sweeps and finite-difference checks then
 * take fewer or smaller samples, so the emulated suite stays within CI's hour on a slow
 * processor; the native runs (every path, and under the sanitizers) keep the full ones.  Tests
 * that judge timings skip there.  The end-to-end scripts ask the same question of
 * TG_RUN_WRAPPER (run_wrapper.sh's tg_emulated). */
#ifndef TG_TESTS_EMULATED_H
#define TG_TESTS_EMULATED_H

#include <stdbool.h>
#include <stdlib.h>

static inline bool tg_test_emulated(void)
{
    const char *flag = getenv("TG_TEST_EMULATED");
    return (flag && flag[0] == '1') || getenv("QEMU_LD_PREFIX") != NULL;
}

#endif
