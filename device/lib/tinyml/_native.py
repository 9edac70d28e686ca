# The native backend: the C kernels of native/core through the _tinyml module (built into
# the firmware, or lib/_tinyml.mpy). _tinyml.prepare checks a layer once and returns a Plan;
# _tinyml.fc(plan, x, out) runs it; _tinyml.prepare_model chains the plans of a model so that
# _tinyml.run(model, x, out) runs every layer in one call. Importing this module raises ImportError, with the
# reason, when this board cannot run it.
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
