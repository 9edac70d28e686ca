/* TFLite's two requantization schemes (docs/format.md). */
#include "tinyml.h"

/* TFLite Micro / CMSIS-NN: SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT. */
static int32_t requantize_double_rounding(int32_t acc, int32_t m, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    /* acc * 2^left wraps in int32 in TFLite; do it unsigned to keep C defined */
    int32_t x = (int32_t)((uint32_t)acc << left);
    int64_t ab = (int64_t)x * (int64_t)m;
    int32_t high;
    if (x == INT32_MIN && m == INT32_MIN) {
        high = INT32_MAX;
    } else {
        int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
        high = (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
    }
    if (right == 0) {
        return high;
    }
    int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
    int32_t remainder = high & mask;
    int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + (remainder > threshold ? 1 : 0);
}

/* LiteRT reference kernels and XNNPACK: one round-half-up shift of the 64-bit product. */
static int32_t requantize_single_rounding(int32_t acc, int32_t m, int32_t shift)
{
    int32_t total = 31 - shift;
    int64_t round = (int64_t)1 << (total - 1);
    return (int32_t)(((int64_t)acc * m + round) >> total);
}

int32_t tml_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t rounding)
{
    return rounding == TML_ROUNDING_LITERT ? requantize_single_rounding(acc, multiplier, shift)
                                           : requantize_double_rounding(acc, multiplier, shift);
}

tml_status tml_fc_check(const tml_fc_params *p, const int32_t *mult, const int8_t *shift)
{
    if (p == 0 || mult == 0 || shift == 0) {
        return TML_ERR_NULL;
    }
    if (p->n_in < 1 || p->n_out < 1 || p->n_in > 65535 || p->n_out > 65535) {
        return TML_ERR_SHAPE;
    }
    if (p->n_channels != 1 && p->n_channels != p->n_out) {
        return TML_ERR_SHAPE;
    }
    if (p->rounding != TML_ROUNDING_TFLM && p->rounding != TML_ROUNDING_LITERT) {
        return TML_ERR_QUANT;
    }
    for (int32_t c = 0; c < p->n_channels; c++) {
        if (mult[c] < 0 || shift[c] < -31 || shift[c] > 30) {
            return TML_ERR_QUANT;
        }
    }
    if (p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127 ||
        p->output_zp < -128 || p->output_zp > 127) {
        return TML_ERR_RANGE;
    }
    return TML_OK;
}
