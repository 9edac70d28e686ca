/* AVERAGE_POOL_2D and MAX_POOL_2D, int8: input and output share scale and zero point, so both
 * work on the stored values. Taps outside the input are skipped, as in TFLite. */
#include "kernel.h"

tml_status tml_pool_check(const tml_pool_params *p)
{
    if (p == 0) {
        return TML_ERR_NULL;
    }
    if (!tml_window_ok(p->in_h, p->out_h, p->filter_h, p->stride_h, p->pad_top) ||
        !tml_window_ok(p->in_w, p->out_w, p->filter_w, p->stride_w, p->pad_left) || p->channels < 1 ||
        (int64_t)p->in_h * p->in_w * p->channels > TML_MAX_TENSOR ||
        (int64_t)p->out_h * p->out_w * p->channels > TML_MAX_TENSOR ||
        /* the average's sum: 255 per tap stays far inside int32 */
        (int64_t)p->filter_h * p->filter_w > (1 << 22)) {
        return TML_ERR_SHAPE;
    }
    if (p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127) {
        return TML_ERR_RANGE;
    }
    return TML_OK;
}

typedef enum { POOL_AVERAGE, POOL_MAX } pool_kind;

/* the count is >= 1 (tml_window_ok); C division truncates, so adding half the count away from
 * zero first rounds half away from zero, as TFLite's reference does */
static inline int32_t average(int32_t sum, int32_t count)
{
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

static inline int8_t clamp_act(int32_t v, const tml_pool_params *p)
{
    return (int8_t)(v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v);
}

/* One output value: channel c of the window whose top left input is (iy0, ix0). */
static int32_t pool_window(const tml_pool_params *p, const int8_t *x, int32_t iy0, int32_t ix0, int32_t c,
                           pool_kind kind)
{
    const int32_t ky_lo = iy0 < 0 ? -iy0 : 0, kx_lo = ix0 < 0 ? -ix0 : 0;
    const int32_t ky_hi = p->in_h - iy0 < p->filter_h ? p->in_h - iy0 : p->filter_h;
    const int32_t kx_hi = p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w;
    int32_t sum = 0, max = -128;
    for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
        const int8_t *row = x + ((iy0 + ky) * p->in_w + ix0) * p->channels + c;
        for (int32_t kx = kx_lo; kx < kx_hi; kx++) {
            const int32_t v = row[kx * p->channels];
            sum += v;
            max = v > max ? v : max;
        }
    }
    if (kind == POOL_MAX) {
        return max;
    }
    return average(sum, (ky_hi - ky_lo) * (kx_hi - kx_lo));
}

/* Channels c..c+3 of one window (rows rows of cols taps from first, rows row_step apart): the
 * window's bounds are worked out once per pixel, not once per channel. arm-dsp: the four sums
 * as halfword pairs (SXTAB16; |sum| <= 128 count fits when count <= 255) and the maxima per
 * byte (SSUB8 + SEL); elsewhere four int32 sums or maxima. */
static inline void pool_group4(const int8_t *first, int32_t rows, int32_t cols, int32_t row_step, int32_t ch,
                               pool_kind kind, const tml_pool_params *p, int8_t *out)
{
    const int32_t count = rows * cols;
#if TML_PATH_DSP
    if (kind == POOL_MAX) {
        uint32_t m = 0x80808080u;
        for (int32_t r = 0; r < rows; r++, first += row_step) {
            const int8_t *q = first;
            for (int32_t k = 0; k < cols; k++, q += ch) {
                const uint32_t v = load32(q);
                uint32_t t;
                /* per byte: GE where v - m >= 0, then v there and m elsewhere */
                __asm__("ssub8 %0, %2, %1\n\tsel %1, %2, %1" : "=&r"(t), "+r"(m) : "r"(v) : "cc");
                (void)t;
            }
        }
        for (int32_t j = 0; j < 4; j++) {
            out[j] = clamp_act((int8_t)(m >> (8 * j)), p);
        }
        return;
    }
    if (count <= 255) {
        uint32_t s02 = 0, s13 = 0;
        for (int32_t r = 0; r < rows; r++, first += row_step) {
            const int8_t *q = first;
            for (int32_t k = 0; k < cols; k++, q += ch) {
                const uint32_t v = load32(q);
                s02 = __sxtab16(s02, v);
                __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(s13) : "r"(v));
            }
        }
        out[0] = clamp_act(average((int16_t)s02, count), p);
        out[1] = clamp_act(average((int16_t)s13, count), p);
        out[2] = clamp_act(average((int32_t)s02 >> 16, count), p);
        out[3] = clamp_act(average((int32_t)s13 >> 16, count), p);
        return;
    }
#endif
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    if (kind == POOL_MAX) {
        a0 = a1 = a2 = a3 = -128;
    }
    for (int32_t r = 0; r < rows; r++, first += row_step) {
        const int8_t *q = first;
        for (int32_t k = 0; k < cols; k++, q += ch) {
            const int32_t v0 = q[0], v1 = q[1], v2 = q[2], v3 = q[3];
            if (kind == POOL_MAX) {
                a0 = v0 > a0 ? v0 : a0;
                a1 = v1 > a1 ? v1 : a1;
                a2 = v2 > a2 ? v2 : a2;
                a3 = v3 > a3 ? v3 : a3;
            } else {
                a0 += v0;
                a1 += v1;
                a2 += v2;
                a3 += v3;
            }
        }
    }
    if (kind == POOL_AVERAGE) {
        a0 = average(a0, count);
        a1 = average(a1, count);
        a2 = average(a2, count);
        a3 = average(a3, count);
    }
    out[0] = clamp_act(a0, p);
    out[1] = clamp_act(a1, p);
    out[2] = clamp_act(a2, p);
    out[3] = clamp_act(a3, p);
}

static tml_status pool(const tml_pool_params *p, const int8_t *x, int8_t *out, pool_kind kind)
{
    if (x == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_pool_check(p);
    if (st != TML_OK) {
        return st;
    }
    const int32_t ch = p->channels, row_step = p->in_w * ch;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
        const int32_t ky_hi = p->in_h - iy0 < p->filter_h ? p->in_h - iy0 : p->filter_h;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
            const int32_t kx_hi = p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w;
            const int8_t *first = x + ((iy0 + ky_lo) * p->in_w + ix0 + kx_lo) * ch;
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4, out += 4) {
                pool_group4(first + c, ky_hi - ky_lo, kx_hi - kx_lo, row_step, ch, kind, p, out);
            }
            for (; c < ch; c++) {
                *out++ = clamp_act(pool_window(p, x, iy0, ix0, c, kind), p);
            }
        }
    }
    return TML_OK;
}

tml_status tml_avgpool_s8(const tml_pool_params *p, const int8_t *x, int8_t *out)
{
    return pool(p, x, out, POOL_AVERAGE);
}

tml_status tml_maxpool_s8(const tml_pool_params *p, const int8_t *x, int8_t *out)
{
    return pool(p, x, out, POOL_MAX);
}
