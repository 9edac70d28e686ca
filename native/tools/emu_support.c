/* Test support linked beside native/core in the emulated Cortex-M and RISC-V builds (native/tools/crossrun.py):
 * one emulated call runs tml_requantize over a whole array instead of one call per value. */
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
