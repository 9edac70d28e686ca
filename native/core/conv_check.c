/* The checks of the window ops (CONV_2D, DEPTHWISE_CONV_2D, the pools), run once when a layer
 * is prepared: shapes, TFLite's output size and padding, quantization and ranges. */
#include "kernel.h"

#define MAX_DIM 65535

int tml_window_ok(int32_t in, int32_t out, int32_t filter, int32_t stride, int32_t pad)
{
    if (in < 1 || out < 1 || filter < 1 || stride < 1 || in > MAX_DIM || out > MAX_DIM || filter > MAX_DIM ||
        stride > MAX_DIM || pad < 0) {
        return 0;
    }
    /* 64-bit: (out - 1) stride reaches 2^32 */
    const int64_t valid_out = in >= filter ? (int64_t)(in - filter) / stride + 1 : 0;
    const int64_t same_out = ((int64_t)in + stride - 1) / stride;
    const int64_t same_total = (same_out - 1) * stride + filter - in;
    const int64_t same_pad = same_total > 0 ? same_total / 2 : 0;
    return (pad == 0 && out == valid_out) || (out == same_out && pad == same_pad);
}

static int64_t volume(int32_t h, int32_t w, int32_t c)
{
    return (int64_t)h * w * c;
}

/* Shapes and windows, whatever the weights' layout: out_c <= 65535 (a .tmdl width). */
static int window_shape_ok(const tml_conv_params *p)
{
    return tml_window_ok(p->in_h, p->out_h, p->filter_h, p->stride_h, p->pad_top) &&
           tml_window_ok(p->in_w, p->out_w, p->filter_w, p->stride_w, p->pad_left) &&
           p->in_c >= 1 && p->out_c >= 1 && p->out_c <= MAX_DIM &&
           volume(p->in_h, p->in_w, p->in_c) <= TML_MAX_TENSOR && volume(p->out_h, p->out_w, p->out_c) <= TML_MAX_TENSOR &&
           (p->n_channels == 1 || p->n_channels == p->out_c);
}

int tml_conv_shape_ok(const tml_conv_params *p)
{
    /* a patch is one row of the fully connected kernel: at most 65535 inputs */
    return window_shape_ok(p) && volume(p->filter_h, p->filter_w, p->in_c) <= MAX_DIM;
}

/* The quantization and ranges as tml_fc_check sees them, with n_in standing for the patch. */
static tml_status quant_check(const tml_conv_params *p, int32_t n_in, const int32_t *mult, const int8_t *shift)
{
    if (p->input_zp < -128 || p->input_zp > 127) {
        return TML_ERR_RANGE;
    }
    tml_fc_params fc;
    fc.n_in = n_in;
    fc.n_out = p->out_c;
    fc.n_channels = p->n_channels;
    fc.act_min = p->act_min;
    fc.act_max = p->act_max;
    fc.output_zp = p->output_zp;
    fc.rounding = p->rounding;
    return tml_fc_check(&fc, mult, shift);
}

tml_status tml_conv_check(const tml_conv_params *p, const int32_t *mult, const int8_t *shift)
{
    if (p == 0 || mult == 0 || shift == 0) {
        return TML_ERR_NULL;
    }
    if (!tml_conv_shape_ok(p)) {
        return TML_ERR_SHAPE;
    }
    return quant_check(p, p->filter_h * p->filter_w * p->in_c, mult, shift);
}

tml_status tml_dwconv_check(const tml_conv_params *p, const int32_t *mult, const int8_t *shift)
{
    if (p == 0 || mult == 0 || shift == 0) {
        return TML_ERR_NULL;
    }
    if (!window_shape_ok(p) || p->out_c != p->in_c || volume(p->filter_h, p->filter_w, p->in_c) > TML_MAX_TENSOR) {
        return TML_ERR_SHAPE;
    }
    return quant_check(p, 1, mult, shift);
}

int32_t tml_conv_input_bytes(const tml_conv_params *p)
{
    return p != 0 && window_shape_ok(p) ? (int32_t)volume(p->in_h, p->in_w, p->in_c) : 0;
}

int32_t tml_conv_output_bytes(const tml_conv_params *p)
{
    return p != 0 && window_shape_ok(p) ? (int32_t)volume(p->out_h, p->out_w, p->out_c) : 0;
}
