// _tinyml: MicroPython binding of native/core. It only converts objects and calls
// the core. Integer and buffer arguments only (no float in the native API: RP2350
// natmods have a float-ABI problem). One source builds both ways:
//   - a user C module compiled into firmware (micropython.mk / micropython.cmake);
//   - a dynamic native module, _tinyml.mpy (Makefile; MICROPY_ENABLE_DYNRUNTIME).
//
// prepare() checks a layer once and returns a Plan; fc(plan, x, out) then runs it with
// only O(1) checks, and tml_fc_s8 trusts the checked parameters (native/core/tinyml.h).
// prepare_model(plans, scratch) chains prepared layers into a Model; run(model, x, out)
// runs all of them in one call (tml_model_run).
// The convolution family (ABI 4) has the same shape: prepare_conv / prepare_dwconv /
// prepare_pool / prepare_add / prepare_softmax check a layer once and return an OpPlan;
// conv, dwconv, avgpool, maxpool, add and softmax run it after the core's O(1) call check.
// Every check is the core's (native/core/check.c); this file maps a status to a ValueError.
// The audio front end (ABI 5): frontend(config) checks a packed config once (tml_fe_unpack)
// and returns a Frontend holding its state and scratch; fe_push feeds it int16 samples and
// fe_frame / fe_frame_s8 read the latest frame (native/core/tml_features.h).
// The nRF52840 PDM capture (tml_pdm.h): pdm_start / pdm_read / pdm_stop exist only in
// firmware built for that chip (NRF52840_XXAA or TINYML_PDM_NRF52), never in the natmod. They
// are additions that code looks for with hasattr, not part of the always-present API, so they
// change no ABI version.
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#endif

#include <stddef.h>

#include "tinyml.h"
#include "tml_features.h"
#include "tml_pdm.h"

#define TINYML_ABI_VERSION (5)

// One prepared layer. The multipliers and shifts the kernel trusts cannot change behind its
// back: read-only buffers (a model file in ROMFS, bytes) are used where they lie, writable
// ones (arrays in RAM) are copied into `own`. Weights and bias may hold any values; their
// buffers are looked up on every call, since an array in RAM can be resized or moved.
typedef struct {
    mp_obj_base_t base;
    tml_fc_params p;
    mp_obj_t weights;
    mp_obj_t bias;
    mp_obj_t mult_obj;      // the read-only objects mult and shift point into (kept alive), or None
    mp_obj_t shift_obj;
    const int32_t *mult;
    const int8_t *shift;
    int32_t own[];          // copies: n_channels int32 multipliers, then n_channels int8 shifts
} tinyml_plan_t;

// The Plan type has no methods: it only carries a checked layer from prepare() to fc().
#if MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t tinyml_plan_type;  // filled in by mpy_init (natmod bss variables cannot be static)
#else
static MP_DEFINE_CONST_OBJ_TYPE(tinyml_plan_type, MP_QSTR_Plan, MP_TYPE_FLAG_NONE);
#endif
#define PLAN_TYPE ((const mp_obj_type_t *)&tinyml_plan_type)

// A chain of prepared layers, run in one call. The layers' weights and bias pointers are
// refreshed from their objects on every run (as fc() does); multipliers and shifts are the
// plans' checked ones, kept alive through `plans`.
typedef struct {
    mp_obj_base_t base;
    mp_obj_t plans;         // a tuple of Plans
    mp_obj_t scratch;       // the writable buffer the hidden activations alternate in
    size_t n_layers;
    size_t scratch_bytes;
    tml_fc_layer layers[];
} tinyml_model_t;

#if MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t tinyml_model_type;
#else
static MP_DEFINE_CONST_OBJ_TYPE(tinyml_model_type, MP_QSTR_Model, MP_TYPE_FLAG_NONE);
#endif
#define MODEL_TYPE ((const mp_obj_type_t *)&tinyml_model_type)

// What the core's checks (native/core/check.c) found, as the ValueError a user sees. Every
// check lives in the core, tested on the host and under emulation on every core; the binding
// only gets each object's pointer and length and picks the message.
static void raise_for(tml_status st, tml_buffer which) {
    mp_rom_error_text_t msg;
    switch (st) {
        case TML_ERR_NULL: // an empty buffer may have no storage: shorter than needed, too
        case TML_ERR_SIZE:
            msg = which == TML_BUF_X ? MP_ERROR_TEXT("x shorter than n_in")
                : which == TML_BUF_W ? MP_ERROR_TEXT("weights shorter than n_in * n_out")
                : which == TML_BUF_BIAS ? MP_ERROR_TEXT("bias shorter than n_out")
                : which == TML_BUF_MULT ? MP_ERROR_TEXT("multipliers shorter than n_channels")
                : which == TML_BUF_SHIFT ? MP_ERROR_TEXT("shifts shorter than n_channels")
                : which == TML_BUF_SCRATCH ? MP_ERROR_TEXT("scratch shorter than twice the widest hidden layer")
                : MP_ERROR_TEXT("out shorter than n_out");
            break;
        case TML_ERR_ALIGN:
            msg = which == TML_BUF_BIAS ? MP_ERROR_TEXT("bias must be 4-byte aligned (int32)")
                : MP_ERROR_TEXT("multipliers must be 4-byte aligned (int32)");
            break;
        case TML_ERR_OVERLAP:
            msg = which == TML_BUF_SCRATCH ? MP_ERROR_TEXT("scratch overlaps x, out, weights or bias")
                : which == TML_BUF_X ? MP_ERROR_TEXT("out overlaps x")
                : which == TML_BUF_W ? MP_ERROR_TEXT("out overlaps weights")
                : which == TML_BUF_BIAS ? MP_ERROR_TEXT("out overlaps bias")
                : MP_ERROR_TEXT("out overlaps multipliers or shifts");
            break;
        case TML_ERR_SHAPE:
            msg = MP_ERROR_TEXT("layer shape must be in 1..65535, channels 1 or n_out");
            break;
        case TML_ERR_QUANT:
            msg = MP_ERROR_TEXT("bad multiplier, shift or rounding");
            break;
        case TML_ERR_RANGE:
            msg = MP_ERROR_TEXT("bad activation range or zero point");
            break;
        default:
            msg = MP_ERROR_TEXT("bad argument");
            break;
    }
    mp_raise_ValueError(msg);
}

static void *buffer_of(mp_obj_t obj, mp_uint_t flags, size_t *len) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(obj, &info, flags);
    *len = info.len;
    return info.buf;
}

static bool read_only(mp_obj_t obj) {
    mp_buffer_info_t info;
    return !mp_get_buffer(obj, &info, MP_BUFFER_WRITE);
}

// prepare(params, weights, bias, mult, shift) -> Plan: one int8 fully connected layer,
// checked once. params: 7 int32 laid out as tml_fc_params (copied); weights int8
// [n_out * n_in] in the .tmdl weight layout (docs/format.md); bias int32 [n_out]; mult int32 and shift int8 [n_channels].
static mp_obj_t tinyml_prepare(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t params_len;
    const tml_fc_params *p = buffer_of(args[0], MP_BUFFER_READ, &params_len);
    if (params_len < sizeof(tml_fc_params)) {
        mp_raise_ValueError(MP_ERROR_TEXT("params must hold 7 int32"));
    }
    tml_fc_params params = *p;  // a copy: params' buffer need not be aligned, and may change later
    tml_fc_buffers b = { 0 };
    b.w = buffer_of(args[1], MP_BUFFER_READ, &b.w_len);
    b.bias = buffer_of(args[2], MP_BUFFER_READ, &b.bias_len);
    b.mult = buffer_of(args[3], MP_BUFFER_READ, &b.mult_len);
    b.shift = buffer_of(args[4], MP_BUFFER_READ, &b.shift_len);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_fc_check_layer(&params, &b, &which);
    if (st != TML_OK) {
        raise_for(st, which);
    }
    size_t n_ch = (size_t)params.n_channels;
    bool in_place = read_only(args[3]) && read_only(args[4]);
    size_t own_words = in_place ? 0 : n_ch + (n_ch + 3) / 4;
    tinyml_plan_t *plan = mp_obj_malloc_var(tinyml_plan_t, own, int32_t, own_words, PLAN_TYPE);
    plan->p = params;
    plan->weights = args[1];
    plan->bias = args[2];
    if (in_place) {
        plan->mult_obj = args[3];
        plan->shift_obj = args[4];
        plan->mult = b.mult;
        plan->shift = b.shift;
    } else {
        int8_t *shift_copy = (int8_t *)(plan->own + n_ch);
        for (size_t c = 0; c < n_ch; c++) {
            plan->own[c] = b.mult[c];
            shift_copy[c] = b.shift[c];
        }
        plan->mult_obj = plan->shift_obj = mp_const_none;
        plan->mult = plan->own;
        plan->shift = shift_copy;
    }
    return MP_OBJ_FROM_PTR(plan);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_prepare_obj, 5, 5, tinyml_prepare);

MP_NOINLINE static const tinyml_plan_t *plan_of(mp_obj_t obj) {
    if (!mp_obj_is_exact_type(obj, PLAN_TYPE)) {
        mp_raise_TypeError(MP_ERROR_TEXT("plan must come from _tinyml.prepare"));
    }
    return MP_OBJ_TO_PTR(obj);
}

// Point b at its plan's weights and bias as they are now (their objects may have moved or
// shrunk), multipliers and shifts at the plan's checked ones; the core checks them in O(1).
MP_NOINLINE static void refresh_layer(tml_fc_buffers *b, const tinyml_plan_t *plan) {
    b->w = buffer_of(plan->weights, MP_BUFFER_READ, &b->w_len);
    b->bias = buffer_of(plan->bias, MP_BUFFER_READ, &b->bias_len);
    b->mult = plan->mult;
    b->mult_len = 4 * (size_t)plan->p.n_channels;
    b->shift = plan->shift;
    b->shift_len = (size_t)plan->p.n_channels;
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_fc_check_weights(&plan->p, b, &which);
    if (st != TML_OK) {
        raise_for(st, which);
    }
}

// fc(plan, x, out): run one prepared layer on int8 x into int8 out. Allocates nothing.
// The core checks in O(1) that x and out are long enough and out overlaps no input.
static mp_obj_t tinyml_fc(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in) {
    const tinyml_plan_t *plan = plan_of(plan_in);
    tml_fc_buffers b;
    refresh_layer(&b, plan);
    b.x = buffer_of(x_in, MP_BUFFER_READ, &b.x_len);
    b.out = buffer_of(out_in, MP_BUFFER_WRITE, &b.out_len);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_fc_check_call(&plan->p, &b, &which);
    if (st != TML_OK) {
        raise_for(st, which);
    }
    tml_fc_s8(&plan->p, b.x, b.w, b.bias, b.mult, b.shift, b.out);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_fc_obj, tinyml_fc);

static void refresh_model_layer(tml_fc_layer *layer, const tinyml_plan_t *plan) {
    tml_fc_buffers b;
    refresh_layer(&b, plan);
    layer->w = b.w;
    layer->bias = b.bias;
}

// prepare_model(plans, scratch) -> Model: prepared layers (a tuple or list of Plans, each
// layer's n_in the previous one's n_out), run in one call by run(). scratch: a writable
// buffer of at least twice the widest hidden layer's n_out bytes, for the activations
// between layers.
static mp_obj_t tinyml_prepare_model(mp_obj_t plans_in, mp_obj_t scratch_in) {
    size_t n;
    mp_obj_t *items;
    mp_obj_get_array(plans_in, &n, &items);
    if (n < 1 || n > 255) {
        mp_raise_ValueError(MP_ERROR_TEXT("a model has 1..255 layers"));
    }
    tinyml_model_t *model = mp_obj_malloc_var(tinyml_model_t, layers, tml_fc_layer, n, MODEL_TYPE);
    model->plans = mp_obj_new_tuple(n, items);  // a copy: a list could change later
    model->scratch = scratch_in;
    model->n_layers = n;
    for (size_t i = 0; i < n; i++) {
        const tinyml_plan_t *plan = plan_of(items[i]);
        tml_fc_layer *layer = &model->layers[i];
        layer->p = plan->p;
        layer->mult = plan->mult;
        layer->shift = plan->shift;
        refresh_model_layer(layer, plan);
    }
    if (tml_model_check(model->layers, (int32_t)n) != TML_OK) {  // the plans passed tml_fc_check: only the chain can fail
        mp_raise_ValueError(MP_ERROR_TEXT("each layer's n_in must be the previous layer's n_out"));
    }
    model->scratch_bytes = (size_t)tml_model_scratch_bytes(model->layers, (int32_t)n);
    size_t scratch_len;
    buffer_of(scratch_in, MP_BUFFER_WRITE, &scratch_len);
    if (scratch_len < model->scratch_bytes) {
        raise_for(TML_ERR_SIZE, TML_BUF_SCRATCH);
    }
    return MP_OBJ_FROM_PTR(model);
}
static MP_DEFINE_CONST_FUN_OBJ_2(tinyml_prepare_model_obj, tinyml_prepare_model);

// run(model, x, out): every layer of a prepared model, int8 x into int8 out. Allocates nothing.
// The core checks sizes and that out and scratch overlap nothing they must not.
static mp_obj_t tinyml_run(mp_obj_t model_in, mp_obj_t x_in, mp_obj_t out_in) {
    if (!mp_obj_is_exact_type(model_in, MODEL_TYPE)) {
        mp_raise_TypeError(MP_ERROR_TEXT("model must come from _tinyml.prepare_model"));
    }
    tinyml_model_t *model = MP_OBJ_TO_PTR(model_in);
    size_t n;
    mp_obj_t *plans;
    mp_obj_get_array(model->plans, &n, &plans);
    for (size_t i = 0; i < n; i++) {
        refresh_model_layer(&model->layers[i], MP_OBJ_TO_PTR(plans[i]));
    }
    size_t x_len, out_len, scratch_len;
    const int8_t *x = buffer_of(x_in, MP_BUFFER_READ, &x_len);
    int8_t *out = buffer_of(out_in, MP_BUFFER_WRITE, &out_len);
    int8_t *scratch = buffer_of(model->scratch, MP_BUFFER_WRITE, &scratch_len);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_model_check_call(model->layers, (int32_t)n, x, x_len, out, out_len, scratch, scratch_len,
        &which);
    if (st != TML_OK) {
        raise_for(st, which);
    }
    tml_model_run(model->layers, (int32_t)n, x, out, scratch);  // checked at prepare_model
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_run_obj, tinyml_run);

// ---- the convolution family (native/core/tinyml.h, .tmdl version 4) ----

enum { OP_CONV, OP_DWCONV, OP_POOL, OP_ADD, OP_SOFTMAX };

// One prepared window op. Like a Plan: the params are a checked copy; a filter's multipliers
// and shifts are used in place when read-only and copied into `own` when writable; weights
// and bias are looked up on every call. The pools, add and softmax have only params.
typedef struct {
    mp_obj_base_t base;
    int32_t kind;
    union {
        tml_conv_params conv;
        tml_pool_params pool;
        tml_add_params add;
        tml_softmax_params softmax;
    } p;
    mp_obj_t weights;       // conv and dwconv; None for the others
    mp_obj_t bias;
    mp_obj_t mult_obj;      // read-only multipliers and shifts used in place (kept alive), or None
    mp_obj_t shift_obj;
    const int32_t *mult;
    const int8_t *shift;
    int32_t own[];
} tinyml_op_t;

#if MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t tinyml_op_type;
#else
static MP_DEFINE_CONST_OBJ_TYPE(tinyml_op_type, MP_QSTR_OpPlan, MP_TYPE_FLAG_NONE);
#endif
#define OP_TYPE ((const mp_obj_type_t *)&tinyml_op_type)

// The core's status for a window op as the ValueError a user sees (a switch, not a table: a
// natmod cannot hold tables of pointers).
static void raise_op(tml_status st, tml_buffer which, int32_t kind) {
    mp_rom_error_text_t msg;
    switch (st) {
        case TML_ERR_NULL: // an empty buffer may have no storage: shorter than needed, too
        case TML_ERR_SIZE:
            msg = which == TML_BUF_X ? (kind == OP_ADD ? MP_ERROR_TEXT("x1 shorter than size")
                                                       : MP_ERROR_TEXT("x shorter than the input tensor"))
                : which == TML_BUF_X2 ? MP_ERROR_TEXT("x2 shorter than size")
                : which == TML_BUF_W ? MP_ERROR_TEXT("weights shorter than the filters")
                : which == TML_BUF_BIAS ? MP_ERROR_TEXT("bias shorter than out_c")
                : which == TML_BUF_MULT ? MP_ERROR_TEXT("multipliers shorter than n_channels")
                : which == TML_BUF_SHIFT ? MP_ERROR_TEXT("shifts shorter than n_channels")
                : which == TML_BUF_SCRATCH ? MP_ERROR_TEXT("scratch shorter than conv_scratch_bytes(params)")
                : MP_ERROR_TEXT("out shorter than the output tensor");
            break;
        case TML_ERR_ALIGN:
            msg = which == TML_BUF_BIAS ? MP_ERROR_TEXT("bias must be 4-byte aligned (int32)")
                : MP_ERROR_TEXT("multipliers must be 4-byte aligned (int32)");
            break;
        case TML_ERR_OVERLAP:
            msg = which == TML_BUF_X ? (kind == OP_ADD ? MP_ERROR_TEXT("out overlaps x1 (it may only be x1 itself)")
                                                       : MP_ERROR_TEXT("out overlaps x"))
                : which == TML_BUF_X2 ? MP_ERROR_TEXT("out overlaps x2 (it may only be x2 itself)")
                : which == TML_BUF_W ? MP_ERROR_TEXT("out overlaps weights")
                : which == TML_BUF_BIAS ? MP_ERROR_TEXT("out overlaps bias")
                : which == TML_BUF_SCRATCH ? MP_ERROR_TEXT("scratch overlaps x, out, weights, bias, multipliers or shifts")
                : MP_ERROR_TEXT("out overlaps multipliers or shifts");
            break;
        case TML_ERR_SHAPE:
            msg = kind == OP_CONV ? MP_ERROR_TEXT("bad conv shape: sizes, TFLite's VALID/SAME output and padding, channels 1 or out_c, patch <= 65535")
                : kind == OP_DWCONV ? MP_ERROR_TEXT("bad depthwise shape: sizes, TFLite's VALID/SAME output and padding, out_c == in_c, channels 1 or out_c")
                : kind == OP_POOL ? MP_ERROR_TEXT("bad pool shape: sizes, TFLite's VALID/SAME output and padding")
                : kind == OP_ADD ? MP_ERROR_TEXT("add size must be 1..16777216")
                : MP_ERROR_TEXT("softmax needs rows >= 1 and depth 1..511");
            break;
        case TML_ERR_QUANT:
            msg = kind == OP_ADD ? MP_ERROR_TEXT("bad add left_shift, offsets, multipliers, shifts or rounding")
                : kind == OP_SOFTMAX ? MP_ERROR_TEXT("bad softmax multiplier, left shift or diff_min")
                : MP_ERROR_TEXT("bad multiplier, shift or rounding");
            break;
        case TML_ERR_RANGE:
            msg = MP_ERROR_TEXT("bad activation range or zero point");
            break;
        default:
            msg = MP_ERROR_TEXT("bad argument");
            break;
    }
    mp_raise_ValueError(msg);
}

static void copy_bytes(void *dst, const void *src, size_t n) {
    for (size_t i = 0; i < n; i++) {  // a loop: a natmod has no memcpy
        ((uint8_t *)dst)[i] = ((const uint8_t *)src)[i];
    }
}

// params: an array('i') of exactly the struct's fields, copied (its buffer need not be
// aligned, and may change later).
static void params_of(mp_obj_t obj, void *dst, size_t size, mp_rom_error_text_t msg) {
    size_t len;
    const void *src = buffer_of(obj, MP_BUFFER_READ, &len);
    if (len != size) {
        mp_raise_ValueError(msg);
    }
    copy_bytes(dst, src, size);
}

static tinyml_op_t *new_op(int32_t kind, const void *params, size_t size, size_t own_words) {
    tinyml_op_t *op = mp_obj_malloc_var(tinyml_op_t, own, int32_t, own_words, OP_TYPE);
    op->kind = kind;
    copy_bytes(&op->p, params, size);
    op->weights = op->bias = op->mult_obj = op->shift_obj = mp_const_none;
    op->mult = 0;
    op->shift = 0;
    return op;
}

// prepare_conv / prepare_dwconv(params, weights, bias, mult, shift) -> OpPlan. params: 18 int32
// as tml_conv_params; conv weights int8 [out_c, filter_h filter_w in_c] in the .tmdl layout,
// bias int32 [out_c] with the input offset folded in; depthwise weights int8
// [filter_h][filter_w][in_c], bias as TFLite has it; mult int32 and shift int8 [n_channels].
static mp_obj_t prepare_filter(const mp_obj_t *args, int32_t kind) {
    tml_conv_params params;
    params_of(args[0], &params, sizeof(params), MP_ERROR_TEXT("params must hold 18 int32 (tml_conv_params)"));
    tml_op_buffers b = { 0 };
    b.w = buffer_of(args[1], MP_BUFFER_READ, &b.w_len);
    b.bias = buffer_of(args[2], MP_BUFFER_READ, &b.bias_len);
    b.mult = buffer_of(args[3], MP_BUFFER_READ, &b.mult_len);
    b.shift = buffer_of(args[4], MP_BUFFER_READ, &b.shift_len);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = kind == OP_CONV ? tml_conv_check_layer(&params, &b, &which)
                                    : tml_dwconv_check_layer(&params, &b, &which);
    if (st != TML_OK) {
        raise_op(st, which, kind);
    }
    size_t n_ch = (size_t)params.n_channels;
    bool in_place = read_only(args[3]) && read_only(args[4]);
    tinyml_op_t *op = new_op(kind, &params, sizeof(params), in_place ? 0 : n_ch + (n_ch + 3) / 4);
    op->weights = args[1];
    op->bias = args[2];
    if (in_place) {
        op->mult_obj = args[3];
        op->shift_obj = args[4];
        op->mult = b.mult;
        op->shift = b.shift;
    } else {
        int8_t *shift_copy = (int8_t *)(op->own + n_ch);
        for (size_t c = 0; c < n_ch; c++) {
            op->own[c] = b.mult[c];
            shift_copy[c] = b.shift[c];
        }
        op->mult = op->own;
        op->shift = shift_copy;
    }
    return MP_OBJ_FROM_PTR(op);
}

static mp_obj_t tinyml_prepare_conv(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return prepare_filter(args, OP_CONV);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_prepare_conv_obj, 5, 5, tinyml_prepare_conv);

static mp_obj_t tinyml_prepare_dwconv(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return prepare_filter(args, OP_DWCONV);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_prepare_dwconv_obj, 5, 5, tinyml_prepare_dwconv);

// prepare_pool(params) -> OpPlan for avgpool and maxpool: 13 int32 as tml_pool_params.
static mp_obj_t tinyml_prepare_pool(mp_obj_t params_in) {
    tml_pool_params params;
    params_of(params_in, &params, sizeof(params), MP_ERROR_TEXT("params must hold 13 int32 (tml_pool_params)"));
    tml_status st = tml_pool_check(&params);
    if (st != TML_OK) {
        raise_op(st, TML_BUF_NONE, OP_POOL);
    }
    return MP_OBJ_FROM_PTR(new_op(OP_POOL, &params, sizeof(params), 0));
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_prepare_pool_obj, tinyml_prepare_pool);

// prepare_add(params) -> OpPlan: 14 int32 as tml_add_params.
static mp_obj_t tinyml_prepare_add(mp_obj_t params_in) {
    tml_add_params params;
    params_of(params_in, &params, sizeof(params), MP_ERROR_TEXT("params must hold 14 int32 (tml_add_params)"));
    tml_status st = tml_add_check(&params);
    if (st != TML_OK) {
        raise_op(st, TML_BUF_NONE, OP_ADD);
    }
    return MP_OBJ_FROM_PTR(new_op(OP_ADD, &params, sizeof(params), 0));
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_prepare_add_obj, tinyml_prepare_add);

// prepare_softmax(params) -> OpPlan: 5 int32 as tml_softmax_params.
static mp_obj_t tinyml_prepare_softmax(mp_obj_t params_in) {
    tml_softmax_params params;
    params_of(params_in, &params, sizeof(params), MP_ERROR_TEXT("params must hold 5 int32 (tml_softmax_params)"));
    tml_status st = tml_softmax_check(&params);
    if (st != TML_OK) {
        raise_op(st, TML_BUF_NONE, OP_SOFTMAX);
    }
    return MP_OBJ_FROM_PTR(new_op(OP_SOFTMAX, &params, sizeof(params), 0));
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_prepare_softmax_obj, tinyml_prepare_softmax);

// conv_scratch_bytes(params) -> the bytes of scratch conv() needs (1x1 filters included: two
// pixels staged as int16 on arm-dsp; one size on every port), 0 for params that do not pass the check.
static mp_obj_t tinyml_conv_scratch_bytes(mp_obj_t params_in) {
    tml_conv_params params;
    params_of(params_in, &params, sizeof(params), MP_ERROR_TEXT("params must hold 18 int32 (tml_conv_params)"));
    return MP_OBJ_NEW_SMALL_INT(tml_conv_scratch_bytes(&params));
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_conv_scratch_bytes_obj, tinyml_conv_scratch_bytes);

MP_NOINLINE static const tinyml_op_t *op_of(mp_obj_t obj, int32_t kind) {
    if (!mp_obj_is_exact_type(obj, OP_TYPE) || ((const tinyml_op_t *)MP_OBJ_TO_PTR(obj))->kind != kind) {
        mp_raise_TypeError(kind == OP_CONV ? MP_ERROR_TEXT("plan must come from _tinyml.prepare_conv")
            : kind == OP_DWCONV ? MP_ERROR_TEXT("plan must come from _tinyml.prepare_dwconv")
            : kind == OP_POOL ? MP_ERROR_TEXT("plan must come from _tinyml.prepare_pool")
            : kind == OP_ADD ? MP_ERROR_TEXT("plan must come from _tinyml.prepare_add")
            : MP_ERROR_TEXT("plan must come from _tinyml.prepare_softmax"));
    }
    return MP_OBJ_TO_PTR(obj);
}

// b: op's buffers as they are now, x into out; the rest empty.
MP_NOINLINE static void op_buffers(tml_op_buffers *b, const tinyml_op_t *op, mp_obj_t x_in, mp_obj_t out_in) {
    b->x2 = 0;
    b->x2_len = 0;
    b->scratch = 0;
    b->scratch_len = 0;
    b->w = 0;
    b->w_len = 0;
    b->bias = 0;
    b->bias_len = 0;
    b->mult = op->mult;
    b->shift = op->shift;
    b->mult_len = b->shift_len = 0;
    if (op->kind == OP_CONV || op->kind == OP_DWCONV) {
        b->w = buffer_of(op->weights, MP_BUFFER_READ, &b->w_len);
        b->bias = buffer_of(op->bias, MP_BUFFER_READ, &b->bias_len);
        b->mult_len = 4 * (size_t)op->p.conv.n_channels;
        b->shift_len = (size_t)op->p.conv.n_channels;
    }
    b->x = buffer_of(x_in, MP_BUFFER_READ, &b->x_len);
    b->out = buffer_of(out_in, MP_BUFFER_WRITE, &b->out_len);
}

// conv(plan, x, out, scratch): int8 NHWC x into out; scratch a writable buffer of
// conv_scratch_bytes(params) bytes, or None when that is 0. Allocates nothing.
static mp_obj_t tinyml_conv(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    const tinyml_op_t *op = op_of(args[0], OP_CONV);
    tml_op_buffers b;
    op_buffers(&b, op, args[1], args[2]);
    if (args[3] != mp_const_none) {
        b.scratch = buffer_of(args[3], MP_BUFFER_WRITE, &b.scratch_len);
    }
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_conv_check_call(&op->p.conv, &b, &which);
    if (st != TML_OK) {
        raise_op(st, which, OP_CONV);
    }
    tml_conv_s8(&op->p.conv, b.x, b.w, b.bias, b.mult, b.shift, b.out, b.scratch);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_conv_obj, 4, 4, tinyml_conv);

// dwconv(plan, x, out). Allocates nothing.
static mp_obj_t tinyml_dwconv(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in) {
    const tinyml_op_t *op = op_of(plan_in, OP_DWCONV);
    tml_op_buffers b;
    op_buffers(&b, op, x_in, out_in);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_dwconv_check_call(&op->p.conv, &b, &which);
    if (st != TML_OK) {
        raise_op(st, which, OP_DWCONV);
    }
    tml_dwconv_s8(&op->p.conv, b.x, b.w, b.bias, b.mult, b.shift, b.out);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_dwconv_obj, tinyml_dwconv);

static void pool_call(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in, bool average) {
    const tinyml_op_t *op = op_of(plan_in, OP_POOL);
    tml_op_buffers b;
    op_buffers(&b, op, x_in, out_in);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_pool_check_call(&op->p.pool, &b, &which);
    if (st != TML_OK) {
        raise_op(st, which, OP_POOL);
    }
    if (average) {
        tml_avgpool_s8(&op->p.pool, b.x, b.out);
    } else {
        tml_maxpool_s8(&op->p.pool, b.x, b.out);
    }
}

// avgpool(plan, x, out) and maxpool(plan, x, out), one plan for both. Allocate nothing.
static mp_obj_t tinyml_avgpool(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in) {
    pool_call(plan_in, x_in, out_in, true);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_avgpool_obj, tinyml_avgpool);

static mp_obj_t tinyml_maxpool(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in) {
    pool_call(plan_in, x_in, out_in, false);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_maxpool_obj, tinyml_maxpool);

// add(plan, x1, x2, out): out may be x1 or x2 itself. Allocates nothing.
static mp_obj_t tinyml_add(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    const tinyml_op_t *op = op_of(args[0], OP_ADD);
    tml_op_buffers b;
    op_buffers(&b, op, args[1], args[3]);
    b.x2 = buffer_of(args[2], MP_BUFFER_READ, &b.x2_len);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_add_check_call(&op->p.add, &b, &which);
    if (st != TML_OK) {
        raise_op(st, which, OP_ADD);
    }
    tml_add_s8(&op->p.add, b.x, b.x2, b.out);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_add_obj, 4, 4, tinyml_add);

// softmax(plan, x, out). Allocates nothing.
static mp_obj_t tinyml_softmax(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in) {
    const tinyml_op_t *op = op_of(plan_in, OP_SOFTMAX);
    tml_op_buffers b;
    op_buffers(&b, op, x_in, out_in);
    tml_buffer which = TML_BUF_NONE;
    tml_status st = tml_softmax_check_call(&op->p.softmax, &b, &which);
    if (st != TML_OK) {
        raise_op(st, which, OP_SOFTMAX);
    }
    tml_softmax_s8(&op->p.softmax, b.x, b.out);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_softmax_obj, tinyml_softmax);

// scatter(src, dst, positions, n, stride, first): dst[p * stride + first + c] = src[p * n + c]
// for p < positions, c < n: a streamed CONV_2D's block of n output channels to its place in the
// output (tinyml.model._Streamed). Every index checked against both buffers first. Allocates nothing.
static mp_obj_t tinyml_scatter(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t src_len, dst_len;
    const uint8_t *src = buffer_of(args[0], MP_BUFFER_READ, &src_len);
    uint8_t *dst = buffer_of(args[1], MP_BUFFER_WRITE, &dst_len);
    mp_int_t positions = mp_obj_get_int(args[2]), n = mp_obj_get_int(args[3]);
    mp_int_t stride = mp_obj_get_int(args[4]), first = mp_obj_get_int(args[5]);
    if (positions < 0 || n < 0 || first < 0 || stride < n) {
        mp_raise_ValueError(MP_ERROR_TEXT("scatter: positions, n and first must be >= 0, stride >= n"));
    }
    if (positions == 0 || n == 0) {
        return mp_const_none;
    }
    // positions * n <= len(src) and first + (positions - 1) * stride + n <= len(dst), without overflow
    if ((size_t)n > src_len || (size_t)positions > src_len / (size_t)n
        || (size_t)first > dst_len || (size_t)n > dst_len - (size_t)first
        || (size_t)(positions - 1) > (dst_len - (size_t)first - (size_t)n) / (size_t)stride) {
        mp_raise_ValueError(MP_ERROR_TEXT("scatter: src or dst too small for positions, n, stride, first"));
    }
    for (mp_int_t p = 0; p < positions; p++) {
        const uint8_t *s = src + (size_t)p * (size_t)n;
        uint8_t *d = dst + (size_t)first + (size_t)p * (size_t)stride;
        for (mp_int_t c = 0; c < n; c++) {
            d[c] = s[c];
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_scatter_obj, 6, 6, tinyml_scatter);

// ---- the audio front end (native/core/tml_features.h, docs/features.md) ----

// One stream. The config's tables are used where they lie when its bytes are read-only (bytes,
// a ROMFS file) and at an even address; otherwise they are copied into `own`, so nothing can
// change them behind the core's back. own: the scratch (8-byte aligned, first), the window's
// samples, the noise estimate, the latest frame, then the config's copy if any.
typedef struct {
    mp_obj_base_t base;
    tml_fe_config cfg;
    tml_fe_state state;
    mp_obj_t config_obj;    // the bytes cfg points into (kept alive)
    uint16_t *frame;
    void *scratch;
    int32_t ready;          // the last push made the frame
    uint64_t own[];
} tinyml_fe_t;

#if MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t tinyml_fe_type;
#else
static MP_DEFINE_CONST_OBJ_TYPE(tinyml_fe_type, MP_QSTR_Frontend, MP_TYPE_FLAG_NONE);
#endif
#define FE_TYPE ((const mp_obj_type_t *)&tinyml_fe_type)

static void raise_fe(int st) {
    mp_rom_error_text_t msg;
    switch (st) {
        case TML_ERR_FORMAT:
            msg = MP_ERROR_TEXT("config is not a packed front-end config (TFE1)");
            break;
        case TML_ERR_SIZE:
            msg = MP_ERROR_TEXT("config length is not what its sizes say");
            break;
        case TML_ERR_NULL:
            msg = MP_ERROR_TEXT("config lacks a table");
            break;
        case TML_ERR_SHAPE:
            msg = MP_ERROR_TEXT("config sizes, bins or bands out of range");
            break;
        case TML_ERR_RANGE:
            msg = MP_ERROR_TEXT("config constant or shift out of range");
            break;
        default:
            msg = MP_ERROR_TEXT("bad front-end config");
            break;
    }
    mp_raise_ValueError(msg);
}

static size_t words8(size_t bytes) {
    return (bytes + 7) / 8;
}

// frontend(config) -> Frontend: a packed config (tinyml_host.features.pack_config), checked
// once; the stream starts empty (an empty window, a zero noise estimate).
static mp_obj_t tinyml_frontend(mp_obj_t config_in) {
    size_t len;
    const uint8_t *bytes = buffer_of(config_in, MP_BUFFER_READ, &len);
    int32_t n_bytes = len > 0x7FFFFFFF ? 0x7FFFFFFF : (int32_t)len;
    bool in_place = read_only(config_in) && (uintptr_t)bytes % 2 == 0;
    uint8_t *temp = NULL;
    if (!in_place && len >= TML_FE_PACKED_HEADER) {
        // checked in a copy first (heap memory is aligned, and a writable config may change),
        // then sized and copied into the Frontend
        temp = m_new(uint8_t, len);
        copy_bytes(temp, bytes, len);
    }
    tml_fe_config cfg;
    int st = tml_fe_unpack(temp ? temp : bytes, n_bytes, &cfg);
    if (st != TML_OK) {
        if (temp) {
            m_del(uint8_t, temp, len);
        }
        raise_fe(st);
    }
    size_t scratch = (size_t)tml_fe_scratch_bytes(&cfg);
    size_t n = (size_t)cfg.window_samples, ch = (size_t)cfg.num_channels;
    size_t copy = in_place ? 0 : words8(len);
    size_t own = copy + words8(scratch) + words8(2 * n) + words8(4 * ch) + words8(2 * ch);
    tinyml_fe_t *fe = mp_obj_malloc_var(tinyml_fe_t, own, uint64_t, own, FE_TYPE);
    fe->config_obj = in_place ? config_in : mp_const_none;
    fe->ready = 0;
    if (!in_place) {
        copy_bytes(fe->own, temp, len);
        m_del(uint8_t, temp, len);
        tml_fe_unpack((const uint8_t *)fe->own, n_bytes, &cfg);  // the same bytes: passes again
    }
    fe->cfg = cfg;
    uint64_t *at = fe->own + copy;
    fe->scratch = at;
    at += words8(scratch);
    fe->state.samples = (int16_t *)at;
    at += words8(2 * n);
    fe->state.noise_estimate = (uint32_t *)at;
    at += words8(4 * ch);
    fe->frame = (uint16_t *)at;
    for (size_t c = 0; c < ch; c++) {
        fe->frame[c] = 0;
    }
    tml_fe_reset(&fe->cfg, &fe->state);
    return MP_OBJ_FROM_PTR(fe);
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_frontend_obj, tinyml_frontend);

MP_NOINLINE static tinyml_fe_t *fe_of(mp_obj_t obj) {
    if (!mp_obj_is_exact_type(obj, FE_TYPE)) {
        mp_raise_TypeError(MP_ERROR_TEXT("fe must come from _tinyml.frontend"));
    }
    return MP_OBJ_TO_PTR(obj);
}

// fe_push(fe, samples, start, end) -> taken: samples[start:end] (int16; end -1: to the end)
// until the window is full, then one frame (kept in fe) and the window moves on by one step.
// Call again from start + taken until it takes nothing. Allocates nothing.
static mp_obj_t tinyml_fe_push(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    tinyml_fe_t *fe = fe_of(args[0]);
    size_t len;
    const int16_t *samples = buffer_of(args[1], MP_BUFFER_READ, &len);
    int32_t start = mp_obj_get_int(args[2]), end = mp_obj_get_int(args[3]);
    int32_t count = tml_fe_span(samples, len > 0x7FFFFFFF ? 0x7FFFFFFF : (int32_t)len, start, end);
    if (count < 0) {
        mp_raise_ValueError(count == TML_ERR_ALIGN ? MP_ERROR_TEXT("samples must be 2-byte aligned (int16)")
                                                   : MP_ERROR_TEXT("start, end outside samples"));
    }
    int32_t consumed = 0;
    int st = tml_fe_push(&fe->cfg, &fe->state, count ? samples + start : 0, count, &consumed, fe->frame,
        fe->scratch);
    if (st < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("bad front-end state"));  // not reachable: the state is fe's own
    }
    fe->ready = st;
    return MP_OBJ_NEW_SMALL_INT(consumed);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_fe_push_obj, 4, 4, tinyml_fe_push);

static void *frame_out(tinyml_fe_t *fe, mp_obj_t out_in, int32_t item_bytes) {
    size_t len;
    void *out = buffer_of(out_in, MP_BUFFER_WRITE, &len);
    int st = tml_fe_check_frame(&fe->cfg, out, len > 0x7FFFFFFF ? 0x7FFFFFFF : (int32_t)len, item_bytes);
    if (st != TML_OK) {
        mp_raise_ValueError(st == TML_ERR_ALIGN ? MP_ERROR_TEXT("out must be 2-byte aligned (uint16)")
            : item_bytes == 2 ? MP_ERROR_TEXT("out shorter than num_channels uint16")
            : MP_ERROR_TEXT("out shorter than num_channels int8"));
    }
    return out;
}

// fe_frame(fe, out) -> bool: the latest frame (zeros before the first) into out, num_channels
// uint16; True when the last push made it. Allocates nothing.
static mp_obj_t tinyml_fe_frame(mp_obj_t fe_in, mp_obj_t out_in) {
    tinyml_fe_t *fe = fe_of(fe_in);
    uint16_t *out = frame_out(fe, out_in, 2);
    for (int32_t c = 0; c < fe->cfg.num_channels; c++) {
        out[c] = fe->frame[c];
    }
    return mp_obj_new_bool(fe->ready);
}
static MP_DEFINE_CONST_FUN_OBJ_2(tinyml_fe_frame_obj, tinyml_fe_frame);

// fe_frame_s8(fe, out, divisor, zero_point) -> bool: the latest frame as a model's int8 input,
// clamp((v * 256 + divisor // 2) // divisor + zero_point) (micro_speech: 666, -128).
static mp_obj_t tinyml_fe_frame_s8(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    tinyml_fe_t *fe = fe_of(args[0]);
    int8_t *out = frame_out(fe, args[1], 1);
    if (tml_fe_frame_s8(fe->frame, fe->cfg.num_channels, mp_obj_get_int(args[2]), mp_obj_get_int(args[3]), out)
        != TML_OK) {
        mp_raise_ValueError(MP_ERROR_TEXT("divisor must be >= 1, zero_point in -128..127"));
    }
    return mp_obj_new_bool(fe->ready);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_fe_frame_s8_obj, 4, 4, tinyml_fe_frame_s8);

// fe_reset(fe): an empty window and a zero noise estimate, as new.
static mp_obj_t tinyml_fe_reset(mp_obj_t fe_in) {
    tinyml_fe_t *fe = fe_of(fe_in);
    tml_fe_reset(&fe->cfg, &fe->state);
    fe->ready = 0;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_fe_reset_obj, tinyml_fe_reset);

// variant() -> which optimized path this build runs ("arm-dsp", "portable", ...).
static mp_obj_t tinyml_variant(void) {
    const char *name = tml_fc_s8_variant();
    size_t len = 0;
    while (name[len]) {
        len++;
    }
    return mp_obj_new_str(name, len);
}
static MP_DEFINE_CONST_FUN_OBJ_0(tinyml_variant_obj, tinyml_variant);

#if TML_PDM_BUILT && !MICROPY_ENABLE_DYNRUNTIME
// PDM capture: one peripheral, so one module-level state. EasyDMA writes into the two buffers
// given to pdm_start; the root pointers keep them alive (and unmoved) until pdm_stop.
static tml_pdm_t tinyml_pdm;
MP_REGISTER_ROOT_POINTER(mp_obj_t tinyml_pdm_bufs[2]);

// pdm_start(buf0, buf1, clk, din, power): 16 kHz mono int16 capture into buf0 and buf1 in
// turn (writable, same even length in samples, 4-byte aligned); power is the pin that powers
// the microphone, or -1. A running capture is stopped first.
static mp_obj_t tinyml_pdm_start(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t len0, len1;
    int16_t *b0 = buffer_of(args[0], MP_BUFFER_WRITE, &len0);
    int16_t *b1 = buffer_of(args[1], MP_BUFFER_WRITE, &len1);
    if (len0 != len1 || (len0 & 3u) != 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("pdm buffers must have the same even number of int16"));
    }
    tml_pdm_stop(&tinyml_pdm);
    int st = tml_pdm_start(&tinyml_pdm, b0, b1, len0 / 2, mp_obj_get_int(args[2]), mp_obj_get_int(args[3]),
                           mp_obj_get_int(args[4]));
    if (st != TML_OK) {
        mp_raise_ValueError(st == TML_ERR_ALIGN ? MP_ERROR_TEXT("pdm buffers must be 4-byte aligned")
                            : st == TML_ERR_RANGE ? MP_ERROR_TEXT("pdm pins must be distinct, 0..47 (power -1: none)")
                            : MP_ERROR_TEXT("pdm buffers must hold 2..32766 int16, not the same buffer"));
    }
    MP_STATE_VM(tinyml_pdm_bufs)[0] = args[0];
    MP_STATE_VM(tinyml_pdm_bufs)[1] = args[1];
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_pdm_start_obj, 5, 5, tinyml_pdm_start);

// pdm_read(out) -> lost: waits for the next full block (polling the peripheral's events, with
// pending callbacks and Ctrl-C handled meanwhile), copies it into out, returns the count of
// blocks lost since pdm_start. Allocates nothing.
static mp_obj_t tinyml_pdm_read(mp_obj_t out_obj) {
    size_t len;
    int16_t *out = buffer_of(out_obj, MP_BUFFER_WRITE, &len);
    if (!tinyml_pdm.running) {
        mp_raise_ValueError(MP_ERROR_TEXT("pdm not started"));
    }
    if (len != 2 * tinyml_pdm.n) {
        mp_raise_ValueError(MP_ERROR_TEXT("pdm_read needs out as long as a pdm buffer"));
    }
    while (tml_pdm_poll(&tinyml_pdm) < 0) {
        mp_event_handle_nowait();
    }
    tml_pdm_take(&tinyml_pdm, out);
    return mp_obj_new_int_from_uint(tinyml_pdm.lost);
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyml_pdm_read_obj, tinyml_pdm_read);

// pdm_stop(): stops the capture, powers the microphone off, lets the buffers go.
static mp_obj_t tinyml_pdm_stop(void) {
    tml_pdm_stop(&tinyml_pdm);
    MP_STATE_VM(tinyml_pdm_bufs)[0] = MP_OBJ_NULL;
    MP_STATE_VM(tinyml_pdm_bufs)[1] = MP_OBJ_NULL;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(tinyml_pdm_stop_obj, tinyml_pdm_stop);
#endif

#if MICROPY_ENABLE_DYNRUNTIME

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    tinyml_plan_type.base.type = (void *)&mp_type_type;
    tinyml_plan_type.flags = MP_TYPE_FLAG_NONE;
    tinyml_plan_type.name = MP_QSTR_Plan;
    tinyml_model_type.base.type = (void *)&mp_type_type;
    tinyml_model_type.flags = MP_TYPE_FLAG_NONE;
    tinyml_model_type.name = MP_QSTR_Model;
    tinyml_op_type.base.type = (void *)&mp_type_type;
    tinyml_op_type.flags = MP_TYPE_FLAG_NONE;
    tinyml_op_type.name = MP_QSTR_OpPlan;
    tinyml_fe_type.base.type = (void *)&mp_type_type;
    tinyml_fe_type.flags = MP_TYPE_FLAG_NONE;
    tinyml_fe_type.name = MP_QSTR_Frontend;
    mp_store_global(MP_QSTR_prepare, MP_OBJ_FROM_PTR(&tinyml_prepare_obj));
    mp_store_global(MP_QSTR_fc, MP_OBJ_FROM_PTR(&tinyml_fc_obj));
    mp_store_global(MP_QSTR_prepare_model, MP_OBJ_FROM_PTR(&tinyml_prepare_model_obj));
    mp_store_global(MP_QSTR_run, MP_OBJ_FROM_PTR(&tinyml_run_obj));
    mp_store_global(MP_QSTR_variant, MP_OBJ_FROM_PTR(&tinyml_variant_obj));
    mp_store_global(MP_QSTR_prepare_conv, MP_OBJ_FROM_PTR(&tinyml_prepare_conv_obj));
    mp_store_global(MP_QSTR_conv, MP_OBJ_FROM_PTR(&tinyml_conv_obj));
    mp_store_global(MP_QSTR_conv_scratch_bytes, MP_OBJ_FROM_PTR(&tinyml_conv_scratch_bytes_obj));
    mp_store_global(MP_QSTR_prepare_dwconv, MP_OBJ_FROM_PTR(&tinyml_prepare_dwconv_obj));
    mp_store_global(MP_QSTR_dwconv, MP_OBJ_FROM_PTR(&tinyml_dwconv_obj));
    mp_store_global(MP_QSTR_prepare_pool, MP_OBJ_FROM_PTR(&tinyml_prepare_pool_obj));
    mp_store_global(MP_QSTR_avgpool, MP_OBJ_FROM_PTR(&tinyml_avgpool_obj));
    mp_store_global(MP_QSTR_maxpool, MP_OBJ_FROM_PTR(&tinyml_maxpool_obj));
    mp_store_global(MP_QSTR_prepare_add, MP_OBJ_FROM_PTR(&tinyml_prepare_add_obj));
    mp_store_global(MP_QSTR_add, MP_OBJ_FROM_PTR(&tinyml_add_obj));
    mp_store_global(MP_QSTR_prepare_softmax, MP_OBJ_FROM_PTR(&tinyml_prepare_softmax_obj));
    mp_store_global(MP_QSTR_softmax, MP_OBJ_FROM_PTR(&tinyml_softmax_obj));
    mp_store_global(MP_QSTR_scatter, MP_OBJ_FROM_PTR(&tinyml_scatter_obj));
    mp_store_global(MP_QSTR_frontend, MP_OBJ_FROM_PTR(&tinyml_frontend_obj));
    mp_store_global(MP_QSTR_fe_push, MP_OBJ_FROM_PTR(&tinyml_fe_push_obj));
    mp_store_global(MP_QSTR_fe_frame, MP_OBJ_FROM_PTR(&tinyml_fe_frame_obj));
    mp_store_global(MP_QSTR_fe_frame_s8, MP_OBJ_FROM_PTR(&tinyml_fe_frame_s8_obj));
    mp_store_global(MP_QSTR_fe_reset, MP_OBJ_FROM_PTR(&tinyml_fe_reset_obj));
    mp_store_global(MP_QSTR_ABI, MP_OBJ_NEW_SMALL_INT(TINYML_ABI_VERSION));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

static const mp_rom_map_elem_t tinyml_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__tinyml) },
    { MP_ROM_QSTR(MP_QSTR_prepare), MP_ROM_PTR(&tinyml_prepare_obj) },
    { MP_ROM_QSTR(MP_QSTR_fc), MP_ROM_PTR(&tinyml_fc_obj) },
    { MP_ROM_QSTR(MP_QSTR_prepare_model), MP_ROM_PTR(&tinyml_prepare_model_obj) },
    { MP_ROM_QSTR(MP_QSTR_run), MP_ROM_PTR(&tinyml_run_obj) },
    { MP_ROM_QSTR(MP_QSTR_variant), MP_ROM_PTR(&tinyml_variant_obj) },
    { MP_ROM_QSTR(MP_QSTR_prepare_conv), MP_ROM_PTR(&tinyml_prepare_conv_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv), MP_ROM_PTR(&tinyml_conv_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv_scratch_bytes), MP_ROM_PTR(&tinyml_conv_scratch_bytes_obj) },
    { MP_ROM_QSTR(MP_QSTR_prepare_dwconv), MP_ROM_PTR(&tinyml_prepare_dwconv_obj) },
    { MP_ROM_QSTR(MP_QSTR_dwconv), MP_ROM_PTR(&tinyml_dwconv_obj) },
    { MP_ROM_QSTR(MP_QSTR_prepare_pool), MP_ROM_PTR(&tinyml_prepare_pool_obj) },
    { MP_ROM_QSTR(MP_QSTR_avgpool), MP_ROM_PTR(&tinyml_avgpool_obj) },
    { MP_ROM_QSTR(MP_QSTR_maxpool), MP_ROM_PTR(&tinyml_maxpool_obj) },
    { MP_ROM_QSTR(MP_QSTR_prepare_add), MP_ROM_PTR(&tinyml_prepare_add_obj) },
    { MP_ROM_QSTR(MP_QSTR_add), MP_ROM_PTR(&tinyml_add_obj) },
    { MP_ROM_QSTR(MP_QSTR_prepare_softmax), MP_ROM_PTR(&tinyml_prepare_softmax_obj) },
    { MP_ROM_QSTR(MP_QSTR_softmax), MP_ROM_PTR(&tinyml_softmax_obj) },
    { MP_ROM_QSTR(MP_QSTR_scatter), MP_ROM_PTR(&tinyml_scatter_obj) },
    { MP_ROM_QSTR(MP_QSTR_frontend), MP_ROM_PTR(&tinyml_frontend_obj) },
    { MP_ROM_QSTR(MP_QSTR_fe_push), MP_ROM_PTR(&tinyml_fe_push_obj) },
    { MP_ROM_QSTR(MP_QSTR_fe_frame), MP_ROM_PTR(&tinyml_fe_frame_obj) },
    { MP_ROM_QSTR(MP_QSTR_fe_frame_s8), MP_ROM_PTR(&tinyml_fe_frame_s8_obj) },
    { MP_ROM_QSTR(MP_QSTR_fe_reset), MP_ROM_PTR(&tinyml_fe_reset_obj) },
    { MP_ROM_QSTR(MP_QSTR_ABI), MP_ROM_INT(TINYML_ABI_VERSION) },
    #if TML_PDM_BUILT
    { MP_ROM_QSTR(MP_QSTR_pdm_start), MP_ROM_PTR(&tinyml_pdm_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_pdm_read), MP_ROM_PTR(&tinyml_pdm_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_pdm_stop), MP_ROM_PTR(&tinyml_pdm_stop_obj) },
    #endif
};
static MP_DEFINE_CONST_DICT(tinyml_module_globals, tinyml_module_globals_table);

const mp_obj_module_t tinyml_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tinyml_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__tinyml, tinyml_user_cmodule);

#endif
