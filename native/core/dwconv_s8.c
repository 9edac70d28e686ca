/* DEPTHWISE_CONV_2D, int8, depth multiplier 1. A 3x3 filter makes 9 MACs per output, so what
 * is done per output (taps, requantization set-up, loop overhead) costs as much as the MACs:
 * it is hoisted as far out as it goes.
 * - Channels are done four at a time (contiguous in NHWC and in the [filter_h][filter_w][C]
 *   weights), each group of four over every output pixel: its weights, bias and requantization
 *   constants are set up once per layer, not once per pixel.
 * - The taps inside the input (TFLite skips the others) depend on the row alone (filter rows)
 *   and on the column alone (filter columns): worked out once per row and once per layer, so
 *   the MAC loops have no bounds tests.
 * - The input offset: acc = bias + sum w (x - zp) = bias - zp sum w + sum w x. For the columns
 *   whose window is inside the input left and right ("interior"), sum w over the row's taps is
 *   worked out once per group and row range, so their MAC loops multiply x as it is; the edge
 *   columns add the offset to x in the loop.
 * - "arm-dsp": the group's weights split into halfword pairs (SXTB16) once and kept on the
 *   stack, so per tap one word load of x, SXTB16 twice and SMLABB/SMLATT four times; 3x3
 *   filters in assembly (row3_dsp), one call per row class running its edge columns and
 *   interior; rows of more than 3 taps inside the input too (rowN_dsp), which an Nx1 filter on
 *   a one-column input (StrWW) becomes when seen as 1xN. Requantization by SMMULR when the
 *   layer allows it (requant_fast). Outputs of at most DW_SMALL_PIXELS pixels (VWW's 6x6 and
 *   3x3) turn the loops round (dw_small): per pixel its window once, then every group of 4
 *   channels straight from the layer's weights, in assembly (small3_dsp).
 * - elsewhere: the group's weights packed on the stack, four byte MACs per tap in C.
 * Filters of more than DW_MAX_TAPS taps, and the last in_c % 4 channels, go one channel at a
 * time through plain C. Tested against tml_dwconv_s8_ref bit for bit on every core. */
#include "kernel.h"

/* taps of a group's weights staged on the stack (8 bytes each on arm-dsp, 4 elsewhere) */
#define DW_MAX_TAPS 32
/* edge columns of a 3x3 filter given their own copy of the weights (arm-dsp) */
#define DW_MAX_EDGES 4

#if defined(__GNUC__)
#define TML_INLINE inline __attribute__((always_inline))
#else
#define TML_INLINE inline
#endif

/* Loops, not memcpy/memset: a natmod and the emulated builds have no C library (as conv_s8.c) */
#if defined(__GNUC__) && !defined(__clang__)
#define TML_NO_LIBCALLS __attribute__((noinline, optimize("no-tree-loop-distribute-patterns")))
#else
#define TML_NO_LIBCALLS
#endif

/* What does not change from group to group: the window's geometry and the interior columns
 * ox_lo..ox_hi - 1 (their filter columns all inside the input). */
typedef struct {
    const tml_conv_params *p;
    const int8_t *x;
    int8_t *out;
    int32_t ch, row_step, taps, offset, ox_lo, ox_hi;
    int32_t c;  /* the group's first channel (dw_group_rows3) */
} dw_layer;

/* Filter rows *lo..*hi - 1 of output row oy are inside the input; the first reads input row iy0 + *lo. */
static inline void rows_of(const tml_conv_params *p, int32_t oy, int32_t *iy0, int32_t *lo, int32_t *hi)
{
    *iy0 = oy * p->stride_h - p->pad_top;
    *lo = *iy0 < 0 ? -*iy0 : 0;
    *hi = p->in_h - *iy0 < p->filter_h ? p->in_h - *iy0 : p->filter_h;
}

static inline void cols_of(const tml_conv_params *p, int32_t ox, int32_t *ix0, int32_t *lo, int32_t *hi)
{
    *ix0 = ox * p->stride_w - p->pad_left;
    *lo = *ix0 < 0 ? -*ix0 : 0;
    *hi = p->in_w - *ix0 < p->filter_w ? p->in_w - *ix0 : p->filter_w;
}

/* requantize, any layer: tml_requantize restated (kernel.h), then clamp */
static inline int8_t requant_any(const requant *q, int32_t rounding, int32_t acc, int32_t lo, int32_t hi, int32_t zp)
{
    const int32_t y = rounding == TML_ROUNDING_LITERT ? requant_litert(q, acc) : requant_tflm(q, acc);
    return clamp_s8(y, lo, hi, zp);
}

/* ---- one channel at a time: the last in_c % 4 channels, and filters of more than DW_MAX_TAPS taps ---- */

static void dw_channel(const dw_layer *d, const int8_t *w, const int32_t *bias, const int32_t *mult,
                       const int8_t *shift, int32_t c)
{
    const tml_conv_params *p = d->p;
    const int32_t ch = d->ch, zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp;
    const int32_t k = p->n_channels == 1 ? 0 : c;
    requant q;
    requant_setup(&q, mult[k], shift[k], p->rounding);
    int8_t *o = d->out + c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t iy0, ky_lo, ky_hi;
        rows_of(p, oy, &iy0, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            int32_t ix0, kx_lo, kx_hi;
            cols_of(p, ox, &ix0, &kx_lo, &kx_hi);
            /* unsigned sums: int32 wrap-around as in TFLite, without C's signed-overflow UB */
            uint32_t a = (uint32_t)bias[c];
            for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
                const int8_t *xr = d->x + ((iy0 + ky) * p->in_w + ix0 + kx_lo) * ch + c;
                const int8_t *wr = w + (ky * p->filter_w + kx_lo) * ch + c;
                for (int32_t k = 0; k < kx_hi - kx_lo; k++) {
                    a += (uint32_t)(wr[k * ch] * (xr[k * ch] + d->offset));
                }
            }
            *o = requant_any(&q, p->rounding, (int32_t)a, lo, hi, zp);
        }
    }
}

/* ---- four channels at a time ---- */

/* A group's requantization. The usual layer (TFLite Micro rounding, shift <= -1, and an
 * accumulator that cannot reach 2^30 in magnitude) takes requant_fast; others requant_any. */
typedef struct {
    int32_t mult[4], round[4], right[4];
    requant q[4];
    int fast;
} group_requant;

static void group_requant_setup(group_requant *g, const tml_conv_params *p, const int32_t *bias,
                                const int32_t *mult, const int8_t *shift, int32_t c, int32_t taps)
{
    g->fast = p->rounding == TML_ROUNDING_TFLM && taps <= 16384;
    for (int32_t k = 0; k < 4; k++) {
        const int32_t i = p->n_channels == 1 ? 0 : c + k;
        requant_setup(&g->q[k], mult[i], shift[i], p->rounding);
        g->mult[k] = mult[i];
        g->right[k] = -shift[i];
        g->round[k] = g->right[k] >= 1 ? (int32_t)(1u << (g->right[k] - 1)) : 0;
        /* |acc| <= |bias| + taps 128 255 (|w| <= 128, |x - zp| <= 255): below 2^30 */
        const uint32_t b = bias[c + k] < 0 ? 0u - (uint32_t)bias[c + k] : (uint32_t)bias[c + k];
        if (shift[i] > -1 || b >= (1u << 30) - (uint32_t)taps * 32640u) {
            g->fast = 0;
        }
    }
}

/* TFLite Micro's requantization for shift <= -1 and |acc| < 2^30: high = (2 acc m + 2^31) >> 32
 * (= SaturatingRoundingDoublingHighMul, as 2 acc fits), then RoundingDivideByPOT(high, right)
 * = (high + 2^(right - 1) - (high < 0)) >> right, which cannot overflow (|high| < 2^30). */
static TML_INLINE int32_t requant_fast(int32_t acc, int32_t m, int32_t round, int32_t right)
{
#if TML_PATH_DSP && defined(__GNUC__)
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"((int32_t)((uint32_t)acc << 1)), "r"(m));
#else
    const int32_t high = high_mul(acc, m);
#endif
    return (int32_t)((uint32_t)high + (uint32_t)round + (uint32_t)(high >> 31)) >> right;
}

/* How a group's outputs are requantized: requant_fast, clamped to the full int8 range or to
 * [act_min, act_max], or requant_any. */
enum { STORE_FAST_FULL, STORE_FAST_CLAMP, STORE_ANY };

static TML_INLINE int8_t store_fast(int32_t acc, int32_t m, int32_t round, int32_t right, int32_t zp, int32_t lo,
                                    int32_t hi, int mode)
{
    int32_t v = requant_fast(acc, m, round, right) + zp;  /* |v| < 2^30 */
#if TML_PATH_DSP
    if (mode == STORE_FAST_FULL) {
        return (int8_t)__ssat(v, 8);
    }
#endif
    (void)mode;
    if (TML_RARELY(v < lo)) {
        v = lo;
    }
    if (TML_RARELY(v > hi)) {
        v = hi;
    }
    return (int8_t)v;
}

/* four outputs of one pixel, spelled out: a loop indexes the constants through the stack */
static TML_INLINE void store4(int8_t *o, const uint32_t a[4], const group_requant *g, const tml_conv_params *p,
                              int mode)
{
    const int32_t zp = p->output_zp;
    if (mode != STORE_ANY) {
        const int32_t lo = p->act_min, hi = p->act_max;
        o[0] = store_fast((int32_t)a[0], g->mult[0], g->round[0], g->right[0], zp, lo, hi, mode);
        o[1] = store_fast((int32_t)a[1], g->mult[1], g->round[1], g->right[1], zp, lo, hi, mode);
        o[2] = store_fast((int32_t)a[2], g->mult[2], g->round[2], g->right[2], zp, lo, hi, mode);
        o[3] = store_fast((int32_t)a[3], g->mult[3], g->round[3], g->right[3], zp, lo, hi, mode);
    } else {
        for (int32_t k = 0; k < 4; k++) {
            o[k] = requant_any(&g->q[k], p->rounding, (int32_t)a[k], p->act_min - zp, p->act_max - zp, zp);
        }
    }
}

#if TML_PATH_DSP

/* A group's weights for the MAC loops: per tap, channels (0, 2) and (1, 3) as halfword pairs. */
typedef struct {
    uint32_t w02, w13;
} tap_w;

static TML_NO_LIBCALLS void stage_weights(tap_w *wq, const int8_t *w, int32_t c, int32_t ch, int32_t taps)
{
    for (int32_t t = 0; t < taps; t++) {
        const uint32_t v = load32(w + t * ch + c);
        wq[t].w02 = __sxtb16(v);
        wq[t].w13 = sxtb16_ror8(v);
    }
}

/* sum over `rows` rows of `cols` taps (the rows `stride` taps apart) of w * offset, per channel;
 * the weight sums as halfword pairs (SADD16: at most DW_MAX_TAPS 128 in magnitude) */
static void offset_terms(const tap_w *wq, int32_t rows, int32_t cols, int32_t stride, int32_t offset,
                         uint32_t corr[4])
{
    uint32_t s02 = 0, s13 = 0;
    for (int32_t r = 0; r < rows; r++, wq += stride) {
        for (int32_t k = 0; k < cols; k++) {
            s02 = __sadd16(s02, wq[k].w02);
            s13 = __sadd16(s13, wq[k].w13);
        }
    }
    corr[0] = (uint32_t)((int16_t)s02 * offset);
    corr[2] = (uint32_t)(((int32_t)s02 >> 16) * offset);
    corr[1] = (uint32_t)((int16_t)s13 * offset);
    corr[3] = (uint32_t)(((int32_t)s13 >> 16) * offset);
}

/* acc0 plus the offset's terms of `rows` rows whose weight sums are sums[r] (halfword pairs of
 * channels (0, 2) and (1, 3)) */
static TML_INLINE void acc_start(uint32_t acc[4], const uint32_t acc0[4], const uint32_t *sums, int32_t rows,
                                 int32_t offset)
{
    uint32_t s02 = sums[0], s13 = sums[1];
    for (int32_t r = 1; r < rows; r++) {
        s02 = __sadd16(s02, sums[2 * r]);
        s13 = __sadd16(s13, sums[2 * r + 1]);
    }
    acc[0] = acc0[0] + (uint32_t)((int16_t)s02 * offset);
    acc[2] = acc0[2] + (uint32_t)(((int32_t)s02 >> 16) * offset);
    acc[1] = acc0[1] + (uint32_t)((int16_t)s13 * offset);
    acc[3] = acc0[3] + (uint32_t)(((int32_t)s13 >> 16) * offset);
}

/* one tap: x's 4 bytes at xp against the tap's split weights, the offset added to x if asked */
#define DSP_TAP(xp, wt, add_offset) \
    do { \
        const uint32_t xv_ = load32(xp); \
        uint32_t x02_ = __sxtb16(xv_), x13_ = sxtb16_ror8(xv_); \
        if (add_offset) { \
            x02_ = __sadd16(x02_, off2); \
            x13_ = __sadd16(x13_, off2); \
        } \
        a0 = (uint32_t)__smlabb((int32_t)(wt).w02, (int32_t)x02_, (int32_t)a0); \
        a2 = (uint32_t)__smlatt((int32_t)(wt).w02, (int32_t)x02_, (int32_t)a2); \
        a1 = (uint32_t)__smlabb((int32_t)(wt).w13, (int32_t)x13_, (int32_t)a1); \
        a3 = (uint32_t)__smlatt((int32_t)(wt).w13, (int32_t)x13_, (int32_t)a3); \
    } while (0)

/* rows x cols taps from xp (rows row_step apart, taps ch apart) and wq (rows fw taps apart) */
static TML_INLINE void mac_taps(const int8_t *xp, int32_t ch, int32_t row_step, const tap_w *wq,
                                int32_t fw, int32_t rows, int32_t cols, uint32_t off2, int add_offset,
                                uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t r = 0; r < rows; r++, xp += row_step, wq += fw) {
        const int8_t *xc = xp;
        for (int32_t k = 0; k < cols; k++, xc += ch) {
            DSP_TAP(xc, wq[k], add_offset);
        }
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

/* A part of an output row the 3x3 assembly runs: n pixels from x_off (bytes from the row's
 * first filter row's column 0 of the group) and out_off, with weights wq (the row class's first
 * filter row) and accumulator start acc0 (bias + the offset's terms). The interior columns are
 * one segment, each edge column one of its own, with its own copy of the weights (zero for the
 * taps outside the input). */
typedef struct {
    int32_t x_off;
    const tap_w *wq;
    const uint32_t *acc0;
    int32_t out_off;
    int32_t n;
} row3_seg;

/* Output rows of one row class (the same filter rows inside the input), 3x3 filter,
 * requant_fast: everything the assembly below reads, at fixed offsets. */
typedef struct {
    const int8_t *x;       /* 0: the pixel's first tap */
    const tap_w *wq;       /* 4: the segment's first filter row's taps */
    int32_t rows;          /* 8: filter rows inside the input, 1..3 */
    int32_t ch;            /* 12 */
    int32_t row_step;      /* 16: bytes between input rows */
    int32_t x_step;        /* 20: stride_w ch */
    int8_t *out;           /* 24: the pixel's 4 outputs */
    int32_t n;             /* 28: the segment's pixels left */
    const uint32_t *acc0;  /* 32: the segment's accumulator start */
    int32_t tail;          /* 36: rowN_dsp: taps after the groups of 3 */
    int32_t pad2_[2];      /* 40 */
    int32_t q[4][2];       /* 48: per channel mult, right - 1 */
    int32_t pad3_[4];      /* 80 */
    int32_t zp2;           /* 96: 2 output_zp + 1 */
    uint32_t lo4, hi4;     /* 100: act_min, act_max in each byte */
    const row3_seg *seg;   /* 108: the next segment of this row */
    int32_t segs_left;     /* 112: segments of this row after the current one */
    const int8_t *x_row;   /* 116: this output row's first filter row, column 0, channel c */
    int8_t *out_row;       /* 120: this output row's pixel 0, channel c */
    int32_t rows_left;     /* 124: output rows left, >= 1 */
    int32_t x_row_step;    /* 128: stride_h row_step */
    int32_t out_row_step;  /* 132: out_w ch */
    const row3_seg *seg0;  /* 136: the row's segments */
    int32_t nseg;          /* 140: >= 1 */
} row3_job;

/* Per pixel: the accumulators from acc0; per filter row the 3 taps, each one run of loads (x
 * word, the tap's two weight words: 2 + 1 + 1 cycles), SXTB16 x twice, SMLABB/SMLATT four
 * times; then per channel the requant_fast steps (SMMULR on 2 acc, the rounding shift), + zp,
 * SSAT; the four bytes packed (BFI) and clamped to [act_min, act_max] at once (SSUB8 + SEL
 * twice), one word store. MAC registers: r0 x, r1 wq, r2 rows left, r3 row_step, r4-r7 the
 * accumulators, r8-r11 loaded words, r12 ch, lr 2 ch; the job at [sp]. */
#define ROW_TAP(XOFF, WOFF) \
        "ldr   r8, [r0" XOFF "]\n" \
        "ldr   r10, [r1, #" WOFF "]\n" \
        "ldr   r11, [r1, #" WOFF "+4]\n" \
        "sxtb16 r9, r8\n" \
        "smlabb r4, r10, r9, r4\n" \
        "smlatt r6, r10, r9, r6\n" \
        "sxtb16 r8, r8, ror #8\n" \
        "smlabb r5, r11, r8, r5\n" \
        "smlatt r7, r11, r8, r7\n"

#define ROW_HEAD \
        ".syntax unified\n" \
        "push  {r0, r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
        "mov   r12, r0\n" \
        "b     20f\n" \
        "10:\n" \
        "ldr   lr, [sp]\n" \
        "ldm   lr, {r0, r1, r2, r12}\n" \
        "ldr   r3, [lr, #16]\n" \
        "ldr   lr, [lr, #32]\n" \
        "ldm   lr, {r4, r5, r6, r7}\n" \
        "lsl   lr, r12, #1\n" \
        "cmp   r2, #3\n" \
        "bne   1f\n"                          /* 1 or 2 filter rows, or rowN_dsp's: ROW_LOOP */ \
        ROW_TAP("", "0") ROW_TAP(", r12", "8") ROW_TAP(", lr", "16") \
        "add   r0, r0, r3\n" \
        ROW_TAP("", "24") ROW_TAP(", r12", "32") ROW_TAP(", lr", "40") \
        "add   r0, r0, r3\n" \
        ROW_TAP("", "48") ROW_TAP(", r12", "56") ROW_TAP(", lr", "64") \
        "add   r0, r0, r3\n" \
        "add   r1, r1, #72\n" \
        "2:\n"

/* any number of filter rows (groups of 3 taps), out of line: back to 2 */
#define ROW_LOOP \
        "1:\n" \
        ROW_TAP("", "0") ROW_TAP(", r12", "8") ROW_TAP(", lr", "16") \
        "add   r0, r0, r3\n" \
        "adds  r1, r1, #24\n" \
        "subs  r2, r2, #1\n" \
        "bne   1b\n" \
        "b     2b\n"

#define ROW_TAIL \
        /* the last taps % 3 taps (rowN_dsp) */ \
        "ldr   r3, [sp]\n" \
        "ldr   r2, [r3, #36]\n" \
        "cbz   r2, 5f\n" \
        ROW_TAP("", "0") \
        "cmp   r2, #1\n" \
        "beq   5f\n" \
        ROW_TAP(", r12", "8") \
        "5:\n"

#define ROW_REST \
        /* requantize as conv_s8.c's PAIR_REQUANT: r12 the job, lr its constants, r3 2 zp + 1 */ \
        "ldr   r12, [sp]\n" \
        "add   lr, r12, #48\n" \
        "ldr   r3, [r12, #96]\n" \
        "ldm   lr!, {r8, r9}\n" \
        "lsl   r4, r4, #1\n" \
        "smmulr r4, r4, r8\n" \
        "add   r4, r4, r4, asr #31\n" \
        "asr   r4, r4, r9\n" \
        "add   r4, r4, r3\n" \
        "ssat  r4, #8, r4, asr #1\n" \
        "ldm   lr!, {r8, r9}\n" \
        "lsl   r5, r5, #1\n" \
        "smmulr r5, r5, r8\n" \
        "add   r5, r5, r5, asr #31\n" \
        "asr   r5, r5, r9\n" \
        "add   r5, r5, r3\n" \
        "ssat  r5, #8, r5, asr #1\n" \
        "ldm   lr!, {r8, r9}\n" \
        "lsl   r6, r6, #1\n" \
        "smmulr r6, r6, r8\n" \
        "add   r6, r6, r6, asr #31\n" \
        "asr   r6, r6, r9\n" \
        "add   r6, r6, r3\n" \
        "ssat  r6, #8, r6, asr #1\n" \
        "ldm   lr!, {r8, r9}\n" \
        "lsl   r7, r7, #1\n" \
        "smmulr r7, r7, r8\n" \
        "add   r7, r7, r7, asr #31\n" \
        "asr   r7, r7, r9\n" \
        "add   r7, r7, r3\n" \
        "ssat  r7, #8, r7, asr #1\n" \
        "bfi   r4, r5, #8, #8\n" \
        "bfi   r4, r6, #16, #8\n" \
        "bfi   r4, r7, #24, #8\n" \
        "ldrd  r8, r9, [r12, #100]\n"      /* lo4, hi4 */ \
        "ssub8 r10, r4, r8\n" \
        "sel   r4, r4, r8\n"                /* max(v, act_min) per byte */ \
        "ssub8 r10, r4, r9\n" \
        "sel   r4, r9, r4\n"                /* min(v, act_max) per byte */ \
        /* store, then the next pixel */ \
        "ldm   r12, {r0, r1, r2, r3}\n"     /* x, wq, rows, ch */ \
        "ldr   r5, [r12, #20]\n" \
        "ldr   r6, [r12, #24]\n" \
        "ldr   r7, [r12, #28]\n" \
        "str   r4, [r6]\n" \
        "add   r0, r0, r5\n" \
        "add   r6, r6, r3\n" \
        "str   r0, [r12]\n" \
        "str   r6, [r12, #24]\n" \
        "subs  r7, r7, #1\n" \
        "str   r7, [r12, #28]\n" \
        "bne   10b\n" \
        /* the row's next segment */ \
        "20:\n" \
        "ldr   r0, [r12, #112]\n" \
        "cbz   r0, 30f\n" \
        "subs  r0, r0, #1\n" \
        "str   r0, [r12, #112]\n" \
        "ldr   r1, [r12, #108]\n" \
        "ldm   r1!, {r2, r3, r5, r6, r7}\n"   /* x_off, wq, acc0, out_off, n */ \
        "str   r1, [r12, #108]\n" \
        "ldr   r0, [r12, #116]\n" \
        "add   r2, r2, r0\n" \
        "ldr   r0, [r12, #120]\n" \
        "add   r6, r6, r0\n" \
        "str   r2, [r12, #0]\n" \
        "str   r3, [r12, #4]\n" \
        "str   r6, [r12, #24]\n" \
        "str   r7, [r12, #28]\n" \
        "str   r5, [r12, #32]\n" \
        "b     10b\n" \
        /* the next output row */ \
        "30:\n" \
        "ldr   r0, [r12, #124]\n" \
        "subs  r0, r0, #1\n" \
        "beq   40f\n" \
        "str   r0, [r12, #124]\n" \
        "add   r3, r12, #116\n" \
        "ldm   r3, {r0, r1, r2, r4, r5, r6, r7}\n"  /* x_row, out_row, rows_left, x_row_step, out_row_step, seg0, nseg */ \
        "add   r0, r0, r4\n" \
        "add   r1, r1, r5\n" \
        "strd  r0, r1, [r12, #116]\n" \
        "strd  r6, r7, [r12, #108]\n" \
        "b     20b\n" \
        "40:\n" \
        "pop   {r0, r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

__attribute__((naked, noinline))
static void row3_dsp(row3_job *job)
{
    (void)job;
    __asm__ volatile(ROW_HEAD ROW_REST ROW_LOOP);
}

/* The same for a row of more than 3 taps (one filter row, every column inside the input): job
 * rows is taps / 3, row_step 3 ch, and pad (offset 36) the last taps % 3 */
__attribute__((naked, noinline))
static void rowN_dsp(row3_job *job)
{
    (void)job;
    __asm__ volatile(ROW_HEAD ROW_TAIL ROW_REST ROW_LOOP);
}

/* Two output rows at once (3x3 filter, stride_h 1 or 2, every filter row inside the input): pixel A
 * at output row oy and pixel B below it read input rows 0..2 and 1..3 of a 4-row window, so each
 * x word of input rows 1 and 2 is loaded and split once for both pixels, and the requantization
 * constants and the bookkeeping are paid once per pair. At stride_h 2 (pair3s2_dsp) B's window
 * is input rows 2..4 of a 5-row one: row 2 is shared. One call runs `pairs` row pairs of one
 * segment (n pixels each, one set of weights and accumulator start). */
typedef struct {
    const int8_t *x;        /* 0: pixel A's window, input row 0, column 0, channel c */
    int8_t *out;            /* 4: pixel A's 4 outputs */
    int32_t n;              /* 8: pixels of the segment per row */
    int32_t pairs;          /* 12: row pairs, >= 1 */
    int32_t ch;             /* 16 */
    int32_t row_step;       /* 20: bytes between input rows */
    int32_t x_step;         /* 24: stride_w ch */
    int32_t out_step;       /* 28: ch */
    int32_t x_pair_step;    /* 32: 2 row_step - n x_step */
    int32_t out_pair_step;  /* 36: 2 out_w ch - n ch */
    int32_t out_row;        /* 40: out_w ch: pixel B's outputs from A's */
    int32_t zp2;            /* 44: 2 output_zp + 1 */
    uint32_t lo4, hi4;      /* 48: act_min, act_max in each byte */
    int32_t q[4][2];        /* 56: per channel mult, right - 1 */
    const uint32_t *acc0;   /* 88: accumulator start (4) */
    const tap_w *wq;        /* 92: the segment's 9 taps */
} pair3_job;

/* The frame (sp-relative): 0 the accumulator start twice (one LDM fills both pixels'), 32 the
 * weights (tap t at 32 + 8 t), 104 the job's first 22 words (x at 104 ... q at 160), 192 the
 * pixels left in this row pair. MAC registers: r0 x, r1 ch, r2/r3 x split, r12/lr weights,
 * r4-r7 pixel A's accumulators, r8-r11 pixel B's. */
#define PAIR_TAP_A(XOFF, W) \
        "ldr   r2, [r0" XOFF "]\n" \
        "ldr   r12, [sp, #" #W "]\n" \
        "ldr   lr, [sp, #" #W "+4]\n" \
        "sxtb16 r3, r2\n" \
        "smlabb r4, r12, r3, r4\n" \
        "smlatt r6, r12, r3, r6\n" \
        "sxtb16 r2, r2, ror #8\n" \
        "smlabb r5, lr, r2, r5\n" \
        "smlatt r7, lr, r2, r7\n"

#define PAIR_TAP_B(XOFF, W) \
        "ldr   r2, [r0" XOFF "]\n" \
        "ldr   r12, [sp, #" #W "]\n" \
        "ldr   lr, [sp, #" #W "+4]\n" \
        "sxtb16 r3, r2\n" \
        "smlabb r8, r12, r3, r8\n" \
        "smlatt r10, r12, r3, r10\n" \
        "sxtb16 r2, r2, ror #8\n" \
        "smlabb r9, lr, r2, r9\n" \
        "smlatt r11, lr, r2, r11\n"

/* one x word for both pixels: A's tap at WA, B's (one filter row up) at WB */
#define PAIR_TAP_AB(XOFF, WA, WB) \
        "ldr   r2, [r0" XOFF "]\n" \
        "ldr   r12, [sp, #" #WA "]\n" \
        "ldr   lr, [sp, #" #WA "+4]\n" \
        "sxtb16 r3, r2\n" \
        "sxtb16 r2, r2, ror #8\n" \
        "smlabb r4, r12, r3, r4\n" \
        "smlatt r6, r12, r3, r6\n" \
        "smlabb r5, lr, r2, r5\n" \
        "smlatt r7, lr, r2, r7\n" \
        "ldr   r12, [sp, #" #WB "]\n" \
        "ldr   lr, [sp, #" #WB "+4]\n" \
        "smlabb r8, r12, r3, r8\n" \
        "smlatt r10, r12, r3, r10\n" \
        "smlabb r9, lr, r2, r9\n" \
        "smlatt r11, lr, r2, r11\n"

#define PAIR_NEXT_ROW \
        "ldr   r3, [sp, #124]\n" \
        "add   r0, r0, r3\n"

/* requant_fast of one accumulator (r0 mult, r1 right - 1, r3 2 zp + 1), as ROW_REST */
#define PAIR_REQ(R) \
        "lsl   " R ", " R ", #1\n" \
        "smmulr " R ", " R ", r0\n" \
        "add   " R ", " R ", " R ", asr #31\n" \
        "asr   " R ", " R ", r1\n" \
        "add   " R ", " R ", r3\n" \
        "ssat  " R ", #8, " R ", asr #1\n"

/* act_min, act_max in each byte: max then min per byte (SSUB8 + SEL), both pixels */
#define PAIR_CLAMP \
        "ldr   r0, [sp, #152]\n" \
        "ldr   r1, [sp, #156]\n" \
        "ssub8 r2, r4, r0\n" \
        "sel   r4, r4, r0\n" \
        "ssub8 r2, r4, r1\n" \
        "sel   r4, r1, r4\n" \
        "ssub8 r2, r8, r0\n" \
        "sel   r8, r8, r0\n" \
        "ssub8 r2, r8, r1\n" \
        "sel   r8, r1, r8\n"

#define PAIR3_BODY(CLAMP) PAIR3_BODY_T(PAIR3_TAPS, CLAMP)

/* stride 1: input rows 0..3, A's filter rows 0..2 on rows 0..2, B's on rows 1..3 */
#define PAIR3_TAPS \
        /* input row 0: A's filter row 0 */ \
        PAIR_TAP_A("", 32) PAIR_TAP_A(", r1", 40) PAIR_TAP_A(", r1, lsl #1", 48) \
        PAIR_NEXT_ROW \
        /* input row 1: A's filter row 1, B's row 0 */ \
        PAIR_TAP_AB("", 56, 32) PAIR_TAP_AB(", r1", 64, 40) PAIR_TAP_AB(", r1, lsl #1", 72, 48) \
        PAIR_NEXT_ROW \
        /* input row 2: A's filter row 2, B's row 1 */ \
        PAIR_TAP_AB("", 80, 56) PAIR_TAP_AB(", r1", 88, 64) PAIR_TAP_AB(", r1, lsl #1", 96, 72) \
        PAIR_NEXT_ROW \
        /* input row 3: B's filter row 2 */ \
        PAIR_TAP_B("", 80) PAIR_TAP_B(", r1", 88) PAIR_TAP_B(", r1, lsl #1", 96)

/* stride 2: input rows 0..4, A's filter rows on rows 0..2, B's on rows 2..4: row 2 shared */
#define PAIR3_TAPS_S2 \
        PAIR_TAP_A("", 32) PAIR_TAP_A(", r1", 40) PAIR_TAP_A(", r1, lsl #1", 48) \
        PAIR_NEXT_ROW \
        PAIR_TAP_A("", 56) PAIR_TAP_A(", r1", 64) PAIR_TAP_A(", r1, lsl #1", 72) \
        PAIR_NEXT_ROW \
        /* input row 2: A's filter row 2, B's row 0 */ \
        PAIR_TAP_AB("", 80, 32) PAIR_TAP_AB(", r1", 88, 40) PAIR_TAP_AB(", r1, lsl #1", 96, 48) \
        PAIR_NEXT_ROW \
        PAIR_TAP_B("", 56) PAIR_TAP_B(", r1", 64) PAIR_TAP_B(", r1, lsl #1", 72) \
        PAIR_NEXT_ROW \
        PAIR_TAP_B("", 80) PAIR_TAP_B(", r1", 88) PAIR_TAP_B(", r1, lsl #1", 96)

#define PAIR3_BODY_T(TAPS, CLAMP) \
        ".syntax unified\n" \
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
        "sub   sp, sp, #200\n" \
        "ldr   r1, [r0, #88]\n" \
        "ldm   r1, {r4, r5, r6, r7}\n" \
        "mov   r8, r4\n" \
        "mov   r9, r5\n" \
        "mov   r10, r6\n" \
        "mov   r11, r7\n" \
        "stm   sp, {r4, r5, r6, r7, r8, r9, r10, r11}\n" \
        "ldr   r1, [r0, #92]\n" \
        "add   r12, sp, #32\n" \
        "ldm   r1!, {r2, r3, r4, r5, r6, r7, r8, r9}\n" \
        "stm   r12!, {r2, r3, r4, r5, r6, r7, r8, r9}\n" \
        "ldm   r1!, {r2, r3, r4, r5, r6, r7, r8, r9}\n" \
        "stm   r12!, {r2, r3, r4, r5, r6, r7, r8, r9}\n" \
        "ldm   r1, {r2, r3}\n" \
        "stm   r12!, {r2, r3}\n" \
        "ldm   r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11}\n" \
        "stm   r12!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11}\n" \
        "ldm   r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11}\n" \
        "stm   r12!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11}\n" \
        "ldr   r1, [sp, #112]\n" \
        "str   r1, [sp, #192]\n" \
        "10:\n" \
        "ldm   sp, {r4, r5, r6, r7, r8, r9, r10, r11}\n" \
        "ldr   r0, [sp, #104]\n" \
        "ldr   r1, [sp, #120]\n" \
        TAPS \
        /* requantize both pixels, channel by channel */ \
        "ldr   r3, [sp, #148]\n" \
        "ldr   r0, [sp, #160]\n" \
        "ldr   r1, [sp, #164]\n" \
        PAIR_REQ("r4") PAIR_REQ("r8") \
        "ldr   r0, [sp, #168]\n" \
        "ldr   r1, [sp, #172]\n" \
        PAIR_REQ("r5") PAIR_REQ("r9") \
        "ldr   r0, [sp, #176]\n" \
        "ldr   r1, [sp, #180]\n" \
        PAIR_REQ("r6") PAIR_REQ("r10") \
        "ldr   r0, [sp, #184]\n" \
        "ldr   r1, [sp, #188]\n" \
        PAIR_REQ("r7") PAIR_REQ("r11") \
        "bfi   r4, r5, #8, #8\n" \
        "bfi   r4, r6, #16, #8\n" \
        "bfi   r4, r7, #24, #8\n" \
        "bfi   r8, r9, #8, #8\n" \
        "bfi   r8, r10, #16, #8\n" \
        "bfi   r8, r11, #24, #8\n" \
        CLAMP \
        /* store, then the next pixel pair */ \
        "ldr   r0, [sp, #108]\n"           /* out */ \
        "ldr   r1, [sp, #144]\n"           /* out_row */ \
        "ldr   r2, [sp, #132]\n"           /* out_step */ \
        "ldr   r3, [sp, #104]\n"           /* x */ \
        "ldr   r5, [sp, #128]\n"           /* x_step */ \
        "ldr   r6, [sp, #192]\n"           /* pixels left */ \
        "str   r4, [r0]\n" \
        "str   r8, [r0, r1]\n" \
        "add   r0, r0, r2\n" \
        "add   r3, r3, r5\n" \
        "str   r0, [sp, #108]\n" \
        "str   r3, [sp, #104]\n" \
        "subs  r6, r6, #1\n" \
        "str   r6, [sp, #192]\n" \
        "bne   10b\n" \
        /* the next row pair */ \
        "ldr   r6, [sp, #112]\n"           /* n */ \
        "ldr   r2, [sp, #140]\n"           /* out_pair_step */ \
        "ldr   r5, [sp, #136]\n"           /* x_pair_step */ \
        "ldr   r7, [sp, #116]\n"           /* pairs */ \
        "str   r6, [sp, #192]\n" \
        "add   r0, r0, r2\n" \
        "add   r3, r3, r5\n" \
        "str   r0, [sp, #108]\n" \
        "str   r3, [sp, #104]\n" \
        "subs  r7, r7, #1\n" \
        "str   r7, [sp, #116]\n" \
        "bne   10b\n" \
        "add   sp, sp, #200\n" \
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

__attribute__((naked, noinline))
static void pair3_dsp(pair3_job *job)
{
    (void)job;
    __asm__ volatile(PAIR3_BODY(PAIR_CLAMP));
}

/* the same for the whole int8 range: SSAT has clamped already */
__attribute__((naked, noinline))
static void pair3_full_dsp(pair3_job *job)
{
    (void)job;
    __asm__ volatile(PAIR3_BODY(""));
}

/* stride 2 (output rows two input rows apart: one input row shared) */
__attribute__((naked, noinline))
static void pair3s2_dsp(pair3_job *job)
{
    (void)job;
    __asm__ volatile(PAIR3_BODY_T(PAIR3_TAPS_S2, PAIR_CLAMP));
}

__attribute__((naked, noinline))
static void pair3s2_full_dsp(pair3_job *job)
{
    (void)job;
    __asm__ volatile(PAIR3_BODY_T(PAIR3_TAPS_S2, ""));
}

#else /* portable C, Armv6-M */

typedef struct {
    int8_t w[4];
} tap_w;

static TML_NO_LIBCALLS void stage_weights(tap_w *wq, const int8_t *w, int32_t c, int32_t ch, int32_t taps)
{
    for (int32_t t = 0; t < taps; t++) {
        for (int32_t k = 0; k < 4; k++) {
            wq[t].w[k] = w[t * ch + c + k];
        }
    }
}

static void offset_terms(const tap_w *wq, int32_t rows, int32_t cols, int32_t stride, int32_t offset,
                         uint32_t corr[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int32_t r = 0; r < rows; r++, wq += stride) {
        for (int32_t k = 0; k < cols; k++) {
            a0 += wq[k].w[0];
            a1 += wq[k].w[1];
            a2 += wq[k].w[2];
            a3 += wq[k].w[3];
        }
    }
    corr[0] = (uint32_t)(a0 * offset);
    corr[1] = (uint32_t)(a1 * offset);
    corr[2] = (uint32_t)(a2 * offset);
    corr[3] = (uint32_t)(a3 * offset);
}

static TML_INLINE void mac_taps(const int8_t *xp, int32_t ch, int32_t row_step, const tap_w *wq,
                                int32_t fw, int32_t rows, int32_t cols, int32_t offset, int add_offset,
                                uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (!add_offset) {
        offset = 0;
    }
    for (int32_t r = 0; r < rows; r++, xp += row_step, wq += fw) {
        const int8_t *xc = xp;
        for (int32_t k = 0; k < cols; k++, xc += ch) {
            const int8_t *wt = wq[k].w;
            a0 += (uint32_t)(wt[0] * (xc[0] + offset));
            a1 += (uint32_t)(wt[1] * (xc[1] + offset));
            a2 += (uint32_t)(wt[2] * (xc[2] + offset));
            a3 += (uint32_t)(wt[3] * (xc[3] + offset));
        }
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

#endif

/* Output pixel ox of a row (xrow: the row's first filter row, wrow its weights): interior
 * (every filter column inside the input: acc from bias + corr, x as it is) or at an edge
 * (its columns only, the offset added to x). */
static TML_INLINE void dw_pixel(const dw_layer *d, const int8_t *xrow, const tap_w *wrow, int32_t rows, int32_t ox,
                                int interior, const uint32_t acc0[4], const uint32_t corr[4], int8_t *o,
                                const group_requant *g, int mode)
{
    const tml_conv_params *p = d->p;
    const int32_t ch = d->ch, fw = p->filter_w;
#if TML_PATH_DSP
    const uint32_t off2 = ((uint32_t)d->offset & 0xFFFFu) * 0x10001u;
#else
    const int32_t off2 = d->offset;
#endif
    int32_t ix0, kx_lo, kx_hi;
    cols_of(p, ox, &ix0, &kx_lo, &kx_hi);
    const int8_t *xp = xrow + (ix0 + kx_lo) * ch;
    uint32_t acc[4];
    if (interior) {
        acc[0] = acc0[0] + corr[0];
        acc[1] = acc0[1] + corr[1];
        acc[2] = acc0[2] + corr[2];
        acc[3] = acc0[3] + corr[3];
        mac_taps(xp, ch, d->row_step, wrow, fw, rows, fw, off2, 0, acc);
    } else {
        acc[0] = acc0[0];
        acc[1] = acc0[1];
        acc[2] = acc0[2];
        acc[3] = acc0[3];
        mac_taps(xp, ch, d->row_step, wrow + kx_lo, fw, rows, kx_hi - kx_lo, off2, 1, acc);
    }
    store4(o, acc, g, p, mode);
}

#if TML_PATH_DSP
/* Channels c..c+3 of a 3x3 filter through row3_dsp (requant_fast): per row class (output rows
 * whose filter rows inside the input are the same) the offset's terms and the segments are set
 * up once and one call runs every row of the class, edge columns included when each has its own
 * copy of the weights (the 3 input columns s..s+2 it reads are inside the input and hold the
 * window's; the weights of the taps outside it are 0, so the offset's terms, from the same
 * weights, count only the taps inside). Otherwise one call per row runs the interior and the
 * edge pixels go through dw_pixel. */
static TML_INLINE void dw_group_rows3(const dw_layer *d, const tap_w *wq, const group_requant *g,
                                      const uint32_t acc0[4], int mode)
{
    const tml_conv_params *p = d->p;
    const int32_t ch = d->ch, fw = p->filter_w, row_step = d->row_step;
    const int32_t n_edges = d->ox_lo + p->out_w - d->ox_hi;
    const int edges3 = p->filter_h <= 3 && p->in_w >= 3 && n_edges <= DW_MAX_EDGES;
    row3_job job;
    row3_seg segs[1 + DW_MAX_EDGES];
    uint32_t seg_acc[1 + DW_MAX_EDGES][4];
    tap_w edge_w[DW_MAX_EDGES][9];
    int32_t edge_s[DW_MAX_EDGES];
    uint32_t corr[4];
    corr[0] = corr[1] = corr[2] = corr[3] = 0;  /* set by offset_terms where used; 4 stores, not a memset call */
    job.ch = ch;
    job.row_step = row_step;
    job.x_step = p->stride_w * ch;
    for (int32_t k = 0; k < 4; k++) {
        job.q[k][0] = g->mult[k];
        job.q[k][1] = g->right[k] - 1;
    }
    job.zp2 = 2 * p->output_zp + 1;
    job.lo4 = ((uint32_t)p->act_min & 0xFFu) * 0x01010101u;
    job.hi4 = ((uint32_t)p->act_max & 0xFFu) * 0x01010101u;
    job.x_row_step = p->stride_h * row_step;
    job.out_row_step = p->out_w * ch;
    job.seg0 = segs;
    pair3_job pj;
    /* row pairs: two output rows stride_h input rows apart */
    void (*const pair_fn)(pair3_job *) = p->stride_h == 2 ? (mode == STORE_FAST_FULL ? pair3s2_full_dsp : pair3s2_dsp) :
                                         (mode == STORE_FAST_FULL ? pair3_full_dsp : pair3_dsp);
    const int32_t pair_x_step = 2 * p->stride_h * row_step;
    pj.ch = ch;
    pj.row_step = row_step;
    pj.x_step = job.x_step;
    pj.out_step = ch;
    pj.out_row = p->out_w * ch;
    pj.zp2 = job.zp2;
    pj.lo4 = job.lo4;
    pj.hi4 = job.hi4;
    for (int32_t k = 0; k < 4; k++) {
        pj.q[k][0] = job.q[k][0];
        pj.q[k][1] = job.q[k][1];
    }
    /* per filter row, its taps' weights summed as halfword pairs (SADD16: 9 taps of at most 128
     * in magnitude), the interior's (row_sum) and each edge's (edge_sum, its taps inside only):
     * a row class's offset terms are then a sum over its rows */
    uint32_t row_sum[3][2], edge_sum[DW_MAX_EDGES][3][2];
    if (edges3) {
        for (int32_t r = 0; r < p->filter_h; r++) {
            const tap_w *t = wq + 3 * r;
            row_sum[r][0] = __sadd16(__sadd16(t[0].w02, t[1].w02), t[2].w02);
            row_sum[r][1] = __sadd16(__sadd16(t[0].w13, t[1].w13), t[2].w13);
        }
        for (int32_t e = 0; e < n_edges; e++) {
            const int32_t ox = e < d->ox_lo ? e : d->ox_hi + e - d->ox_lo;
            int32_t ix0, kx_lo, kx_hi;
            cols_of(p, ox, &ix0, &kx_lo, &kx_hi);
            int32_t s0 = ix0 + kx_lo;
            if (s0 + 3 > p->in_w) {
                s0 = p->in_w - 3;
            }
            edge_s[e] = s0;
            for (int32_t r = 0; r < p->filter_h; r++) {
                uint32_t s02 = 0, s13 = 0;
                for (int32_t j = 0; j < 3; j++) {
                    const int32_t kx = s0 + j - ix0;
                    tap_w *et = &edge_w[e][3 * r + j];
                    if (kx >= kx_lo && kx < kx_hi) {
                        *et = wq[3 * r + kx];
                        s02 = __sadd16(s02, et->w02);
                        s13 = __sadd16(s13, et->w13);
                    } else {
                        et->w02 = 0;
                        et->w13 = 0;
                    }
                }
                edge_sum[e][r][0] = s02;
                edge_sum[e][r][1] = s13;
            }
        }
    }
    for (int32_t oy = 0; oy < p->out_h;) {
        int32_t iy0, ky_lo, ky_hi, oy_end = oy + 1;
        rows_of(p, oy, &iy0, &ky_lo, &ky_hi);
        for (; oy_end < p->out_h; oy_end++) {
            int32_t iy1, lo1, hi1;
            rows_of(p, oy_end, &iy1, &lo1, &hi1);
            if (lo1 != ky_lo || hi1 != ky_hi) {
                break;
            }
        }
        const int32_t rows = ky_hi - ky_lo;
        if (!edges3) {
            offset_terms(wq + ky_lo * fw, rows, fw, fw, d->offset, corr);
        }
        /* the segments in column order: left edges, the interior, right edges */
        int32_t nseg = 0;
        for (int32_t e = 0; e <= n_edges; e++) {
            const int interior = e == d->ox_lo;
            const int32_t ed = e < d->ox_lo ? e : e - 1;  /* the edge's index */
            if (!interior && !edges3) {
                continue;
            }
            uint32_t *acc = seg_acc[nseg];
            if (interior) {
                if (edges3) {
                    acc_start(acc, acc0, row_sum[ky_lo], rows, d->offset);
                } else {
                    acc[0] = acc0[0] + corr[0];
                    acc[1] = acc0[1] + corr[1];
                    acc[2] = acc0[2] + corr[2];
                    acc[3] = acc0[3] + corr[3];
                }
                segs[nseg].x_off = (d->ox_lo * p->stride_w - p->pad_left) * ch;
                segs[nseg].wq = wq + ky_lo * fw;
                segs[nseg].out_off = d->ox_lo * ch;
                segs[nseg].n = d->ox_hi - d->ox_lo;
            } else {
                const int32_t ox = ed < d->ox_lo ? ed : d->ox_hi + ed - d->ox_lo;
                acc_start(acc, acc0, edge_sum[ed][ky_lo], rows, d->offset);
                segs[nseg].x_off = edge_s[ed] * ch;
                segs[nseg].wq = edge_w[ed] + ky_lo * 3;
                segs[nseg].out_off = ox * ch;
                segs[nseg].n = 1;
            }
            segs[nseg].acc0 = acc;
            nseg++;
        }
        job.rows = rows;
        job.nseg = nseg;
        job.x_row = d->x + (iy0 + ky_lo) * row_step + d->c;
        job.out_row = d->out + oy * p->out_w * ch + d->c;
        if (edges3) {
            if (rows == 3 && p->stride_h <= 2 && oy_end - oy >= 2) {
                /* row pairs, segment by segment; an odd last row below */
                const int32_t pairs = (oy_end - oy) / 2;
                pj.pairs = pairs;
                for (int32_t s = 0; s < nseg; s++) {
                    pj.x = job.x_row + segs[s].x_off;
                    pj.out = job.out_row + segs[s].out_off;
                    pj.n = segs[s].n;
                    pj.x_pair_step = pair_x_step - segs[s].n * pj.x_step;
                    pj.out_pair_step = 2 * pj.out_row - segs[s].n * ch;
                    pj.acc0 = segs[s].acc0;
                    pj.wq = segs[s].wq;
                    pair_fn(&pj);
                }
                oy += 2 * pairs;
                job.x_row += pairs * pair_x_step;
                job.out_row += 2 * pairs * pj.out_row;
            }
            if (oy < oy_end) {
                job.rows_left = oy_end - oy;
                job.seg = segs;
                job.segs_left = nseg;
                row3_dsp(&job);
            }
            oy = oy_end;
            continue;
        }
        for (; oy < oy_end; oy++) {
            const int8_t *xrow = d->x + (oy * p->stride_h - p->pad_top + ky_lo) * row_step + d->c;
            int8_t *orow = d->out + oy * p->out_w * ch + d->c;
            job.x_row = xrow;
            job.out_row = orow;
            job.rows_left = 1;
            job.seg = segs;
            job.segs_left = 1;  /* the interior alone */
            row3_dsp(&job);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                if (ox == d->ox_lo) {
                    ox = d->ox_hi - 1;
                    continue;
                }
                dw_pixel(d, xrow, wq + ky_lo * fw, rows, ox, 0, acc0, corr, orow + ox * ch, g, mode);
            }
        }
    }
}
#endif

#if TML_PATH_DSP
/* Channels c..c+3 of a one-row filter of more than 3 taps whose every window is inside the
 * input (StrWW's Nx1 filters, seen as 1xN: tml_dwconv_s8): one rowN_dsp call for the layer, the
 * row's taps as rows of 3 (row_step 3 ch) and a tail of taps % 3. */
static TML_INLINE void dw_group_rowN(const dw_layer *d, const tap_w *wq, const group_requant *g,
                                     const uint32_t acc0[4])
{
    const tml_conv_params *p = d->p;
    const int32_t ch = d->ch, fw = p->filter_w;
    row3_job job;
    row3_seg seg;
    uint32_t acc[4];
    offset_terms(wq, 1, fw, fw, d->offset, acc);
    for (int32_t k = 0; k < 4; k++) {
        acc[k] += acc0[k];
        job.q[k][0] = g->mult[k];
        job.q[k][1] = g->right[k] - 1;
    }
    job.ch = ch;
    job.rows = fw / 3;
    job.tail = fw % 3;
    job.row_step = 3 * ch;
    job.x_step = p->stride_w * ch;
    job.zp2 = 2 * p->output_zp + 1;
    job.lo4 = ((uint32_t)p->act_min & 0xFFu) * 0x01010101u;
    job.hi4 = ((uint32_t)p->act_max & 0xFFu) * 0x01010101u;
    seg.x_off = 0;  /* pad_left is 0: every window inside */
    seg.wq = wq;
    seg.acc0 = acc;
    seg.out_off = 0;
    seg.n = p->out_w;
    job.seg0 = job.seg = &seg;
    job.nseg = job.segs_left = 1;
    job.x_row = d->x + d->c;  /* filter_h 1: pad_top 0 */
    job.out_row = d->out + d->c;
    job.rows_left = p->out_h;
    job.x_row_step = p->stride_h * d->row_step;
    job.out_row_step = p->out_w * ch;
    rowN_dsp(&job);
}
#endif

#if TML_PATH_DSP
/* Small outputs (VWW's 6x6 and 3x3 layers): a group's set-up in dw_group_rows3 (edge weights,
 * row classes, segments, the calls) costs about as much as 20 of its pixels, so with few
 * pixels the loops turn the other way: per output pixel its window (the taps inside the input)
 * is worked out once, then every group of 4 channels runs its taps straight from the layer's
 * weights (one word per tap, split by SXTB16 there) with the offset added to x (SADD16), and is
 * requantized by requant_fast (the layer passed dw_small_ok: TFLite Micro rounding, a scale per
 * channel, every shift <= -1, every bias small enough). The last in_c % 4 channels are
 * dw_channel's. */
#define DW_SMALL_PIXELS 40

__attribute__((noinline))
static int dw_small_ok(const dw_layer *d, const int32_t *bias, const int8_t *shift)
{
    const tml_conv_params *p = d->p;
    if (p->filter_w != 3 || p->filter_h > 3 || p->rounding != TML_ROUNDING_TFLM || p->n_channels != d->ch ||
        d->ch < 4) {
        return 0;
    }
    for (int32_t c = 0; c < (d->ch & ~3); c++) {
        const uint32_t b = bias[c] < 0 ? 0u - (uint32_t)bias[c] : (uint32_t)bias[c];
        if (shift[c] > -1 || b >= (1u << 30) - (uint32_t)d->taps * 32640u) {
            return 0;
        }
    }
    return 1;
}

/* One output pixel, every group of 4 channels, in assembly (the frame a copy of this job). */
typedef struct {
    const int8_t *x;       /* 0: the window's first tap inside the input, the group's channel 0 */
    const int8_t *w;       /* 4: its weight, the same channel */
    int8_t *out;           /* 8: the group's 4 outputs */
    int8_t *out_end;       /* 12: the pixel's channel in_c & ~3 */
    const int32_t *bias;   /* 16: the group's */
    const int32_t *mult;   /* 20: the group's */
    const int8_t *shift;   /* 24: the group's */
    int32_t rows;          /* 28: filter rows inside the input, 1..3 */
    int32_t ch;            /* 32 */
    uint32_t off2;         /* 36: the input offset in both halfwords */
    int32_t row_step;      /* 40: bytes between input rows */
    int32_t zp2;           /* 44: 2 output_zp + 1 */
    uint32_t lo4, hi4;     /* 48: act_min, act_max in each byte */
    int32_t pad_[2];       /* 56 */
} small_job;

/* a tap: x + offset (SXTAB16: split and added at once) against w, four channels. r0 x, r1 w,
 * r3 off2, r4-r7 the accumulators. */
#define SMALL_TAP(OFF) \
        "ldr   r8, [r0" OFF "]\n" \
        "ldr   r10, [r1" OFF "]\n" \
        "sxtab16 r9, r3, r8\n" \
        "sxtab16 r8, r3, r8, ror #8\n" \
        "sxtb16 r11, r10\n" \
        "sxtb16 r10, r10, ror #8\n" \
        "smlabb r4, r11, r9, r4\n" \
        "smlatt r6, r11, r9, r6\n" \
        "smlabb r5, r10, r8, r5\n" \
        "smlatt r7, r10, r8, r7\n"

/* the next filter row: x by row_step (r2), w by 3 ch (r12 + lr) */
#define SMALL_NEXT_ROW \
        "add   r0, r0, r2\n" \
        "add   r1, r1, r12\n" \
        "add   r1, r1, lr\n"

/* one requant_fast (as ROW_REST; right - 1 = ~shift in r12's low byte, r0 2 zp + 1) */
#define SMALL_REQ(R, M) \
        "lsl   " R ", " R ", #1\n" \
        "smmulr " R ", " R ", " M "\n" \
        "add   " R ", " R ", " R ", asr #31\n" \
        "asr   " R ", " R ", r12\n" \
        "add   " R ", " R ", r0\n" \
        "ssat  " R ", #8, " R ", asr #1\n"

/* ROW: one filter row's taps; 3, 2 or 1 rows run by entering the unrolled rows at the first,
 * second or third */
#define SMALL_BODY(ROW) \
        ".syntax unified\n" \
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
        "sub   sp, sp, #64\n" \
        "mov   r12, sp\n" \
        "ldm   r0!, {r1, r2, r3, r4, r5, r6, r7, r8}\n" \
        "stm   r12!, {r1, r2, r3, r4, r5, r6, r7, r8}\n" \
        "ldm   r0!, {r1, r2, r3, r4, r5, r6, r7, r8}\n" \
        "stm   r12!, {r1, r2, r3, r4, r5, r6, r7, r8}\n" \
        "10:\n" \
        "ldr   r8, [sp, #16]\n" \
        "ldm   r8!, {r4, r5, r6, r7}\n"     /* bias */ \
        "str   r8, [sp, #16]\n" \
        "ldrd  r0, r1, [sp, #0]\n" \
        "adds  r8, r0, #4\n" \
        "adds  r9, r1, #4\n" \
        "strd  r8, r9, [sp, #0]\n" \
        "ldr   r2, [sp, #28]\n" \
        "ldr   r12, [sp, #32]\n" \
        "ldr   r3, [sp, #36]\n" \
        "lsl   lr, r12, #1\n" \
        "cmp   r2, #2\n" \
        "ldr   r2, [sp, #40]\n" \
        "blt   1f\n" \
        "beq   2f\n" \
        ROW SMALL_NEXT_ROW \
        "2:\n" \
        ROW SMALL_NEXT_ROW \
        "1:\n" \
        ROW \
        /* requantize: mult in r8-r11, the shifts' complements in r12, a byte per channel */ \
        "ldr   lr, [sp, #20]\n" \
        "ldm   lr!, {r8, r9, r10, r11}\n" \
        "str   lr, [sp, #20]\n" \
        "ldr   lr, [sp, #24]\n" \
        "ldr   r12, [lr], #4\n" \
        "str   lr, [sp, #24]\n" \
        "ldr   r0, [sp, #44]\n" \
        "mvn   r12, r12\n" \
        SMALL_REQ("r4", "r8") \
        "lsr   r12, r12, #8\n" \
        SMALL_REQ("r5", "r9") \
        "lsr   r12, r12, #8\n" \
        SMALL_REQ("r6", "r10") \
        "lsr   r12, r12, #8\n" \
        SMALL_REQ("r7", "r11") \
        "bfi   r4, r5, #8, #8\n" \
        "bfi   r4, r6, #16, #8\n" \
        "bfi   r4, r7, #24, #8\n" \
        "ldrd  r8, r9, [sp, #48]\n" \
        "ssub8 r10, r4, r8\n" \
        "sel   r4, r4, r8\n"                /* max(v, act_min) per byte */ \
        "ssub8 r10, r4, r9\n" \
        "sel   r4, r9, r4\n"                /* min(v, act_max) per byte */ \
        "ldrd  r2, r3, [sp, #8]\n" \
        "str   r4, [r2], #4\n" \
        "str   r2, [sp, #8]\n" \
        "cmp   r2, r3\n" \
        "bne   10b\n" \
        "add   sp, sp, #64\n" \
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

/* windows 3, 2 and 1 columns wide inside the input */
__attribute__((naked, noinline))
static void small3_dsp(small_job *job)
{
    (void)job;
    __asm__ volatile(SMALL_BODY(SMALL_TAP("") SMALL_TAP(", r12") SMALL_TAP(", lr")));
}

__attribute__((naked, noinline))
static void small2_dsp(small_job *job)
{
    (void)job;
    __asm__ volatile(SMALL_BODY(SMALL_TAP("") SMALL_TAP(", r12")));
}

__attribute__((naked, noinline))
static void small1_dsp(small_job *job)
{
    (void)job;
    __asm__ volatile(SMALL_BODY(SMALL_TAP("")));
}

__attribute__((noinline))
static void dw_small(const dw_layer *d, const int8_t *w, const int32_t *bias, const int32_t *mult,
                     const int8_t *shift)
{
    const tml_conv_params *p = d->p;
    const int32_t ch = d->ch;
    small_job job;
    job.ch = ch;
    job.off2 = ((uint32_t)d->offset & 0xFFFFu) * 0x10001u;
    job.row_step = d->row_step;
    job.zp2 = 2 * p->output_zp + 1;
    job.lo4 = ((uint32_t)p->act_min & 0xFFu) * 0x01010101u;
    job.hi4 = ((uint32_t)p->act_max & 0xFFu) * 0x01010101u;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t iy0, ky_lo, ky_hi;
        rows_of(p, oy, &iy0, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t ix0, kx_lo, kx_hi;
            cols_of(p, ox, &ix0, &kx_lo, &kx_hi);
            const int32_t cols = kx_hi - kx_lo;
            job.x = d->x + ((iy0 + ky_lo) * p->in_w + ix0 + kx_lo) * ch;
            job.w = w + (ky_lo * 3 + kx_lo) * ch;
            job.out = d->out + (oy * p->out_w + ox) * ch;
            job.out_end = job.out + (ch & ~3);
            job.bias = bias;
            job.mult = mult;
            job.shift = shift;
            job.rows = ky_hi - ky_lo;
            if (cols == 3) {
                small3_dsp(&job);
            } else if (cols == 2) {
                small2_dsp(&job);
            } else {
                small1_dsp(&job);
            }
        }
    }
}
#endif

/* Channels c..c+3 over every output pixel, their outputs stored by `mode` (a constant: one
 * copy of the loop per mode). */
static TML_INLINE void dw_group_pixels(const dw_layer *d, const tap_w *wq, const group_requant *g, const int32_t *bias,
                                       int32_t c, int mode)
{
    const tml_conv_params *p = d->p;
    const int32_t ch = d->ch, fw = p->filter_w, row_step = d->row_step;
    const uint32_t acc0[4] = {(uint32_t)bias[c], (uint32_t)bias[c + 1], (uint32_t)bias[c + 2], (uint32_t)bias[c + 3]};
#if TML_PATH_DSP
    if (fw == 3 && mode != STORE_ANY && d->ox_lo < d->ox_hi) {
        dw_group_rows3(d, wq, g, acc0, mode);
        return;
    }
    if (fw > 3 && p->filter_h == 1 && mode != STORE_ANY && d->ox_lo == 0 && d->ox_hi == p->out_w) {
        dw_group_rowN(d, wq, g, acc0);
        return;
    }
#endif
    uint32_t corr[4];  /* set with corr_lo, corr_hi: the filter rows it is for */
    corr[0] = corr[1] = corr[2] = corr[3] = 0;  /* GCC -O3 cannot tell it is set before use; 4 stores, not a memset call */
    int32_t corr_lo = -1, corr_hi = -1;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t iy0, ky_lo, ky_hi;
        rows_of(p, oy, &iy0, &ky_lo, &ky_hi);
        const int32_t rows = ky_hi - ky_lo;
        if (d->ox_lo < d->ox_hi && (ky_lo != corr_lo || ky_hi != corr_hi)) {
            offset_terms(wq + ky_lo * fw, rows, fw, fw, d->offset, corr);
            corr_lo = ky_lo;
            corr_hi = ky_hi;
        }
        const int8_t *xrow = d->x + (iy0 + ky_lo) * row_step + c;
        const tap_w *wrow = wq + ky_lo * fw;
        int8_t *orow = d->out + oy * p->out_w * ch + c;
        int32_t ox = 0;
        for (; ox < d->ox_lo; ox++) {
            dw_pixel(d, xrow, wrow, rows, ox, 0, acc0, corr, orow + ox * ch, g, mode);
        }
        for (; ox < d->ox_hi; ox++) {
            dw_pixel(d, xrow, wrow, rows, ox, 1, acc0, corr, orow + ox * ch, g, mode);
        }
        for (; ox < p->out_w; ox++) {
            dw_pixel(d, xrow, wrow, rows, ox, 0, acc0, corr, orow + ox * ch, g, mode);
        }
    }
}

static TML_HOT void dw_group(const dw_layer *d, const int8_t *w, const int32_t *bias, const int32_t *mult,
                             const int8_t *shift, int32_t c)
{
    const tml_conv_params *p = d->p;
    tap_w wq[DW_MAX_TAPS];
    stage_weights(wq, w, c, d->ch, d->taps);
    group_requant g;
    group_requant_setup(&g, p, bias, mult, shift, c, d->taps);
    if (!g.fast) {
        dw_group_pixels(d, wq, &g, bias, c, STORE_ANY);
#if TML_PATH_DSP
    } else if (p->act_min == -128 && p->act_max == 127) {
        dw_group_pixels(d, wq, &g, bias, c, STORE_FAST_FULL);
#endif
    } else {
        dw_group_pixels(d, wq, &g, bias, c, STORE_FAST_CLAMP);
    }
}

tml_status tml_dwconv_s8(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (p == 0 || x == 0 || w == 0 || bias == 0 || mult == 0 || shift == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    /* p, mult and shift passed tml_dwconv_check when the layer was prepared (tinyml.h) */
#if TML_PATH_DSP
    /* an Nx1 filter on a one-column input (StrWW) is a 1xN filter on a one-row input: the same
     * bytes of input, weights and output, and the row paths above take it */
    tml_conv_params t;
    if (p->in_w == 1 && p->filter_w == 1 && p->out_w == 1 && p->filter_h > 1) {
        t.in_c = p->in_c;  /* field by field: a struct copy is a memcpy call */
        t.out_c = p->out_c;
        t.input_zp = p->input_zp;
        t.n_channels = p->n_channels;
        t.act_min = p->act_min;
        t.act_max = p->act_max;
        t.output_zp = p->output_zp;
        t.rounding = p->rounding;
        t.in_h = 1;
        t.in_w = p->in_h;
        t.out_h = 1;
        t.out_w = p->out_h;
        t.filter_h = 1;
        t.filter_w = p->filter_h;
        t.stride_h = p->stride_w;
        t.stride_w = p->stride_h;
        t.pad_top = p->pad_left;
        t.pad_left = p->pad_top;
        p = &t;
    }
#endif
    dw_layer d;
    d.p = p;
    d.x = x;
    d.out = out;
    d.ch = p->in_c;
    d.row_step = p->in_w * p->in_c;
    d.taps = p->filter_h * p->filter_w;
    d.offset = -p->input_zp;
    /* the interior columns are contiguous: ix0 grows with ox */
    d.ox_lo = 0;
    d.ox_hi = 0;
    if (p->stride_w == 1) {
        /* ix0 = ox - pad_left: ox from pad_left to in_w - filter_w + pad_left */
        const int32_t hi = p->in_w - p->filter_w + p->pad_left + 1 < p->out_w ?
                           p->in_w - p->filter_w + p->pad_left + 1 : p->out_w;
        if (hi > p->pad_left) {
            d.ox_lo = p->pad_left;
            d.ox_hi = hi;
        }
    } else {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t ix0, kx_lo, kx_hi;
            cols_of(p, ox, &ix0, &kx_lo, &kx_hi);
            if (kx_lo == 0 && kx_hi == p->filter_w) {
                if (d.ox_hi == 0) {
                    d.ox_lo = ox;
                }
                d.ox_hi = ox + 1;
            }
        }
    }
    int32_t c = 0;
#if TML_PATH_DSP
    if (p->out_h * p->out_w <= DW_SMALL_PIXELS && dw_small_ok(&d, bias, shift)) {
        dw_small(&d, w, bias, mult, shift);
        c = d.ch & ~3;
    }
#endif
    if (d.taps <= DW_MAX_TAPS) {
        for (; c + 4 <= d.ch; c += 4) {
            d.c = c;
            dw_group(&d, w, bias, mult, shift, c);
        }
    }
    for (; c < d.ch; c++) {
        dw_channel(&d, w, bias, mult, shift, c);
    }
    return TML_OK;
}
