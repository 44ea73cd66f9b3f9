/* models/cae/cae_gradcheck.h — `cae gradcheck` (cae_gradcheck.c). */
#ifndef TG_CAE_GRADCHECK_H
#define TG_CAE_GRADCHECK_H

#include <stdint.h>

#include "cli.h"
#include "cae_model.h"

/* The model options' defaults for a gradient check: 16 inputs, 6 hidden units, λ 0.1. */
cae_config cae_gradcheck_config(void);
/* Checks a model of cfg (inputs and corruptions drawn from seed), each loss term alone; prints one
 * line per parameter and term; returns the exit status (1 when a gradient is off). */
int cae_gradcheck(const tg_cli *c, const cae_config *cfg, uint64_t seed);

#endif
