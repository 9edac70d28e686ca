/* The driver native/tools/external_frontend.py calls in an ELF built from TensorFlow's microfrontend
 * library (tensorflow/lite/experimental/microfrontend/lib, with kissfft), built OUTSIDE this
 * repository (docs/benchmarks.md, "TensorFlow's microfrontend, measured the same way", gives the
 * commands). This file is ours; it only includes TensorFlow's headers.
 *
 *   int32_t fe_ext_init(const void *tinyml_config)   0 when the state is ready (argument ignored here:
 *                                                     the settings are micro_speech's, below)
 *   int32_t fe_ext_process(const int16_t *samples, int32_t n, int32_t *consumed, uint16_t *frame)
 *                                                     1 and `frame` filled when a window completed,
 *                                                     else 0; *consumed samples were read
 *
 * micro_speech's settings: 30 ms windows every 20 ms at 16 kHz, 40 channels, 125..7500 Hz, noise
 * reduction 10 bits / 0.025 / 0.06 / 0.05, PCAN 0.95 / 80 / 21 bits, log scale shift 6.
 * malloc is a bump allocator over RAM no section uses (FrontendPopulateState runs once). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tensorflow/lite/experimental/microfrontend/lib/frontend.h"
#include "tensorflow/lite/experimental/microfrontend/lib/frontend_util.h"

#define FE_EXT_HEAP_START 0x20600000u
#define FE_EXT_HEAP_END 0x20780000u

static uintptr_t heap_at;

void *malloc(size_t n)
{
    if (heap_at == 0) {
        heap_at = FE_EXT_HEAP_START;
    }
    uintptr_t p = (heap_at + 7u) & ~(uintptr_t)7u;
    if (p + n > FE_EXT_HEAP_END) {
        return NULL;
    }
    heap_at = p + n;
    return (void *)p;
}

void *calloc(size_t k, size_t n)
{
    void *p = malloc(k * n);
    if (p) {
        memset(p, 0, k * n);
    }
    return p;
}

void free(void *p)
{
    (void)p;
}

static struct FrontendState state;

int32_t fe_ext_init(const void *tinyml_config)
{
    (void)tinyml_config;
    struct FrontendConfig config;
    heap_at = 0;
    FrontendFillConfigWithDefaults(&config);
    config.window.size_ms = 30;
    config.window.step_size_ms = 20;
    config.filterbank.num_channels = 40;
    config.filterbank.lower_band_limit = 125.0f;
    config.filterbank.upper_band_limit = 7500.0f;
    config.noise_reduction.smoothing_bits = 10;
    config.noise_reduction.even_smoothing = 0.025f;
    config.noise_reduction.odd_smoothing = 0.06f;
    config.noise_reduction.min_signal_remaining = 0.05f;
    config.pcan_gain_control.enable_pcan = 1;
    config.pcan_gain_control.strength = 0.95f;
    config.pcan_gain_control.offset = 80.0f;
    config.pcan_gain_control.gain_bits = 21;
    config.log_scale.enable_log = 1;
    config.log_scale.scale_shift = 6;
    if (!FrontendPopulateState(&config, &state, 16000)) {
        return -1;
    }
    FrontendReset(&state);
    return 0;
}

int32_t fe_ext_process(const int16_t *samples, int32_t n, int32_t *consumed, uint16_t *frame)
{
    size_t read = 0;
    struct FrontendOutput out = FrontendProcessSamples(&state, samples, (size_t)n, &read);
    *consumed = (int32_t)read;
    if (out.values == NULL) {
        return 0;
    }
    memcpy(frame, out.values, out.size * sizeof(uint16_t));
    return 1;
}
