/* models/cae/render.h — pictures of a trained CAE (`cae render`, `cae compare`). */
#ifndef CAE_RENDER_H
#define CAE_RENDER_H

#include <stdbool.h>

#include "cae_eval.h"
#include "cae_model.h"
#include "nn/io/data.h"

/* Writes filters.png, recon.png, tangents.png and spectrum.svg into out_dir (created if
 * missing), and loss.svg when log_csv (the CSV of `cae train --log`) is given. */
int cae_render(cae_model *m, const tg_dataset *test, const char *out_dir, const char *log_csv, tg_error *err);

/* Charts with all models on one set of axes: contraction.svg (ratio against radius; one panel
 * per kind of direction in lines->directions) and spectrum.svg (mean singular values of J), into
 * out_dir, with their numbers in contraction.csv (model,radius,ratio: random directions),
 * directions.csv (model,direction,radius,ratio: the other kinds, when measured) and
 * spectrum.csv (model,k,mean_sigma).  The ratios use the seed and kinds of `lines` (the options
 * of the printed lines) over the first 1000 test images, at its radii when keep_radii, else at
 * 12 radii from 0.01 to 10. */
int cae_compare_charts(cae_model *models, const char *const *names, int n, const tg_dataset *test,
                       const cae_eval_options *lines, bool keep_radii, const char *out_dir, tg_error *err);

#endif
