/* tests/tape_test.h — checking an op constructor's refusal: on a reset tape, `call` returns NULL
 * and leaves the sticky error `code` with exactly `message`. */
#ifndef TG_TAPE_TEST_H
#define TG_TAPE_TEST_H

#include <criterion/criterion.h>

#include "autograd/tape.h"

#define EXPECT_TAPE_ERROR(t, call, code, message)                              \
    do {                                                                       \
        tg_tape_reset(t);                                                      \
        cr_assert_null(call, #call " returned a node");                        \
        cr_assert_eq(tg_tape_status(t), code, "%s", tg_tape_error(t));         \
        cr_assert_str_eq(tg_tape_error(t), message);                           \
    } while (0)

#endif
