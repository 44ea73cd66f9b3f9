/* models/cae/render.h — pictures of a trained CAE (`cae render`, `cae compare`). */
#ifndef CAE_RENDER_H
#define CAE_RENDER_H

#include "cae_eval.h"
#include "cae_model.h"
#include "nn/io/data.h"

/* Writes filters.png, recon.png, tangents.png and spectrum.svg into out_dir (created if
 * missing), and loss.svg when log_csv (the CSV of `cae train --log`) is given. */
int cae_render(cae_model *m, const tg_dataset *test, const char *out_dir, const char *log_csv, tg_error *err);

/* Charts with all models on one set of axes: contraction.svg (ratio against radius) and
 * spectrum.svg (mean singular values of J), into out_dir, with their numbers in
 * contraction.csv (model,radius,ratio) and spectrum.csv (model,k,mean_sigma). */
int cae_compare_charts(cae_model *models, const char *const *names, int n, const tg_dataset *test,
                       const char *out_dir, tg_error *err);

/* Creates `dir` if it does not exist (one level). */
int cae_ensure_dir(const char *dir, tg_error *err);

#endif
