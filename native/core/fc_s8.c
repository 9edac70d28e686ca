/* Optimized int8 fully connected layer, one path per CPU family, each tested against
 * tml_fc_s8_ref() (fc_s8_ref.c) bit for bit.
 *
 * - Armv7E-M / Armv8-M Mainline with DSP (Cortex-M4F, M33): word loads, SXTB16 splits four
 *   int8 into two pairs of int16, SMLAD does two MACs; four output rows share each x word.
 * - everything else (Armv6-M, Xtensa, RISC-V, x86): portable C, four rows per pass so each
 *   x[i] load feeds four MACs; GCC keeps the accumulators in registers.
 */
#include <string.h>

#include "tinyml.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TML_VARIANT "arm-dsp"
#else
#define TML_VARIANT "portable"
#endif

#define ROWS 4

static int8_t clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

static void finish(const tml_fc_params *p, int32_t o, int32_t acc, const int32_t *mult,
                   const int8_t *shift, int8_t *out)
{
    int32_t c = p->n_channels == 1 ? 0 : o;
    int32_t y = tml_requantize(acc, mult[c], shift[c], p->rounding) + p->output_zp;
    out[o] = clamp_s8(y, p->act_min, p->act_max);
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP

static uint32_t ror32(uint32_t v, unsigned r)
{
    return (v >> r) | (v << (32u - r)); /* one ROR */
}

static uint32_t load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* a single LDR: Armv7E-M allows unaligned word loads */
    return v;
}

/* Two MACs per SMLAD on (b0, b2) and (b1, b3) halves of each word. */
#define MAC4(acc, wword, xe, xo) \
    acc = (int32_t)__smlad(__sxtb16(wword), xe, (uint32_t)acc); \
    acc = (int32_t)__smlad(__sxtb16(ror32(wword, 8)), xo, (uint32_t)acc)

static void rows4(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[ROWS])
{
    const int8_t *r0 = w, *r1 = w + n, *r2 = w + 2 * n, *r3 = w + 3 * n;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t xv = load32(x + i);
        uint32_t xe = __sxtb16(xv), xo = __sxtb16(ror32(xv, 8));
        uint32_t w0 = load32(r0 + i), w1 = load32(r1 + i);
        MAC4(a0, w0, xe, xo);
        MAC4(a1, w1, xe, xo);
        uint32_t w2 = load32(r2 + i), w3 = load32(r3 + i);
        MAC4(a2, w2, xe, xo);
        MAC4(a3, w3, xe, xo);
    }
    for (; i < n; i++) {
        int32_t xi = x[i];
        a0 += r0[i] * xi;
        a1 += r1[i] * xi;
        a2 += r2[i] * xi;
        a3 += r3[i] * xi;
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

static int32_t row1(const int8_t *x, const int8_t *r, int32_t n, int32_t a)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t xv = load32(x + i);
        uint32_t wv = load32(r + i);
        MAC4(a, wv, __sxtb16(xv), __sxtb16(ror32(xv, 8)));
    }
    for (; i < n; i++) {
        a += r[i] * x[i];
    }
    return a;
}

#else /* portable C */

static void rows4(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[ROWS])
{
    const int8_t *r0 = w, *r1 = w + n, *r2 = w + 2 * n, *r3 = w + 3 * n;
    /* unsigned: int32 wrap-around as in TFLite, without signed-overflow UB */
    uint32_t a0 = (uint32_t)acc[0], a1 = (uint32_t)acc[1], a2 = (uint32_t)acc[2], a3 = (uint32_t)acc[3];
    for (int32_t i = 0; i < n; i++) {
        int32_t xi = x[i];
        a0 += (uint32_t)(r0[i] * xi);
        a1 += (uint32_t)(r1[i] * xi);
        a2 += (uint32_t)(r2[i] * xi);
        a3 += (uint32_t)(r3[i] * xi);
    }
    acc[0] = (int32_t)a0; acc[1] = (int32_t)a1; acc[2] = (int32_t)a2; acc[3] = (int32_t)a3;
}

static int32_t row1(const int8_t *x, const int8_t *r, int32_t n, int32_t a)
{
    uint32_t s = (uint32_t)a;
    for (int32_t i = 0; i < n; i++) {
        s += (uint32_t)(r[i] * x[i]);
    }
    return (int32_t)s;
}

#endif

tml_status tml_fc_s8(const tml_fc_params *p, const int8_t *x, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (x == 0 || w == 0 || bias == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_fc_check(p, mult, shift);
    if (st != TML_OK) {
        return st;
    }
    const int32_t n = p->n_in;
    int32_t o = 0;
    for (; o + ROWS <= p->n_out; o += ROWS) {
        int32_t acc[ROWS] = {bias[o], bias[o + 1], bias[o + 2], bias[o + 3]};
        rows4(x, w + o * n, n, acc);
        for (int32_t k = 0; k < ROWS; k++) {
            finish(p, o + k, acc[k], mult, shift, out);
        }
    }
    for (; o < p->n_out; o++) {
        finish(p, o, row1(x, w + o * n, n, bias[o]), mult, shift, out);
    }
    return TML_OK;
}

const char *tml_fc_s8_variant(void)
{
    return TML_VARIANT;
}
