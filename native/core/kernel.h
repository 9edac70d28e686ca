/* Private to native/core: which path a kernel file compiles to, and the requantization inlined
 * into every optimized kernel (fc_s8.c, conv_s8.c, dwconv_s8.c). requantize.c's tml_requantize is
 * the reference these restate; the tests compare them on every core. Not part of the API
 * (tinyml.h): a binding never includes it. */
#ifndef TML_KERNEL_H
#define TML_KERNEL_H

#include <string.h>

#include "tinyml.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TML_PATH_DSP 1
#define TML_VARIANT "arm-dsp"
#elif defined(__ARM_ARCH_6M__) || (defined(__ARM_ARCH) && __ARM_ARCH == 6 && defined(__ARM_ARCH_PROFILE) && \
                                   __ARM_ARCH_PROFILE == 'M')
#define TML_PATH_V6M 1
#define TML_VARIANT "armv6-m"
#else
#define TML_VARIANT "portable"
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__) && (defined(TML_PATH_DSP) || defined(TML_PATH_V6M))
/* The Cortex-M loops need every register: GCC's schedulers, left on, move loads apart and
 * spill, and its induction-variable pass turns shared indexes back into one pointer per row.
 * The portable path keeps both: RISC-V and Xtensa have registers to spare, and need the
 * scheduler to hide load-use delays. */
#define TML_HOT __attribute__((optimize("no-schedule-insns", "no-schedule-insns2", "no-ivopts")))
#else
#define TML_HOT
#endif

/* ---- requantization ---- */

typedef struct {
    int32_t mult;
    int32_t left;     /* tflm: left shift of the accumulator */
    int32_t right;    /* tflm: rounding right shift; litert: total right shift */
    int32_t mask;     /* tflm: (1 << right) - 1 */
    int64_t round;    /* litert: 1 << (total - 1) */
} requant;

static inline void requant_setup(requant *q, int32_t mult, int32_t shift, int32_t rounding)
{
    q->mult = mult;
    if (rounding == TML_ROUNDING_LITERT) {
        q->left = 0;
        q->right = 31 - shift;           /* 1..62 */
        q->mask = 0;
        q->round = (int64_t)1 << (q->right - 1);
    } else {
        q->left = shift > 0 ? shift : 0;
        q->right = shift > 0 ? 0 : -shift;
        q->mask = (int32_t)(((uint32_t)1 << q->right) - 1u);  /* right <= 31 */
        q->round = 0;
    }
}

/* floor((x * m + 2^30) / 2^31) for m >= 0: the high half of SaturatingRoundingDoublingHighMul.
 * Armv6-M has no long multiply, and GCC's 64-bit arithmetic there goes through the stack, so
 * it is done in 16-bit halves: x = xh 2^16 + xl, m = mh 2^16 + ml, then
 * x m + 2^30 = 2^32 xh mh + 2^16 (xh ml + xl mh) + xl ml + 2^30, floored by 2^31 in two steps
 * (2^16, then 2^15) with every partial sum in 32 bits. */
static inline int32_t high_mul(int32_t x, int32_t m)
{
#if TML_PATH_V6M
    const int32_t xh = x >> 16, mh = m >> 16;
    const uint32_t xl = (uint32_t)x & 0xFFFFu, ml = (uint32_t)m & 0xFFFFu;
    const int32_t c1 = xh * (int32_t)ml;              /* |c1| < 2^31 */
    const uint32_t c2 = xl * (uint32_t)mh;            /* < 2^31: mh < 2^15 */
    const uint32_t low = ((xl * ml) >> 16) + (1u << 14);  /* floor((xl ml + 2^30) / 2^16) */
    const int32_t carry = (int32_t)((((uint32_t)c1 & 0x7FFFu) + (c2 & 0x7FFFu) + low) >> 15);
    return (int32_t)((uint32_t)(xh * mh) << 1) + (c1 >> 15) + (int32_t)(c2 >> 15) + carry;
#elif defined(__riscv) && __riscv_xlen == 32
    /* with p = x (2 m) (m < 2^31, so 2 m fits 32 unsigned bits): floor((p + 2^31) / 2^32) is
     * p's high word plus bit 31 of its low word: MULHSU, MUL, SRLI, ADD instead of a 64-bit add */
    const int64_t p = (int64_t)x * (int64_t)((uint32_t)m << 1);
    return (int32_t)(p >> 32) + (int32_t)((uint32_t)p >> 31);
#else
    return (int32_t)(((int64_t)x * m + ((int64_t)1 << 30)) >> 31);
#endif
}

/* TFLite Micro's double rounding. SaturatingRoundingDoublingHighMul is
 * (x * m + nudge) / 2^31 truncated toward zero, nudge = 2^30 for a product >= 0 and
 * 1 - 2^30 below; both cases equal floor((x * m + 2^30) / 2^31), one arithmetic shift.
 * Its saturating case (x = m = INT32_MIN) cannot happen: m >= 0. RoundingDivideByPOT
 * rounds half away from zero: one more when the remainder exceeds mask / 2 (mask / 2 + 1
 * for a negative value). */
static inline int32_t requant_tflm(const requant *q, int32_t acc)
{
    int32_t x = (int32_t)((uint32_t)acc << q->left);   /* wraps in int32, as in TFLite */
    int32_t high = high_mul(x, q->mult);
    uint32_t remainder = (uint32_t)(high & q->mask);
    uint32_t threshold = ((uint32_t)q->mask >> 1) + ((uint32_t)high >> 31);
    /* remainder > threshold, both below 2^31: the sign bit of their difference */
    return (high >> q->right) + (int32_t)((threshold - remainder) >> 31);
}

/* LiteRT's single rounding: one round-half-up shift of the 64-bit product, narrowed. */
static inline int32_t requant_litert(const requant *q, int32_t acc)
{
    return (int32_t)(((int64_t)acc * q->mult + q->round) >> q->right);
}

/* clamp(y + zp) to the activation range, as if added in 64 bits: y is clamped to
 * [lo, hi] = [act_min - zp, act_max - zp] first, so the add cannot overflow int32. */
#if defined(__GNUC__)
#define TML_RARELY(c) __builtin_expect(!!(c), 0)
#else
#define TML_RARELY(c) (c)
#endif
static inline int8_t clamp_s8(int32_t y, int32_t lo, int32_t hi, int32_t zp)
{
    /* rarely: on a core that predicts forward branches not taken (Hazard3), the usual
     * in-range value then falls through both tests */
    if (TML_RARELY(y < lo)) {
        y = lo;
    }
    if (TML_RARELY(y > hi)) {
        y = hi;
    }
    return (int8_t)(y + zp);
}

#if TML_PATH_DSP
static inline uint32_t load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR: Armv7E-M and Armv8-M Mainline allow unaligned word loads */
    return v;
}

/* bytes 1 and 3 of v, sign-extended into two halfwords: one SXTB16 with its rotation
 * (GCC 12 emits a separate ROR for __sxtb16(__ror(v, 8))) */
static inline uint32_t sxtb16_ror8(uint32_t v)
{
#if defined(__GNUC__)
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return __sxtb16(__ror(v, 8));
#endif
}
#endif

/* One spatial dimension of a window op: TFLite's output size and padding for VALID or SAME
 * (conv_check.c). Every window then holds at least one input position. */
int tml_window_ok(int32_t in, int32_t out, int32_t filter, int32_t stride, int32_t pad);

/* The shape part of tml_conv_check (no quantization), for the scratch size. */
int tml_conv_shape_ok(const tml_conv_params *p);

/* The largest tensor, in bytes, the window ops take: sizes and offsets fit int32 everywhere. */
#define TML_MAX_TENSOR (1 << 24)

#endif
