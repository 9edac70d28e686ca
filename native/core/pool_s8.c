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
    /* the count is >= 1 (tml_window_ok); C division truncates, so adding half the count away
     * from zero first rounds half away from zero, as TFLite's reference does */
    const int32_t count = (ky_hi - ky_lo) * (kx_hi - kx_lo);
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
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
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < p->channels; c++) {
                int32_t v = pool_window(p, x, iy0, ix0, c, kind);
                v = v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v;
                *out++ = (int8_t)v;
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
