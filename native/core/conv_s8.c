/* CONV_2D, int8, as CMSIS-NN and TFLite Micro's optimized kernels do it: each output pixel's
 * patch gathered into a caller-owned scratch buffer (im2col), padded with the input zero point,
 * then multiplied by the weights through tml_fc_s8, so a convolution runs on the same per-CPU
 * row loops as a fully connected layer (fc_s8.c) and needs no code of its own for them. A 1x1
 * filter's patch is the input pixel itself (such a filter has no padding): no gathering. */
#include "kernel.h"

/* Loops, not memcpy/memset: a natmod and the emulated builds have no C library. GCC would turn
 * them back into calls. */
#if defined(__GNUC__) && !defined(__clang__)
#define TML_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TML_NO_LIBCALLS
#endif

static TML_NO_LIBCALLS void fill(int8_t *dst, int32_t n, int8_t v)
{
    for (int32_t i = 0; i < n; i++) {
        dst[i] = v;
    }
}

static TML_NO_LIBCALLS void copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

static int reads_in_place(const tml_conv_params *p)
{
    return p->filter_h == 1 && p->filter_w == 1;
}

int32_t tml_conv_scratch_bytes(const tml_conv_params *p)
{
    if (p == 0 || !tml_conv_shape_ok(p) || reads_in_place(p)) {
        return 0;
    }
    return p->filter_h * p->filter_w * p->in_c;
}

/* Output pixel (oy, ox)'s patch in OHWI order: filter row by filter row, each the in-bounds
 * columns (contiguous in NHWC) between the padding's input_zp. */
static void gather_patch(const tml_conv_params *p, const int8_t *x, int32_t oy, int32_t ox, int8_t *patch)
{
    const int32_t c = p->in_c, row_bytes = p->filter_w * c, zp = p->input_zp;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
    const int32_t kx_hi = p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w;
    for (int32_t ky = 0; ky < p->filter_h; ky++, patch += row_bytes) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= p->in_h) {
            fill(patch, row_bytes, (int8_t)zp);
            continue;
        }
        fill(patch, kx_lo * c, (int8_t)zp);
        copy(patch + kx_lo * c, x + (iy * p->in_w + ix0 + kx_lo) * c, (kx_hi - kx_lo) * c);
        fill(patch + kx_hi * c, (p->filter_w - kx_hi) * c, (int8_t)zp);
    }
}

tml_status tml_conv_s8(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                       const int32_t *mult, const int8_t *shift, int8_t *out, int8_t *scratch)
{
    if (p == 0 || x == 0 || w == 0 || bias == 0 || mult == 0 || shift == 0 || out == 0 ||
        (scratch == 0 && !reads_in_place(p))) {
        return TML_ERR_NULL;
    }
    /* p, mult and shift passed tml_conv_check: the patch is a row of the fully connected kernel */
    tml_fc_params fc;
    fc.n_in = p->filter_h * p->filter_w * p->in_c;
    fc.n_out = p->out_c;
    fc.n_channels = p->n_channels;
    fc.act_min = p->act_min;
    fc.act_max = p->act_max;
    fc.output_zp = p->output_zp;
    fc.rounding = p->rounding;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int8_t *patch = scratch;
            if (reads_in_place(p)) {
                patch = x + ((oy * p->stride_h) * p->in_w + ox * p->stride_w) * p->in_c;
            } else {
                gather_patch(p, x, oy, ox, scratch);
            }
            tml_fc_s8(&fc, patch, w, bias, mult, shift, out);
            out += p->out_c;
        }
    }
    return TML_OK;
}
