/* tensor/parallel.h — the worker-thread count used by every parallel kernel.
 *
 * Kernels split output rows or columns on fixed boundaries that do not depend on the thread
 * count, so results are bitwise identical for any setting. Without OpenMP everything runs on
 * one thread and tg_set_threads only records the value. */
#ifndef TG_PARALLEL_H
#define TG_PARALLEL_H

#include <stdbool.h>

/* n >= 1; values above the processor count are allowed (they only cost time). */
void tg_set_threads(int n);
int tg_get_threads(void);
/* Processors available to this process (1 when unknown). */
int tg_available_cores(void);
bool tg_have_openmp(void);

#endif
