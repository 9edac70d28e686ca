// _tinyml: MicroPython binding of native/core. It only converts objects and calls
// the core. Integer and buffer arguments only (no float in the native API: RP2350
// natmods have a float-ABI problem). One source builds both ways:
//   - a user C module compiled into firmware (micropython.mk / micropython.cmake);
//   - a dynamic native module, _tinyml.mpy (Makefile; MICROPY_ENABLE_DYNRUNTIME).
//
// prepare() checks a layer once and returns a Plan; fc(plan, x, out) then runs it with
// only O(1) checks, and tml_fc_s8 trusts the checked parameters (native/core/tinyml.h).
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#endif

#include <stddef.h>

#include "tinyml.h"

#define TINYML_ABI_VERSION (2)

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

static void *buffer_at_least(mp_obj_t obj, size_t nbytes, mp_uint_t flags, mp_rom_error_text_t what_too_small) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(obj, &info, flags);
    if (info.len < nbytes) {
        mp_raise_ValueError(what_too_small);
    }
    return info.buf;
}

// An int32 buffer read by word loads: on a Cortex-M0+ an unaligned one is a HardFault.
static const int32_t *int32_buffer(mp_obj_t obj, size_t count, mp_rom_error_text_t what_too_small,
    mp_rom_error_text_t what_unaligned) {
    const void *buf = buffer_at_least(obj, 4 * count, MP_BUFFER_READ, what_too_small);
    if ((uintptr_t)buf & 3) {
        mp_raise_ValueError(what_unaligned);
    }
    return buf;
}

static const int32_t *bias_buffer(mp_obj_t obj, size_t n_out) {
    return int32_buffer(obj, n_out, MP_ERROR_TEXT("bias shorter than n_out"),
        MP_ERROR_TEXT("bias must be 4-byte aligned (int32)"));
}

static bool read_only(mp_obj_t obj) {
    mp_buffer_info_t info;
    return !mp_get_buffer(obj, &info, MP_BUFFER_WRITE);
}

// prepare(params, weights, bias, mult, shift) -> Plan: one int8 fully connected layer,
// checked once. params: 7 int32 laid out as tml_fc_params (copied); weights int8
// [n_out][n_in]; bias int32 [n_out]; mult int32 and shift int8 [n_channels].
static mp_obj_t tinyml_prepare(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    const tml_fc_params *p = buffer_at_least(args[0], sizeof(tml_fc_params), MP_BUFFER_READ,
        MP_ERROR_TEXT("params must hold 7 int32"));
    tml_fc_params params = *p;  // a copy: params' buffer need not be aligned, and may change later
    if (params.n_in < 1 || params.n_out < 1 || params.n_channels < 1 || params.n_in > 65535 || params.n_out > 65535) {
        mp_raise_ValueError(MP_ERROR_TEXT("layer shape must be in 1..65535"));
    }
    size_t n_in = (size_t)params.n_in, n_out = (size_t)params.n_out, n_ch = (size_t)params.n_channels;
    buffer_at_least(args[1], n_in * n_out, MP_BUFFER_READ, MP_ERROR_TEXT("weights shorter than n_in * n_out"));
    bias_buffer(args[2], n_out);
    const int32_t *mult = int32_buffer(args[3], n_ch, MP_ERROR_TEXT("multipliers shorter than n_channels"),
        MP_ERROR_TEXT("multipliers must be 4-byte aligned (int32)"));
    const int8_t *shift = buffer_at_least(args[4], n_ch, MP_BUFFER_READ, MP_ERROR_TEXT("shifts shorter than n_channels"));
    tml_status st = tml_fc_check(&params, mult, shift);
    if (st != TML_OK) {
        mp_raise_ValueError(st == TML_ERR_SHAPE ? MP_ERROR_TEXT("bad layer shape")
            : st == TML_ERR_QUANT ? MP_ERROR_TEXT("bad multiplier, shift or rounding")
            : st == TML_ERR_RANGE ? MP_ERROR_TEXT("bad activation range or zero point")
            : MP_ERROR_TEXT("bad argument"));
    }
    bool in_place = read_only(args[3]) && read_only(args[4]);
    size_t own_words = in_place ? 0 : n_ch + (n_ch + 3) / 4;
    tinyml_plan_t *plan = mp_obj_malloc_var(tinyml_plan_t, own, int32_t, own_words, PLAN_TYPE);
    plan->p = params;
    plan->weights = args[1];
    plan->bias = args[2];
    if (in_place) {
        plan->mult_obj = args[3];
        plan->shift_obj = args[4];
        plan->mult = mult;
        plan->shift = shift;
    } else {
        int8_t *shift_copy = (int8_t *)(plan->own + n_ch);
        for (size_t c = 0; c < n_ch; c++) {
            plan->own[c] = mult[c];
            shift_copy[c] = shift[c];
        }
        plan->mult_obj = plan->shift_obj = mp_const_none;
        plan->mult = plan->own;
        plan->shift = shift_copy;
    }
    return MP_OBJ_FROM_PTR(plan);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_prepare_obj, 5, 5, tinyml_prepare);

// fc(plan, x, out): run one prepared layer on int8 x into int8 out. Allocates nothing.
static mp_obj_t tinyml_fc(mp_obj_t plan_in, mp_obj_t x_in, mp_obj_t out_in) {
    if (!mp_obj_is_exact_type(plan_in, PLAN_TYPE)) {
        mp_raise_TypeError(MP_ERROR_TEXT("plan must come from _tinyml.prepare"));
    }
    const tinyml_plan_t *plan = MP_OBJ_TO_PTR(plan_in);
    size_t n_in = (size_t)plan->p.n_in, n_out = (size_t)plan->p.n_out;
    const int8_t *w = buffer_at_least(plan->weights, n_in * n_out, MP_BUFFER_READ,
        MP_ERROR_TEXT("weights shorter than n_in * n_out"));
    const int32_t *bias = bias_buffer(plan->bias, n_out);
    const int8_t *x = buffer_at_least(x_in, n_in, MP_BUFFER_READ, MP_ERROR_TEXT("x shorter than n_in"));
    int8_t *out = buffer_at_least(out_in, n_out, MP_BUFFER_WRITE, MP_ERROR_TEXT("out shorter than n_out"));
    tml_fc_s8(&plan->p, x, w, bias, plan->mult, plan->shift, out);  // every pointer is non-NULL here
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tinyml_fc_obj, tinyml_fc);

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

#if MICROPY_ENABLE_DYNRUNTIME

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    tinyml_plan_type.base.type = (void *)&mp_type_type;
    tinyml_plan_type.flags = MP_TYPE_FLAG_NONE;
    tinyml_plan_type.name = MP_QSTR_Plan;
    mp_store_global(MP_QSTR_prepare, MP_OBJ_FROM_PTR(&tinyml_prepare_obj));
    mp_store_global(MP_QSTR_fc, MP_OBJ_FROM_PTR(&tinyml_fc_obj));
    mp_store_global(MP_QSTR_variant, MP_OBJ_FROM_PTR(&tinyml_variant_obj));
    mp_store_global(MP_QSTR_ABI, MP_OBJ_NEW_SMALL_INT(TINYML_ABI_VERSION));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

static const mp_rom_map_elem_t tinyml_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__tinyml) },
    { MP_ROM_QSTR(MP_QSTR_prepare), MP_ROM_PTR(&tinyml_prepare_obj) },
    { MP_ROM_QSTR(MP_QSTR_fc), MP_ROM_PTR(&tinyml_fc_obj) },
    { MP_ROM_QSTR(MP_QSTR_variant), MP_ROM_PTR(&tinyml_variant_obj) },
    { MP_ROM_QSTR(MP_QSTR_ABI), MP_ROM_INT(TINYML_ABI_VERSION) },
};
static MP_DEFINE_CONST_DICT(tinyml_module_globals, tinyml_module_globals_table);

const mp_obj_module_t tinyml_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tinyml_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__tinyml, tinyml_user_cmodule);

#endif
