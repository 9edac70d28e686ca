// _tinyml: MicroPython binding of native/core. It only converts objects and calls
// the core. Integer and buffer arguments only (no float in the native API: RP2350
// natmods have a float-ABI problem). One source builds both ways:
//   - a user C module compiled into firmware (micropython.mk / micropython.cmake);
//   - a dynamic native module, _tinyml.mpy (Makefile; MICROPY_ENABLE_DYNRUNTIME).
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#endif

#include "tinyml.h"

#define TINYML_ABI_VERSION (1)

static void *buffer_at_least(mp_obj_t obj, size_t nbytes, mp_uint_t flags, mp_rom_error_text_t what_too_small) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(obj, &info, flags);
    if (info.len < nbytes) {
        mp_raise_ValueError(what_too_small);
    }
    return info.buf;
}

// fc(params, x, w, bias, mult, shift, out): one int8 fully connected layer.
// params: array('i') laid out as tml_fc_params; every buffer is checked against it.
static mp_obj_t tinyml_fc(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    const tml_fc_params *p = buffer_at_least(args[0], sizeof(tml_fc_params), MP_BUFFER_READ,
        MP_ERROR_TEXT("params must hold 7 int32"));
    if (p->n_in < 1 || p->n_out < 1 || p->n_channels < 1) {
        mp_raise_ValueError(MP_ERROR_TEXT("layer shape must be positive"));
    }
    size_t n_in = (size_t)p->n_in, n_out = (size_t)p->n_out, n_ch = (size_t)p->n_channels;
    const int8_t *x = buffer_at_least(args[1], n_in, MP_BUFFER_READ, MP_ERROR_TEXT("x shorter than n_in"));
    const int8_t *w = buffer_at_least(args[2], n_in * n_out, MP_BUFFER_READ,
        MP_ERROR_TEXT("weights shorter than n_in * n_out"));
    const int32_t *bias = buffer_at_least(args[3], 4 * n_out, MP_BUFFER_READ, MP_ERROR_TEXT("bias shorter than n_out"));
    const int32_t *mult = buffer_at_least(args[4], 4 * n_ch, MP_BUFFER_READ,
        MP_ERROR_TEXT("multipliers shorter than n_channels"));
    const int8_t *shift = buffer_at_least(args[5], n_ch, MP_BUFFER_READ, MP_ERROR_TEXT("shifts shorter than n_channels"));
    int8_t *out = buffer_at_least(args[6], n_out, MP_BUFFER_WRITE, MP_ERROR_TEXT("out shorter than n_out"));
    tml_status st = tml_fc_s8(p, x, w, bias, mult, shift, out);
    if (st != TML_OK) {
        mp_raise_ValueError(st == TML_ERR_SHAPE ? MP_ERROR_TEXT("bad layer shape")
            : st == TML_ERR_QUANT ? MP_ERROR_TEXT("bad multiplier, shift or rounding")
            : st == TML_ERR_RANGE ? MP_ERROR_TEXT("bad activation range or zero point")
            : MP_ERROR_TEXT("bad argument"));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tinyml_fc_obj, 7, 7, tinyml_fc);

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
    mp_store_global(MP_QSTR_fc, MP_OBJ_FROM_PTR(&tinyml_fc_obj));
    mp_store_global(MP_QSTR_variant, MP_OBJ_FROM_PTR(&tinyml_variant_obj));
    mp_store_global(MP_QSTR_ABI, MP_OBJ_NEW_SMALL_INT(TINYML_ABI_VERSION));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

static const mp_rom_map_elem_t tinyml_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__tinyml) },
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
