/* The micro frontend, one frame per call: window, fixed-point FFT, filterbank, square root,
 * noise reduction, PCAN, log. Every wrap and rounding is the definition's (docs/features.md):
 * 16-bit FFT arithmetic wraps, energies wrap in 32 bits, sums are 64-bit. Conversions to
 * int16_t/int32_t of out-of-range values rely on two's complement wrapping, as GCC and Clang
 * define it on every target here. No C library: the emulated and natmod builds have none. */
#include "tml_features.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
#include <arm_acle.h>
#define TML_FE_DSP 1
#else
#define TML_FE_DSP 0
#endif

#define WINDOW_BITS 12
#define NOISE_BITS 14
#define PCAN_SNR_BITS 12
#define PCAN_OUTPUT_BITS 6
#define LOG_BITS 16
#define LOG_SEGMENT_BITS 7
#define LOG_COEFF 45426u     /* ln(2) * 2^16 */
#define Q15_ONE 32767

/* round((log2(1 + i/128) - i/128) * 2^16), i = 0..128, and a 0 to read past the end
 * (features._log2_correction_table() computes the same) */
static const uint16_t log2_correction[130] = {
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797,
    2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633,
    4714, 4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507,
    5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586,
    5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000,
    4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848,
    3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207,
    2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0, 0};

typedef struct {
    int16_t r, i;
} cpx16;

/* Each stage a function of its own: inlined into tml_fe_push, their loops shared one register
 * allocation and GCC spilled their pointers to the stack. */
#if defined(__GNUC__)
#define STAGE __attribute__((noinline)) static
#else
#define STAGE static
#endif

static int bit_length32(uint32_t x) {
#if defined(__GNUC__) && defined(__ARM_FEATURE_CLZ)
    return x ? 32 - __builtin_clz(x) : 0;   /* one CLZ */
#else
    int n = 0;
    if (x >> 16) {
        n += 16;
        x >>= 16;
    }
    if (x >> 8) {
        n += 8;
        x >>= 8;
    }
    if (x >> 4) {
        n += 4;
        x >>= 4;
    }
    if (x >> 2) {
        n += 2;
        x >>= 2;
    }
    return n + (x >> 1 ? 2 : (int)x);
#endif
}

static int is_power_of_two(int32_t x) {
    return x > 0 && (x & (x - 1)) == 0;
}

/* Everything but the per-bin bands: cheap enough for every call. */
static int check_scalars(const tml_fe_config *cfg) {
    int32_t half;
    if (!cfg || !cfg->window || !cfg->twiddles || !cfg->split_twiddles || !cfg->bin_band || !cfg->bin_weight ||
        !cfg->bin_unweight || !cfg->fft_order || (cfg->enable_pcan && !cfg->gain_lut)) {
        return TML_ERR_NULL;
    }
    if (cfg->window_samples < 4 || cfg->window_samples > TML_FE_MAX_WINDOW || cfg->step_samples < 1 ||
        cfg->step_samples > cfg->window_samples || !is_power_of_two(cfg->fft_size) || cfg->fft_size < 8 ||
        cfg->fft_size < cfg->window_samples || cfg->fft_size / 2 >= cfg->window_samples ||
        cfg->num_channels < 1 || cfg->num_channels > TML_FE_MAX_CHANNELS) {
        return TML_ERR_SHAPE;
    }
    half = cfg->fft_size / 2;
    if (cfg->start_bin < 1 || cfg->start_bin > cfg->end_bin || cfg->end_bin > half) {
        return TML_ERR_SHAPE;
    }
    if (cfg->smoothing_bits < 0 || cfg->smoothing_bits > 31 || cfg->even_smoothing < 0 ||
        cfg->even_smoothing > (1 << NOISE_BITS) || cfg->odd_smoothing < 0 || cfg->odd_smoothing > (1 << NOISE_BITS) ||
        cfg->min_signal_remaining < 0 || cfg->min_signal_remaining > (1 << NOISE_BITS) ||
        (cfg->enable_pcan != 0 && cfg->enable_pcan != 1) || (cfg->enable_log != 0 && cfg->enable_log != 1) ||
        (cfg->enable_pcan && (cfg->snr_shift < 0 || cfg->snr_shift > 31)) || cfg->log_correction_bits < -31 ||
        cfg->log_correction_bits > 31 || cfg->scale_shift < 0 || cfg->scale_shift > 16 ||
        cfg->twiddles[0] != Q15_ONE || cfg->twiddles[1] != 0) {
        return TML_ERR_RANGE;
    }
    return TML_OK;
}

int tml_fe_check(const tml_fe_config *cfg) {
    int32_t k;
    int status = check_scalars(cfg);
    if (status != TML_OK) {
        return status;
    }
    for (k = 0; k < cfg->end_bin - cfg->start_bin; ++k) {
        if (cfg->bin_band[k] > cfg->num_channels || (k > 0 && cfg->bin_band[k] < cfg->bin_band[k - 1])) {
            return TML_ERR_SHAPE;
        }
    }
    for (k = 0; k < cfg->fft_size / 2; ++k) {
        if (cfg->fft_order[k] >= cfg->fft_size / 2) {
            return TML_ERR_SHAPE;
        }
    }
    return TML_OK;
}

/* scratch: channel sums (uint64, first for alignment), the complex FFT buffer, bin energies */
int32_t tml_fe_scratch_bytes(const tml_fe_config *cfg) {
    if (tml_fe_check(cfg) != TML_OK) {
        return 0;
    }
    return 8 * cfg->num_channels + 2 * cfg->fft_size + 4 * (cfg->fft_size / 2 + 1);
}

int tml_fe_reset(const tml_fe_config *cfg, tml_fe_state *state) {
    int status = tml_fe_check(cfg);
    int32_t i;
    if (status != TML_OK) {
        return status;
    }
    if (!state || !state->samples || !state->noise_estimate) {
        return TML_ERR_NULL;
    }
    /* the samples need no clearing: filled = 0 marks them unused. A plain zeroing loop would
     * become a memset call, and the emulated and natmod builds have no C library. */
    state->noise_estimate[0] = 0;
    for (i = 1; i < cfg->num_channels; ++i) {
        state->noise_estimate[i] = state->noise_estimate[i - 1];
    }
    state->filled = 0;
    return TML_OK;
}

/* --- FFT: kissfft's arithmetic, 16-bit, radix 4 then at most one radix 2 ---
 *
 * Two versions of the same arithmetic: plain C on structs (the reference, every core), and on
 * Armv7E-M/Armv8-M with the DSP extension, a complex value packed in a word (real part low)
 * so that one SMLSD/SMLADX makes each half of a complex product with its rounding constant,
 * SADD16/SSUB16 the wrapping 16-bit sums, SASX/SSAX the rotations by -i and +i. Both are
 * tested value for value against features.py on every core. */

static int16_t round_q15(int32_t x) {
    return (int16_t)((x + (1 << 14)) >> 15);
}

static cpx16 cdiv(cpx16 a, int32_t radix) {
    cpx16 out;
    out.r = round_q15(a.r * (Q15_ONE / radix));
    out.i = round_q15(a.i * (Q15_ONE / radix));
    return out;
}

static cpx16 cmul(cpx16 a, const int16_t *tw) {
    cpx16 out;
    out.r = round_q15(a.r * tw[0] - a.i * tw[1]);
    out.i = round_q15(a.r * tw[1] + a.i * tw[0]);
    return out;
}

static cpx16 cadd(cpx16 a, cpx16 b) {
    cpx16 out;
    out.r = (int16_t)(a.r + b.r);
    out.i = (int16_t)(a.i + b.i);
    return out;
}

static cpx16 csub(cpx16 a, cpx16 b) {
    cpx16 out;
    out.r = (int16_t)(a.r - b.r);
    out.i = (int16_t)(a.i - b.i);
    return out;
}

/* energies: |X[k]|^2 as TensorFlow keeps it, an int32 that wraps */
static int32_t energy_of(int32_t re, int32_t im) {
    return (int32_t)((uint32_t)(re * re) + (uint32_t)(im * im));
}

#if TML_FE_DSP
typedef uint32_t __attribute__((may_alias)) tml_word;   /* two int16: real low, imaginary high */
/* the same in a caller's table, which may sit at any even address (a ROMFS file, say): Armv7E-M
 * and Armv8-M Mainline load unaligned words */
typedef uint32_t __attribute__((may_alias, aligned(2))) tml_table_word;

/* (lo >> 15, hi_top >> 16) as two int16: one PKHTB (GCC 12 makes an UBFX and an ORR of the C) */
static inline uint32_t pack_q15(int32_t hi_top, int32_t lo) {
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #15" : "=r"(r) : "r"(hi_top), "r"(lo));
    return r;
}

/* (lo >> 12, hi_top >> 16) as two int16 */
static inline uint32_t pack_q12(int32_t hi_top, int32_t lo) {
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #12" : "=r"(r) : "r"(hi_top), "r"(lo));
    return r;
}

/* the top halves of hi_top and lo */
static inline uint32_t pack_q16(int32_t hi_top, int32_t lo) {
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi_top), "r"(lo));
    return r;
}

/* (lo's low half, hi's high half): one PKHBT */
static inline uint32_t pack_bt(uint32_t lo, uint32_t hi) {
    uint32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

#define DIV4_C2 ((2 * (Q15_ONE / 4)) * 0x10001)   /* 2 * 8191 in both halves */
#define DIV2_C2 ((2 * (Q15_ONE / 2)) * 0x10001)

/* both halves times c (32767 / radix), rounded as round_q15: c2 holds 2c in both halves, so
 * each product is 2 (v * c + 2^14), whose bits 31..16 are the rounded result (|v * 2c| < 2^30). */
static inline uint32_t pdiv(uint32_t a, int32_t c2) {
    return pack_q16(__smlatt((int32_t)a, c2, 1 << 15), __smlabb((int32_t)a, c2, 1 << 15));
}

/* (a.r*w.r - a.i*w.i, a.r*w.i + a.i*w.r), each rounded as round_q15; the sums stay below 2^31 */
static inline uint32_t pmul(uint32_t a, uint32_t w) {
    return pack_q15((int32_t)((uint32_t)__smladx((int32_t)a, (int32_t)w, 1 << 14) << 1),
                    __smlsd((int32_t)a, (int32_t)w, 1 << 14));
}

static inline uint32_t padd(uint32_t a, uint32_t b) {
    return (uint32_t)__sadd16((int32_t)a, (int32_t)b);
}

static inline uint32_t psub(uint32_t a, uint32_t b) {
    return (uint32_t)__ssub16((int32_t)a, (int32_t)b);
}

/* The butterflies of one twiddle index k of a radix-4 stage, at p, p + group, ... below end
 * (at least one), in assembly: in C on the packed helpers above, GCC 12 spilled the operands'
 * addresses, a twiddle and the constants to the stack (~65 cycles a butterfly, ~55 here). Each
 * value is divided as pdiv does; a1..a3 are then doubled (|a| <= 8191 after the division, so 2a
 * fits) so that the products take pdiv's rounding constant 2^15 and their halves come out by one
 * PKHTB each: (2X + 2^15) >> 16 equals (X + 2^14) >> 15. The sums are kissfft's (docs/features.md,
 * step 3). w: w1, w2, w3, read in the loop (kept in registers they would push another operand to
 * the stack). */
static void radix4_column(tml_word *p, const tml_word *end, int32_t span_bytes, const uint32_t *w) {
    uint32_t a0, a1, a2, a3, t, q;
    __asm__ volatile(
        "1:\n\t"
        "add    %[q], %[p], %[s], lsl #1\n\t"
        "ldr    %[a0], [%[p]]\n\t"
        "ldr    %[a1], [%[p], %[s]]\n\t"
        "ldr    %[a2], [%[q]]\n\t"
        "ldr    %[a3], [%[q], %[s]]\n\t"
        "smlatt %[t], %[a0], %[c2], %[rc]\n\t"
        "smlabb %[a0], %[a0], %[c2], %[rc]\n\t"
        "pkhtb  %[a0], %[t], %[a0], asr #16\n\t"
        "smlatt %[t], %[a1], %[c2], %[rc]\n\t"
        "smlabb %[a1], %[a1], %[c2], %[rc]\n\t"
        "pkhtb  %[a1], %[t], %[a1], asr #16\n\t"
        "smlatt %[t], %[a2], %[c2], %[rc]\n\t"
        "smlabb %[a2], %[a2], %[c2], %[rc]\n\t"
        "pkhtb  %[a2], %[t], %[a2], asr #16\n\t"
        "smlatt %[t], %[a3], %[c2], %[rc]\n\t"
        "smlabb %[a3], %[a3], %[c2], %[rc]\n\t"
        "pkhtb  %[a3], %[t], %[a3], asr #16\n\t"
        "ldr    %[q], [%[w]]\n\t"
        "sadd16 %[a1], %[a1], %[a1]\n\t"
        "smladx %[t], %[a1], %[q], %[rc]\n\t"
        "smlsd  %[a1], %[a1], %[q], %[rc]\n\t"
        "pkhtb  %[a1], %[t], %[a1], asr #16\n\t"
        "ldr    %[q], [%[w], #4]\n\t"
        "sadd16 %[a2], %[a2], %[a2]\n\t"
        "smladx %[t], %[a2], %[q], %[rc]\n\t"
        "smlsd  %[a2], %[a2], %[q], %[rc]\n\t"
        "pkhtb  %[a2], %[t], %[a2], asr #16\n\t"
        "ldr    %[q], [%[w], #8]\n\t"
        "sadd16 %[a3], %[a3], %[a3]\n\t"
        "smladx %[t], %[a3], %[q], %[rc]\n\t"
        "smlsd  %[a3], %[a3], %[q], %[rc]\n\t"
        "pkhtb  %[a3], %[t], %[a3], asr #16\n\t"
        "ssub16 %[t], %[a0], %[a2]\n\t"        /* s5 = a0 - s1 */
        "sadd16 %[a0], %[a0], %[a2]\n\t"       /* a0 + s1 */
        "sadd16 %[a2], %[a1], %[a3]\n\t"       /* s3 = s0 + s2 */
        "ssub16 %[a1], %[a1], %[a3]\n\t"       /* s4 = s0 - s2 */
        "sadd16 %[a3], %[a0], %[a2]\n\t"
        "ssub16 %[a0], %[a0], %[a2]\n\t"
        "ssax   %[a2], %[t], %[a1]\n\t"         /* (s5.r + s4.i, s5.i - s4.r) */
        "sasx   %[t], %[t], %[a1]\n\t"          /* (s5.r - s4.i, s5.i + s4.r) */
        "add    %[q], %[p], %[s], lsl #1\n\t"
        "str    %[a3], [%[p]]\n\t"
        "str    %[a2], [%[p], %[s]]\n\t"
        "str    %[a0], [%[q]]\n\t"
        "str    %[t], [%[q], %[s]]\n\t"
        "add    %[p], %[p], %[s], lsl #2\n\t"
        "cmp    %[p], %[end]\n\t"
        "blo    1b"
        : [p] "+r"(p), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [t] "=&r"(t), [q] "=&r"(q)
        : [end] "r"(end), [s] "r"(span_bytes), [w] "r"(w), [c2] "r"(DIV4_C2), [rc] "r"(1 << 15)
        : "cc", "memory");
}

/* The last radix-4 stage (one group, twiddle step 1: its k-th butterfly takes tw[k], tw[2k],
 * tw[3k]) for k = 1 .. span - 1, one butterfly per k as radix4_column does, the loop over k in
 * here too: u = 4k bytes indexes x and the twiddles alike. */
static void radix4_last_row(tml_word *x, int32_t span_bytes, const tml_table_word *tw) {
    uint32_t a0, a1, a2, a3, t, q, u = 4;
    __asm__ volatile(
        "1:\n\t"
        "add    %[q], %[x], %[u]\n\t"
        "ldr    %[a0], [%[q]]\n\t"
        "ldr    %[a1], [%[q], %[s]]\n\t"
        "add    %[q], %[q], %[s], lsl #1\n\t"
        "ldr    %[a2], [%[q]]\n\t"
        "ldr    %[a3], [%[q], %[s]]\n\t"
        "smlatt %[t], %[a0], %[c2], %[rc]\n\t"
        "smlabb %[a0], %[a0], %[c2], %[rc]\n\t"
        "pkhtb  %[a0], %[t], %[a0], asr #16\n\t"
        "smlatt %[t], %[a1], %[c2], %[rc]\n\t"
        "smlabb %[a1], %[a1], %[c2], %[rc]\n\t"
        "pkhtb  %[a1], %[t], %[a1], asr #16\n\t"
        "smlatt %[t], %[a2], %[c2], %[rc]\n\t"
        "smlabb %[a2], %[a2], %[c2], %[rc]\n\t"
        "pkhtb  %[a2], %[t], %[a2], asr #16\n\t"
        "smlatt %[t], %[a3], %[c2], %[rc]\n\t"
        "smlabb %[a3], %[a3], %[c2], %[rc]\n\t"
        "pkhtb  %[a3], %[t], %[a3], asr #16\n\t"
        "ldr    %[q], [%[tw], %[u]]\n\t"
        "sadd16 %[a1], %[a1], %[a1]\n\t"
        "smladx %[t], %[a1], %[q], %[rc]\n\t"
        "smlsd  %[a1], %[a1], %[q], %[rc]\n\t"
        "pkhtb  %[a1], %[t], %[a1], asr #16\n\t"
        "ldr    %[q], [%[tw], %[u], lsl #1]\n\t"
        "sadd16 %[a2], %[a2], %[a2]\n\t"
        "smladx %[t], %[a2], %[q], %[rc]\n\t"
        "smlsd  %[a2], %[a2], %[q], %[rc]\n\t"
        "pkhtb  %[a2], %[t], %[a2], asr #16\n\t"
        "add    %[q], %[u], %[u], lsl #1\n\t"
        "ldr    %[q], [%[tw], %[q]]\n\t"
        "sadd16 %[a3], %[a3], %[a3]\n\t"
        "smladx %[t], %[a3], %[q], %[rc]\n\t"
        "smlsd  %[a3], %[a3], %[q], %[rc]\n\t"
        "pkhtb  %[a3], %[t], %[a3], asr #16\n\t"
        "ssub16 %[t], %[a0], %[a2]\n\t"
        "sadd16 %[a0], %[a0], %[a2]\n\t"
        "sadd16 %[a2], %[a1], %[a3]\n\t"
        "ssub16 %[a1], %[a1], %[a3]\n\t"
        "sadd16 %[a3], %[a0], %[a2]\n\t"
        "ssub16 %[a0], %[a0], %[a2]\n\t"
        "ssax   %[a2], %[t], %[a1]\n\t"
        "sasx   %[t], %[t], %[a1]\n\t"
        "add    %[q], %[x], %[u]\n\t"
        "str    %[a3], [%[q]]\n\t"
        "str    %[a2], [%[q], %[s]]\n\t"
        "add    %[q], %[q], %[s], lsl #1\n\t"
        "str    %[a0], [%[q]]\n\t"
        "str    %[t], [%[q], %[s]]\n\t"
        "adds   %[u], %[u], #4\n\t"
        "cmp    %[u], %[s]\n\t"
        "blo    1b"
        : [u] "+r"(u), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [t] "=&r"(t), [q] "=&r"(q)
        : [x] "r"(x), [s] "r"(span_bytes), [tw] "r"(tw), [c2] "r"(DIV4_C2), [rc] "r"(1 << 15)
        : "cc", "memory");
}

/* the same at k = 0, where the twiddles are one (see radix4_stage) */
static void radix4_column_unit(tml_word *p, const tml_word *end, int32_t span_bytes) {
    uint32_t a0, a1, a2, a3, t, q;
    __asm__ volatile(
        "1:\n\t"
        "add    %[q], %[p], %[s], lsl #1\n\t"
        "ldr    %[a0], [%[p]]\n\t"
        "ldr    %[a1], [%[p], %[s]]\n\t"
        "ldr    %[a2], [%[q]]\n\t"
        "ldr    %[a3], [%[q], %[s]]\n\t"
        "smlatt %[t], %[a0], %[c2], %[rc]\n\t"
        "smlabb %[a0], %[a0], %[c2], %[rc]\n\t"
        "pkhtb  %[a0], %[t], %[a0], asr #16\n\t"
        "smlatt %[t], %[a1], %[c2], %[rc]\n\t"
        "smlabb %[a1], %[a1], %[c2], %[rc]\n\t"
        "pkhtb  %[a1], %[t], %[a1], asr #16\n\t"
        "smlatt %[t], %[a2], %[c2], %[rc]\n\t"
        "smlabb %[a2], %[a2], %[c2], %[rc]\n\t"
        "pkhtb  %[a2], %[t], %[a2], asr #16\n\t"
        "smlatt %[t], %[a3], %[c2], %[rc]\n\t"
        "smlabb %[a3], %[a3], %[c2], %[rc]\n\t"
        "pkhtb  %[a3], %[t], %[a3], asr #16\n\t"
        "ssub16 %[t], %[a0], %[a2]\n\t"
        "sadd16 %[a0], %[a0], %[a2]\n\t"
        "sadd16 %[a2], %[a1], %[a3]\n\t"
        "ssub16 %[a1], %[a1], %[a3]\n\t"
        "sadd16 %[a3], %[a0], %[a2]\n\t"
        "ssub16 %[a0], %[a0], %[a2]\n\t"
        "ssax   %[a2], %[t], %[a1]\n\t"
        "sasx   %[t], %[t], %[a1]\n\t"
        "str    %[a3], [%[p]]\n\t"
        "str    %[a2], [%[p], %[s]]\n\t"
        "str    %[a0], [%[q]]\n\t"
        "str    %[t], [%[q], %[s]]\n\t"
        "add    %[p], %[p], %[s], lsl #2\n\t"
        "cmp    %[p], %[end]\n\t"
        "blo    1b"
        : [p] "+r"(p), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [t] "=&r"(t), [q] "=&r"(q)
        : [end] "r"(end), [s] "r"(span_bytes), [c2] "r"(DIV4_C2), [rc] "r"(1 << 15)
        : "cc", "memory");
}
#endif

#if !TML_FE_DSP
/* One of x's values divided by 4 (cdiv), as an int32 */
static int32_t quarter(int16_t v) {
    return (v * (Q15_ONE / 4) + (1 << 14)) >> 15;
}

/* kissfft's radix-4 butterfly, the sums in int32: after the division every value is within
 * [-8192, 8192] and every rounded product within [-2^14, 2^14] (|a.r w.r - a.i w.i| < 2^29), so
 * none needs cmul's wrap to 16 bits; the sums and differences after them only add and subtract,
 * and their low 16 bits (what the stores keep) do not depend on where they wrap. One wrap per
 * output instead of one per operation (each a sign extension on these cores). */
static void butterfly4(cpx16 *x, int32_t span, const int16_t *t1, const int16_t *t2, const int16_t *t3, int unit) {
    int32_t a0r = quarter(x[0].r), a0i = quarter(x[0].i), a1r = quarter(x[span].r), a1i = quarter(x[span].i);
    int32_t a2r = quarter(x[2 * span].r), a2i = quarter(x[2 * span].i);
    int32_t a3r = quarter(x[3 * span].r), a3i = quarter(x[3 * span].i);
    int32_t s0r = a1r, s0i = a1i, s1r = a2r, s1i = a2i, s2r = a3r, s2i = a3i;
    int32_t s5r, s5i, f0r, f0i, s3r, s3i, s4r, s4i;
    if (!unit) {
        s0r = (a1r * t1[0] - a1i * t1[1] + (1 << 14)) >> 15;
        s0i = (a1r * t1[1] + a1i * t1[0] + (1 << 14)) >> 15;
        s1r = (a2r * t2[0] - a2i * t2[1] + (1 << 14)) >> 15;
        s1i = (a2r * t2[1] + a2i * t2[0] + (1 << 14)) >> 15;
        s2r = (a3r * t3[0] - a3i * t3[1] + (1 << 14)) >> 15;
        s2i = (a3r * t3[1] + a3i * t3[0] + (1 << 14)) >> 15;
    }
    s5r = a0r - s1r;
    s5i = a0i - s1i;
    f0r = a0r + s1r;
    f0i = a0i + s1i;
    s3r = s0r + s2r;
    s3i = s0i + s2i;
    s4r = s0r - s2r;
    s4i = s0i - s2i;
    x[0].r = (int16_t)(f0r + s3r);
    x[0].i = (int16_t)(f0i + s3i);
    x[2 * span].r = (int16_t)(f0r - s3r);
    x[2 * span].i = (int16_t)(f0i - s3i);
    x[span].r = (int16_t)(s5r + s4i);
    x[span].i = (int16_t)(s5i - s4r);
    x[3 * span].r = (int16_t)(s5r - s4i);
    x[3 * span].i = (int16_t)(s5i + s4r);
}
#endif

/* One radix-4 stage: butterflies over groups of 4 * span values, twiddles t^k, t^2k, t^3k with
 * t = tw[step]. Index k outer, so each twiddle triple is read once per stage. At k = 0 the
 * twiddle is tw[0] = (32767, 0) (tml_fe_check) and the products are skipped: after the division
 * by 4 every value v is in [-8191, 8191], where (v * 32767 + 2^14) >> 15 = v exactly. */
static void radix4_stage(cpx16 *x, int32_t n, int32_t span, int32_t step, const int16_t *tw) {
    int32_t k, g;
    for (k = 0; k < span; ++k) {
        const int16_t *t1 = tw + 2 * k * step, *t2 = tw + 4 * k * step, *t3 = tw + 6 * k * step;
#if TML_FE_DSP
        uint32_t w[3];
        (void)g;
        if (k == 1 && 4 * span == n) {   /* the last stage: step 1, one butterfly per k */
            radix4_last_row((tml_word *)x, 4 * span, (const tml_table_word *)tw);
            break;
        }
        if (k == 0) {
            radix4_column_unit((tml_word *)x, (tml_word *)x + n, 4 * span);
        } else {
            w[0] = *(const tml_table_word *)t1;
            w[1] = *(const tml_table_word *)t2;
            w[2] = *(const tml_table_word *)t3;
            radix4_column((tml_word *)x + k, (tml_word *)x + n, 4 * span, w);
        }
#else
        if (k == 0) {
            for (g = 0; g < n; g += 4 * span) {
                butterfly4(x + g, span, t1, t2, t3, 1);
            }
        } else {
            for (g = k; g < n; g += 4 * span) {
                butterfly4(x + g, span, t1, t2, t3, 0);
            }
        }
#endif
    }
}

/* A radix-2 stage (only ever the first, span 1, when log2 of the size is odd). No shortcut at
 * k = 0 here: halved values reach -16384, whose product with 32767 rounds to -16383. */
static void radix2_stage(cpx16 *x, int32_t n, int32_t span, int32_t step, const int16_t *tw) {
    int32_t k, g;
    for (g = 0; g < n; g += 2 * span) {
        for (k = 0; k < span; ++k) {
            cpx16 a0 = cdiv(x[g + k], 2), a1 = cdiv(x[g + k + span], 2);
            cpx16 t = cmul(a1, tw + 2 * (k * step));
            x[g + k] = cadd(a0, t);
            x[g + k + span] = csub(a0, t);
        }
    }
}

/* In place on n digit-reversed values; the DFT divided by n. The first stage is skipped with
 * first_done (gather_fft_input did it). */
STAGE void complex_fft(cpx16 *x, int32_t n, const int16_t *tw, int first_done) {
    int32_t radices[16], levels = 0, m = n, span = 1, level;
    while (m > 1) {
        radices[levels] = (m % 4 == 0) ? 4 : 2;
        m /= radices[levels++];
    }
    if (first_done) {   /* gather_fft_input did the first stage */
        span = radices[--levels];
    }
    for (level = levels - 1; level >= 0; --level) {
        int32_t group = radices[level] * span;
        if (radices[level] == 4) {
            radix4_stage(x, n, span, n / group, tw);
        } else {
            radix2_stage(x, n, span, n / group, tw);
        }
        span = group;
    }
}

/* The real spectrum's energies, bins 0..n (n = fft_size / 2), from the packed complex FFT. */
STAGE void split_energies(const cpx16 *z, int32_t n, const int16_t *split, int32_t *e) {
    int32_t k;
    cpx16 dc = cdiv(z[0], 2);
    e[0] = energy_of((int16_t)(dc.r + dc.i), 0);
    e[n] = energy_of((int16_t)(dc.r - dc.i), 0);
#if TML_FE_DSP
    {
        const tml_word *zw = (const tml_word *)z;
        const tml_table_word *sw = (const tml_table_word *)split;
        for (k = 1; k <= n / 2; ++k) {
            uint32_t a = pdiv(zw[k], DIV2_C2), b = zw[n - k];
            uint32_t sum, t, lo, hi;
            b = pdiv(pack_bt(b, psub(0, b)), DIV2_C2);   /* conj, the negation wrapping */
            sum = padd(a, b);
            t = pmul(psub(a, b), sw[k - 1]);
            /* ((s.r + t.r) >> 1, (s.i + t.i) >> 1) and ((s.r - t.r) >> 1, (t.i - s.i) >> 1) */
            lo = (uint32_t)__shadd16((int32_t)sum, (int32_t)t);
            hi = (uint32_t)__shsub16((int32_t)pack_bt(sum, t), (int32_t)pack_bt(t, sum));
            e[k] = (int32_t)__smuad((int32_t)lo, (int32_t)lo);   /* wraps, as energy_of */
            e[n - k] = (int32_t)__smuad((int32_t)hi, (int32_t)hi);
        }
    }
#else
    for (k = 1; k <= n / 2; ++k) {
        cpx16 a = cdiv(z[k], 2), b, sum, t;
        b.r = z[n - k].r;
        b.i = (int16_t)-z[n - k].i;
        b = cdiv(b, 2);
        sum = cadd(a, b);
        t = cmul(csub(a, b), split + 2 * (k - 1));
        e[k] = energy_of((int16_t)((sum.r + t.r) >> 1), (int16_t)((sum.i + t.i) >> 1));
        e[n - k] = energy_of((int16_t)((sum.r - t.r) >> 1), (int16_t)((t.i - sum.i) >> 1));
    }
#endif
}

/* --- window --- */

#if TML_FE_DSP
/* ((x.lo * c.lo) >> 12, (x.hi * c.hi) >> 12) as two int16 */
static inline uint32_t windowed_pair(uint32_t xs, uint32_t cs) {
    return pack_q12((int32_t)((uint32_t)__smlatt((int32_t)xs, (int32_t)cs, 0) << 4),
                    __smlabb((int32_t)xs, (int32_t)cs, 0));
}

/* per half, the larger (smaller) of a and b: SSUB16 sets the GE flags that SEL reads */
static inline uint32_t max16x2(uint32_t a, uint32_t b) {
    uint32_t r, t;
    __asm__("ssub16 %1, %2, %3\n\tsel %0, %2, %3" : "=r"(r), "=&r"(t) : "r"(a), "r"(b) : "cc");
    return r;
}

static inline uint32_t min16x2(uint32_t a, uint32_t b) {
    uint32_t r, t;
    __asm__("ssub16 %1, %2, %3\n\tsel %0, %3, %2" : "=r"(r), "=&r"(t) : "r"(a), "r"(b) : "cc");
    return r;
}
#endif

/* The windowed samples in order into lin, zero-padded to fft_size. Returns the FFT's input
 * shift: 15 - the bit length of the largest |y|, -32768 counting as 0 (its 16-bit negation
 * wraps). Only that bit length matters, so the magnitudes are OR-ed, and |-32768| & 0x7FFF is 0. */
STAGE int32_t window_linear(const tml_fe_config *cfg, const int16_t *samples, int16_t *lin) {
    int32_t i = 0, bits = 0;
#if TML_FE_DSP
    {
        /* two samples at a time; the largest and smallest y kept per half (SSUB16 + SEL), which
         * gives the peak unless the smallest is -32768: then the OR below is done over lin */
        const tml_table_word *x = (const tml_table_word *)samples, *c = (const tml_table_word *)cfg->window;
        tml_word *y = (tml_word *)lin;
        uint32_t most = 0x80008000u, least = 0x7FFF7FFFu;
        int32_t pairs = cfg->window_samples / 2, hi, lo;
        for (i = 0; i < pairs; ++i) {   /* two pairs a turn (and the last alone when odd) */
            uint32_t v = windowed_pair(x[i], c[i]), v2;
            y[i] = v;
            most = max16x2(v, most);
            least = min16x2(v, least);
            if (++i == pairs) {
                break;
            }
            v2 = windowed_pair(x[i], c[i]);
            y[i] = v2;
            most = max16x2(v2, most);
            least = min16x2(v2, least);
        }
        hi = (int16_t)(most >> 16) > (int16_t)most ? (int16_t)(most >> 16) : (int16_t)most;
        lo = (int16_t)(least >> 16) < (int16_t)least ? (int16_t)(least >> 16) : (int16_t)least;
        i = 2 * pairs;
        if (lo == -32768) {
            int32_t k;
            for (k = 0; k < i; ++k) {
                bits |= (lin[k] < 0 ? -lin[k] : lin[k]) & 0x7FFF;
            }
        } else {
            bits = hi > -lo ? hi : -lo;
            bits = bits < 0 ? 0 : bits;
        }
    }
#endif
    for (; i < cfg->window_samples; ++i) {
        int32_t v = (int16_t)((samples[i] * cfg->window[i]) >> WINDOW_BITS);
        bits |= (v < 0 ? -v : v) & 0x7FFF;
        lin[i] = (int16_t)v;
    }
    if (i < cfg->fft_size) {
        /* copied forward rather than a zeroing loop, which GCC would make a memset call */
        lin[i] = 0;
        for (++i; i < cfg->fft_size; ++i) {
            lin[i] = lin[i - 1];
        }
    }
    return 15 - bit_length32((uint32_t)bits);
}

#if !TML_FE_DSP
static int16_t scaled_up(int16_t v, int32_t shift) {
    return (int16_t)(uint16_t)((uint32_t)(uint16_t)v << shift);
}
#endif

#if TML_FE_DSP
/* The gather below fused with the FFT's first stage when that is radix 4 (span 1, twiddles one,
 * as radix4_column_unit): butterfly b's four inputs are the pairs at order[4b .. 4b + 3], its
 * outputs z[4b .. 4b + 3]; the inputs never pass through z. */
static void gather_first_radix4(const uint16_t *order, const tml_word *pairs, int32_t shift, tml_word *z,
                                const tml_word *end) {
    uint32_t a0, a1, a2, a3, t, keep = ~(((1u << shift) - 1u) << 16);
    __asm__ volatile(
        "1:\n\t"
        "ldrh   %[t], [%[o]]\n\t"
        "ldr    %[a0], [%[lin], %[t], lsl #2]\n\t"
        "ldrh   %[t], [%[o], #2]\n\t"
        "ldr    %[a1], [%[lin], %[t], lsl #2]\n\t"
        "ldrh   %[t], [%[o], #4]\n\t"
        "ldr    %[a2], [%[lin], %[t], lsl #2]\n\t"
        "ldrh   %[t], [%[o], #6]\n\t"
        "ldr    %[a3], [%[lin], %[t], lsl #2]\n\t"
        "adds   %[o], %[o], #8\n\t"
        "lsl    %[a0], %[a0], %[sh]\n\t"
        "and    %[a0], %[a0], %[keep]\n\t"
        "smlatt %[t], %[a0], %[c2], %[rc]\n\t"
        "smlabb %[a0], %[a0], %[c2], %[rc]\n\t"
        "pkhtb  %[a0], %[t], %[a0], asr #16\n\t"
        "lsl    %[a1], %[a1], %[sh]\n\t"
        "and    %[a1], %[a1], %[keep]\n\t"
        "smlatt %[t], %[a1], %[c2], %[rc]\n\t"
        "smlabb %[a1], %[a1], %[c2], %[rc]\n\t"
        "pkhtb  %[a1], %[t], %[a1], asr #16\n\t"
        "lsl    %[a2], %[a2], %[sh]\n\t"
        "and    %[a2], %[a2], %[keep]\n\t"
        "smlatt %[t], %[a2], %[c2], %[rc]\n\t"
        "smlabb %[a2], %[a2], %[c2], %[rc]\n\t"
        "pkhtb  %[a2], %[t], %[a2], asr #16\n\t"
        "lsl    %[a3], %[a3], %[sh]\n\t"
        "and    %[a3], %[a3], %[keep]\n\t"
        "smlatt %[t], %[a3], %[c2], %[rc]\n\t"
        "smlabb %[a3], %[a3], %[c2], %[rc]\n\t"
        "pkhtb  %[a3], %[t], %[a3], asr #16\n\t"
        "ssub16 %[t], %[a0], %[a2]\n\t"
        "sadd16 %[a0], %[a0], %[a2]\n\t"
        "sadd16 %[a2], %[a1], %[a3]\n\t"
        "ssub16 %[a1], %[a1], %[a3]\n\t"
        "sadd16 %[a3], %[a0], %[a2]\n\t"
        "ssub16 %[a0], %[a0], %[a2]\n\t"
        "ssax   %[a2], %[t], %[a1]\n\t"
        "sasx   %[t], %[t], %[a1]\n\t"
        "str    %[a3], [%[z]]\n\t"
        "str    %[a2], [%[z], #4]\n\t"
        "str    %[a0], [%[z], #8]\n\t"
        "str    %[t], [%[z], #12]\n\t"
        "adds   %[z], %[z], #16\n\t"
        "cmp    %[z], %[end]\n\t"
        "blo    1b"
        : [o] "+r"(order), [z] "+r"(z), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
          [t] "=&r"(t)
        : [lin] "r"(pairs), [end] "r"(end), [sh] "r"(shift), [keep] "r"(keep), [c2] "r"(DIV4_C2), [rc] "r"(1 << 15)
        : "cc", "memory");
}
#endif

/* Pairs of windowed samples, shifted left (wrapping in 16 bits), into the FFT's input order.
 * Returns 1 when it has also done the FFT's first stage. */
STAGE int gather_fft_input(const tml_fe_config *cfg, const int16_t *lin, int32_t shift, cpx16 *z) {
    int32_t i, n = cfg->fft_size / 2;
#if TML_FE_DSP
    /* both halves at once: the low half's bits shifted past 16 are cleared from the high half */
    const tml_word *pairs = (const tml_word *)lin;
    tml_word *zw = (tml_word *)z;
    const uint16_t *order = cfg->fft_order;
    uint32_t keep = ~(((1u << shift) - 1u) << 16);
    if (n & 0x55555554) {   /* a power of 4 from 4 on: radix 4 first (complex_fft) */
        gather_first_radix4(order, pairs, shift, zw, zw + n);
        return 1;
    }
    for (i = 0; i < n; ++i) {
        zw[i] = (pairs[order[i]] << shift) & keep;
    }
#else
    const uint16_t *order = cfg->fft_order;
    for (i = 0; i < n; ++i) {
        const int16_t *pair = lin + 2 * order[i];
        z[i].r = scaled_up(pair[0], shift);
        z[i].i = scaled_up(pair[1], shift);
    }
#endif
    return 0;
}

/* --- filterbank, square root --- */

/* Channel c = its upper band's bins by weight + its lower band's bins by unweight. Bands come
 * in bin order (tml_fe_check), so one walk over the bins writes each channel once: band b's
 * unweighted sum is written to channel b, its weighted sum then added to channel b - 1. Every
 * band before the last bin's ends at a bin of a later band, so its loop needs no end check.
 * The sums are u64 in the definition; |weight * energy| < 2^46 and at most 4096 bins, so an
 * int64 sum never overflows and equals the u64 one read back (one SMLAL per product on
 * Cortex-M). */
STAGE void accumulate_channels(const tml_fe_config *cfg, const int32_t *e, uint64_t *sums) {
    const int32_t *energy = e + cfg->start_bin;
    int32_t n_bins = cfg->end_bin - cfg->start_bin;
    const uint16_t *bin_band = cfg->bin_band, *bands_end = bin_band + n_bins;
    const int16_t *weight = cfg->bin_weight, *unweight = cfg->bin_unweight;
    uint32_t band, n_channels = (uint32_t)cfg->num_channels, last = n_bins ? bands_end[-1] : 0;
    for (band = 0; band <= n_channels; ++band) {
        int64_t weighted = 0, unweighted = 0;
#if defined(__ARM_ARCH_6M__)
        /* Armv6-M has no 32 x 32 -> 64 multiply (GCC calls __muldi3, ~40 cycles): the energy in
         * 16-bit halves instead, w * e = w * (e >> 16) * 2^16 + w * (e & 0xFFFF), each product an
         * int32 (|w| <= 2^15), each half summed apart in int64 and the two joined once per band */
        int64_t weighted_hi = 0, unweighted_hi = 0;
        const uint16_t *stop = bin_band;
        if (band < last) {
            while (*stop == band) {
                ++stop;
            }
        } else if (band == last) {
            stop = bands_end;
        }
        for (; bin_band < stop; ++bin_band) {
            int32_t en = *energy++, hi = en >> 16, lo = en & 0xFFFF, w = *weight++, u = *unweight++;
            weighted_hi += w * hi;
            weighted += w * lo;
            unweighted_hi += u * hi;
            unweighted += u * lo;
        }
        weighted += weighted_hi * 65536;
        unweighted += unweighted_hi * 65536;
#else
        if (band < last) {
            for (; *bin_band == band; ++bin_band) {
                int32_t en = *energy++;
                weighted += (int64_t)*weight++ * en;
                unweighted += (int64_t)*unweight++ * en;
            }
        } else if (band == last) {
            for (; bin_band < bands_end; ++bin_band) {
                int32_t en = *energy++;
                weighted += (int64_t)*weight++ * en;
                unweighted += (int64_t)*unweight++ * en;
            }
        }
#endif
        if (band >= 1) {
            sums[band - 1] = (uint64_t)((int64_t)sums[band - 1] + weighted);
        }
        if (band < n_channels) {
            sums[band] = (uint64_t)unweighted;
        }
    }
}

#ifndef TML_FE_HW_DIVIDE   /* (-DTML_FE_HW_DIVIDE=0 tests the other path on a host) */
#if (defined(__ARM_FEATURE_IDIV) && __ARM_FEATURE_IDIV) || defined(__riscv_div) || defined(__x86_64__) || \
    defined(__aarch64__)
#define TML_FE_HW_DIVIDE 1
#else
#define TML_FE_HW_DIVIDE 0
#endif
#endif

#if TML_FE_HW_DIVIDE
/* round(sqrt((i + 64.5) * 2^24) / 256), at most 255: the top 8 bits of sqrt(m) for the m in
 * [2^30, 2^32) with m >> 24 = i + 64, within 256 of it */
static const uint8_t sqrt_seed[192] = {
    128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 144, 145, 146, 147, 148, 149, 150, 151, 151, 152, 153, 154, 155, 156, 156,
    157, 158, 159, 160, 160, 161, 162, 163, 164, 164, 165, 166, 167, 167, 168, 169,
    170, 170, 171, 172, 173, 173, 174, 175, 176, 176, 177, 178, 179, 179, 180, 181,
    181, 182, 183, 183, 184, 185, 186, 186, 187, 188, 188, 189, 190, 190, 191, 192,
    192, 193, 194, 194, 195, 196, 196, 197, 198, 198, 199, 200, 200, 201, 201, 202,
    203, 203, 204, 205, 205, 206, 206, 207, 208, 208, 209, 210, 210, 211, 211, 212,
    213, 213, 214, 214, 215, 216, 216, 217, 217, 218, 219, 219, 220, 220, 221, 221,
    222, 223, 223, 224, 224, 225, 225, 226, 227, 227, 228, 228, 229, 229, 230, 230,
    231, 232, 232, 233, 233, 234, 234, 235, 235, 236, 237, 237, 238, 238, 239, 239,
    240, 240, 241, 241, 242, 242, 243, 243, 244, 244, 245, 246, 246, 247, 247, 248,
    248, 249, 249, 250, 250, 251, 251, 252, 252, 253, 253, 254, 254, 255, 255, 255,
};

/* floor(sqrt(v)), 0 < v < 2^32: a seed from the top 8 bits of v shifted up by an even amount,
 * one Newton step (one hardware divide), then down to the floor. A Newton step from any x > 0
 * lands on or above floor(sqrt(v)), so the loop ends on it whatever the seed; the seed's error
 * (< 256 at 2^16) only decides how often it turns (at most once, but the loop needs no proof). */
static uint32_t floor_sqrt32(uint32_t v) {
    int32_t half = (32 - bit_length32(v)) >> 1;
    uint32_t x = ((uint32_t)sqrt_seed[((v << (2 * half)) >> 24) - 64] << 8) >> half;   /* >= 1 */
    x = (x + v / x) >> 1;
    x = x > 0xFFFFu ? 0xFFFFu : x;
    while (x * x > v) {
        --x;
    }
    return x;
}
#else
/* floor(sqrt(v)), 0 < v < 2^32, digit by digit from the highest power of 4 <= v */
static uint32_t floor_sqrt32(uint32_t v) {
    uint32_t root = 0, bit = 1u << ((bit_length32(v) - 1) & ~1);
    while (bit) {
        uint32_t trial = root + bit;
        if (v >= trial) {
            v -= trial;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}
#endif

/* floor(sqrt(v)) plus one when v - floor^2 is larger than the floor, saturating at 16 bits
 * below 2^32 and at 32 bits above. Above 2^32: the root of v's top bits (an even shift that
 * leaves 31 or 32), then the remaining bits two at a time (each adds one bit to the root). */
static uint32_t rounded_sqrt(uint64_t v) {
    if (!(v >> 32)) {
        uint32_t root, rest;
        if (!v) {
            return 0;
        }
        root = floor_sqrt32((uint32_t)v);
        rest = (uint32_t)v - root * root;
        return (rest > root && root != 0xFFFFu) ? root + 1 : root;
    } else {
        int32_t pairs = (bit_length32((uint32_t)(v >> 32)) + 1) >> 1;   /* v >> 2 * pairs < 2^32 */
        uint32_t top = (uint32_t)(v >> (2 * pairs)), root = floor_sqrt32(top);
        uint64_t rest = top - root * root, trial;
        while (pairs--) {
            rest = (rest << 2) | ((uint32_t)(v >> (2 * pairs)) & 3u);
            trial = ((uint64_t)root << 2) | 1u;
            root <<= 1;
            if (rest >= trial) {
                rest -= trial;
                root |= 1u;
            }
        }
        return (rest > root && root != 0xFFFFFFFFu) ? root + 1 : root;
    }
}

/* --- noise reduction, PCAN, log: one channel at a time, the settings read once per frame --- */

typedef struct {
    uint32_t smoothing[2];         /* even, odd channels */
    uint32_t min_remaining;
    int32_t smoothing_bits, snr_shift, correction_bits, scale_shift, enable_pcan, enable_log;
    const int16_t *gain_lut;
} channel_settings;

static void read_channel_settings(const tml_fe_config *cfg, channel_settings *cs) {
    cs->smoothing[0] = (uint32_t)cfg->even_smoothing;
    cs->smoothing[1] = (uint32_t)cfg->odd_smoothing;
    cs->min_remaining = (uint32_t)cfg->min_signal_remaining;
    cs->smoothing_bits = cfg->smoothing_bits;
    cs->snr_shift = cfg->snr_shift;
    cs->correction_bits = cfg->log_correction_bits;
    cs->scale_shift = cfg->scale_shift;
    cs->enable_pcan = cfg->enable_pcan;
    cs->enable_log = cfg->enable_log;
    cs->gain_lut = cfg->gain_lut;
}

/* updates *estimate; returns the signal kept */
static uint32_t reduce_noise(const channel_settings *cs, uint32_t k, uint32_t *estimate, uint32_t signal) {
    uint32_t up = signal << cs->smoothing_bits;
    uint32_t est = (uint32_t)(((uint64_t)up * k + (uint64_t)*estimate * ((1u << NOISE_BITS) - k)) >> NOISE_BITS);
    uint32_t floor = (uint32_t)(((uint64_t)signal * cs->min_remaining) >> NOISE_BITS);
    uint32_t kept;
    *estimate = est;
    kept = (up - (est < up ? est : up)) >> cs->smoothing_bits;
    return kept > floor ? kept : floor;
}

static int16_t pcan_gain(uint32_t noise, const int16_t *lut) {
    int32_t interval, frac, result;
    const int16_t *y;
    if (noise <= 2) {
        return lut[noise];
    }
    interval = bit_length32(noise);
    y = lut + 4 * interval - 6;
    frac = (int32_t)((interval < 11 ? noise << (11 - interval) : noise >> (interval - 11)) & 0x3FF);
    result = (y[2] * frac) >> 5;
    result += (int32_t)((uint32_t)(int32_t)y[1] << 5);
    result *= frac;
    result = (result + (1 << 14)) >> 15;
    return (int16_t)(result + y[0]);
}

static uint32_t gain_control(const channel_settings *cs, uint32_t estimate, uint32_t signal) {
    uint32_t gain = (uint32_t)(int32_t)pcan_gain(estimate, cs->gain_lut);
    uint32_t snr = (uint32_t)(((uint64_t)signal * gain) >> cs->snr_shift);
    if (snr < (2u << PCAN_SNR_BITS)) {
        return (snr * snr) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS);
    }
    return (snr >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1u << PCAN_OUTPUT_BITS);
}

/* log2(x) in 16.16 fixed point, x >= 2: the exponent, then the mantissa corrected by the table */
static uint32_t log2_q16(uint32_t x) {
    int32_t exponent = bit_length32(x) - 1, frac, segment, c0, c1;
    frac = (int32_t)(x - ((uint32_t)1 << exponent));
    frac = exponent < LOG_BITS ? (int32_t)((uint32_t)frac << (LOG_BITS - exponent)) : frac >> (exponent - LOG_BITS);
    segment = frac >> (LOG_BITS - LOG_SEGMENT_BITS);
    c0 = log2_correction[segment];
    c1 = log2_correction[segment + 1];
    frac += c0 + (((c1 - c0) * (frac - (segment << (LOG_BITS - LOG_SEGMENT_BITS)))) >> LOG_BITS);
    return ((uint32_t)exponent << LOG_BITS) + (uint32_t)frac;
}

static uint16_t log_scaled(const channel_settings *cs, uint32_t value) {
    const uint32_t half = 1u << (LOG_BITS - 1);
    uint32_t ln;
    if (!cs->enable_log) {
        return (uint16_t)(value < 0xFFFF ? value : 0xFFFF);
    }
    value = cs->correction_bits >= 0 ? value << cs->correction_bits : value >> -cs->correction_bits;
    if (value <= 1) {
        return 0;
    }
    ln = (uint32_t)(((uint64_t)LOG_COEFF * log2_q16(value) + half) >> LOG_BITS);
    value = ((ln << cs->scale_shift) + half) >> LOG_BITS;
    return (uint16_t)(value < 0xFFFF ? value : 0xFFFF);
}

/* --- one frame --- */

static void frame_from_window(const tml_fe_config *cfg, tml_fe_state *state, uint16_t *frame, void *scratch) {
    uint64_t *sums = (uint64_t *)scratch;
    cpx16 *z = (cpx16 *)(sums + cfg->num_channels);
    int32_t *energies = (int32_t *)(z + cfg->fft_size / 2);
    int16_t *lin = (int16_t *)energies;    /* the windowed samples, used up before the energies */
    uint32_t *estimate = state->noise_estimate;
    int32_t shift = window_linear(cfg, state->samples, lin), c, n_channels = cfg->num_channels;
    channel_settings cs;
    complex_fft(z, cfg->fft_size / 2, cfg->twiddles, gather_fft_input(cfg, lin, shift, z));
    split_energies(z, cfg->fft_size / 2, cfg->split_twiddles, energies);
    accumulate_channels(cfg, energies, sums);
    read_channel_settings(cfg, &cs);
    for (c = 0; c < n_channels; ++c) {
        uint32_t signal = reduce_noise(&cs, cs.smoothing[c & 1], estimate + c, rounded_sqrt(sums[c]) >> shift);
        if (cs.enable_pcan) {
            signal = gain_control(&cs, estimate[c], signal);
        }
        frame[c] = log_scaled(&cs, signal);
    }
}

/* n samples forward from src to dst (dst <= src when they overlap) */
static void copy_samples(int16_t *dst, const int16_t *src, int32_t n) {
    int32_t i = 0;
#if TML_FE_DSP
    /* a word (two samples) at a time: each word is read before the one written over it */
    tml_table_word *d = (tml_table_word *)dst;
    const tml_table_word *s = (const tml_table_word *)src;
    for (; i + 4 <= n / 2; i += 4) {   /* four words read, then written: still forward */
        uint32_t w0 = s[i], w1 = s[i + 1], w2 = s[i + 2], w3 = s[i + 3];
        d[i] = w0;
        d[i + 1] = w1;
        d[i + 2] = w2;
        d[i + 3] = w3;
    }
    for (; i < n / 2; ++i) {
        d[i] = s[i];
    }
    i *= 2;
#endif
    for (; i < n; ++i) {
        dst[i] = src[i];
    }
}

int tml_fe_push(const tml_fe_config *cfg, tml_fe_state *state, const int16_t *samples, int32_t n_samples,
                int32_t *consumed, uint16_t *frame, void *scratch) {
    int status = check_scalars(cfg);
    int32_t take;
    if (status != TML_OK) {
        return status;
    }
    if (!state || !state->samples || !state->noise_estimate || !consumed || !frame || !scratch ||
        (!samples && n_samples > 0)) {
        return TML_ERR_NULL;
    }
    if (n_samples < 0 || state->filled < 0 || state->filled > cfg->window_samples) {
        return TML_ERR_SHAPE;
    }
    if ((uintptr_t)scratch % 8) {
        return TML_ERR_ALIGN;
    }
    take = cfg->window_samples - state->filled;
    if (take > n_samples) {
        take = n_samples;
    }
    copy_samples(state->samples + state->filled, samples, take);
    state->filled += take;
    *consumed = take;
    if (state->filled < cfg->window_samples) {
        return 0;
    }
    frame_from_window(cfg, state, frame, scratch);
    copy_samples(state->samples, state->samples + cfg->step_samples, cfg->window_samples - cfg->step_samples);
    state->filled -= cfg->step_samples;
    return 1;
}
