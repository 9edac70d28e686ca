/* The micro frontend, one frame per call: window, fixed-point FFT, filterbank, square root,
 * noise reduction, PCAN, log. Every wrap and rounding is the definition's (docs/features.md):
 * 16-bit FFT arithmetic wraps, energies wrap in 32 bits, sums are 64-bit. Conversions to
 * int16_t/int32_t of out-of-range values rely on two's complement wrapping, as GCC and Clang
 * define it on every target here. No C library: the emulated and natmod builds have none. */
#include "tml_features.h"

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

static int bit_length32(uint32_t x) {
    int n = 0;
    while (x) {
        ++n;
        x >>= 1;
    }
    return n;
}

static int is_power_of_two(int32_t x) {
    return x > 0 && (x & (x - 1)) == 0;
}

/* Everything but the per-bin bands: cheap enough for every call. */
static int check_scalars(const tml_fe_config *cfg) {
    int32_t half;
    if (!cfg || !cfg->window || !cfg->twiddles || !cfg->split_twiddles || !cfg->bin_band || !cfg->bin_weight ||
        !cfg->bin_unweight || (cfg->enable_pcan && !cfg->gain_lut)) {
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
        cfg->log_correction_bits > 31 || cfg->scale_shift < 0 || cfg->scale_shift > 16) {
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

/* --- FFT: kissfft's arithmetic, 16-bit, radix 4 then at most one radix 2 --- */

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

static void butterfly4(cpx16 *x, int32_t span, int32_t tw_step, const int16_t *tw) {
    int32_t k;
    for (k = 0; k < span; ++k) {
        cpx16 a0 = cdiv(x[k], 4), a1 = cdiv(x[k + span], 4), a2 = cdiv(x[k + 2 * span], 4),
              a3 = cdiv(x[k + 3 * span], 4);
        cpx16 s0 = cmul(a1, tw + 2 * (k * tw_step)), s1 = cmul(a2, tw + 2 * (2 * k * tw_step)),
              s2 = cmul(a3, tw + 2 * (3 * k * tw_step));
        cpx16 s5 = csub(a0, s1), f0 = cadd(a0, s1), s3 = cadd(s0, s2), s4 = csub(s0, s2);
        x[k] = cadd(f0, s3);
        x[k + 2 * span] = csub(f0, s3);
        x[k + span].r = (int16_t)(s5.r + s4.i);
        x[k + span].i = (int16_t)(s5.i - s4.r);
        x[k + 3 * span].r = (int16_t)(s5.r - s4.i);
        x[k + 3 * span].i = (int16_t)(s5.i + s4.r);
    }
}

static void butterfly2(cpx16 *x, int32_t span, int32_t tw_step, const int16_t *tw) {
    int32_t k;
    for (k = 0; k < span; ++k) {
        cpx16 a0 = cdiv(x[k], 2), a1 = cdiv(x[k + span], 2);
        cpx16 t = cmul(a1, tw + 2 * (k * tw_step));
        x[k] = cadd(a0, t);
        x[k + span] = csub(a0, t);
    }
}

/* In place on n digit-reversed values; the DFT divided by n. */
static void complex_fft(cpx16 *x, int32_t n, const int16_t *tw) {
    int32_t radices[16], levels = 0, m = n, span = 1, level;
    while (m > 1) {
        radices[levels] = (m % 4 == 0) ? 4 : 2;
        m /= radices[levels++];
    }
    for (level = levels - 1; level >= 0; --level) {
        int32_t radix = radices[level], group = radix * span, g;
        for (g = 0; g < n; g += group) {
            if (radix == 4) {
                butterfly4(x + g, span, n / group, tw);
            } else {
                butterfly2(x + g, span, n / group, tw);
            }
        }
        span = group;
    }
}

/* |X[k]|^2 as TensorFlow keeps it: an int32 that wraps */
static int32_t energy_of(int32_t re, int32_t im) {
    return (int32_t)((uint32_t)(re * re) + (uint32_t)(im * im));
}

/* The real spectrum's energies, bins 0..n (n = fft_size / 2), from the packed complex FFT. */
static void split_energies(const cpx16 *z, int32_t n, const int16_t *split, int32_t *e) {
    int32_t k;
    cpx16 dc = cdiv(z[0], 2);
    e[0] = energy_of((int16_t)(dc.r + dc.i), 0);
    e[n] = energy_of((int16_t)(dc.r - dc.i), 0);
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
}

/* --- window --- */

/* kissfft's input order for n = 2^log2n points: radix-4 digits of pos, most significant first,
 * become the least significant digits of the index; a last radix-2 digit when log2n is odd. */
static int32_t digit_reversed(int32_t pos, int32_t log2n) {
    int32_t index = 0, out = 0, bits = log2n;
    while (bits >= 2) {
        bits -= 2;
        index |= ((pos >> bits) & 3) << out;
        out += 2;
    }
    if (bits) {
        index |= (pos & 1) << out;
    }
    return index;
}

static int16_t windowed(const tml_fe_config *cfg, const int16_t *samples, int32_t i) {
    return i < cfg->window_samples ? (int16_t)((samples[i] * cfg->window[i]) >> WINDOW_BITS) : 0;
}

static int16_t scaled_up(int16_t v, int32_t shift) {
    return (int16_t)(uint16_t)((uint32_t)(uint16_t)v << shift);
}

/* The windowed samples, shifted left as far as the loudest allows, zero-padded, packed two to a
 * complex value, in the FFT's input order. Returns the shift. */
static int32_t window_into_fft(const tml_fe_config *cfg, const int16_t *samples, cpx16 *z) {
    int32_t n = cfg->fft_size / 2, log2n = bit_length32((uint32_t)n) - 1, i, peak = 0, shift;
    for (i = 0; i < cfg->window_samples; ++i) {
        int16_t v = windowed(cfg, samples, i);
        int16_t magnitude = (int16_t)-v;   /* -32768 stays negative: it never counts */
        if (v > magnitude) {
            magnitude = v;
        }
        if (magnitude > peak) {
            peak = magnitude;
        }
    }
    shift = 15 - bit_length32((uint32_t)peak);
    for (i = 0; i < n; ++i) {
        int32_t src = 2 * digit_reversed(i, log2n);
        z[i].r = scaled_up(windowed(cfg, samples, src), shift);
        z[i].i = scaled_up(windowed(cfg, samples, src + 1), shift);
    }
    return shift;
}

/* --- filterbank, square root --- */

/* Channel c = its upper band's bins by weight + its lower band's bins by unweight. Bands come
 * in bin order (tml_fe_check), so one walk over the bins writes each channel once. */
static void accumulate_channels(const tml_fe_config *cfg, const int32_t *e, uint64_t *sums) {
    int32_t j = 0, n_bins = cfg->end_bin - cfg->start_bin, band;
    uint64_t owed = 0;   /* the previous band's unweighted sum, owed to the channel above it */
    for (band = 0; band <= cfg->num_channels; ++band) {
        uint64_t weighted = 0, unweighted = 0;
        for (; j < n_bins && cfg->bin_band[j] == band; ++j) {
            uint64_t energy = (uint64_t)(int64_t)e[cfg->start_bin + j];
            weighted += (uint64_t)(int64_t)cfg->bin_weight[j] * energy;
            unweighted += (uint64_t)(int64_t)cfg->bin_unweight[j] * energy;
        }
        if (band >= 1) {
            sums[band - 1] = owed + weighted;
        }
        owed = unweighted;
    }
}

/* floor(sqrt(v)), plus one when the remainder is larger than the root, saturating at 16 bits
 * below 2^32 and at 32 bits above. */
static uint32_t rounded_sqrt(uint64_t v) {
    uint64_t root = 0, bit = (uint64_t)1 << 62, rest = v;
    uint64_t cap = (v >> 32) ? 0xFFFFFFFFu : 0xFFFFu;
    while (bit > rest) {
        bit >>= 2;
    }
    while (bit) {
        if (rest >= root + bit) {
            rest -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    if (rest > root && root != cap) {
        ++root;
    }
    return (uint32_t)root;
}

/* --- noise reduction, PCAN, log --- */

static void reduce_noise(const tml_fe_config *cfg, uint32_t *estimate, uint32_t *signal) {
    int32_t c;
    for (c = 0; c < cfg->num_channels; ++c) {
        uint32_t k = (uint32_t)((c & 1) ? cfg->odd_smoothing : cfg->even_smoothing);
        uint32_t up = signal[c] << cfg->smoothing_bits;
        uint32_t est = (uint32_t)(((uint64_t)up * k + (uint64_t)estimate[c] * ((1u << NOISE_BITS) - k)) >> NOISE_BITS);
        uint32_t floor = (uint32_t)(((uint64_t)signal[c] * (uint32_t)cfg->min_signal_remaining) >> NOISE_BITS);
        uint32_t kept;
        estimate[c] = est;
        kept = (up - (est < up ? est : up)) >> cfg->smoothing_bits;
        signal[c] = kept > floor ? kept : floor;
    }
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

static void gain_control(const tml_fe_config *cfg, const uint32_t *estimate, uint32_t *signal) {
    int32_t c;
    for (c = 0; c < cfg->num_channels; ++c) {
        uint32_t gain = (uint32_t)(int32_t)pcan_gain(estimate[c], cfg->gain_lut);
        uint32_t snr = (uint32_t)(((uint64_t)signal[c] * gain) >> cfg->snr_shift);
        if (snr < (2u << PCAN_SNR_BITS)) {
            signal[c] = (snr * snr) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS);
        } else {
            signal[c] = (snr >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1u << PCAN_OUTPUT_BITS);
        }
    }
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

static uint16_t log_scaled(const tml_fe_config *cfg, uint32_t value) {
    const uint32_t half = 1u << (LOG_BITS - 1);
    uint32_t ln;
    if (!cfg->enable_log) {
        return (uint16_t)(value < 0xFFFF ? value : 0xFFFF);
    }
    value = cfg->log_correction_bits >= 0 ? value << cfg->log_correction_bits : value >> -cfg->log_correction_bits;
    if (value <= 1) {
        return 0;
    }
    ln = (uint32_t)(((uint64_t)LOG_COEFF * log2_q16(value) + half) >> LOG_BITS);
    value = ((ln << cfg->scale_shift) + half) >> LOG_BITS;
    return (uint16_t)(value < 0xFFFF ? value : 0xFFFF);
}

/* --- one frame --- */

static void frame_from_window(const tml_fe_config *cfg, tml_fe_state *state, uint16_t *frame, void *scratch) {
    uint64_t *sums = (uint64_t *)scratch;
    cpx16 *z = (cpx16 *)(sums + cfg->num_channels);
    int32_t *energies = (int32_t *)(z + cfg->fft_size / 2);
    uint32_t *signal = (uint32_t *)sums;   /* the roots replace the sums, front to back */
    int32_t shift = window_into_fft(cfg, state->samples, z), c;
    complex_fft(z, cfg->fft_size / 2, cfg->twiddles);
    split_energies(z, cfg->fft_size / 2, cfg->split_twiddles, energies);
    accumulate_channels(cfg, energies, sums);
    for (c = 0; c < cfg->num_channels; ++c) {
        signal[c] = rounded_sqrt(sums[c]) >> shift;
    }
    reduce_noise(cfg, state->noise_estimate, signal);
    if (cfg->enable_pcan) {
        gain_control(cfg, state->noise_estimate, signal);
    }
    for (c = 0; c < cfg->num_channels; ++c) {
        frame[c] = log_scaled(cfg, signal[c]);
    }
}

int tml_fe_push(const tml_fe_config *cfg, tml_fe_state *state, const int16_t *samples, int32_t n_samples,
                int32_t *consumed, uint16_t *frame, void *scratch) {
    int status = check_scalars(cfg);
    int32_t take, i;
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
    for (i = 0; i < take; ++i) {
        state->samples[state->filled + i] = samples[i];
    }
    state->filled += take;
    *consumed = take;
    if (state->filled < cfg->window_samples) {
        return 0;
    }
    frame_from_window(cfg, state, frame, scratch);
    for (i = 0; i < cfg->window_samples - cfg->step_samples; ++i) {
        state->samples[i] = state->samples[i + cfg->step_samples];
    }
    state->filled -= cfg->step_samples;
    return 1;
}
