/* tests/table_test.h — TABLE_TEST: one Criterion test per row of a static table.
 *
 *     static const struct { const char *name; ... } cases[] = { {"first", ...}, ... };
 *     TABLE_TEST(suite, test_name, cases)
 *     {
 *         const ... *c = &cases[*row];
 *         cr_assert(..., "%s: ...", c->name);   // name the row: Criterion reports the test only
 *     }
 *
 * Each row runs in its own process (one failing row does not hide the others) and counts as one
 * test in Criterion's summary.  Criterion hands a parameter to that process by copying its bytes
 * into a freshly started copy of the test program, where a pointer into the parent's memory means
 * nothing; so only the row's index travels, and the rows themselves (strings, arrays, functions)
 * are read from the child's own copy of the static table.  Settings (.init, .fini, .timeout)
 * go on the suite: TestSuite(suite, .timeout = 60). */
#ifndef TG_TESTS_TABLE_TEST_H
#define TG_TESTS_TABLE_TEST_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stddef.h>

#define TABLE_ROWS(table) (sizeof(table) / sizeof((table)[0]))

#define TABLE_TEST(suite, name, table)                                                               \
    ParameterizedTestParameters(suite, name)                                                         \
    {                                                                                                \
        static size_t indices[TABLE_ROWS(table)];                                                    \
        for (size_t i = 0; i < TABLE_ROWS(table); i++)                                               \
            indices[i] = i;                                                                          \
        return cr_make_param_array(size_t, indices, TABLE_ROWS(table));                              \
    }                                                                                                \
    ParameterizedTest(size_t *row, suite, name)

#endif
