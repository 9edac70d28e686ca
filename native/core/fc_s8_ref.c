/* Reference int8 fully connected layer: one output at a time, one MAC at a time. */
#include "tinyml.h"

/* clamp(y + zp, lo, hi) as if added in 64 bits: y is clamped to [lo - zp, hi - zp] first,
 * so y + zp cannot overflow int32 when y is near its limits (C's signed-overflow UB). */
static int8_t add_zp_clamp_s8(int32_t y, int32_t zp, int32_t lo, int32_t hi)
{
    return (int8_t)((y < lo - zp ? lo - zp : y > hi - zp ? hi - zp : y) + zp);
}

tml_status tml_fc_s8_ref(const tml_fc_params *p, const int8_t *x, const int8_t *w,
                         const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (x == 0 || w == 0 || bias == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_fc_check(p, mult, shift);
    if (st != TML_OK) {
        return st;
    }
    const int32_t n = p->n_in, full = p->n_out / TML_BLOCK_ROWS * TML_BLOCK_ROWS, quads = n / 4 * 4;
    for (int32_t o = 0; o < p->n_out; o++) {
        /* where row o's weights are (tinyml.h): its first 4 at `start`, each next 4 `step`
         * further, its last n % 4 at `tail` */
        int32_t start = o * n, step = 4, tail = o * n + quads;
        if (o < full) {
            const int32_t block = o / TML_BLOCK_ROWS * TML_BLOCK_ROWS * n, r = o % TML_BLOCK_ROWS;
            start = block + 4 * r;
            step = 4 * TML_BLOCK_ROWS;
            tail = block + TML_BLOCK_ROWS * quads + r * (n - quads);
        }
        /* unsigned sum: int32 wrap-around as in TFLite, without C's signed-overflow UB */
        uint32_t acc = (uint32_t)bias[o];
        const int8_t *g = w + start;
        for (int32_t i = 0; i < quads; i += 4, g += step) {
            for (int32_t k = 0; k < 4; k++) {
                acc += (uint32_t)((int32_t)g[k] * (int32_t)x[i + k]);
            }
        }
        for (int32_t i = quads; i < n; i++) {
            acc += (uint32_t)((int32_t)w[tail + i - quads] * (int32_t)x[i]);
        }
        int32_t c = p->n_channels == 1 ? 0 : o;
        int32_t y = tml_requantize((int32_t)acc, mult[c], shift[c], p->rounding);
        out[o] = add_zp_clamp_s8(y, p->output_zp, p->act_min, p->act_max);
    }
    return TML_OK;
}
