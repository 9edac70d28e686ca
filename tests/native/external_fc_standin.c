/* A stand-in for an external kernel with CMSIS-NN's arm_fully_connected_s8 calling convention
 * (the public signature and struct layouts only), written here for tests/native/test_external_fc.py:
 * one MAC at a time and tml_requantize, so that native/tools/external_fc.py is tested without
 * CMSIS-NN. standin_fc_no_input_offset drops the input offset, a fault the comparison must catch. */
#include <stdint.h>

#include "tinyml.h"

typedef struct { void *buf; int32_t size; } standin_context;
typedef struct { int32_t input_offset, filter_offset, output_offset, act_min, act_max; } standin_fc_params;
typedef struct { int32_t multiplier, shift; } standin_quant;
typedef struct { int32_t n, h, w, c; } standin_dims;

static int32_t standin_fc(const standin_fc_params *p, const standin_quant *q, const standin_dims *in_dims,
                          const int8_t *x, const standin_dims *f_dims, const int8_t *w, const int32_t *bias,
                          const standin_dims *out_dims, int8_t *out, int32_t input_offset)
{
    const int32_t n_in = f_dims->n, n_out = out_dims->c;
    if (in_dims->n != 1 || in_dims->c != n_in) {
        return -1;
    }
    for (int32_t o = 0; o < n_out; o++) {
        uint32_t acc = bias ? (uint32_t)bias[o] : 0u;   /* int32 wrap-around, as the reference */
        for (int32_t i = 0; i < n_in; i++) {
            acc += (uint32_t)(((int32_t)x[i] + input_offset) * ((int32_t)w[o * n_in + i] + p->filter_offset));
        }
        int32_t y = tml_requantize((int32_t)acc, q->multiplier, q->shift, 0) + p->output_offset;
        out[o] = (int8_t)(y < p->act_min ? p->act_min : y > p->act_max ? p->act_max : y);
    }
    return 0;
}

int32_t arm_fully_connected_s8(const standin_context *ctx, const standin_fc_params *p, const standin_quant *q,
                               const standin_dims *in_dims, const int8_t *x, const standin_dims *f_dims,
                               const int8_t *w, const standin_dims *bias_dims, const int32_t *bias,
                               const standin_dims *out_dims, int8_t *out)
{
    (void)ctx;
    (void)bias_dims;
    return standin_fc(p, q, in_dims, x, f_dims, w, bias, out_dims, out, p->input_offset);
}

int32_t standin_fc_no_input_offset(const standin_context *ctx, const standin_fc_params *p, const standin_quant *q,
                                   const standin_dims *in_dims, const int8_t *x, const standin_dims *f_dims,
                                   const int8_t *w, const standin_dims *bias_dims, const int32_t *bias,
                                   const standin_dims *out_dims, int8_t *out)
{
    (void)ctx;
    (void)bias_dims;
    return standin_fc(p, q, in_dims, x, f_dims, w, bias, out_dims, out, 0);
}
