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

/* Large tensors with a linear input (TFLite rescales the input of the larger scale by exactly
 * one half: multiplier 2^30, shift 0, so its rescaled value is (x + offset) 2^19): the other
 * input's rescale a(x) is (x + o) m / 2^(11 + r) rounded twice, so with the slope's integer part
 * s = m >> (11 + r), e(x) = a(x) - (x + o) s is small, and 2 (a + b) = 2 s x1 + 2 e(x1)
 * + x2 2^20 + c, c = 2 o1 s + o2 2^20 (mod 2^32; the sum itself is below 2^31). Per element one
 * table load, MLA and ADD instead of two rescales (8 instructions each); e's table (2 e per
 * int8 value, 512 bytes on the stack) is built per call from rescale's own arithmetic and
 * checked to fit int16. */
#define ADD_TABLE_MIN 1024

typedef struct {
    const int8_t *x1;   /* 0: the input with the table */
    const int8_t *x2;   /* 4: the linear input */
    int8_t *out;        /* 8 */
    const int8_t *end;  /* 12: x1 + size */
    const int16_t *e;   /* 16: the table at x = 0 */
    int32_t slope;      /* 20: 2 s */
    int32_t c;          /* 24 */
    int32_t mo;         /* 28: output multiplier */
    int32_t ro;         /* 32: output right shift - 1 */
    int32_t zp2;        /* 36: 2 output_zp + 1 */
} add_job;

/* per element: the two loads, the table, 2 (a + b), requant_fast's steps and SSAT (as
 * conv_s8.c); two elements per turn (an odd count's first alone). r0 x1, r1 x2, r2 out, r3 end. */
#define ADD_ELEMENT(K) \
        "ldrsb r10, [r0, #" #K "]\n" \
        "ldrsb r11, [r1, #" #K "]\n" \
        "ldrsh r12, [r4, r10, lsl #1]\n" \
        "add   r12, r12, r6\n" \
        "mla   r12, r10, r5, r12\n" \
        "add   r12, r12, r11, lsl #20\n" \
        "smmulr r12, r12, r7\n" \
        "add   r12, r12, r12, asr #31\n" \
        "asr   r12, r12, r8\n" \
        "add   r12, r12, r9\n" \
        "ssat  r12, #8, r12, asr #1\n" \
        "strb  r12, [r2, #" #K "]\n"

__attribute__((naked, noinline)) static void add_table_dsp(const add_job *job)
{
    (void)job;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "ldm   r0, {r0, r1, r2, r3, r4, r5, r6, r7, r8, r9}\n"
        "sub   r10, r3, r0\n"
        "tst   r10, #1\n"
        "beq   1f\n"
        ADD_ELEMENT(0)
        "adds  r0, r0, #1\n"
        "adds  r1, r1, #1\n"
        "adds  r2, r2, #1\n"
        "cmp   r0, r3\n"
        "beq   2f\n"
        "1:\n"
        ADD_ELEMENT(0)
        ADD_ELEMENT(1)
        "adds  r0, r0, #2\n"
        "adds  r1, r1, #2\n"
        "adds  r2, r2, #2\n"
        "cmp   r0, r3\n"
        "bne   1b\n"
        "2:\n"
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}

/* the table for input (o, m, r) into t (t[x + 128] = 2 e(x)), its slope 2 s; 0 when e does not fit */
static int add_table(int16_t *t, int32_t o, int32_t m, int32_t r, int32_t *slope)
{
    const int32_t s = 11 + r >= 31 ? 0 : m >> (11 + r);
    const int32_t o21 = (int32_t)((uint32_t)o << 21);
    for (int32_t x = -128; x < 128; x++) {
        const int32_t a = half_up(smmulr((int32_t)((uint32_t)x << 21) + o21, m), r);
        const int32_t e = (int32_t)((uint32_t)a - (uint32_t)(x + o) * (uint32_t)s);
        if (e < -16384 || e > 16383) {
            return 0;
        }
        t[x + 128] = (int16_t)(2 * e);
    }
    *slope = 2 * s;
    return 1;
}

/* add_fast through add_table_dsp when one input is linear and the act range the whole int8
 * range; 0 if not taken */
static int add_linear(const tml_add_params *p, const int8_t *x1, const int8_t *x2, int8_t *out)
{
    int32_t o = p->input1_offset, m = p->input1_multiplier, r = -p->input1_shift, ol = p->input2_offset;
    if (p->input2_multiplier != (1 << 30) || p->input2_shift != 0) {
        if (p->input1_multiplier != (1 << 30) || p->input1_shift != 0) {
            return 0;
        }
        const int8_t *x = x1;  /* the sum is symmetric: the table for input 2 */
        x1 = x2;
        x2 = x;
        o = p->input2_offset;
        m = p->input2_multiplier;
        r = -p->input2_shift;
        ol = p->input1_offset;
    }
    if (p->size < ADD_TABLE_MIN || p->act_min != -128 || p->act_max != 127) {
        return 0;
    }
    int16_t t[256];
    add_job job;
    if (!add_table(t, o, m, r, &job.slope)) {
        return 0;
    }
    job.x1 = x1;
    job.x2 = x2;
    job.out = out;
    job.end = x1 + p->size;
    job.e = t + 128;
    job.c = (int32_t)((uint32_t)o * (uint32_t)job.slope + ((uint32_t)ol << 20));
    job.mo = p->output_multiplier;
    job.ro = -p->output_shift - 1;
    job.zp2 = 2 * p->output_zp + 1;
    add_table_dsp(&job);
    return 1;
}

static TML_HOT void add_fast(const tml_add_params *p, const int8_t *x1, const int8_t *x2, int8_t *out)
{
    const int32_t o1 = (int32_t)((uint32_t)p->input1_offset << 21), m1 = p->input1_multiplier, r1 = -p->input1_shift;
    const int32_t o2 = (int32_t)((uint32_t)p->input2_offset << 21), m2 = p->input2_multiplier, r2 = -p->input2_shift;
    const int32_t mo = p->output_multiplier, ro = -p->output_shift - 1, zp2 = 2 * p->output_zp + 1;
    const int32_t n = p->size;
    if (add_linear(p, x1, x2, out)) {
        return;
    }
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
