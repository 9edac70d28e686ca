/* (named tml_features.h, not features.h: that name is glibc's, found first with -I native/core)
 * tinyml audio front end: TensorFlow's micro frontend, integer only, bit-exact with
 * host/tinyml_host/features.py (the definition: docs/features.md).
 *
 * The tables (window, twiddles, filterbank weights, PCAN gain table) need float math to build,
 * so the caller builds them once (features.plan() on the host) and hands them in; this core
 * only reads them. The state (the window's samples, the noise estimate) and the scratch are
 * the caller's too: nothing is allocated, nothing here is global.
 */
#ifndef TML_FEATURES_H
#define TML_FEATURES_H

#include <stdint.h>

#include "tinyml.h"

#define TML_FE_MAX_WINDOW 4096
#define TML_FE_MAX_CHANNELS 256
#define TML_FE_GAIN_LUT_SIZE 125   /* 4 * 32 - 3 */

typedef struct {
    int32_t window_samples;        /* 4..TML_FE_MAX_WINDOW */
    int32_t step_samples;          /* 1..window_samples */
    int32_t fft_size;              /* the power of two >= window_samples, at least 8 */
    int32_t num_channels;          /* 1..TML_FE_MAX_CHANNELS */
    int32_t start_bin, end_bin;    /* filterbank bins start..end-1, 1 <= start <= end <= fft_size / 2 */
    int32_t smoothing_bits;        /* 0..31 */
    int32_t even_smoothing, odd_smoothing, min_signal_remaining;  /* 0..16384 (1.0 = 16384) */
    int32_t enable_pcan;           /* 0 or 1 */
    int32_t snr_shift;             /* 0..31 when enable_pcan */
    int32_t enable_log;            /* 0 or 1 */
    int32_t log_correction_bits;   /* -31..31 */
    int32_t scale_shift;           /* 0..16 */
    const int16_t *window;         /* window_samples coefficients, 1.0 = 4096 */
    const int16_t *twiddles;       /* fft_size / 2 pairs (re, im), Q15 */
    const int16_t *split_twiddles; /* fft_size / 4 pairs (re, im), Q15 */
    const uint16_t *bin_band;      /* per bin start..end-1: its band 0..num_channels, never decreasing */
    const int16_t *bin_weight;     /* per bin: weight in band, 1.0 = 4096 */
    const int16_t *bin_unweight;   /* per bin: weight in the band below */
    const int16_t *gain_lut;       /* TML_FE_GAIN_LUT_SIZE entries when enable_pcan, else unused */
} tml_fe_config;

typedef struct {
    int16_t *samples;              /* window_samples, the window's buffer */
    uint32_t *noise_estimate;      /* num_channels */
    int32_t filled;                /* samples of the buffer that hold audio */
} tml_fe_state;

/* TML_OK, or why the config cannot run: TML_ERR_NULL (a table), TML_ERR_SHAPE (sizes, bins,
 * bands), TML_ERR_RANGE (a constant or shift out of its range). */
int tml_fe_check(const tml_fe_config *cfg);

/* Bytes of scratch tml_fe_push needs for this config (an 8-byte aligned buffer); 0 if invalid. */
int32_t tml_fe_scratch_bytes(const tml_fe_config *cfg);

/* Empty window, zero noise estimate. */
int tml_fe_reset(const tml_fe_config *cfg, tml_fe_state *state);

/* Take samples until the window is full (or they run out); *consumed says how many. When the
 * window is full, computes one frame of num_channels values into frame and returns 1; returns
 * 0 when more samples are needed; a negative tml_status on bad arguments (nothing changed):
 * TML_ERR_ALIGN for scratch not 8-byte aligned. cfg must have passed tml_fe_check (its bands
 * are not checked again here).
 * Call again with the rest of the samples until it returns 0. */
int tml_fe_push(const tml_fe_config *cfg, tml_fe_state *state, const int16_t *samples, int32_t n_samples,
                int32_t *consumed, uint16_t *frame, void *scratch);

#endif
