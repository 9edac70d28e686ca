/* The packed front-end config read in place, and the checks a binding needs around
 * tml_fe_push: one statement of each in C, tested through ctypes (tests/native). */
#include "tml_features.h"

static const uint8_t magic[4] = { 'T', 'F', 'E', '1' };

static int32_t le32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
}

static void clear(tml_fe_config *cfg) {
    cfg->window = cfg->twiddles = cfg->split_twiddles = cfg->bin_weight = cfg->bin_unweight = cfg->gain_lut = 0;
    cfg->bin_band = cfg->fft_order = 0;
}

int tml_fe_unpack(const uint8_t *bytes, int32_t n_bytes, tml_fe_config *cfg) {
    int32_t v[15], k, half, n_bins, items;
    int status;
    const int16_t *at;
    if (!cfg) {
        return TML_ERR_NULL;
    }
    clear(cfg);
    if (!bytes) {
        return TML_ERR_NULL;
    }
    if (n_bytes < TML_FE_PACKED_HEADER) {
        return TML_ERR_FORMAT;
    }
    for (k = 0; k < 4; ++k) {
        if (bytes[k] != magic[k]) {
            return TML_ERR_FORMAT;
        }
    }
    if ((uintptr_t)bytes % 2) {
        return TML_ERR_ALIGN;
    }
    for (k = 0; k < 15; ++k) {
        v[k] = le32(bytes + 4 + 4 * k);
    }
    cfg->window_samples = v[0];
    cfg->step_samples = v[1];
    cfg->fft_size = v[2];
    cfg->num_channels = v[3];
    cfg->start_bin = v[4];
    cfg->end_bin = v[5];
    cfg->smoothing_bits = v[6];
    cfg->even_smoothing = v[7];
    cfg->odd_smoothing = v[8];
    cfg->min_signal_remaining = v[9];
    cfg->enable_pcan = v[10];
    cfg->snr_shift = v[11];
    cfg->enable_log = v[12];
    cfg->log_correction_bits = v[13];
    cfg->scale_shift = v[14];
    /* the table sizes come from these: bounded first so the sum cannot overflow (the rest of
     * their checks is tml_fe_check's) */
    if (cfg->window_samples < 4 || cfg->window_samples > TML_FE_MAX_WINDOW || cfg->fft_size < 8 ||
        cfg->fft_size > 2 * TML_FE_MAX_WINDOW || cfg->start_bin < 1 || cfg->end_bin < cfg->start_bin ||
        cfg->end_bin > cfg->fft_size / 2 || (cfg->enable_pcan != 0 && cfg->enable_pcan != 1)) {
        return (cfg->enable_pcan != 0 && cfg->enable_pcan != 1) ? TML_ERR_RANGE : TML_ERR_SHAPE;
    }
    half = cfg->fft_size / 2;
    n_bins = cfg->end_bin - cfg->start_bin;
    items = cfg->window_samples + 2 * half + half + 3 * n_bins + (cfg->enable_pcan ? TML_FE_GAIN_LUT_SIZE : 0) + half;
    if (n_bytes != TML_FE_PACKED_HEADER + 2 * items) {
        return TML_ERR_SIZE;
    }
    at = (const int16_t *)(const void *)(bytes + TML_FE_PACKED_HEADER);
    cfg->window = at;
    at += cfg->window_samples;
    cfg->twiddles = at;
    at += 2 * half;
    cfg->split_twiddles = at;
    at += half;
    cfg->bin_band = (const uint16_t *)at;
    at += n_bins;
    cfg->bin_weight = at;
    at += n_bins;
    cfg->bin_unweight = at;
    at += n_bins;
    cfg->gain_lut = cfg->enable_pcan ? at : 0;
    at += cfg->enable_pcan ? TML_FE_GAIN_LUT_SIZE : 0;
    cfg->fft_order = (const uint16_t *)at;
    status = tml_fe_check(cfg);
    if (status != TML_OK) {
        clear(cfg);
    }
    return status;
}

int32_t tml_fe_span(const void *samples, int32_t n_bytes, int32_t start, int32_t end) {
    int32_t n = n_bytes < 0 ? 0 : n_bytes / 2;
    if (end == -1) {
        end = n;
    }
    if (start < 0 || end < start || end > n) {
        return TML_ERR_SIZE;
    }
    if (end > start && (uintptr_t)samples % 2) {
        return TML_ERR_ALIGN;
    }
    return end - start;
}

int tml_fe_check_frame(const tml_fe_config *cfg, const void *out, int32_t n_bytes, int32_t item_bytes) {
    if (!cfg) {
        return TML_ERR_NULL;
    }
    if ((item_bytes != 1 && item_bytes != 2) || cfg->num_channels < 1 || n_bytes / item_bytes < cfg->num_channels ||
        !out) {
        return TML_ERR_SIZE;
    }
    if (item_bytes == 2 && (uintptr_t)out % 2) {
        return TML_ERR_ALIGN;
    }
    return TML_OK;
}

int tml_fe_frame_s8(const uint16_t *frame, int32_t n, int32_t divisor, int32_t zero_point, int8_t *out) {
    int32_t c;
    if ((!frame || !out) && n > 0) {
        return TML_ERR_NULL;
    }
    if (divisor < 1 || zero_point < -128 || zero_point > 127) {
        return TML_ERR_RANGE;
    }
    for (c = 0; c < n; ++c) {
        /* < 2^24 + 2^30: no overflow in 32 bits unsigned */
        int32_t q = (int32_t)(((uint32_t)frame[c] * 256u + (uint32_t)divisor / 2u) / (uint32_t)divisor) + zero_point;
        out[c] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
    }
    return TML_OK;
}
