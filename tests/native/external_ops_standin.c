/* A stand-in for CMSIS-NN's s8 operator kernels (their public signatures and struct layouts
 * only), written here for tests/native/test_external_ops.py so that native/tools/external_ops.py
 * and model_bench.py are tested without CMSIS-NN: convolutions and pools one tap at a time with
 * tml_requantize, ADD and SOFTMAX through tinyml's own kernels with the parameters converted.
 * Built with -DSTANDIN_DROP_INPUT_OFFSET the convolutions ignore the input offset, a fault the
 * comparison must catch. The buffer-size functions ask for a scratch the kernels fill, so the
 * guard after it is checked. */
#include <stdint.h>

#include "tinyml.h"

typedef struct { void *buf; int32_t size; } sn_context;
typedef struct { int32_t w, h; } sn_tile;
typedef struct { int32_t n, h, w, c; } sn_dims;
typedef struct { int32_t min, max; } sn_activation;
typedef struct { int32_t input_offset, output_offset; sn_tile stride, padding, dilation; sn_activation activation; } sn_conv_params;
typedef struct { int32_t input_offset, output_offset, ch_mult; sn_tile stride, padding, dilation; sn_activation activation; } sn_dw_params;
typedef struct { sn_tile stride, padding; sn_activation activation; } sn_pool_params;
typedef struct { int32_t input_offset, filter_offset, output_offset; sn_activation activation; } sn_fc_params;
typedef struct { int32_t *multiplier, *shift; } sn_per_channel;
typedef struct { int32_t multiplier, shift; } sn_per_tensor;

#define SCRATCH 24

#ifdef STANDIN_DROP_INPUT_OFFSET
#define IN_OFFSET(p) 0
#else
#define IN_OFFSET(p) ((p)->input_offset)
#endif

static int8_t clamp(int32_t v, sn_activation a)
{
    return (int8_t)(v < a.min ? a.min : v > a.max ? a.max : v);
}

static void touch(const sn_context *ctx)
{
    int8_t *b = (int8_t *)ctx->buf;
    for (int32_t i = 0; b && i < ctx->size; i++) {
        b[i] = (int8_t)i;
    }
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const sn_conv_params *p, const sn_dims *in, const sn_dims *f,
                                                const sn_dims *out)
{
    (void)p; (void)in; (void)f; (void)out;
    return SCRATCH;
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const sn_dw_params *p, const sn_dims *in, const sn_dims *f,
                                                      const sn_dims *out)
{
    (void)p; (void)in; (void)f; (void)out;
    return SCRATCH;
}

int32_t arm_avgpool_s8_get_buffer_size(int out_w, int ch)
{
    (void)out_w; (void)ch;
    return SCRATCH;
}

/* depthwise: one filter per channel; conv: every input channel into each output channel */
static int32_t window(const int8_t *x, const sn_dims *in, const int8_t *w, const sn_dims *f, int32_t oy, int32_t ox,
                      int32_t o, sn_tile stride, sn_tile pad, int32_t in_offset, int depthwise)
{
    int32_t acc = 0;
    for (int32_t ky = 0; ky < f->h; ky++) {
        for (int32_t kx = 0; kx < f->w; kx++) {
            int32_t iy = oy * stride.h - pad.h + ky, ix = ox * stride.w - pad.w + kx;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                continue;
            }
            const int8_t *px = x + (iy * in->w + ix) * in->c;
            if (depthwise) {
                acc += (px[o] + in_offset) * w[(ky * f->w + kx) * in->c + o];
            } else {
                for (int32_t c = 0; c < in->c; c++) {
                    acc += (px[c] + in_offset) * w[((o * f->h + ky) * f->w + kx) * in->c + c];
                }
            }
        }
    }
    return acc;
}

static int32_t conv_any(const sn_context *ctx, int32_t in_offset, int32_t out_offset, sn_tile stride, sn_tile pad,
                        sn_activation act, const sn_per_channel *q, const sn_dims *in, const int8_t *x,
                        const sn_dims *f, const int8_t *w, const int32_t *bias, const sn_dims *out, int8_t *y,
                        int depthwise)
{
    touch(ctx);
    for (int32_t oy = 0; oy < out->h; oy++) {
        for (int32_t ox = 0; ox < out->w; ox++) {
            for (int32_t o = 0; o < out->c; o++) {
                int32_t acc = window(x, in, w, f, oy, ox, o, stride, pad, in_offset, depthwise) + (bias ? bias[o] : 0);
                y[(oy * out->w + ox) * out->c + o] =
                    clamp(tml_requantize(acc, q->multiplier[o], q->shift[o], 0) + out_offset, act);
            }
        }
    }
    return 0;
}

int32_t arm_convolve_wrapper_s8(const sn_context *ctx, const sn_conv_params *p, const sn_per_channel *q,
                                const sn_dims *in, const int8_t *x, const sn_dims *f, const int8_t *w,
                                const sn_dims *bias_dims, const int32_t *bias, const sn_dims *out, int8_t *y)
{
    (void)bias_dims;
    return conv_any(ctx, IN_OFFSET(p), p->output_offset, p->stride, p->padding, p->activation, q, in, x, f, w, bias,
                    out, y, 0);
}

int32_t arm_depthwise_conv_wrapper_s8(const sn_context *ctx, const sn_dw_params *p, const sn_per_channel *q,
                                      const sn_dims *in, const int8_t *x, const sn_dims *f, const int8_t *w,
                                      const sn_dims *bias_dims, const int32_t *bias, const sn_dims *out, int8_t *y)
{
    (void)bias_dims;
    if (p->ch_mult != 1) {
        return -1;
    }
    return conv_any(ctx, IN_OFFSET(p), p->output_offset, p->stride, p->padding, p->activation, q, in, x, f, w, bias,
                    out, y, 1);
}

static int32_t pool(const sn_context *ctx, const sn_pool_params *p, const sn_dims *in, const int8_t *x,
                    const sn_dims *f, const sn_dims *out, int8_t *y, int average)
{
    touch(ctx);
    for (int32_t oy = 0; oy < out->h; oy++) {
        for (int32_t ox = 0; ox < out->w; ox++) {
            for (int32_t c = 0; c < in->c; c++) {
                int32_t sum = 0, count = 0, best = -129;
                for (int32_t ky = 0; ky < f->h; ky++) {
                    for (int32_t kx = 0; kx < f->w; kx++) {
                        int32_t iy = oy * p->stride.h - p->padding.h + ky, ix = ox * p->stride.w - p->padding.w + kx;
                        if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                            continue;
                        }
                        int32_t v = x[(iy * in->w + ix) * in->c + c];
                        sum += v;
                        count++;
                        best = v > best ? v : best;
                    }
                }
                int32_t v = best;
                if (average) {   /* halves away from zero, as TFLite's int8 average pool */
                    v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                }
                y[(oy * out->w + ox) * in->c + c] = clamp(v, p->activation);
            }
        }
    }
    return 0;
}

int32_t arm_avgpool_s8(const sn_context *ctx, const sn_pool_params *p, const sn_dims *in, const int8_t *x,
                       const sn_dims *f, const sn_dims *out, int8_t *y)
{
    return pool(ctx, p, in, x, f, out, y, 1);
}

int32_t arm_max_pool_s8(const sn_context *ctx, const sn_pool_params *p, const sn_dims *in, const int8_t *x,
                        const sn_dims *f, const sn_dims *out, int8_t *y)
{
    return pool(ctx, p, in, x, f, out, y, 0);
}

int32_t arm_elementwise_add_s8(const int8_t *x1, const int8_t *x2, int32_t off1, int32_t m1, int32_t s1,
                               int32_t off2, int32_t m2, int32_t s2, int32_t left_shift, int8_t *y, int32_t out_offset,
                               int32_t mo, int32_t so, int32_t act_min, int32_t act_max, int32_t size)
{
    tml_add_params p = {size, left_shift, off1, m1, s1, off2, m2, s2, mo, so, out_offset, act_min, act_max, 0};
    return tml_add_s8(&p, x1, x2, y);
}

void arm_softmax_s8(const int8_t *x, int32_t rows, int32_t depth, int32_t mult, int32_t shift, int32_t diff_min,
                    int8_t *y)
{
    tml_softmax_params p = {rows, depth, mult, shift, diff_min};
    (void)tml_softmax_s8(&p, x, y);
}

static void fc(const sn_fc_params *p, const int32_t *mult, const int32_t *shift, int32_t step, const int8_t *x,
               const sn_dims *f_dims, const int8_t *w, const int32_t *bias, const sn_dims *out_dims, int8_t *y)
{
    const int32_t n_in = f_dims->n, n_out = out_dims->c;
    for (int32_t o = 0; o < n_out; o++) {
        int32_t acc = bias ? bias[o] : 0;
        for (int32_t i = 0; i < n_in; i++) {
            acc += (x[i] + p->input_offset) * (w[o * n_in + i] + p->filter_offset);
        }
        y[o] = clamp(tml_requantize(acc, mult[o * step], shift[o * step], 0) + p->output_offset, p->activation);
    }
}

int32_t arm_fully_connected_s8(const sn_context *ctx, const sn_fc_params *p, const sn_per_tensor *q,
                               const sn_dims *in_dims, const int8_t *x, const sn_dims *f_dims, const int8_t *w,
                               const sn_dims *bias_dims, const int32_t *bias, const sn_dims *out_dims, int8_t *y)
{
    (void)ctx; (void)in_dims; (void)bias_dims;
    fc(p, &q->multiplier, &q->shift, 0, x, f_dims, w, bias, out_dims, y);
    return 0;
}

int32_t arm_fully_connected_per_channel_s8(const sn_context *ctx, const sn_fc_params *p, const sn_per_channel *q,
                                           const sn_dims *in_dims, const int8_t *x, const sn_dims *f_dims,
                                           const int8_t *w, const sn_dims *bias_dims, const int32_t *bias,
                                           const sn_dims *out_dims, int8_t *y)
{
    (void)ctx; (void)in_dims; (void)bias_dims;
    fc(p, q->multiplier, q->shift, 1, x, f_dims, w, bias, out_dims, y);
    return 0;
}
