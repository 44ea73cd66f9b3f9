/* tests/reference/dump_problem.c — prints the reference problem (problem.h) for make_reference.py:
 * the images, the labels, and per variant its settings, its initial parameters and, for CAE+H
 * variants, the corrupted inputs x̃ of every step (cae_corrupt's, which Python does not redraw).
 * Floats are printed with 9 significant digits, which read back as the same float.
 *
 *   problem images=64 rows=6 cols=6 steps=30
 *   x 2304 v v v ...            the images [64,36], row-major
 *   labels 64 l l l ...
 *   variant NAME
 *   config model=cae activation=sigmoid ...
 *   param enc.weight 2 36 6 v v v ...      (one line per parameter, in the optimizer's order)
 *   x_tilde STEP ROWS v v v ...            (CAE+H only: [k·B,36] for each step)
 *   end
 *
 * usage: dump_problem > problem.txt  (make_reference.py runs it itself) */
#include "problem.h"

static void print_floats(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf(" %.9g", (double)v[i]);
    printf("\n");
}

static int dump_variant(const ref_variant *v, const ref_data *d, tg_error *err)
{
    ref_model m;
    int rc = ref_model_init(&m, v, err);
    if (rc) {
        ref_model_free(&m);
        return rc;
    }
    char line[512];
    ref_config_line(v, line, sizeof line);
    printf("variant %s\nconfig %s\n", v->name, line);
    for (int p = 0; p < m.n_params; p++) {
        const tg_tensor *t = &m.params[p]->value;
        printf("param %s %d", m.params[p]->name, t->ndim);
        for (int k = 0; k < t->ndim; k++)
            printf(" %zu", t->shape[k]);
        print_floats(t->data, t->size);
    }
    if (v->model == REF_CAE && v->gamma > 0) {
        const size_t rows = m.cae.cfg.corruptions * v->batch;
        float *x_tilde = malloc(rows * REF_D * sizeof *x_tilde);
        if (!x_tilde) {
            ref_model_free(&m);
            return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        }
        for (long s = 1; s <= REF_STEPS; s++) {
            cae_corrupt(&m.cae.cfg, (uint64_t)s, d->x + ref_batch_start(v, s) * REF_D, v->batch, x_tilde);
            printf("x_tilde %ld %zu", s, rows);
            print_floats(x_tilde, rows * REF_D);
        }
        free(x_tilde);
    }
    printf("end\n");
    ref_model_free(&m);
    return TG_OK;
}

int main(void)
{
    static ref_data d;
    tg_error err = {0};
    int rc = ref_data_load(&d, &err);
    if (!rc) {
        printf("problem images=%d rows=%d cols=%d steps=%d\n", REF_IMAGES, REF_SIDE, REF_SIDE, REF_STEPS);
        printf("x %d", REF_IMAGES * REF_D);
        print_floats(d.x, REF_IMAGES * REF_D);
        printf("labels %d", REF_IMAGES);
        for (int i = 0; i < REF_IMAGES; i++)
            printf(" %d", (int)d.labels[i]);
        printf("\n");
    }
    for (int i = 0; i < REF_N_VARIANTS && !rc; i++)
        rc = dump_variant(&ref_variants[i], &d, &err);
    if (rc)
        fprintf(stderr, "dump_problem: %s\n", err.msg);
    return rc ? 1 : 0;
}
