/* Optimized int8 fully connected layer, one path per CPU family, each tested against
 * tml_fc_s8_ref() (fc_s8_ref.c) bit for bit: on the host (tests/native/test_core_host.py) and
 * cross-compiled for Cortex-M0+, M4, M33 and rv32imac under emulation (tests/native/test_core_emulated.py).
 * `make bench` prices them in cycles per MAC (docs/benchmarks.md).
 *
 * - "arm-dsp", Armv7E-M / Armv8-M Mainline with the DSP extension (Cortex-M4, M7, M33, M55):
 *   word loads, SXTB16 splits four int8 into two pairs of int16, SMLAD does two MACs; four
 *   output rows share each x word, eight inputs per loop turn.
 * - "armv6-m" (Cortex-M0, M0+, M1): four rows share each x byte through one index register
 *   (Thumb-1 byte loads take register offsets only), the loop in assembly with the
 *   accumulators in high registers; the requantization's high multiply in 32-bit pieces
 *   instead of GCC's 64-bit arithmetic.
 * - "portable", everything else (Xtensa, RISC-V, x86): plain C, four rows per pass so each
 *   x[i] load feeds four MACs. This is also the readable form of the two paths above.
 *
 * All paths end in the same requantization, requantize.c's tml_requantize (the reference)
 * restated so that it inlines, with its constants computed once per layer for per-tensor
 * scales. The caller ran tml_fc_check once, so multipliers are >= 0 and shifts in [-31, 30] here.
 */
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

#define ROWS 4

/* ---- requantization ---- */

typedef struct {
    int32_t mult;
    int32_t left;     /* tflm: left shift of the accumulator */
    int32_t right;    /* tflm: rounding right shift; litert: total right shift */
    int32_t mask;     /* tflm: (1 << right) - 1 */
    int64_t round;    /* litert: 1 << (total - 1) */
} requant;

static void requant_setup(requant *q, int32_t mult, int32_t shift, int32_t rounding)
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
static inline int8_t clamp_s8(int32_t y, int32_t lo, int32_t hi, int32_t zp)
{
    y = y < lo ? lo : y;
    y = y > hi ? hi : y;
    return (int8_t)(y + zp);
}

/* Requantize the accumulators of outputs o .. o + count - 1 into out[o...]. `qp` holds the
 * per-tensor constants; per-channel layers set them up per output. Copied into locals:
 * the int8 stores could alias *qp, which would reload it after every store. */
static inline void finish(const tml_fc_params *p, int32_t o, int32_t count, const int32_t *acc,
                          const int32_t *mult, const int8_t *shift, const requant *qp, int8_t *out)
{
    const int32_t zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp, rounding = p->rounding;
    requant q;
    q.mult = qp->mult; /* field by field: a struct copy can become a memcpy call */
    q.left = qp->left;
    q.right = qp->right;
    q.mask = qp->mask;
    q.round = qp->round;
    out += o;
    if (p->n_channels != 1) {
        for (int32_t k = 0; k < count; k++) {
            requant_setup(&q, mult[o + k], shift[o + k], rounding);
            int32_t y = rounding == TML_ROUNDING_LITERT ? requant_litert(&q, acc[k]) : requant_tflm(&q, acc[k]);
            out[k] = clamp_s8(y, lo, hi, zp);
        }
    } else if (rounding == TML_ROUNDING_LITERT) {
        for (int32_t k = 0; k < count; k++) {
            out[k] = clamp_s8(requant_litert(&q, acc[k]), lo, hi, zp);
        }
    } else {
        for (int32_t k = 0; k < count; k++) {
            out[k] = clamp_s8(requant_tflm(&q, acc[k]), lo, hi, zp);
        }
    }
}

/* ---- multiply-accumulate: rows 0..3 of w (n apart) against x, added to acc[0..3] ---- */

/* The readable form of every path: each x[i] load feeds four MACs; rows are `stride`
 * apart. Unsigned sums: int32 wrap-around as in TFLite, without C's signed-overflow UB. */
static inline void mac_rows_stride(const int8_t *x, const int8_t *w, int32_t n, int32_t stride, int32_t acc[ROWS])
{
    const int8_t *r0 = w, *r1 = w + stride, *r2 = w + 2 * stride, *r3 = w + 3 * stride;
    uint32_t a0 = (uint32_t)acc[0], a1 = (uint32_t)acc[1], a2 = (uint32_t)acc[2], a3 = (uint32_t)acc[3];
    for (int32_t i = 0; i < n; i++) {
        int32_t xi = x[i];
        a0 += (uint32_t)(r0[i] * xi);
        a1 += (uint32_t)(r1[i] * xi);
        a2 += (uint32_t)(r2[i] * xi);
        a3 += (uint32_t)(r3[i] * xi);
    }
    acc[0] = (int32_t)a0; acc[1] = (int32_t)a1; acc[2] = (int32_t)a2; acc[3] = (int32_t)a3;
}

/* The portable path: the same sums, four inputs per turn, so that a RISC-V or Xtensa core
 * issues one byte load, one multiply and one add per MAC, with the loads of a turn scheduled
 * ahead of their multiplies (no load-use bubbles) and the loop overhead spread over 16 MACs. */
#if !defined(TML_PATH_DSP) && !defined(TML_PATH_V6M)
/* Keeps the second half's loads below the first half's: hoisted above, its 8 weights would
 * be live beside the first half's 8, more than the free registers, and spill. */
#if defined(__GNUC__)
#define TML_LOAD_FENCE() __asm__ volatile("" ::: "memory")
#else
#define TML_LOAD_FENCE() ((void)0)
#endif
#if defined(__GNUC__)
__attribute__((noinline))
#endif
#if defined(__XTENSA__) && defined(__GNUC__) && !defined(__clang__)
/* Xtensa has 14 free registers: a scheduler that watches register pressure spills less
 * (256x64 on lx106: 7.12 instructions per MAC instead of 9.00) */
__attribute__((optimize("sched-pressure")))
#endif
static void mac_rows_c(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[ROWS])
{
    const int8_t *r0 = w, *r1 = w + n, *r2 = w + 2 * n, *r3 = w + 3 * n;
    uint32_t a0 = (uint32_t)acc[0], a1 = (uint32_t)acc[1], a2 = (uint32_t)acc[2], a3 = (uint32_t)acc[3];
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t x0 = x[i], x1 = x[i + 1];
        a0 += (uint32_t)(r0[i] * x0) + (uint32_t)(r0[i + 1] * x1);
        a1 += (uint32_t)(r1[i] * x0) + (uint32_t)(r1[i + 1] * x1);
        a2 += (uint32_t)(r2[i] * x0) + (uint32_t)(r2[i + 1] * x1);
        a3 += (uint32_t)(r3[i] * x0) + (uint32_t)(r3[i + 1] * x1);
        TML_LOAD_FENCE();
        const int32_t x2 = x[i + 2], x3 = x[i + 3];
        a0 += (uint32_t)(r0[i + 2] * x2) + (uint32_t)(r0[i + 3] * x3);
        a1 += (uint32_t)(r1[i + 2] * x2) + (uint32_t)(r1[i + 3] * x3);
        a2 += (uint32_t)(r2[i + 2] * x2) + (uint32_t)(r2[i + 3] * x3);
        a3 += (uint32_t)(r3[i + 2] * x2) + (uint32_t)(r3[i + 3] * x3);
    }
    acc[0] = (int32_t)a0; acc[1] = (int32_t)a1; acc[2] = (int32_t)a2; acc[3] = (int32_t)a3;
    mac_rows_stride(x + i, w + i, n - i, n, acc);
}
#endif

static inline int32_t mac_row_c(const int8_t *x, const int8_t *r, int32_t n, int32_t a)
{
    uint32_t s = (uint32_t)a;
    for (int32_t i = 0; i < n; i++) {
        s += (uint32_t)(r[i] * x[i]);
    }
    return (int32_t)s;
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

/* four MACs: w bytes (0, 2) against xe = x bytes (0, 2), bytes (1, 3) against xo */
#define MAC4(acc, wv, xe, xo) \
    acc = (int32_t)__smlad(__sxtb16(wv), xe, (uint32_t)acc); \
    acc = (int32_t)__smlad(sxtb16_ror8(wv), xo, (uint32_t)acc)

/* p += 4, kept as such: without the empty asm GCC folds the steps into n + 4 offsets,
 * which needs a register the loop does not have */
#define NEXT_WORD(p) do { (p) += 4; __asm__("" : "+r"(p)); } while (0)

/* 14 live registers: x, rows 0 and 2 (rows 1 and 3 are n further), n, the count, four
 * accumulators, x split in two, two weight words and a half. Loads come in twos and threes:
 * on Cortex-M4 a load right behind a load takes one cycle instead of two. */
static inline TML_HOT void mac_rows(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[ROWS])
{
    const int8_t *xp = x, *p0 = w, *p2 = w + 2 * n;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t k = n >> 3; k != 0; k--) {
        uint32_t xv = load32(xp), wb = load32(p0 + n), wa = load32(p0);
        NEXT_WORD(p0);
        uint32_t xe = __sxtb16(xv), xo = sxtb16_ror8(xv);
        MAC4(a0, wa, xe, xo);
        MAC4(a1, wb, xe, xo);
        wb = load32(p2 + n);
        wa = load32(p2);
        NEXT_WORD(p2);
        MAC4(a2, wa, xe, xo);
        MAC4(a3, wb, xe, xo);
        xv = load32(xp + 4);
        wb = load32(p0 + n);
        wa = load32(p0);
        NEXT_WORD(p0);
        xe = __sxtb16(xv);
        xo = sxtb16_ror8(xv);
        MAC4(a0, wa, xe, xo);
        MAC4(a1, wb, xe, xo);
        wb = load32(p2 + n);
        wa = load32(p2);
        NEXT_WORD(p2);
        MAC4(a2, wa, xe, xo);
        MAC4(a3, wb, xe, xo);
        xp += 8;
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    int32_t done = n & ~7;
    if (done < n) {
        mac_rows_stride(x + done, w + done, n - done, n, acc);
    }
}

static inline TML_HOT int32_t mac_row(const int8_t *x, const int8_t *r, int32_t n, int32_t a)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t xv = load32(x + i);
        uint32_t wv = load32(r + i);
        MAC4(a, wv, __sxtb16(xv), sxtb16_ror8(xv));
    }
    return mac_row_c(x + i, r + i, n - i, a);
}

#elif TML_PATH_V6M

/* Thumb-1 has LDRSB with a register offset only, MULS and LDRSB on r0-r7 only, and no
 * free high register GCC would keep an accumulator in: its code for the C form
 * (mac_rows_stride) reloads two row bases from the stack and moves every product through
 * a high register, 6.4 cycles per MAC. Written out, the loop keeps x, the four row bases,
 * one index (from -n2 up to 0, so the add sets the flags the branch tests), x[i] and a product
 * in r0-r7, and the four accumulators in r8-r11, where ADD reaches them: per input one LDRSB
 * of x, then per row LDRSB, MULS, ADD: 19 cycles per 4 MACs, two inputs per turn.
 * The same sums as mac_rows_stride: 32-bit products added with wrap-around. */
__attribute__((naked, noinline))
static void mac_rows(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[ROWS])
{
    (void)x; (void)w; (void)n; (void)acc;
    __asm__ volatile(
        ".syntax unified\n"               /* GCC hands inline assembly to gas in divided syntax */
        "push  {r4, r5, r6, r7, lr}\n"
        "mov   r4, r8\n"
        "mov   r5, r9\n"
        "mov   r6, r10\n"
        "mov   r7, r11\n"
        "push  {r3, r4, r5, r6, r7}\n"   /* acc, then the caller's r8-r11 */
        "ldr   r4, [r3, #0]\n"
        "mov   r8, r4\n"
        "ldr   r4, [r3, #4]\n"
        "mov   r9, r4\n"
        "ldr   r4, [r3, #8]\n"
        "mov   r10, r4\n"
        "ldr   r4, [r3, #12]\n"
        "mov   r11, r4\n"
        "mov   r12, r2\n"              /* n, for the odd input */
        "movs  r4, #1\n"
        "bics  r2, r2, r4\n"           /* n2 = n & ~1 */
        "adds  r0, r0, r2\n"           /* x + n2 */
        "adds  r1, r1, r2\n"           /* row 0 + n2 */
        "mov   r6, r12\n"
        "adds  r3, r1, r6\n"           /* row 1 + n2 */
        "adds  r4, r3, r6\n"           /* row 2 + n2 */
        "adds  r5, r4, r6\n"           /* row 3 + n2 */
        "rsbs  r2, r2, #0\n"           /* i = -n2 */
        "beq   2f\n"
        "1:\n"
        "ldrsb r6, [r0, r2]\n"
        "ldrsb r7, [r1, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r8, r8, r7\n"
        "ldrsb r7, [r3, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r9, r9, r7\n"
        "ldrsb r7, [r4, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r10, r10, r7\n"
        "ldrsb r7, [r5, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r11, r11, r7\n"
        "adds  r2, r2, #1\n"
        "ldrsb r6, [r0, r2]\n"
        "ldrsb r7, [r1, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r8, r8, r7\n"
        "ldrsb r7, [r3, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r9, r9, r7\n"
        "ldrsb r7, [r4, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r10, r10, r7\n"
        "ldrsb r7, [r5, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r11, r11, r7\n"
        "adds  r2, r2, #1\n"
        "bne   1b\n"
        "2:\n"
        "mov   r6, r12\n"
        "lsrs  r6, r6, #1\n"           /* carry: n is odd, its last input is at index 0 */
        "bcc   3f\n"
        "ldrsb r6, [r0, r2]\n"
        "ldrsb r7, [r1, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r8, r8, r7\n"
        "ldrsb r7, [r3, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r9, r9, r7\n"
        "ldrsb r7, [r4, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r10, r10, r7\n"
        "ldrsb r7, [r5, r2]\n"
        "muls  r7, r6, r7\n"
        "add   r11, r11, r7\n"
        "3:\n"
        "pop   {r3, r4, r5, r6, r7}\n"
        "mov   r0, r8\n"
        "str   r0, [r3, #0]\n"
        "mov   r0, r9\n"
        "str   r0, [r3, #4]\n"
        "mov   r0, r10\n"
        "str   r0, [r3, #8]\n"
        "mov   r0, r11\n"
        "str   r0, [r3, #12]\n"
        "mov   r8, r4\n"
        "mov   r9, r5\n"
        "mov   r10, r6\n"
        "mov   r11, r7\n"
        "pop   {r4, r5, r6, r7, pc}\n"
        ".syntax divided\n");
}

#define mac_row mac_row_c

#else /* portable C */

#define mac_rows mac_rows_c
#define mac_row mac_row_c

#endif

TML_HOT tml_status tml_fc_s8(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (p == 0 || x == 0 || w == 0 || bias == 0 || mult == 0 || shift == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    /* p, mult and shift passed tml_fc_check when the layer was prepared (tinyml.h) */
    const int32_t n = p->n_in, n_out = p->n_out, zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp;
    /* the usual case, per-tensor scale and TFLite Micro rounding, requantizes inline */
    const int common = p->n_channels == 1 && p->rounding == TML_ROUNDING_TFLM;
    requant q;
    requant_setup(&q, mult[0], shift[0], p->rounding);
    int32_t acc[ROWS];
    int32_t o = 0;
    for (; o + ROWS <= n_out; o += ROWS) {
        acc[0] = bias[o]; /* spelled out: a loop here becomes a memcpy call */
        acc[1] = bias[o + 1];
        acc[2] = bias[o + 2];
        acc[3] = bias[o + 3];
        mac_rows(x, w + o * n, n, acc);
        if (common) {
            out[o] = clamp_s8(requant_tflm(&q, acc[0]), lo, hi, zp);
            out[o + 1] = clamp_s8(requant_tflm(&q, acc[1]), lo, hi, zp);
            out[o + 2] = clamp_s8(requant_tflm(&q, acc[2]), lo, hi, zp);
            out[o + 3] = clamp_s8(requant_tflm(&q, acc[3]), lo, hi, zp);
        } else {
            /* a copy: indexed by a variable, acc itself would have to live in memory */
            int32_t copy[ROWS];
            copy[0] = acc[0];
            copy[1] = acc[1];
            copy[2] = acc[2];
            copy[3] = acc[3];
            finish(p, o, ROWS, copy, mult, shift, &q, out);
        }
    }
    for (; o < n_out; o++) {
        acc[0] = mac_row(x, w + o * n, n, bias[o]);
        finish(p, o, 1, acc, mult, shift, &q, out);
    }
    return TML_OK;
}

const char *tml_fc_s8_variant(void)
{
    return TML_VARIANT;
}
