/* CONV_2D and DEPTHWISE_CONV_2D: the readable references, one MAC at a time, which conv_s8.c
 * and dwconv_s8.c are tested against (tests only, like fc_s8_ref.c). */
#include "kernel.h"

/* x[iy][ix][c], or `outside` for a position in the padding */
static int32_t input_at(const tml_conv_params *p, const int8_t *x, int32_t iy, int32_t ix, int32_t c,
                        int32_t *inside)
{
    *inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
    return *inside ? x[((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c + (size_t)c] : p->input_zp;
}

static int8_t requantize_out(const tml_conv_params *p, uint32_t acc, int32_t o, const int32_t *mult,
                             const int8_t *shift)
{
    const int32_t c = p->n_channels == 1 ? 0 : o;
    const int32_t y = tml_requantize((int32_t)acc, mult[c], shift[c], p->rounding);
    return clamp_s8(y, p->act_min - p->output_zp, p->act_max - p->output_zp, p->output_zp);
}

tml_status tml_conv_s8_ref(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (x == 0 || w == 0 || bias == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_conv_check(p, mult, shift);
    if (st != TML_OK) {
        return st;
    }
    const int32_t k_len = p->filter_h * p->filter_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t o = 0; o < p->out_c; o++) {
                /* unsigned sum: int32 wrap-around as in TFLite, without C's signed-overflow UB */
                uint32_t acc = (uint32_t)bias[o];
                for (int32_t ky = 0; ky < p->filter_h; ky++) {
                    for (int32_t kx = 0; kx < p->filter_w; kx++) {
                        for (int32_t c = 0; c < p->in_c; c++) {
                            int32_t inside;
                            /* a padded position is input_zp: the folded bias makes it count 0 */
                            const int32_t v = input_at(p, x, oy * p->stride_h - p->pad_top + ky,
                                                       ox * p->stride_w - p->pad_left + kx, c, &inside);
                            const int32_t k = (ky * p->filter_w + kx) * p->in_c + c;
                            acc += (uint32_t)(w[tml_weight_index(k_len, p->out_c, o, k)] * v);
                        }
                    }
                }
                out[((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c + (size_t)o] =
                    requantize_out(p, acc, o, mult, shift);
            }
        }
    }
    return TML_OK;
}

tml_status tml_dwconv_s8_ref(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (x == 0 || w == 0 || bias == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_dwconv_check(p, mult, shift);
    if (st != TML_OK) {
        return st;
    }
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t c = 0; c < p->in_c; c++) {
                uint32_t acc = (uint32_t)bias[c];
                for (int32_t ky = 0; ky < p->filter_h; ky++) {
                    for (int32_t kx = 0; kx < p->filter_w; kx++) {
                        int32_t inside;
                        const int32_t v = input_at(p, x, oy * p->stride_h - p->pad_top + ky,
                                                   ox * p->stride_w - p->pad_left + kx, c, &inside);
                        if (inside) {  /* TFLite skips the taps outside the input */
                            const int32_t wv = w[((size_t)ky * (size_t)p->filter_w + (size_t)kx) * (size_t)p->in_c + (size_t)c];
                            acc += (uint32_t)(wv * (v - p->input_zp));
                        }
                    }
                }
                out[((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->in_c + (size_t)c] =
                    requantize_out(p, acc, c, mult, shift);
            }
        }
    }
    return TML_OK;
}
