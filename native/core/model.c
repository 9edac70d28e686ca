/* A whole model in one call: the layers of a chain run back to back through tml_fc_s8, so a
 * binding crosses into C once per inference instead of once per layer (the Python loop it
 * replaces costs a call, a tuple unpack and four buffer lookups per layer). */
#include "tinyml.h"

#define TML_MAX_LAYERS 255

static int32_t widest_hidden(const tml_fc_layer *layers, int32_t n_layers)
{
    int32_t widest = 0;
    for (int32_t i = 0; i + 1 < n_layers; i++) {
        widest = layers[i].p.n_out > widest ? layers[i].p.n_out : widest;
    }
    return widest;
}

int32_t tml_model_scratch_bytes(const tml_fc_layer *layers, int32_t n_layers)
{
    if (layers == 0 || n_layers < 1 || n_layers > TML_MAX_LAYERS) {
        return 0;
    }
    return 2 * widest_hidden(layers, n_layers);
}

tml_status tml_model_check(const tml_fc_layer *layers, int32_t n_layers)
{
    if (layers == 0) {
        return TML_ERR_NULL;
    }
    if (n_layers < 1 || n_layers > TML_MAX_LAYERS) {
        return TML_ERR_SHAPE;
    }
    for (int32_t i = 0; i < n_layers; i++) {
        const tml_fc_layer *l = &layers[i];
        if (l->w == 0 || l->bias == 0) {
            return TML_ERR_NULL;
        }
        tml_status st = tml_fc_check(&l->p, l->mult, l->shift);
        if (st != TML_OK) {
            return st;
        }
        if (i > 0 && l->p.n_in != layers[i - 1].p.n_out) {
            return TML_ERR_SHAPE;
        }
    }
    return TML_OK;
}

tml_status tml_model_run(const tml_fc_layer *layers, int32_t n_layers, const int8_t *x, int8_t *out,
                         int8_t *scratch)
{
    if (layers == 0 || x == 0 || out == 0 || (n_layers > 1 && scratch == 0)) {
        return TML_ERR_NULL;
    }
    if (n_layers < 1 || n_layers > TML_MAX_LAYERS) {
        return TML_ERR_SHAPE;
    }
    const int32_t half = widest_hidden(layers, n_layers);
    const int8_t *src = x;
    for (int32_t i = 0; i < n_layers; i++) {
        const tml_fc_layer *l = &layers[i];
        int8_t *dst = i == n_layers - 1 ? out : scratch + (i & 1) * half;
        tml_status st = tml_fc_s8(&l->p, src, l->w, l->bias, l->mult, l->shift, dst);
        if (st != TML_OK) {
            return st;
        }
        src = dst;
    }
    return TML_OK;
}
