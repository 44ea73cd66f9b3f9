/* tests/reference/gram_accuracy.c — how accurate the decoder's gradients are through
 * tg_affine_mse (explicit) and tg_affine_mse_gram, from a trained CAE (issue 25, part 2).
 *
 *   gram_accuracy grad CKPT DATA_DIR
 *       The first 256 training images, h = the checkpoint's encoder output, and the decoder loss
 *       mse(h·V + c, x) (V = dec.weight, or Wᵀ when tied) through both ops: prints for dX, dV and
 *       db the largest |error| relative to the largest |gradient|, against float64 loops.
 *   gram_accuracy dump CKPT DATA_DIR
 *       Prints, in dump_problem's format (make_reference.py reads it), the problem of 30 Adam steps
 *       (lr 1e-3) at batch 256 over the first 1024 images from the checkpoint's weights, followed by
 *       the parameters tapegrad reaches through each route ("result explicit|gram NAME N v..."):
 *       tests/reference/gram_drift.py compares them with float64 PyTorch.
 *
 * The CAE's loss is built here as cae_build builds it for a sigmoid encoder, linear decoder and
 * MSE, with the route chosen by this program rather than by tg_affine_mse_gram_pays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cae_model.h"
#include "nn/io/data.h"
#include "nn/optim.h"

enum { BATCH = 256, DRIFT_IMAGES = 1024, DRIFT_STEPS = 30 };

static void die(const char *what, const tg_error *err)
{
    fprintf(stderr, "gram_accuracy: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* The decoder loss through one route on a fresh tape; its gradients into dX [M,K], dW (V's layout), db. */
static void decoder_grads(bool gram, const float *X, size_t M, size_t K, tg_param *V, tg_param *c, bool trans_w,
                          const float *T, size_t N, float *dX, float *dW, float *db)
{
    tg_error err;
    tg_tape *t = tg_tape_new(&err);
    tg_param x;
    if (!t || tg_param_init(&x, "x", 2, (size_t[]){M, K}, &err))
        die("tape", &err);
    memcpy(x.value.data, X, M * K * sizeof *X);
    tg_param *ps[] = {&x, V, c};
    tg_params_zero_grad(ps, 3);
    tg_node *xn = tg_param_leaf(t, &x), *vn = tg_param_leaf(t, V), *cn = tg_param_leaf(t, c);
    tg_node *target = tg_input_new(t, 2, (size_t[]){M, N});
    memcpy(target->value.data, T, M * N * sizeof *T);
    tg_node *l = gram ? tg_affine_mse_gram(t, xn, vn, cn, trans_w, target, TG_REDUCE_MEAN)
                      : tg_affine_mse(t, xn, vn, cn, trans_w, target, TG_REDUCE_MEAN);
    if (!l || tg_backward(t, l, &err))
        die("backward", &err);
    memcpy(dX, x.grad.data, M * K * sizeof *dX);
    memcpy(dW, V->grad.data, K * N * sizeof *dW);
    memcpy(db, c->grad.data, N * sizeof *db);
    tg_param_free(&x);
    tg_tape_free(t);
}

/* max |a − ref| / max |ref| */
static double rel_max_err(const float *a, const double *ref, size_t n)
{
    double err = 0.0, big = 0.0;
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, fabs((double)a[i] - ref[i]));
        big = fmax(big, fabs(ref[i]));
    }
    return err / big;
}

/* float64 loops: R = X·V + b − T, g = 2/(M·N);  dX = g·R·Vᵀ, dV = g·XᵀR (in V's layout), db = g·Σ_i R_i */
static void reference_grads(const float *X, size_t M, size_t K, const float *V, bool trans_w, const float *b,
                            const float *T, size_t N, double *dX, double *dW, double *db)
{
    const double g = 2.0 / ((double)M * (double)N);
    double *r = malloc(N * sizeof *r);
    memset(dX, 0, M * K * sizeof *dX);
    memset(dW, 0, K * N * sizeof *dW);
    memset(db, 0, N * sizeof *db);
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double y = b[j];
            for (size_t k = 0; k < K; k++)
                y += (double)X[i * K + k] * (trans_w ? V[j * K + k] : V[k * N + j]);
            r[j] = y - T[i * N + j];
            db[j] += g * r[j];
        }
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < N; j++) {
                double v = trans_w ? V[j * K + k] : V[k * N + j];
                dX[i * K + k] += g * r[j] * v;
                dW[trans_w ? j * K + k : k * N + j] += g * X[i * K + k] * r[j];
            }
    }
    free(r);
}

static void load(const char *ckpt, const char *dir, size_t images, cae_model *m, tg_dataset *ds, float **x)
{
    tg_error err;
    if (cae_model_load_file(m, ckpt, &err))
        die(ckpt, &err);
    if (tg_dataset_load(ds, dir, "train", true, images, &err))
        die(dir, &err);
    if (ds->rows * ds->cols != m->cfg.input)
        die("the images do not fit the model", NULL);
    *x = malloc(images * m->cfg.input * sizeof **x);
    tg_dataset_images_to_float(ds, NULL, images, *x);
}

static void grad_mode(const char *ckpt, const char *dir)
{
    cae_model m;
    tg_dataset ds;
    float *T;
    load(ckpt, dir, BATCH, &m, &ds, &T);
    const size_t M = BATCH, K = m.cfg.hidden, N = m.cfg.input;
    tg_error err;
    tg_tape *t = tg_tape_new(&err);
    tg_tape_set_grad_enabled(t, false);
    tg_node *xn = tg_input_new(t, 2, (size_t[]){M, N});
    memcpy(xn->value.data, T, M * N * sizeof *T);
    tg_node *h = cae_encode(t, &m, xn);
    if (!h)
        die("encode", NULL);
    /* the trained decoder: V = dec.weight, or Wᵀ when tied */
    const bool tied = m.cfg.tied;
    tg_param *V = tied ? &m.enc_w : &m.dec_w;
    double *rX = malloc(M * K * sizeof *rX), *rW = malloc(K * N * sizeof *rW), *rb = malloc(N * sizeof *rb);
    float *dX = malloc(M * K * sizeof *dX), *dW = malloc(K * N * sizeof *dW), *db = malloc(N * sizeof *db);
    reference_grads(h->value.data, M, K, V->value.data, tied, m.dec_b.value.data, T, N, rX, rW, rb);
    double mse = 0.0, t2 = 0.0; /* how trained: the MSE, and ‖T − b‖²/‖R‖² (how much the Gram terms cancel) */
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double y = m.dec_b.value.data[j], tb = T[i * N + j] - m.dec_b.value.data[j];
            for (size_t k = 0; k < K; k++)
                y += (double)h->value.data[i * K + k] * (tied ? V->value.data[j * K + k] : V->value.data[k * N + j]);
            mse += (y - T[i * N + j]) * (y - T[i * N + j]);
            t2 += tb * tb;
        }
    printf("mse=%.5g cancellation=%.3g tied=%d\n", mse / ((double)M * N), t2 / mse, tied ? 1 : 0);
    for (int gram = 0; gram < 2; gram++) {
        decoder_grads(gram, h->value.data, M, K, V, &m.dec_b, tied, T, N, dX, dW, db);
        printf("route=%s dX=%.3g dV=%.3g db=%.3g\n", gram ? "gram" : "explicit", rel_max_err(dX, rX, M * K),
               rel_max_err(dW, rW, K * N), rel_max_err(db, rb, N));
    }
    free(rX), free(rW), free(rb), free(dX), free(dW), free(db);
    tg_tape_free(t);
    free(T);
    tg_dataset_free(&ds);
    cae_model_free(&m);
}

static void print_floats(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf(" %.9g", (double)v[i]);
    printf("\n");
}

/* 30 Adam steps through one route from the checkpoint; prints the parameters reached. */
static void drift_run(bool gram, const char *ckpt, const float *x, const tg_opt_config *oc)
{
    cae_model m;
    tg_error err;
    if (cae_model_load_file(&m, ckpt, &err))
        die(ckpt, &err);
    tg_optimizer opt;
    tg_tape *t = tg_tape_new(&err);
    if (tg_optim_init(&opt, oc, m.params, m.n_params, &err))
        die("optimizer", &err);
    const size_t D = m.cfg.input;
    for (long s = 1; s <= DRIFT_STEPS; s++) {
        tg_tape_reset(t);
        tg_node *xn = tg_input_new(t, 2, (size_t[]){BATCH, D});
        memcpy(xn->value.data, x + (size_t)(s - 1) * BATCH % DRIFT_IMAGES * D, BATCH * D * sizeof *x);
        tg_node *W = tg_param_leaf(t, &m.enc_w);
        tg_node *h = tg_activate(t, tg_affine(t, xn, W, tg_param_leaf(t, &m.enc_b), false), m.cfg.act);
        tg_node *V = m.cfg.tied ? W : tg_param_leaf(t, &m.dec_w), *c = tg_param_leaf(t, &m.dec_b);
        tg_node *recon = gram ? tg_affine_mse_gram(t, h, V, c, m.cfg.tied, xn, TG_REDUCE_MEAN)
                              : tg_affine_mse(t, h, V, c, m.cfg.tied, xn, TG_REDUCE_MEAN);
        tg_node *loss = tg_add(t, recon, tg_scale(t, tg_jacobian_penalty(t, h, W, m.cfg.act), (float)m.cfg.lambda));
        if (!loss || tg_backward(t, loss, &err) || tg_optim_step_zero_grad(&opt, &err))
            die("step", &err);
    }
    for (int p = 0; p < m.n_params; p++) {
        printf("result %s %s %zu", gram ? "gram" : "explicit", m.params[p]->name, m.params[p]->value.size);
        print_floats(m.params[p]->value.data, m.params[p]->value.size);
    }
    tg_optim_free(&opt);
    tg_tape_free(t);
    cae_model_free(&m);
}

static void dump_mode(const char *ckpt, const char *dir)
{
    cae_model m;
    tg_dataset ds;
    float *x;
    load(ckpt, dir, DRIFT_IMAGES, &m, &ds, &x);
    if (m.cfg.act.kind != TG_ACT_SIGMOID || m.cfg.sigmoid_decoder || m.cfg.loss != CAE_LOSS_MSE || m.cfg.gamma > 0)
        die("the drift run is for sigmoid/linear/mse checkpoints without --gamma", NULL);
    const tg_opt_config oc = tg_opt_config_default(TG_OPT_ADAM);
    printf("problem images=%d rows=%zu cols=%zu steps=%d\nx %zu", DRIFT_IMAGES, ds.rows, ds.cols, DRIFT_STEPS,
           DRIFT_IMAGES * m.cfg.input);
    print_floats(x, DRIFT_IMAGES * m.cfg.input);
    printf("labels %d", DRIFT_IMAGES);
    for (size_t i = 0; i < DRIFT_IMAGES; i++)
        printf(" %d", ds.labels[i]);
    printf("\nvariant trained\nconfig model=cae activation=sigmoid act_param=0 batch=%d steps=%d optimizer=adam "
           "lr=%.9g momentum=0 nesterov=0 beta1=%.9g beta2=%.9g eps=%.9g hidden=%zu decoder=linear loss=mse tied=%d "
           "lambda=%.9g gamma=0 corruptions=0 sigma=0\n",
           BATCH, DRIFT_STEPS, (double)oc.lr, (double)oc.beta1, (double)oc.beta2, (double)oc.eps, m.cfg.hidden,
           m.cfg.tied ? 1 : 0, (double)(float)m.cfg.lambda);
    for (int p = 0; p < m.n_params; p++) {
        const tg_tensor *v = &m.params[p]->value;
        printf("param %s %d", m.params[p]->name, v->ndim);
        for (int k = 0; k < v->ndim; k++)
            printf(" %zu", v->shape[k]);
        print_floats(v->data, v->size);
    }
    printf("end\n");
    drift_run(false, ckpt, x, &oc);
    drift_run(true, ckpt, x, &oc);
    free(x);
    tg_dataset_free(&ds);
    cae_model_free(&m);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "grad") && strcmp(argv[1], "dump"))) {
        fprintf(stderr, "usage: gram_accuracy grad|dump CKPT DATA_DIR\n");
        return 2;
    }
    if (strcmp(argv[1], "grad") == 0)
        grad_mode(argv[2], argv[3]);
    else
        dump_mode(argv[2], argv[3]);
    return 0;
}
