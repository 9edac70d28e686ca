/* Test support linked beside native/core in the emulated Cortex-M and RISC-V builds (native/tools/crossrun.py):
 * one emulated call runs tml_requantize over a whole array instead of one call per value, and
 * tml_fc_s8_checked is tml_fc_s8 the way a binding calls it (tml_fc_check first, once). */
#include "tinyml.h"

void tml_requantize_many(const int32_t *acc, int32_t n, int32_t *out, int32_t multiplier, int32_t shift,
                         int32_t rounding);

void tml_requantize_many(const int32_t *acc, int32_t n, int32_t *out, int32_t multiplier, int32_t shift,
                         int32_t rounding)
{
    for (int32_t i = 0; i < n; i++) {
        out[i] = tml_requantize(acc[i], multiplier, shift, rounding);
    }
}

tml_status tml_fc_s8_checked(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out);

tml_status tml_fc_s8_checked(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out)
{
    tml_status st = tml_fc_check(p, mult, shift);
    return st != TML_OK ? st : tml_fc_s8(p, x, w, bias, mult, shift, out);
}
