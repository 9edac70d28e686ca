# The native backend: the C kernels of native/core through the _tinyml module (built into
# the firmware, or lib/_tinyml.mpy). _tinyml.prepare checks a layer once and returns a Plan;
# _tinyml.fc(plan, x, out) runs it; _tinyml.prepare_model chains the plans of a model so that
# _tinyml.run(model, x, out) runs every layer in one call. Importing this module raises ImportError, with the
# reason, when this board cannot run it.
import struct
from array import array

_ABI = 5  # _tinyml's prepare/Plan/fc, prepare_model/Model/run, (4) the convolution family's prepare_*/OpPlan,
          # (5) the audio front end's frontend/fe_push/fe_frame/fe_frame_s8/fe_reset

try:
    import _tinyml
except ImportError:
    raise ImportError("the _tinyml module is not in this firmware or /lib (docs/firmware.md)")
except ValueError as e:  # a _tinyml.mpy for another architecture or MicroPython version
    raise ImportError("lib/_tinyml.mpy does not load here (%s)" % e)
if getattr(_tinyml, "ABI", 1) != _ABI:
    raise ImportError("_tinyml is ABI %d, this tinyml needs %d: rebuild it (docs/firmware.md)"
                      % (getattr(_tinyml, "ABI", 1), _ABI))
# ABI 4: the convolution family (CONV_2D, DEPTHWISE_CONV_2D, pools, ADD, SOFTMAX) in C too, each
# checked once at prepare (an OpPlan) and in O(1) before every call (native/core/check.c).
_scratch = bytearray(0)  # CONV_2D's im2col patches, shared by every conv: as large as the largest needs
BORROWED = {}  # kernels another backend lends this one: none


def _int32s(buf, n):
    """The first n int32 of a section, array or view of the file (its items read as bytes)."""
    return struct.unpack_from("<%di" % n, buf)


def _conv_params(op):
    return array("i", (op.in_h, op.in_w, op.in_c, op.out_h, op.out_w, op.out_c, op.filter_h, op.filter_w,
                       op.stride_h, op.stride_w, op.pad_top, op.pad_left, op.input_zp, op.n_channels,
                       op.act_min, op.act_max, op.output_zp, op.rounding))


def prepare_conv(op):
    """CONV_2D as _tinyml.conv runs it: an OpPlan and its scratch size (the shared _scratch grows to it)."""
    global _scratch
    params = _conv_params(op)
    need = _tinyml.conv_scratch_bytes(params)
    if len(_scratch) < need:
        _scratch = bytearray(need)
    return _tinyml.prepare_conv(params, op.weights, op.bias, op.multipliers, op.shifts), need


def conv(plan, x, out):
    _tinyml.conv(plan[0], x, out, _scratch if plan[1] else None)


def prepare_depthwise(op):
    return _tinyml.prepare_dwconv(_conv_params(op), op.weights, op.bias, op.multipliers, op.shifts)


depthwise = _tinyml.dwconv


def prepare_pool(op):
    return _tinyml.prepare_pool(array("i", (op.in_h, op.in_w, op.in_c, op.out_h, op.out_w, op.filter_h, op.filter_w,
                                            op.stride_h, op.stride_w, op.pad_top, op.pad_left, op.act_min,
                                            op.act_max)))


average_pool = _tinyml.avgpool
max_pool = _tinyml.maxpool


def prepare_add(op, x2):
    """ADD as _tinyml.add runs it, with its second input's view: x + x2 -> out."""
    m1, s1, m2, s2, mo, so, left = _int32s(op.params, 7)
    params = array("i", (op.out_h * op.out_w * op.out_c, left, -op.input_zp, m1, s1, -op.input2_zp, m2, s2, mo, so,
                         op.output_zp, op.act_min, op.act_max, op.rounding))
    return _tinyml.prepare_add(params), x2


def add(plan, x, out):
    _tinyml.add(plan[0], x, plan[1], out)


def prepare_softmax(op):
    mult, left, diff_min = _int32s(op.params, 3)
    return _tinyml.prepare_softmax(array("i", (op.out_h * op.out_w, op.out_c, mult, left, diff_min)))


softmax = _tinyml.softmax
if hasattr(_tinyml, "scatter"):   # a streamed CONV_2D's blocks into place (older modules: model.py's loop)
    scatter = _tinyml.scatter

fc = _tinyml.fc
run = _tinyml.run
_prepare = _tinyml.prepare
prepare_model = _tinyml.prepare_model  # (plans, scratch): scratch holds 2 x the widest hidden layer


def prepare(layer):
    """The layer as _tinyml runs it: a Plan holding its checked tml_fc_params (native/core/tinyml.h)."""
    params = array("i", (layer.n_in, layer.n_out, layer.n_channels, layer.act_min, layer.act_max,
                         layer.output_zp, layer.rounding))
    return _prepare(params, layer.weights, layer.bias, layer.multipliers, layer.shifts)


def scratch_bytes(layers):
    """RAM this backend needs beside the plans, shared by every layer: none."""
    return 0
