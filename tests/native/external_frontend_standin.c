/* A stand-in for an external front end behind external_frontend_driver.c's interface, written for
 * tests/native/test_external_frontend.py: tinyml's own features.c on the tml_fe_config the tool
 * passes, so that native/tools/external_frontend.py is tested without TensorFlow's sources.
 * standin_fe_process_wrong changes one channel of every fifth frame, a fault the check must catch. */
#include <stdint.h>

#include "tml_features.h"

#define STANDIN_ARENA 0x20600000u   /* RAM no section and no Machine.put uses (as the driver's heap) */

static const tml_fe_config *config;
static tml_fe_state state;
static void *scratch;
static int32_t frames;

int32_t fe_ext_init(const void *tinyml_config)
{
    config = (const tml_fe_config *)tinyml_config;
    if (tml_fe_check(config) != TML_OK) {
        return -1;
    }
    uint8_t *arena = (uint8_t *)STANDIN_ARENA;
    state.samples = (int16_t *)arena;
    arena += (2 * config->window_samples + 7) & ~7;
    state.noise_estimate = (uint32_t *)arena;
    arena += (4 * config->num_channels + 7) & ~7;
    scratch = arena;
    frames = 0;
    return tml_fe_reset(config, &state) == TML_OK ? 0 : -1;
}

int32_t fe_ext_process(const int16_t *samples, int32_t n, int32_t *consumed, uint16_t *frame)
{
    return tml_fe_push(config, &state, samples, n, consumed, frame, scratch);
}

int32_t standin_fe_process_wrong(const int16_t *samples, int32_t n, int32_t *consumed, uint16_t *frame)
{
    int32_t status = fe_ext_process(samples, n, consumed, frame);
    if (status == 1 && frames++ % 5 == 4) {
        frame[config->num_channels / 2] ^= 1;
    }
    return status;
}
