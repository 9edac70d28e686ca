/* DEPTHWISE_CONV_2D, int8, depth multiplier 1. Channels are contiguous in NHWC and in the
 * [filter_h][filter_w][C] weights, so four channels are done together: four accumulators,
 * each tap one run of 4 input bytes and 4 weight bytes. The taps inside the input are worked
 * out once per output pixel (TFLite skips the others), so the inner loops have no bounds tests.
 * - "arm-dsp": one word load each of x and w, SXTB16 splits them into halfword pairs, SADD16
 *   adds the input offset to two channels at once, SMLABB/SMLATT do the four MACs.
 * - elsewhere: byte loads, four MACs per tap in C.
 * Requantization as fc_s8.c's (kernel.h), the multiplier's constants set up once per layer for
 * per-tensor scales. Tested against tml_dwconv_s8_ref bit for bit on every core. */
#include "kernel.h"

/* The in-bounds taps of one output pixel: filter rows ky_lo..ky_hi - 1, columns kx_lo..kx_hi - 1,
 * tap (ky, kx) reading input (iy0 + ky, ix0 + kx). */
typedef struct {
    int32_t iy0, ix0, ky_lo, ky_hi, kx_lo, kx_hi;
} taps;

static void taps_of(const tml_conv_params *p, int32_t oy, int32_t ox, taps *t)
{
    t->iy0 = oy * p->stride_h - p->pad_top;
    t->ix0 = ox * p->stride_w - p->pad_left;
    t->ky_lo = t->iy0 < 0 ? -t->iy0 : 0;
    t->ky_hi = p->in_h - t->iy0 < p->filter_h ? p->in_h - t->iy0 : p->filter_h;
    t->kx_lo = t->ix0 < 0 ? -t->ix0 : 0;
    t->kx_hi = p->in_w - t->ix0 < p->filter_w ? p->in_w - t->ix0 : p->filter_w;
}

/* Channels c..c+3 of one output pixel: acc[k] += sum over the taps of w * (x + offset). */
static inline TML_HOT void mac_quad(const tml_conv_params *p, const taps *t, const int8_t *x, const int8_t *w,
                                    int32_t c, int32_t acc[4])
{
    const int32_t ch = p->in_c, row_step = p->in_w * ch, offset = -p->input_zp;
    const int32_t cols = t->kx_hi - t->kx_lo;
    const int8_t *xr = x + ((t->iy0 + t->ky_lo) * p->in_w + t->ix0 + t->kx_lo) * ch + c;
    const int8_t *wr = w + (t->ky_lo * p->filter_w + t->kx_lo) * ch + c;
#if TML_PATH_DSP
    const uint32_t offset2 = ((uint32_t)offset & 0xFFFFu) * 0x10001u;
    uint32_t a0 = (uint32_t)acc[0], a1 = (uint32_t)acc[1], a2 = (uint32_t)acc[2], a3 = (uint32_t)acc[3];
    for (int32_t ky = t->ky_lo; ky < t->ky_hi; ky++, xr += row_step, wr += p->filter_w * ch) {
        const int8_t *xp = xr, *wp = wr;
        for (int32_t k = 0; k < cols; k++, xp += ch, wp += ch) {
            const uint32_t xv = load32(xp), wv = load32(wp);
            const uint32_t x02 = __sadd16(__sxtb16(xv), offset2), x13 = __sadd16(sxtb16_ror8(xv), offset2);
            const uint32_t w02 = __sxtb16(wv), w13 = sxtb16_ror8(wv);
            a0 = (uint32_t)__smlabb((int32_t)w02, (int32_t)x02, (int32_t)a0);
            a2 = (uint32_t)__smlatt((int32_t)w02, (int32_t)x02, (int32_t)a2);
            a1 = (uint32_t)__smlabb((int32_t)w13, (int32_t)x13, (int32_t)a1);
            a3 = (uint32_t)__smlatt((int32_t)w13, (int32_t)x13, (int32_t)a3);
        }
    }
#else
    /* unsigned sums: int32 wrap-around as in TFLite, without C's signed-overflow UB */
    uint32_t a0 = (uint32_t)acc[0], a1 = (uint32_t)acc[1], a2 = (uint32_t)acc[2], a3 = (uint32_t)acc[3];
    for (int32_t ky = t->ky_lo; ky < t->ky_hi; ky++, xr += row_step, wr += p->filter_w * ch) {
        const int8_t *xp = xr, *wp = wr;
        for (int32_t k = 0; k < cols; k++, xp += ch, wp += ch) {
            a0 += (uint32_t)(wp[0] * (xp[0] + offset));
            a1 += (uint32_t)(wp[1] * (xp[1] + offset));
            a2 += (uint32_t)(wp[2] * (xp[2] + offset));
            a3 += (uint32_t)(wp[3] * (xp[3] + offset));
        }
    }
#endif
    acc[0] = (int32_t)a0; acc[1] = (int32_t)a1; acc[2] = (int32_t)a2; acc[3] = (int32_t)a3;
}

/* One channel, for the last in_c % 4 */
static int32_t mac_one(const tml_conv_params *p, const taps *t, const int8_t *x, const int8_t *w, int32_t c,
                       int32_t acc)
{
    const int32_t ch = p->in_c, offset = -p->input_zp;
    uint32_t a = (uint32_t)acc;
    for (int32_t ky = t->ky_lo; ky < t->ky_hi; ky++) {
        for (int32_t kx = t->kx_lo; kx < t->kx_hi; kx++) {
            const int32_t xv = x[((t->iy0 + ky) * p->in_w + t->ix0 + kx) * ch + c];
            a += (uint32_t)(w[(ky * p->filter_w + kx) * ch + c] * (xv + offset));
        }
    }
    return (int32_t)a;
}

static inline int8_t requant_one(const tml_conv_params *p, const requant *per_tensor, int32_t c, int32_t acc,
                                 const int32_t *mult, const int8_t *shift)
{
    const int32_t zp = p->output_zp;
    requant q;
    if (p->n_channels != 1) {
        requant_setup(&q, mult[c], shift[c], p->rounding);
    } else {
        q.mult = per_tensor->mult; /* field by field: a struct copy can become a memcpy call */
        q.left = per_tensor->left;
        q.right = per_tensor->right;
        q.mask = per_tensor->mask;
        q.round = per_tensor->round;
    }
    const int32_t y = p->rounding == TML_ROUNDING_LITERT ? requant_litert(&q, acc) : requant_tflm(&q, acc);
    return clamp_s8(y, p->act_min - zp, p->act_max - zp, zp);
}

tml_status tml_dwconv_s8(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (p == 0 || x == 0 || w == 0 || bias == 0 || mult == 0 || shift == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    /* p, mult and shift passed tml_dwconv_check when the layer was prepared (tinyml.h) */
    const int32_t ch = p->in_c, quads = ch & ~3;
    requant per_tensor;
    requant_setup(&per_tensor, mult[0], shift[0], p->rounding);
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++, out += ch) {
            taps t;
            taps_of(p, oy, ox, &t);
            int32_t c = 0;
            for (; c < quads; c += 4) {
                int32_t acc[4] = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
                mac_quad(p, &t, x, w, c, acc);
                for (int32_t k = 0; k < 4; k++) {
                    out[c + k] = requant_one(p, &per_tensor, c + k, acc[k], mult, shift);
                }
            }
            for (; c < ch; c++) {
                out[c] = requant_one(p, &per_tensor, c, mac_one(p, &t, x, w, c, bias[c]), mult, shift);
            }
        }
    }
    return TML_OK;
}
