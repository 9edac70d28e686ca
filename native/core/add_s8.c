/* ADD, int8, two tensors of one shape: TFLite's scheme. Both inputs are brought to a common
 * scale with left_shift bits of headroom (each multiplier is its scale over twice the larger
 * input scale), summed, and the sum rescaled to the output's. */
#include "kernel.h"

static int offset_ok(int32_t offset)
{
    return offset >= -127 && offset <= 128;  /* -zero point of an int8 tensor */
}

static int rescale_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 0;
}

tml_status tml_add_check(const tml_add_params *p)
{
    if (p == 0) {
        return TML_ERR_NULL;
    }
    if (p->size < 1 || p->size > TML_MAX_TENSOR) {
        return TML_ERR_SHAPE;
    }
    /* (x + offset) << left_shift within 2^30: the two rescaled inputs' sum cannot overflow */
    if (p->left_shift < 0 || p->left_shift > 22 || !offset_ok(p->input1_offset) || !offset_ok(p->input2_offset) ||
        !rescale_ok(p->input1_multiplier, p->input1_shift) || !rescale_ok(p->input2_multiplier, p->input2_shift) ||
        !rescale_ok(p->output_multiplier, p->output_shift) ||
        (p->rounding != TML_ROUNDING_TFLM && p->rounding != TML_ROUNDING_LITERT)) {
        return TML_ERR_QUANT;
    }
    if (p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127 || p->output_zp < -128 ||
        p->output_zp > 127) {
        return TML_ERR_RANGE;
    }
    return TML_OK;
}

static int32_t rescaled_input(int32_t v, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift,
                              int32_t rounding)
{
    /* |v + offset| <= 255: the shift stays below 2^30 (checked) */
    const int32_t shifted = (v + offset) * ((int32_t)1 << left_shift);
    return tml_requantize(shifted, multiplier, shift, rounding);
}

/* The usual layer (TFLite Micro rounding), each input's rescale in a few instructions:
 * (v + offset) << left_shift is below 2^30 in magnitude (checked), so SaturatingRoundingDoubling-
 * HighMul is high_mul without its saturating case (SMMULR of the doubled value on arm-dsp, as
 * requant_fast), and RoundingDivideByPOT(h, r) = RoundingDivideByPOT(2 h, r + 1) (the halves the
 * -1 of a negative value adds cannot cross a multiple of 2^(r+1)) = floor((floor((2 h - (h < 0))
 * / 2^r) + 1) / 2) (nested floors), which holds for r = 0 too: no rounding constant, no mask,
 * no branch. |h| < 2^30, so 2 h fits. Checked against TFLite's arithmetic on every int8 pair
 * (tests/native/test_window_ops_host.py, test_window_ops_emulated.py). */
static inline int32_t rescale_fast(int32_t v, int32_t offset, int32_t left_shift, int32_t m, int32_t r)
{
    const int32_t shifted = (int32_t)((uint32_t)(v + offset) << left_shift);
#if TML_PATH_DSP && defined(__GNUC__)
    int32_t h;
    __asm__("smmulr %0, %1, %2" : "=r"(h) : "r"((int32_t)((uint32_t)shifted << 1)), "r"(m));
#else
    const int32_t h = high_mul(shifted, m);
#endif
    const int32_t t = (int32_t)(((uint32_t)h << 1) + (uint32_t)(h >> 31)) >> r;
    return (t + 1) >> 1;
}

static void add_tflm(const tml_add_params *p, const int8_t *x1, const int8_t *x2, int8_t *out)
{
    const int32_t zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp, ls = p->left_shift;
    const int32_t o1 = p->input1_offset, m1 = p->input1_multiplier, r1 = -p->input1_shift;
    const int32_t o2 = p->input2_offset, m2 = p->input2_multiplier, r2 = -p->input2_shift;
    requant q;
    requant_setup(&q, p->output_multiplier, p->output_shift, TML_ROUNDING_TFLM);
    const int32_t n = p->size;
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = rescale_fast(x1[i], o1, ls, m1, r1), b = rescale_fast(x2[i], o2, ls, m2, r2);
        out[i] = clamp_s8(requant_tflm(&q, a + b), lo, hi, zp);
    }
}

#if TML_PATH_DSP && defined(__GNUC__)
/* arm-dsp, TFLite's int8 left shift of 20, output shift <= -1 and the two rescaled inputs'
 * sum below 2^30 in magnitude (add_fast_ok): the output's rescale as requant_fast, and per input
 * one add for (v + offset) << 21. */
static inline int32_t smmulr(int32_t a, int32_t m)
{
    int32_t h;
    __asm__("smmulr %0, %1, %2" : "=r"(h) : "r"(a), "r"(m));
    return h;
}

static inline int32_t half_up(int32_t h, int32_t r)
{
    /* RoundingDivideByPOT(h, r) for r >= 0, as rescale_fast */
    const int32_t t = (int32_t)(((uint32_t)h << 1) + (uint32_t)(h >> 31)) >> r;
    return (t + 1) >> 1;
}

static int add_fast_ok(const tml_add_params *p)
{
    if (p->left_shift != 20 || p->output_shift > -1) {
        return 0;
    }
    /* |a| <= 255 2^20 m / 2^31 / 2^r + 1, and one more for room; the same for b */
    const int64_t a = (((int64_t)255 << 20) * p->input1_multiplier >> 31 >> -p->input1_shift) + 2;
    const int64_t b = (((int64_t)255 << 20) * p->input2_multiplier >> 31 >> -p->input2_shift) + 2;
    return a + b < ((int64_t)1 << 30);
}

static TML_HOT void add_fast(const tml_add_params *p, const int8_t *x1, const int8_t *x2, int8_t *out)
{
    const int32_t o1 = (int32_t)((uint32_t)p->input1_offset << 21), m1 = p->input1_multiplier, r1 = -p->input1_shift;
    const int32_t o2 = (int32_t)((uint32_t)p->input2_offset << 21), m2 = p->input2_multiplier, r2 = -p->input2_shift;
    const int32_t mo = p->output_multiplier, ro = -p->output_shift - 1, zp2 = 2 * p->output_zp + 1;
    const int32_t n = p->size;
    if (p->act_min == -128 && p->act_max == 127) {
        for (int32_t i = 0; i < n; i++) {
            const int32_t a = half_up(smmulr((int32_t)((uint32_t)x1[i] << 21) + o1, m1), r1);
            const int32_t b = half_up(smmulr((int32_t)((uint32_t)x2[i] << 21) + o2, m2), r2);
            /* requant_fast's rounding, then + zp and the clamp in one SSAT (as conv_s8.c) */
            int32_t h = smmulr((a + b) * 2, mo), v;
            h = ((h + (h >> 31)) >> ro) + zp2;
            __asm__("ssat %0, #8, %1, asr #1" : "=r"(v) : "r"(h));
            out[i] = (int8_t)v;
        }
        return;
    }
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = half_up(smmulr((int32_t)((uint32_t)x1[i] << 21) + o1, m1), r1);
        const int32_t b = half_up(smmulr((int32_t)((uint32_t)x2[i] << 21) + o2, m2), r2);
        const int32_t h = smmulr((a + b) * 2, mo);
        int32_t v = ((((h + (h >> 31)) >> ro) + 1) >> 1) + zp;
        v = v < lo ? lo : v;
        out[i] = (int8_t)(v > hi ? hi : v);
    }
}
#endif

tml_status tml_add_s8(const tml_add_params *p, const int8_t *x1, const int8_t *x2, int8_t *out)
{
    if (x1 == 0 || x2 == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_add_check(p);
    if (st != TML_OK) {
        return st;
    }
    if (p->rounding == TML_ROUNDING_TFLM) {
#if TML_PATH_DSP && defined(__GNUC__)
        if (add_fast_ok(p)) {
            add_fast(p, x1, x2, out);
            return TML_OK;
        }
#endif
        add_tflm(p, x1, x2, out);
        return TML_OK;
    }
    const int32_t zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp;
    for (int32_t i = 0; i < p->size; i++) {
        const int32_t a = rescaled_input(x1[i], p->input1_offset, p->left_shift, p->input1_multiplier,
                                         p->input1_shift, p->rounding);
        const int32_t b = rescaled_input(x2[i], p->input2_offset, p->left_shift, p->input2_multiplier,
                                         p->input2_shift, p->rounding);
        /* multipliers below 2^31 and shifts <= 0 do not grow a value: |a + b| < 2^31 */
        out[i] = clamp_s8(tml_requantize(a + b, p->output_multiplier, p->output_shift, p->rounding), lo, hi, zp);
    }
    return TML_OK;
}
