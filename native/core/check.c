/* The checks a binding needs before handing buffers to tml_fc_s8, in plain C99 so they are
 * tested on the host and under emulation on every core like the kernel: the MicroPython
 * binding (native/micropython/modtinyml.c) only gets each object's pointer and length and
 * turns a status into a ValueError. Pointers are compared as uintptr_t: they may come from
 * different objects (C leaves relational comparison of those undefined). */
#include "kernel.h"  /* the shape checks of the window ops (conv_check.c) */

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

/* ---- the convolution family ---- */

/* The bytes each of a conv or depthwise layer's buffers must hold: its shape passed
 * tml_conv_shape_ok / tml_dwconv_shape_ok, so every product fits (weights < 2^32). */
typedef struct {
    size_t x, w, bias, mult, shift, out, scratch;
} filter_sizes;

static int filter_sizes_of(const tml_conv_params *p, int depthwise, filter_sizes *n)
{
    if (!(depthwise ? tml_dwconv_shape_ok(p) : tml_conv_shape_ok(p))) {
        return 0;
    }
    const size_t taps = (size_t)p->filter_h * (size_t)p->filter_w * (size_t)p->in_c;
    n->x = (size_t)tml_conv_input_bytes(p);
    n->out = (size_t)tml_conv_output_bytes(p);
    n->w = depthwise ? taps : taps * (size_t)p->out_c;
    n->bias = 4 * (size_t)p->out_c;
    n->mult = 4 * (size_t)p->n_channels;
    n->shift = (size_t)p->n_channels;
    n->scratch = depthwise ? 0 : (size_t)tml_conv_scratch_bytes(p);
    return 1;
}

/* weights, bias, multipliers and shifts: not NULL, long enough, int32 ones aligned */
static tml_status filter_constants(const tml_conv_params *p, const tml_op_buffers *b, int depthwise,
                                   filter_sizes *n, tml_buffer *bad)
{
    if (p == 0 || b == 0) {
        return fail(TML_ERR_NULL, TML_BUF_NONE, bad);
    }
    if (b->w == 0 || b->bias == 0 || b->mult == 0 || b->shift == 0) {
        return fail(TML_ERR_NULL, b->w == 0 ? TML_BUF_W : b->bias == 0 ? TML_BUF_BIAS
                                  : b->mult == 0 ? TML_BUF_MULT : TML_BUF_SHIFT, bad);
    }
    if (!filter_sizes_of(p, depthwise, n)) {
        return fail(TML_ERR_SHAPE, TML_BUF_NONE, bad);
    }
    if (b->w_len < n->w) {
        return fail(TML_ERR_SIZE, TML_BUF_W, bad);
    }
    if (b->bias_len < n->bias) {
        return fail(TML_ERR_SIZE, TML_BUF_BIAS, bad);
    }
    if (b->mult_len < n->mult) {
        return fail(TML_ERR_SIZE, TML_BUF_MULT, bad);
    }
    if (b->shift_len < n->shift) {
        return fail(TML_ERR_SIZE, TML_BUF_SHIFT, bad);
    }
    if (misaligned(b->bias)) {
        return fail(TML_ERR_ALIGN, TML_BUF_BIAS, bad);
    }
    if (misaligned(b->mult)) {
        return fail(TML_ERR_ALIGN, TML_BUF_MULT, bad);
    }
    return TML_OK;
}

static tml_status filter_layer(const tml_conv_params *p, const tml_op_buffers *b, int depthwise, tml_buffer *bad)
{
    filter_sizes n;
    tml_status st = filter_constants(p, b, depthwise, &n, bad);
    if (st != TML_OK) {
        return st;
    }
    st = depthwise ? tml_dwconv_check(p, b->mult, b->shift) : tml_conv_check(p, b->mult, b->shift);
    return fail(st, TML_BUF_NONE, bad);
}

/* Which of the constant buffers [a, a + a_len) overlaps, or TML_BUF_NONE */
static tml_buffer overlapped_constant(const void *a, size_t a_len, const tml_op_buffers *b, const filter_sizes *n)
{
    return overlap(a, a_len, b->w, n->w) ? TML_BUF_W
         : overlap(a, a_len, b->bias, n->bias) ? TML_BUF_BIAS
         : overlap(a, a_len, b->mult, n->mult) ? TML_BUF_MULT
         : overlap(a, a_len, b->shift, n->shift) ? TML_BUF_SHIFT : TML_BUF_NONE;
}

static tml_status filter_call(const tml_conv_params *p, const tml_op_buffers *b, int depthwise, tml_buffer *bad)
{
    filter_sizes n;
    tml_status st = filter_constants(p, b, depthwise, &n, bad);
    if (st != TML_OK) {
        return st;
    }
    if (b->x == 0 || b->out == 0 || (n.scratch > 0 && b->scratch == 0)) {
        return fail(TML_ERR_NULL, b->x == 0 ? TML_BUF_X : b->out == 0 ? TML_BUF_OUT : TML_BUF_SCRATCH, bad);
    }
    if (b->x_len < n.x) {
        return fail(TML_ERR_SIZE, TML_BUF_X, bad);
    }
    if (b->out_len < n.out) {
        return fail(TML_ERR_SIZE, TML_BUF_OUT, bad);
    }
    if (b->scratch_len < n.scratch) {
        return fail(TML_ERR_SIZE, TML_BUF_SCRATCH, bad);
    }
    /* out is written pixel by pixel and scratch patch by patch while x and the constants are
     * still to be read */
    if (overlap(b->out, n.out, b->x, n.x)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_X, bad);
    }
    tml_buffer which = overlapped_constant(b->out, n.out, b, &n);
    if (which != TML_BUF_NONE) {
        return fail(TML_ERR_OVERLAP, which, bad);
    }
    if (n.scratch > 0 && (overlap(b->scratch, n.scratch, b->out, n.out) || overlap(b->scratch, n.scratch, b->x, n.x) ||
                          overlapped_constant(b->scratch, n.scratch, b, &n) != TML_BUF_NONE)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_SCRATCH, bad);
    }
    return fail(TML_OK, TML_BUF_NONE, bad);
}

tml_status tml_conv_check_layer(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    return filter_layer(p, b, 0, bad);
}

tml_status tml_conv_check_call(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    return filter_call(p, b, 0, bad);
}

tml_status tml_dwconv_check_layer(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    return filter_layer(p, b, 1, bad);
}

tml_status tml_dwconv_check_call(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    return filter_call(p, b, 1, bad);
}

tml_status tml_conv_run_checked(const tml_conv_params *p, const tml_op_buffers *b)
{
    tml_status st = tml_conv_check_layer(p, b, 0);
    if (st == TML_OK) {
        st = tml_conv_check_call(p, b, 0);
    }
    if (st == TML_OK) {
        st = tml_conv_s8(p, b->x, b->w, b->bias, b->mult, b->shift, b->out, b->scratch);
    }
    return st;
}

tml_status tml_dwconv_run_checked(const tml_conv_params *p, const tml_op_buffers *b)
{
    tml_status st = tml_dwconv_check_layer(p, b, 0);
    if (st == TML_OK) {
        st = tml_dwconv_check_call(p, b, 0);
    }
    if (st == TML_OK) {
        st = tml_dwconv_s8(p, b->x, b->w, b->bias, b->mult, b->shift, b->out);
    }
    return st;
}

/* x (x_bytes) into out (out_bytes), nothing else: not NULL, long enough, apart */
static tml_status one_input(const tml_op_buffers *b, size_t x_bytes, size_t out_bytes, tml_buffer *bad)
{
    if (b->x == 0 || b->out == 0) {
        return fail(TML_ERR_NULL, b->x == 0 ? TML_BUF_X : TML_BUF_OUT, bad);
    }
    if (b->x_len < x_bytes) {
        return fail(TML_ERR_SIZE, TML_BUF_X, bad);
    }
    if (b->out_len < out_bytes) {
        return fail(TML_ERR_SIZE, TML_BUF_OUT, bad);
    }
    if (overlap(b->out, out_bytes, b->x, x_bytes)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_X, bad);
    }
    return fail(TML_OK, TML_BUF_NONE, bad);
}

tml_status tml_pool_check_call(const tml_pool_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    if (p == 0 || b == 0) {
        return fail(TML_ERR_NULL, TML_BUF_NONE, bad);
    }
    tml_status st = tml_pool_check(p);
    if (st != TML_OK) {
        return fail(st, TML_BUF_NONE, bad);
    }
    /* checked: each tensor holds at most TML_MAX_TENSOR bytes */
    const size_t pixels_in = (size_t)p->in_h * (size_t)p->in_w, pixels_out = (size_t)p->out_h * (size_t)p->out_w;
    return one_input(b, pixels_in * (size_t)p->channels, pixels_out * (size_t)p->channels, bad);
}

tml_status tml_avgpool_run_checked(const tml_pool_params *p, const tml_op_buffers *b)
{
    tml_status st = tml_pool_check_call(p, b, 0);
    return st == TML_OK ? tml_avgpool_s8(p, b->x, b->out) : st;
}

tml_status tml_maxpool_run_checked(const tml_pool_params *p, const tml_op_buffers *b)
{
    tml_status st = tml_pool_check_call(p, b, 0);
    return st == TML_OK ? tml_maxpool_s8(p, b->x, b->out) : st;
}

tml_status tml_add_check_call(const tml_add_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    if (p == 0 || b == 0) {
        return fail(TML_ERR_NULL, TML_BUF_NONE, bad);
    }
    tml_status st = tml_add_check(p);
    if (st != TML_OK) {
        return fail(st, TML_BUF_NONE, bad);
    }
    if (b->x == 0 || b->x2 == 0 || b->out == 0) {
        return fail(TML_ERR_NULL, b->x == 0 ? TML_BUF_X : b->x2 == 0 ? TML_BUF_X2 : TML_BUF_OUT, bad);
    }
    const size_t n = (size_t)p->size;
    if (b->x_len < n) {
        return fail(TML_ERR_SIZE, TML_BUF_X, bad);
    }
    if (b->x2_len < n) {
        return fail(TML_ERR_SIZE, TML_BUF_X2, bad);
    }
    if (b->out_len < n) {
        return fail(TML_ERR_SIZE, TML_BUF_OUT, bad);
    }
    /* element i is read from both inputs before out[i] is written: out == an input exactly is
     * safe, out shifted against one would overwrite elements still to be read */
    if ((uintptr_t)b->out != (uintptr_t)b->x && overlap(b->out, n, b->x, n)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_X, bad);
    }
    if ((uintptr_t)b->out != (uintptr_t)b->x2 && overlap(b->out, n, b->x2, n)) {
        return fail(TML_ERR_OVERLAP, TML_BUF_X2, bad);
    }
    return fail(TML_OK, TML_BUF_NONE, bad);
}

tml_status tml_add_run_checked(const tml_add_params *p, const tml_op_buffers *b)
{
    tml_status st = tml_add_check_call(p, b, 0);
    return st == TML_OK ? tml_add_s8(p, b->x, b->x2, b->out) : st;
}

tml_status tml_softmax_check_call(const tml_softmax_params *p, const tml_op_buffers *b, tml_buffer *bad)
{
    if (p == 0 || b == 0) {
        return fail(TML_ERR_NULL, TML_BUF_NONE, bad);
    }
    tml_status st = tml_softmax_check(p);
    if (st != TML_OK) {
        return fail(st, TML_BUF_NONE, bad);
    }
    const size_t n = (size_t)p->rows * (size_t)p->depth;  /* checked: at most TML_MAX_TENSOR */
    return one_input(b, n, n, bad);
}

tml_status tml_softmax_run_checked(const tml_softmax_params *p, const tml_op_buffers *b)
{
    tml_status st = tml_softmax_check_call(p, b, 0);
    return st == TML_OK ? tml_softmax_s8(p, b->x, b->out) : st;
}
