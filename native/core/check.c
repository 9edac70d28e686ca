/* The checks a binding needs before handing buffers to tml_fc_s8, in plain C99 so they are
 * tested on the host and under emulation on every core like the kernel: the MicroPython
 * binding (native/micropython/modtinyml.c) only gets each object's pointer and length and
 * turns a status into a ValueError. Pointers are compared as uintptr_t: they may come from
 * different objects (C leaves relational comparison of those undefined). */
#include "tinyml.h"

static tml_status fail(tml_status status, tml_buffer which, tml_buffer *bad)
{
    if (bad) {
        *bad = which;
    }
    return status;
}

static int misaligned(const void *ptr)
{
    return ((uintptr_t)ptr & 3u) != 0;
}

/* [a, a + a_len) and [b, b + b_len) share a byte (lengths > 0, no wrap: the buffers exist) */
static int overlap(const void *a, size_t a_len, const void *b, size_t b_len)
{
    const uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a0 < b0 + b_len && b0 < a0 + a_len;
}

static int shape_ok(const tml_fc_params *p)
{
    return p->n_in >= 1 && p->n_out >= 1 && p->n_in <= 65535 && p->n_out <= 65535 &&
           (p->n_channels == 1 || p->n_channels == p->n_out);
}

/* n_in * n_out <= 65535^2 < 2^32: fits size_t on every target */
static size_t weight_bytes(const tml_fc_params *p)
{
    return (size_t)p->n_in * (size_t)p->n_out;
}

tml_status tml_fc_check_layer(const tml_fc_params *p, const tml_fc_buffers *b, tml_buffer *bad)
{
    if (p == 0 || b == 0) {
        return fail(TML_ERR_NULL, TML_BUF_NONE, bad);
    }
    if (b->w == 0 || b->bias == 0 || b->mult == 0 || b->shift == 0) {
        return fail(TML_ERR_NULL, b->w == 0 ? TML_BUF_W : b->bias == 0 ? TML_BUF_BIAS
                                  : b->mult == 0 ? TML_BUF_MULT : TML_BUF_SHIFT, bad);
    }
    if (!shape_ok(p)) {
        return fail(TML_ERR_SHAPE, TML_BUF_NONE, bad);
    }
    const size_t n_out = (size_t)p->n_out, n_ch = (size_t)p->n_channels;
    if (b->w_len < weight_bytes(p)) {
        return fail(TML_ERR_SIZE, TML_BUF_W, bad);
    }
    if (b->bias_len / 4 < n_out) {
        return fail(TML_ERR_SIZE, TML_BUF_BIAS, bad);
    }
    if (b->mult_len / 4 < n_ch) {
        return fail(TML_ERR_SIZE, TML_BUF_MULT, bad);
    }
    if (b->shift_len < n_ch) {
        return fail(TML_ERR_SIZE, TML_BUF_SHIFT, bad);
    }
    /* word loads: an unaligned one is a HardFault on Armv6-M and a trap on Xtensa */
    if (misaligned(b->bias)) {
        return fail(TML_ERR_ALIGN, TML_BUF_BIAS, bad);
    }
    if (misaligned(b->mult)) {
        return fail(TML_ERR_ALIGN, TML_BUF_MULT, bad);
    }
    return fail(tml_fc_check(p, b->mult, b->shift), TML_BUF_NONE, bad);
}

tml_status tml_fc_check_weights(const tml_fc_params *p, const tml_fc_buffers *b, tml_buffer *bad)
{
    if (p == 0 || b == 0) {
        return fail(TML_ERR_NULL, TML_BUF_NONE, bad);
    }
    if (b->w == 0 || b->bias == 0) {
        return fail(TML_ERR_NULL, b->w == 0 ? TML_BUF_W : TML_BUF_BIAS, bad);
    }
    if (!shape_ok(p)) {  /* p may have changed since the layer check: cheap to repeat */
        return fail(TML_ERR_SHAPE, TML_BUF_NONE, bad);
    }
    if (b->w_len < weight_bytes(p)) {
        return fail(TML_ERR_SIZE, TML_BUF_W, bad);
    }
    if (b->bias_len / 4 < (size_t)p->n_out) {
        return fail(TML_ERR_SIZE, TML_BUF_BIAS, bad);
    }
    if (misaligned(b->bias)) {
        return fail(TML_ERR_ALIGN, TML_BUF_BIAS, bad);
    }
    return fail(TML_OK, TML_BUF_NONE, bad);
}

tml_status tml_fc_check_call(const tml_fc_params *p, const tml_fc_buffers *b, tml_buffer *bad)
{
    tml_status st = tml_fc_check_weights(p, b, bad);
    if (st != TML_OK) {
        return st;
    }
    if (b->x == 0 || b->mult == 0 || b->shift == 0 || b->out == 0) {
        return fail(TML_ERR_NULL, b->x == 0 ? TML_BUF_X : b->out == 0 ? TML_BUF_OUT : TML_BUF_NONE, bad);
    }
    const size_t n_in = (size_t)p->n_in, n_out = (size_t)p->n_out, n_ch = (size_t)p->n_channels;
    if (b->x_len < n_in) {
        return fail(TML_ERR_SIZE, TML_BUF_X, bad);
    }
    if (b->out_len < n_out) {
        return fail(TML_ERR_SIZE, TML_BUF_OUT, bad);
    }
    if (overlap(b->out, n_out, b->x, n_in)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_X, bad);
    }
    if (overlap(b->out, n_out, b->w, weight_bytes(p))) {
        return fail(TML_ERR_OVERLAP, TML_BUF_W, bad);
    }
    if (overlap(b->out, n_out, b->bias, 4 * n_out)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_BIAS, bad);
    }
    if (overlap(b->out, n_out, b->mult, 4 * n_ch)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_MULT, bad);
    }
    if (overlap(b->out, n_out, b->shift, n_ch)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_SHIFT, bad);
    }
    return fail(TML_OK, TML_BUF_NONE, bad);
}

tml_status tml_fc_run_checked(const tml_fc_params *p, const tml_fc_buffers *b)
{
    tml_status st = tml_fc_check_layer(p, b, 0);
    if (st == TML_OK) {
        st = tml_fc_check_call(p, b, 0);
    }
    if (st == TML_OK) {
        st = tml_fc_s8(p, b->x, b->w, b->bias, b->mult, b->shift, b->out);
    }
    return st;
}

tml_status tml_model_check_call(const tml_fc_layer *layers, int32_t n_layers, const int8_t *x, size_t x_len,
                                int8_t *out, size_t out_len, int8_t *scratch, size_t scratch_len, tml_buffer *bad)
{
    if (layers == 0 || n_layers < 1 || x == 0 || out == 0) {
        return fail(TML_ERR_NULL, x == 0 ? TML_BUF_X : out == 0 ? TML_BUF_OUT : TML_BUF_NONE, bad);
    }
    const size_t n_in = (size_t)layers[0].p.n_in, n_out = (size_t)layers[n_layers - 1].p.n_out;
    const int32_t scratch_bytes = tml_model_scratch_bytes(layers, n_layers);
    if (x_len < n_in) {
        return fail(TML_ERR_SIZE, TML_BUF_X, bad);
    }
    if (out_len < n_out) {
        return fail(TML_ERR_SIZE, TML_BUF_OUT, bad);
    }
    if (scratch_bytes > 0 && (scratch == 0 || scratch_len < (size_t)scratch_bytes)) {
        return fail(TML_ERR_SIZE, TML_BUF_SCRATCH, bad);
    }
    /* the first layer reads x while writing scratch (or out); the last writes out after
     * earlier layers read weights and bias: any of these sharing bytes gives wrong results */
    if (overlap(out, n_out, x, n_in)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_X, bad);
    }
    if (scratch_bytes > 0 && (overlap(scratch, (size_t)scratch_bytes, x, n_in) ||
                              overlap(scratch, (size_t)scratch_bytes, out, n_out))) {
        return fail(TML_ERR_OVERLAP, TML_BUF_SCRATCH, bad);
    }
    for (int32_t i = 0; i < n_layers; i++) {
        const tml_fc_layer *l = &layers[i];
        if (overlap(out, n_out, l->w, weight_bytes(&l->p))) {
            return fail(TML_ERR_OVERLAP, TML_BUF_W, bad);
        }
        if (overlap(out, n_out, l->bias, 4 * (size_t)l->p.n_out)) {
            return fail(TML_ERR_OVERLAP, TML_BUF_BIAS, bad);
        }
        if (scratch_bytes > 0 && (overlap(scratch, (size_t)scratch_bytes, l->w, weight_bytes(&l->p)) ||
                                  overlap(scratch, (size_t)scratch_bytes, l->bias, 4 * (size_t)l->p.n_out))) {
            return fail(TML_ERR_OVERLAP, TML_BUF_SCRATCH, bad);
        }
    }
    return fail(TML_OK, TML_BUF_NONE, bad);
}
