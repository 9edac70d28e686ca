/* SOFTMAX, int8 in and out (output scale 1/256, zero point -128), in the fixed-point arithmetic
 * TFLite Micro's reference kernel uses (gemmlowp's): values are int32 with a fixed number of
 * integer bits, "Q5" for the rescaled differences (5 integer bits, 26 fraction bits), "Q0"
 * for values in [-1, 1) (31 fraction bits), "Q12" for the sum of the exponentials.
 * Per row: d = x - max(row) <= 0, rescaled to Q5; exp(d) in Q0 for d >= diff_min (0 below);
 * 1 / sum by Newton-Raphson; out = exp(d) / sum in units of 1/256, minus 128. */
#include "kernel.h"

#define Q0_ONE INT32_MAX          /* 1.0 in Q0, as gemmlowp rounds it */
#define Q5_FRACTION_BITS 26
#define SUM_INTEGER_BITS 12       /* Q12: room for 4095 exponentials of at most 1 */
#define MAX_DEPTH 511             /* sum < 2^28: the last division's shift stays below 32 (softmax_row) */

/* round(x * y / 2^31), saturated: gemmlowp's SaturatingRoundingDoublingHighMul. Its rounding,
 * half away from zero on (x y) / 2^31 truncated, equals floor((x y + 2^30) / 2^31). */
static int32_t mul_high(int32_t x, int32_t y)
{
    if (x == INT32_MIN && y == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)x * y + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^e rounded half away from zero, 0 <= e <= 31: gemmlowp's RoundingDivideByPOT */
static int32_t divide_pot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << e) - 1u);
    const int32_t remainder = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* x * 2^e saturated to int32, 0 < e < 31 */
static int32_t saturating_shift_left(int32_t x, int32_t e)
{
    const int32_t limit = (int32_t)(((uint32_t)1 << (31 - e)) - 1u);
    return x > limit ? INT32_MAX : x < -limit ? INT32_MIN : (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), Q0 in and out: the Taylor series around -1/8 to the 4th power,
 * as gemmlowp evaluates it (x = a + 1/8; exp(-1/8) (1 + x + x^2/2 + x^3/6 + x^4/24)). */
static int32_t exp_quarter(int32_t a)
{
    const int32_t exp_minus_eighth = 1895147668;  /* exp(-1/8) in Q0 */
    const int32_t one_third = 715827883;          /* 1/3 in Q0 */
    const int32_t x = a + (1 << 28);              /* + 1/8 */
    const int32_t x2 = mul_high(x, x), x3 = mul_high(x2, x), x4 = mul_high(x2, x2);
    const int32_t x4_over_4 = divide_pot(x4, 2);
    const int32_t terms = divide_pot(mul_high(x4_over_4 + x3, one_third) + x2, 1);  /* x^4/24 + x^3/6 + x^2/2 */
    return exp_minus_eighth + mul_high(exp_minus_eighth, x + terms);
}

/* exp(a) for a <= 0 in Q5, the result in Q0: a = r - n/4 with r in [-1/4, 0) and n/4 a sum of
 * powers of two from 1/4 to 16 (Q5 ends at -32); exp(r), times exp(-2^k) for each bit of n/4. */
static int32_t exp_negative(int32_t a)
{
    static const int32_t exp_minus_pow2[7] = {  /* exp(-2^k) in Q0, k = -2 .. 4 */
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << (Q5_FRACTION_BITS - 2);
    const int32_t r = (a & (quarter - 1)) - quarter;
    const int32_t rest = r - a;  /* n/4 in Q5: a multiple of 1/4, >= 0 */
    int32_t result = exp_quarter(saturating_shift_left(r, 5));  /* Q5 -> Q0 */
    for (int32_t k = 0; k < 7; k++) {
        if (rest & (quarter << k)) {
            result = mul_high(result, exp_minus_pow2[k]);
        }
    }
    return a == 0 ? Q0_ONE : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0 in and out, as gemmlowp computes it: three Newton-Raphson
 * steps on d = (1 + a) / 2 in Q2, from 48/17 - 32/17 d; then 1 / (2 d) = x / 2. */
static int32_t one_over_one_plus(int32_t a)
{
    const int64_t sum = (int64_t)a + Q0_ONE;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);  /* rounded half sum */
    const int32_t q2_one = 1 << 29;
    int32_t x = 1515870810 + mul_high(half_denominator, -1010580540);  /* 48/17 - 32/17 d, Q2 */
    for (int32_t i = 0; i < 3; i++) {
        const int32_t error = q2_one - mul_high(half_denominator, x);      /* 1 - d x, Q2 */
        x = x + saturating_shift_left(mul_high(x, error), 2);             /* Q4 product back to Q2 */
    }
    /* x / 2 is x's own bits read as Q1; to Q0 one bit left, saturating (1 / (1 + 0) is 1) */
    return saturating_shift_left(x, 1);
}

static int32_t leading_zeros(uint32_t v)
{
    int32_t n = 0;
    for (uint32_t bit = 1u << 31; bit && !(v & bit); bit >>= 1) {
        n++;
    }
    return n;
}

/* The row's difference d rescaled to Q5: (d << left) * multiplier / 2^31, rounded */
static int32_t scaled_difference(const tml_softmax_params *p, int32_t d)
{
    return mul_high((int32_t)((uint32_t)d << p->input_left_shift), p->input_multiplier);
}

tml_status tml_softmax_check(const tml_softmax_params *p)
{
    if (p == 0) {
        return TML_ERR_NULL;
    }
    if (p->rows < 1 || p->depth < 1 || p->depth > MAX_DEPTH || (int64_t)p->rows * p->depth > TML_MAX_TENSOR) {
        return TML_ERR_SHAPE;
    }
    if (p->input_multiplier < 0 || p->input_left_shift < 0 || p->input_left_shift > 31 || p->diff_min > 0) {
        return TML_ERR_QUANT;
    }
    return TML_OK;
}

static void softmax_row(const tml_softmax_params *p, const int8_t *x, int8_t *out)
{
    int32_t max = -128;
    for (int32_t c = 0; c < p->depth; c++) {
        max = x[c] > max ? x[c] : max;
    }
    int32_t sum = 0;  /* Q12: at most 511 terms of at most 1 */
    for (int32_t c = 0; c < p->depth; c++) {
        const int32_t d = x[c] - max;
        if (d >= p->diff_min) {
            sum += divide_pot(exp_negative(scaled_difference(p, d)), SUM_INTEGER_BITS);  /* Q0 -> Q12 */
        }
    }
    /* sum = 2^bits_over_unit (1 + f), f in [0, 1): 1 / sum from 1 / (1 + f); sum >= 1 (the
     * maximum's own exp), so bits_over_unit is 0..8 for 511 values */
    const int32_t headroom = leading_zeros((uint32_t)sum);
    const int32_t bits_over_unit = SUM_INTEGER_BITS - headroom;
    const int32_t fraction = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
    const int32_t reciprocal = one_over_one_plus(fraction);
    for (int32_t c = 0; c < p->depth; c++) {
        const int32_t d = x[c] - max;
        int32_t y = -128;
        if (d >= p->diff_min) {
            const int32_t e = exp_negative(scaled_difference(p, d));
            /* e / sum in units of 1/256: the Q0 product shifted by bits_over_unit + 31 - 8 */
            y = divide_pot(mul_high(reciprocal, e), bits_over_unit + 23) - 128;
            y = y > 127 ? 127 : y;
        }
        out[c] = (int8_t)y;
    }
}

tml_status tml_softmax_s8(const tml_softmax_params *p, const int8_t *x, int8_t *out)
{
    if (x == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    tml_status st = tml_softmax_check(p);
    if (st != TML_OK) {
        return st;
    }
    for (int32_t r = 0; r < p->rows; r++) {
        softmax_row(p, x + r * p->depth, out + r * p->depth);
    }
    return TML_OK;
}
