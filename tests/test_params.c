/* tests/test_params.c — the named parameter list: appending, Dense layers with and without bias,
 * refusals that leave the list unchanged, and the array feeding an optimizer and a checkpoint. */
#include <criterion/criterion.h>
#include <string.h>

#include "nn/io/checkpoint.h"
#include "nn/optim.h"
#include "nn/params.h"

static tg_dense enc, dec;
static tg_param gamma_, beta_;

static void setup(void)
{
    tg_error err;
    tg_rng rng;
    tg_rng_seed(&rng, 3, 0);
    cr_assert_eq(tg_dense_init(&enc, "enc", 4, 3, TG_INIT_GLOROT_UNIFORM, &rng, &err), TG_OK);
    cr_assert_eq(tg_dense_init_ex(&dec, "dec", 3, 4, false, TG_INIT_GLOROT_UNIFORM, &rng, &err), TG_OK);
    cr_assert_eq(tg_param_init(&gamma_, "ln.gamma", 1, (size_t[]){3}, &err), TG_OK);
    cr_assert_eq(tg_param_init(&beta_, "ln.beta", 1, (size_t[]){3}, &err), TG_OK);
}

static void teardown(void)
{
    tg_dense_free(&enc);
    tg_dense_free(&dec);
    tg_param_free(&gamma_);
    tg_param_free(&beta_);
}

TestSuite(params, .init = setup, .fini = teardown);

Test(params, collects_in_order_with_names)
{
    tg_param_list ps;
    tg_param_list_init(&ps);
    tg_error err;
    cr_assert_eq(ps.count, 0);
    cr_assert_eq(tg_param_list_add_dense(&ps, &enc, &err), TG_OK);
    cr_assert_eq(tg_param_list_add_dense(&ps, &dec, &err), TG_OK); /* no bias: one parameter */
    cr_assert_eq(tg_param_list_add(&ps, &gamma_, &err), TG_OK);
    cr_assert_eq(tg_param_list_add(&ps, &beta_, &err), TG_OK);
    const char *names[] = {"enc.weight", "enc.bias", "dec.weight", "ln.gamma", "ln.beta"};
    cr_assert_eq(ps.count, 5);
    for (int i = 0; i < ps.count; i++)
        cr_assert_str_eq(ps.items[i]->name, names[i]);
    cr_assert_eq(tg_param_list_find(&ps, "dec.weight"), &dec.weight);
    cr_assert_null(tg_param_list_find(&ps, "dec.bias"));
    cr_assert_eq(tg_param_list_numel(&ps), 12u + 3u + 12u + 3u + 3u);
    tg_param_list_free(&ps);
    cr_assert_eq(ps.count, 0);
    cr_assert_null(ps.items);
    tg_param_list_free(&ps); /* twice is safe */
}

Test(params, grows_past_its_first_array)
{
    enum { N = 40 };
    tg_param p[N];
    tg_param_list ps;
    tg_param_list_init(&ps);
    tg_error err;
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        cr_assert_eq(tg_param_init(&p[i], name, 1, (size_t[]){1}, &err), TG_OK);
        cr_assert_eq(tg_param_list_add(&ps, &p[i], &err), TG_OK);
    }
    cr_assert_eq(ps.count, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(ps.items[i], &p[i]);
        tg_param_free(&p[i]);
    }
    tg_param_list_free(&ps);
}

Test(params, refuses_duplicates_and_null_unchanged)
{
    tg_param_list ps;
    tg_param_list_init(&ps);
    tg_error err;
    cr_assert_eq(tg_param_list_add_dense(&ps, &enc, &err), TG_OK);
    cr_assert_eq(tg_param_list_add(&ps, &enc.bias, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "enc.bias is already listed"), "%s", err.msg);
    cr_assert_eq(tg_param_list_add_dense(&ps, &enc, &err), TG_ERR_ARG);
    cr_assert_eq(ps.count, 2);

    tg_param twin; /* another parameter under a listed name: a checkpoint could not hold both */
    cr_assert_eq(tg_param_init(&twin, "enc.weight", 1, (size_t[]){2}, &err), TG_OK);
    cr_assert_eq(tg_param_list_add(&ps, &twin, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "two parameters named enc.weight"), "%s", err.msg);
    tg_param_free(&twin);

    cr_assert_eq(tg_param_list_add(&ps, NULL, &err), TG_ERR_ARG);
    cr_assert_eq(tg_param_list_add_dense(&ps, NULL, &err), TG_ERR_ARG);
    cr_assert_eq(ps.count, 2);
    cr_assert_eq(ps.items[0], &enc.weight);
    cr_assert_eq(ps.items[1], &enc.bias);
    tg_param_list_free(&ps);
}

/* The array is what tg_optim_init and the checkpoint helpers take: a round trip restores values. */
Test(params, feeds_optimizer_and_checkpoint)
{
    tg_param_list ps;
    tg_param_list_init(&ps);
    tg_error err;
    cr_assert_eq(tg_param_list_add_dense(&ps, &enc, &err), TG_OK);
    cr_assert_eq(tg_param_list_add(&ps, &gamma_, &err), TG_OK);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    tg_optimizer opt;
    cr_assert_eq(tg_optim_init(&opt, &cfg, ps.items, ps.count, &err), TG_OK);
    tg_tensor_fill(&gamma_.grad, 1.0f);
    cr_assert_eq(tg_optim_step_zero_grad(&opt, &err), TG_OK);
    cr_assert_float_eq(gamma_.value.data[0], -0.01f, 1e-7f);
    tg_optim_free(&opt);

    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert(ck);
    cr_assert_eq(tg_ckpt_add_params(ck, ps.items, ps.count, &err), TG_OK);
    cr_assert_eq(tg_ckpt_count(ck), 3);
    float w0 = enc.weight.value.data[0];
    tg_tensor_fill(&enc.weight.value, 7.0f);
    tg_tensor_fill(&gamma_.value, 7.0f);
    cr_assert_eq(tg_ckpt_load_params(ck, "mem", ps.items, ps.count, &err), TG_OK);
    cr_assert_eq(enc.weight.value.data[0], w0);
    cr_assert_float_eq(gamma_.value.data[2], -0.01f, 1e-7f);
    tg_ckpt_free(ck);
    tg_param_list_free(&ps);
}
