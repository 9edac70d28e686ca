/* Reference int8 fully connected layer: one output at a time, one MAC at a time. */
#include "tinyml.h"

size_t tml_weight_index(int32_t n_in, int32_t n_out, int32_t o, int32_t i)
{
    const size_t n = (size_t)n_in, quads = (size_t)(n_in / 4 * 4);
    const int32_t full = n_out / TML_BLOCK_ROWS * TML_BLOCK_ROWS;
    if (o >= full) {
        return (size_t)o * n + (size_t)i;  /* after the last full block: row-major */
    }
    const size_t block = (size_t)(o / TML_BLOCK_ROWS) * TML_BLOCK_ROWS * n, r = (size_t)(o % TML_BLOCK_ROWS);
    if ((size_t)i < quads) {
        /* group i / 4: the block's 8 rows' 4 weights one after another */
        return block + (size_t)(i / 4) * 4 * TML_BLOCK_ROWS + 4 * r + (size_t)(i % 4);
    }
    return block + TML_BLOCK_ROWS * quads + r * (n - quads) + ((size_t)i - quads);
}

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
    for (int32_t o = 0; o < p->n_out; o++) {
        /* unsigned sum: int32 wrap-around as in TFLite, without C's signed-overflow UB */
        uint32_t acc = (uint32_t)bias[o];
        for (int32_t i = 0; i < p->n_in; i++) {
            acc += (uint32_t)((int32_t)w[tml_weight_index(p->n_in, p->n_out, o, i)] * (int32_t)x[i]);
        }
        int32_t c = p->n_channels == 1 ? 0 : o;
        int32_t y = tml_requantize((int32_t)acc, mult[c], shift[c], p->rounding);
        out[o] = add_zp_clamp_s8(y, p->output_zp, p->act_min, p->act_max);
    }
    return TML_OK;
}
