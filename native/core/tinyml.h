/* tinyml native core: int8 fully connected layers with TFLite-exact requantization.
 *
 * Plain C99, no MicroPython headers: the same source is tested on the host through
 * ctypes, cross-compiled for Cortex-M and run under emulation, and bound into
 * MicroPython by native/micropython/. No malloc, no asserts: status codes.
 *
 * Layout contract (docs/format.md, "Weight layout"): the weights of a layer are stored as the
 * .tmdl file holds them. Rows come in blocks of TML_BLOCK_ROWS: block b (rows 8b..8b+7) starts
 * at 8 b n_in; in it, for each group of 4 inputs j < n_in / 4, the 8 rows' 4 weights one after
 * another (row r's w[8b+r][4j..4j+3] at 32 j + 4 r), then each row's last n_in % 4 weights
 * (row r's at 32 (n_in / 4) + r (n_in % 4)). Rows after the last full block are row-major
 * (row o at o n_in). So one pointer walks a block and one 32-bit load holds 4 weights of a
 * row. bias already holds bias - input_zp * sum(row), so acc = bias[o] + sum(w[o][i] * x[i]).
 */
#ifndef TINYML_H
#define TINYML_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TML_OK = 0,
    TML_ERR_NULL = -1,       /* a required pointer is NULL */
    TML_ERR_SHAPE = -2,      /* n_in or n_out out of range, or channels not 1 or n_out */
    TML_ERR_QUANT = -3,      /* shift out of [-31, 30], multiplier negative, bad rounding */
    TML_ERR_RANGE = -4,      /* act_min > act_max, or a bound outside int8 */
    TML_ERR_SIZE = -5,       /* a buffer shorter than the layer needs (check.c) */
    TML_ERR_ALIGN = -6,      /* an int32 buffer (bias, mult) not 4-byte aligned (check.c) */
    TML_ERR_OVERLAP = -7,    /* out overlaps an input buffer (check.c) */
    TML_ERR_FORMAT = -8,     /* bytes that are not what they should hold (a packed config's magic) */
    TML_ERR_UNSUPPORTED = -9 /* not built for this chip (tml_pdm.h on anything but the nRF52840) */
} tml_status;

/* The rounding of TFLite's requantization. The same codes are the .tmdl header's rounding
 * byte (docs/format.md; host/tinyml_host/tmdl.py ROUNDING_*), so a reader passes it through. */
enum { TML_ROUNDING_TFLM = 0, TML_ROUNDING_LITERT = 1 };

#define TML_BLOCK_ROWS 8

/* One layer's shape and output quantization; all int32 so a binding can pass an array. */
typedef struct {
    int32_t n_in;
    int32_t n_out;
    int32_t n_channels;   /* 1 (per-tensor) or n_out (per-channel) */
    int32_t act_min;
    int32_t act_max;
    int32_t output_zp;
    int32_t rounding;     /* TML_ROUNDING_TFLM or TML_ROUNDING_LITERT */
} tml_fc_params;

#define TML_FC_PARAMS_FIELDS 7

/* Check params, multipliers and shifts once (at load): tml_fc_s8 trusts them afterwards. */
tml_status tml_fc_check(const tml_fc_params *p, const int32_t *mult, const int8_t *shift);

/* TFLite's MultiplyByQuantizedMultiplier, in either rounding. */
int32_t tml_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t rounding);

/* The readable reference every optimized path is tested against. It runs tml_fc_check itself. */
tml_status tml_fc_s8_ref(const tml_fc_params *p, const int8_t *x, const int8_t *w,
                         const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out);

/* The fastest path for the CPU it is compiled for (DSP, Armv6-M or portable C).
 * p, mult and shift must have passed tml_fc_check: it does not check them again (only
 * pointers for NULL). bias and mult must be 4-byte aligned; the int8 buffers need not be. */
tml_status tml_fc_s8(const tml_fc_params *p, const int8_t *x, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out);

/* Where row o's weight for input i sits in the layout above: the one statement of it in C,
 * for the references (fc_s8_ref.c, conv_s8_ref.c). o < n_out, i < n_in. */
size_t tml_weight_index(int32_t n_in, int32_t n_out, int32_t o, int32_t i);

/* ---- the convolution family: int8 NHWC tensors, batch 1 (docs/format.md, version 4) ----
 *
 * Output pixel (oy, ox) reads input rows oy stride_h - pad_top + ky (ky < filter_h) and
 * columns ox stride_w - pad_left + kx. The output size and padding must be TFLite's for
 * VALID or SAME padding (checked): every window then holds at least one input pixel. */

/* CONV_2D and DEPTHWISE_CONV_2D (depth multiplier 1: out_c == in_c). All int32 so a binding
 * can pass an array. */
typedef struct {
    int32_t in_h;
    int32_t in_w;
    int32_t in_c;
    int32_t out_h;
    int32_t out_w;
    int32_t out_c;
    int32_t filter_h;
    int32_t filter_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t input_zp;
    int32_t n_channels;   /* 1 (per-tensor) or out_c (per-channel) */
    int32_t act_min;
    int32_t act_max;
    int32_t output_zp;
    int32_t rounding;     /* TML_ROUNDING_TFLM or TML_ROUNDING_LITERT */
} tml_conv_params;

#define TML_CONV_PARAMS_FIELDS 18

/* Bytes of each tensor, for a binding's length checks (0 when p does not pass its check). */
int32_t tml_conv_input_bytes(const tml_conv_params *p);
int32_t tml_conv_output_bytes(const tml_conv_params *p);

/* CONV_2D. Weights: the matrix [out_c, K], K = filter_h filter_w in_c in TFLite's OHWI order
 * (row o, then filter row, filter column, input channel), in the fully connected layout above.
 * bias [out_c] has the input offset folded in (bias - input_zp * sum of the row), and a padded
 * input position counts as input_zp, so acc = bias[o] + sum of w * x over the whole patch is
 * TFLite's bias + sum of w * (x - input_zp) over the taps inside the input.
 * Checked once (at load): shapes, output size and padding, quantization, ranges. */
tml_status tml_conv_check(const tml_conv_params *p, const int32_t *mult, const int8_t *shift);

/* Bytes of the caller-owned scratch tml_conv_s8 needs (the patches it gathers; 0 when it
 * reads its patches in place, as for 1x1 filters), or 0 when p is not valid. */
int32_t tml_conv_scratch_bytes(const tml_conv_params *p);

/* The readable reference: runs tml_conv_check itself. No scratch. */
tml_status tml_conv_s8_ref(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int8_t *shift, int8_t *out);

/* Patch by patch (im2col into scratch) through the fully connected kernel's row loop. p, mult
 * and shift must have passed tml_conv_check; scratch holds tml_conv_scratch_bytes(p) bytes
 * (any alignment; may be NULL when that is 0); bias and mult 4-byte aligned. */
tml_status tml_conv_s8(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                       const int32_t *mult, const int8_t *shift, int8_t *out, int8_t *scratch);

/* DEPTHWISE_CONV_2D, depth multiplier 1. Weights int8 [filter_h][filter_w][C] (TFLite's order),
 * bias [C] as TFLite has it (not folded): acc = bias[c] + sum over the taps inside the input
 * of w * (x - input_zp); taps outside are skipped. Checked once (at load), like conv. */
tml_status tml_dwconv_check(const tml_conv_params *p, const int32_t *mult, const int8_t *shift);
tml_status tml_dwconv_s8_ref(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out);
/* p, mult and shift checked; bias and mult 4-byte aligned. No scratch. */
tml_status tml_dwconv_s8(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                         const int32_t *mult, const int8_t *shift, int8_t *out);

/* AVERAGE_POOL_2D and MAX_POOL_2D: input and output share scale and zero point (the exporter
 * checks), so they work on the int8 values themselves; taps outside the input are skipped. */
typedef struct {
    int32_t in_h;
    int32_t in_w;
    int32_t channels;
    int32_t out_h;
    int32_t out_w;
    int32_t filter_h;
    int32_t filter_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t act_min;
    int32_t act_max;
} tml_pool_params;

#define TML_POOL_PARAMS_FIELDS 13

tml_status tml_pool_check(const tml_pool_params *p);
/* Average: the sum over the taps inside, divided by their count, halves away from zero, as
 * TFLite's int8 kernel rounds. Both run tml_pool_check. */
tml_status tml_avgpool_s8(const tml_pool_params *p, const int8_t *x, int8_t *out);
tml_status tml_maxpool_s8(const tml_pool_params *p, const int8_t *x, int8_t *out);

/* ADD of two tensors of the same shape (no broadcast), TFLite's int8 scheme: each input
 * (x + offset) << left_shift is rescaled by its multiplier, the sum by the output's, every
 * multiplication by tml_requantize in the model's rounding. */
typedef struct {
    int32_t size;              /* elements */
    int32_t left_shift;        /* 20 in TFLite's int8 add */
    int32_t input1_offset;     /* -input1 zero point */
    int32_t input1_multiplier;
    int32_t input1_shift;      /* <= 0 */
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t output_multiplier;
    int32_t output_shift;      /* <= 0 */
    int32_t output_zp;
    int32_t act_min;
    int32_t act_max;
    int32_t rounding;
} tml_add_params;

#define TML_ADD_PARAMS_FIELDS 14

tml_status tml_add_check(const tml_add_params *p);
/* Runs tml_add_check. out may be x1 or x2 exactly (each element is read before it is written). */
tml_status tml_add_s8(const tml_add_params *p, const int8_t *x1, const int8_t *x2, int8_t *out);

/* SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) over each row of `depth` values,
 * as TFLite Micro computes it: differences from the row's maximum, rescaled by input_multiplier
 * << input_left_shift into 5 integer bits, a fixed-point exp, 1 / the sum, all in gemmlowp's
 * fixed-point arithmetic. input_multiplier, input_left_shift and diff_min are what TFLite's
 * PreprocessSoftmaxScaling and CalculateInputRadius give for beta and the input scale. */
typedef struct {
    int32_t rows;
    int32_t depth;
    int32_t input_multiplier;
    int32_t input_left_shift;  /* 0..31 */
    int32_t diff_min;          /* <= 0: differences below it give exp 0 */
} tml_softmax_params;

#define TML_SOFTMAX_PARAMS_FIELDS 5

tml_status tml_softmax_check(const tml_softmax_params *p);
/* Runs tml_softmax_check. out may not overlap x (each row is read twice). */
tml_status tml_softmax_s8(const tml_softmax_params *p, const int8_t *x, int8_t *out);

/* ---- check.c: every check a binding needs, so the binding only converts objects ---- */

/* A layer's buffers as the caller holds them: each pointer with its length in bytes. */
typedef struct {
    const int8_t *x;
    size_t x_len;
    const int8_t *w;
    size_t w_len;
    const int32_t *bias;
    size_t bias_len;
    const int32_t *mult;
    size_t mult_len;
    const int8_t *shift;
    size_t shift_len;
    int8_t *out;
    size_t out_len;
} tml_fc_buffers;

/* Which buffer a TML_ERR_NULL, TML_ERR_SIZE, TML_ERR_ALIGN or TML_ERR_OVERLAP is about. */
typedef enum {
    TML_BUF_NONE, TML_BUF_X, TML_BUF_W, TML_BUF_BIAS, TML_BUF_MULT, TML_BUF_SHIFT, TML_BUF_OUT, TML_BUF_SCRATCH,
    TML_BUF_X2  /* ADD's second input */
} tml_buffer;

/* Once per layer (prepare): NULLs, shape, weights/bias/mult/shift long enough, bias and mult
 * 4-byte aligned, then tml_fc_check. x and out are not looked at. `bad` (may be NULL) gets
 * the buffer a failure is about. */
tml_status tml_fc_check_layer(const tml_fc_params *p, const tml_fc_buffers *b, tml_buffer *bad);

/* O(1), before each call: weights and bias long enough and not NULL, bias aligned (a RAM
 * buffer may have moved or shrunk since the layer check). Part of tml_fc_check_call. */
tml_status tml_fc_check_weights(const tml_fc_params *p, const tml_fc_buffers *b, tml_buffer *bad);

/* Before each call of a checked layer: x, w, bias and out long enough and not NULL, bias
 * aligned (a RAM buffer may have moved or shrunk since), and out overlapping none of x, w,
 * bias, mult, shift over the bytes the kernel touches: the kernel reads all of x and a row
 * of w after writing earlier outputs, so an overlap would give wrong results. Refused, even
 * out == x exactly. O(1). */
tml_status tml_fc_check_call(const tml_fc_params *p, const tml_fc_buffers *b, tml_buffer *bad);

/* Both checks, then tml_fc_s8: the whole path of a binding's prepare + fc in one call, for
 * callers that run a layer once and for the emulated fuzz. Writes out only when TML_OK. */
tml_status tml_fc_run_checked(const tml_fc_params *p, const tml_fc_buffers *b);

/* The convolution family's buffers as the caller holds them, each pointer with its length in
 * bytes. A kernel uses the ones it takes and ignores the others: CONV_2D x, w, bias, mult,
 * shift, out, scratch; DEPTHWISE_CONV_2D the same without scratch; the pools and SOFTMAX x
 * and out; ADD x, x2 and out. */
typedef struct {
    const int8_t *x;
    size_t x_len;
    const int8_t *x2;
    size_t x2_len;
    const int8_t *w;
    size_t w_len;
    const int32_t *bias;
    size_t bias_len;
    const int32_t *mult;
    size_t mult_len;
    const int8_t *shift;
    size_t shift_len;
    int8_t *out;
    size_t out_len;
    int8_t *scratch;
    size_t scratch_len;
} tml_op_buffers;

/* As for fully connected layers: *_check_layer once per layer (prepare), *_check_call before
 * every call (O(1)), *_run_checked both and then the kernel, writing out (and scratch) only
 * when TML_OK. `bad` (may be NULL) gets the buffer a NULL, SIZE, ALIGN or OVERLAP is about.
 *
 * Layer (CONV_2D, DEPTHWISE_CONV_2D): weights, bias, mult and shift not NULL and as long as
 * the shape needs, bias and mult 4-byte aligned, then tml_conv_check / tml_dwconv_check.
 * x, out and scratch are not looked at.
 * Call: the shape again (cheap; the params may have changed), weights, bias, mult and shift
 * again (a RAM buffer may have moved or shrunk), x and out as long as the tensors, scratch
 * as long as tml_conv_scratch_bytes (CONV_2D; may be NULL when that is 0), and no overlap of
 * out with x, weights, bias, mult, shift or scratch, nor of scratch with x, weights, bias,
 * mult or shift, over the bytes the kernel touches: it writes out and scratch while it still
 * reads the others, so any overlap (out == x included) would give wrong results. */
tml_status tml_conv_check_layer(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_conv_check_call(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_conv_run_checked(const tml_conv_params *p, const tml_op_buffers *b);
tml_status tml_dwconv_check_layer(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_dwconv_check_call(const tml_conv_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_dwconv_run_checked(const tml_conv_params *p, const tml_op_buffers *b);

/* The pools, ADD and SOFTMAX have no constant buffers: their layer check is the params'
 * (tml_pool_check, tml_add_check, tml_softmax_check). Call: that check again, x (and ADD's
 * x2) and out not NULL and as long as the tensors, out overlapping no input. ADD alone may
 * write in place: out may be x or x2 exactly (each element is read before it is written),
 * but not overlap either otherwise. */
tml_status tml_pool_check_call(const tml_pool_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_avgpool_run_checked(const tml_pool_params *p, const tml_op_buffers *b);
tml_status tml_maxpool_run_checked(const tml_pool_params *p, const tml_op_buffers *b);
tml_status tml_add_check_call(const tml_add_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_add_run_checked(const tml_add_params *p, const tml_op_buffers *b);
tml_status tml_softmax_check_call(const tml_softmax_params *p, const tml_op_buffers *b, tml_buffer *bad);
tml_status tml_softmax_run_checked(const tml_softmax_params *p, const tml_op_buffers *b);

/* Name of the path tml_fc_s8 was compiled to, for benchmarks and info(). */
const char *tml_fc_s8_variant(void);

/* ---- a whole model: a chain of fully connected layers run in one call (model.c) ---- */

/* One layer with its buffers: what tml_fc_s8 takes, in one place. */
typedef struct {
    tml_fc_params p;
    const int8_t *w;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} tml_fc_layer;

/* Bytes of scratch tml_model_run needs for the hidden activations: two halves as wide as the
 * widest hidden layer (0 for one layer). */
int32_t tml_model_scratch_bytes(const tml_fc_layer *layers, int32_t n_layers);

/* Check a model once (at load): 1..255 layers, each passing tml_fc_check, each layer's
 * n_in equal to the previous layer's n_out. tml_model_run trusts it afterwards. */
tml_status tml_model_check(const tml_fc_layer *layers, int32_t n_layers);

/* x (layers[0].p.n_in int8) -> out (the last layer's n_out int8), the hidden activations
 * alternating between the two halves of scratch (tml_model_scratch_bytes). The layers must
 * have passed tml_model_check; only pointers are checked here. out may not overlap scratch. */
tml_status tml_model_run(const tml_fc_layer *layers, int32_t n_layers, const int8_t *x, int8_t *out,
                         int8_t *scratch);

/* Before each tml_model_run of checked layers (check.c): x, out and scratch long enough, and
 * no overlap of out or scratch with x, each other, or any layer's weights and bias. The
 * layers' weights and bias must have passed tml_fc_check_weights. O(n_layers). */
tml_status tml_model_check_call(const tml_fc_layer *layers, int32_t n_layers, const int8_t *x, size_t x_len,
                                int8_t *out, size_t out_len, int8_t *scratch, size_t scratch_len, tml_buffer *bad);

#endif
