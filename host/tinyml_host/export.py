"""Read a full-int8 TFLite flatbuffer (with the `tflite` package) and build a .tmdl graph.

Supported: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D (no dilation; a depth multiplier above 1 as a CONV_2D),
AVERAGE_POOL_2D, MAX_POOL_2D, ADD (no broadcasting) and SOFTMAX (int8, as TFLite Micro computes
it) over NHWC int8 tensors with batch 1; RESHAPE anywhere (no op: the reshaped tensor shares the original's bytes);
QUANTIZE first from a float input and DEQUANTIZE last to a float output (the board quantizes
and dequantizes itself). Every operator's arithmetic is precomputed as TFLite prepares it
(multipliers, shifts, activation ranges). Anything else is refused by name.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import tflite

from . import golden, reference, tmdl
from .errors import TinymlError
from .files import atomic_write

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_ACT_NAMES = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_FC, _RESHAPE = tflite.BuiltinOperator.FULLY_CONNECTED, tflite.BuiltinOperator.RESHAPE
_QUANTIZE, _DEQUANTIZE = tflite.BuiltinOperator.QUANTIZE, tflite.BuiltinOperator.DEQUANTIZE
_SOFTMAX, _ADD = tflite.BuiltinOperator.SOFTMAX, tflite.BuiltinOperator.ADD
_CONV, _DEPTHWISE = tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D
_AVERAGE_POOL, _MAX_POOL = tflite.BuiltinOperator.AVERAGE_POOL_2D, tflite.BuiltinOperator.MAX_POOL_2D
SUPPORTED = ("FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, SOFTMAX, RESHAPE, "
             "QUANTIZE (first, from float), DEQUANTIZE (last, to float)")


_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite
_MAX_WIDTH = 0xFFFF  # .tmdl sizes are 16-bit


def _one_line(error) -> str:
    """A C++ error report as one readable line: LiteRT joins its reporter's lines with no
    separator and names its own source files ("tflite/core/subgraph.cc:1965 ...")."""
    text = re.sub(r"\S+\.cc(:\d+)? ", "", " ".join(str(error).split()))
    return re.sub(r"\.(?=[A-Z])", ". ", text)


def _interpreter(data: bytes):
    """LiteRT's interpreter on the bytes, BUILTIN_REF kernels (TensorFlow's when ai-edge-litert
    is not installed: the same C++). Its constructor runs the flatbuffer verifier (every table,
    vector and string within the buffer) and checks tensor buffers, types and quantization, so
    the `tflite` package, which trusts every offset it reads, only ever sees verified bytes."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # tf.lite is an attribute of the tensorflow module, not an importable package
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    try:
        return Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    except UnicodeDecodeError as e:  # the report quoted damaged bytes (a name), undecodable as text
        raise TinymlError("damaged TFLite model: LiteRT's checks refuse it (their report quotes bytes that "
                          "are not text, such as a damaged tensor name)") from e
    except Exception as e:  # noqa: BLE001 - ValueError or RuntimeError: the C++ side's verdict
        why = _one_line(e)
        hint = (": truncated or altered (a partial download or copy?)"
                if why.startswith("The model is not a valid Flatbuffer") else "")
        raise TinymlError(f"damaged TFLite model{hint}; LiteRT's checks say: {why}") from e


class _Graph:
    """The one subgraph of a verified flatbuffer; every index it follows is checked first,
    and every problem names the operator and tensor it was found in."""

    def __init__(self, data: bytes):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise TinymlError(f"model has {self.model.SubgraphsLength()} subgraphs; tinyml needs exactly 1")
        self.sub = self.model.Subgraphs(0)
        self.n_ops = self.sub.OperatorsLength()
        self.n_tensors = self.sub.TensorsLength()
        if self.n_ops == 0:
            raise TinymlError("model has no operators")
        if self.sub.InputsLength() != 1 or self.sub.OutputsLength() != 1:
            raise TinymlError(f"model has {self.sub.InputsLength()} inputs and {self.sub.OutputsLength()} "
                              "outputs; tinyml needs exactly 1 of each")
        self.input = self.checked_index(self.sub.Inputs(0), "the model's input")
        self.output = self.checked_index(self.sub.Outputs(0), "the model's output")

    def checked_index(self, index: int, what: str) -> int:
        if not 0 <= index < self.n_tensors:
            raise TinymlError(f"{what} is tensor index {index}; the model has {self.n_tensors} tensors")
        return index

    def op_tensors(self, op, where: str, n_in: tuple[int, int], n_out: int = 1) -> tuple[list[int], list[int]]:
        """Input and output tensor indices of `op`; -1 is an absent optional input."""
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        outs = [op.Outputs(j) for j in range(op.OutputsLength())]
        if not n_in[0] <= len(ins) <= n_in[1] or len(outs) != n_out:
            want = str(n_in[0]) if n_in[0] == n_in[1] else f"{n_in[0]} or {n_in[1]}"
            raise TinymlError(f"{where}: has {len(ins)} inputs and {len(outs)} outputs, expected {want} and {n_out}")
        for role, indices in (("input", ins), ("output", outs)):
            for j, t in enumerate(indices):
                if not (t == -1 and role == "input" and j >= n_in[0]):
                    self.checked_index(t, f"{where}: {role} {j}")
        return ins, outs

    def opcode(self, op, where: str) -> int:
        k = op.OpcodeIndex()
        if k >= self.model.OperatorCodesLength():
            raise TinymlError(f"{where}: opcode index {k}, the model has {self.model.OperatorCodesLength()} op codes")
        oc = self.model.OperatorCodes(k)
        return max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())

    def tensor(self, index: int):
        return self.sub.Tensors(index)

    def label(self, index: int) -> str:
        name = self.tensor(index).Name()
        return f"tensor {index}" + (f" '{name.decode(errors='replace')}'" if name else "")

    def shape(self, index: int, where: str) -> tuple[int, ...]:
        t = self.tensor(index)
        shape = tuple(t.Shape(j) for j in range(t.ShapeLength()))
        if any(d <= 0 for d in shape):
            raise TinymlError(f"{where}: {self.label(index)} has shape {list(shape)}; every dimension must be positive")
        return shape

    def elements(self, index: int, where: str) -> int:
        return math.prod(self.shape(index, where))

    def quant(self, index: int, where: str, role: str, per_channel: bool = False, axis: int = 0):
        """(scales float32, zero points int64), or (None, None) when the tensor has none."""
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None, None
        what = f"{where}: {role} {self.label(index)}"
        n = q.ScaleLength()
        if q.ZeroPointLength() != n:
            raise TinymlError(f"{what} has {n} scales and {q.ZeroPointLength()} zero points")
        if n > 1 and not per_channel:
            raise TinymlError(f"{what} has {n} scales; tinyml needs one (per-tensor) here")
        if n > 1 and q.QuantizedDimension() != axis:
            raise TinymlError(f"{what} is quantized along dimension {q.QuantizedDimension()}; "
                              f"tinyml needs per-channel scales along the output channels (dimension {axis})")
        scales = np.array([q.Scale(j) for j in range(n)], np.float32)
        zps = np.array([q.ZeroPoint(j) for j in range(n)], np.int64)
        if not (np.isfinite(scales).all() and (scales > 0).all()):
            raise TinymlError(f"{what} has scale {scales[~(np.isfinite(scales) & (scales > 0))][0]}; "
                              "scales must be positive and finite")
        if self.type_name(index) == "INT8" and ((zps < -128) | (zps > 127)).any():
            raise TinymlError(f"{what} has zero point {zps[(zps < -128) | (zps > 127)][0]}, "
                              "outside int8's -128..127")
        return scales, zps

    def data(self, index: int, dtype, where: str, role: str) -> np.ndarray:
        t = self.tensor(index)
        what = f"{where}: {role} {self.label(index)}"
        k = t.Buffer()
        if k >= self.model.BuffersLength():
            raise TinymlError(f"{what} uses buffer {k}; the model has {self.model.BuffersLength()} buffers")
        buf = self.model.Buffers(k)
        raw = buf.DataAsNumpy() if buf.DataLength() else None
        if raw is None:
            raise TinymlError(f"{what} has no constant data")
        shape = self.shape(index, where)
        need = math.prod(shape) * np.dtype(dtype).itemsize
        if len(raw) != need:
            raise TinymlError(f"{what} has {len(raw)} bytes of data; "
                              f"its shape {list(shape)} needs {need}")
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape)

    def type_name(self, index: int) -> str:
        t = self.tensor(index).Type()
        return _TYPE_NAMES.get(t, f"type {t}")


def _activation_range(act: int, scale: float, zp: int, where: str) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8."""
    def q(f: float) -> int:
        v = np.float32(f) / np.float32(scale)
        if not np.isfinite(v):
            raise TinymlError(f"{where}: output scale {scale} is too small for its fused activation "
                              f"{_ACT_NAMES.get(act, act)}")
        return zp + int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))

    if act == tflite.ActivationFunctionType.NONE:
        return -128, 127
    if act == tflite.ActivationFunctionType.RELU:
        return max(-128, q(0.0)), 127
    if act == tflite.ActivationFunctionType.RELU6:
        return max(-128, q(0.0)), min(127, q(6.0))
    if act == tflite.ActivationFunctionType.RELU_N1_TO_1:
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise TinymlError(f"unsupported fused activation {_ACT_NAMES.get(act, act)} in {where}")


def _fc_options(op, where: str) -> tuple[int, int]:
    """(fused activation, weights format) of a FULLY_CONNECTED op; TFLite's defaults when
    the op has no options (no table, or the union's type NONE, as TFLite reads it)."""
    opts = op.BuiltinOptions()
    if opts is None or op.BuiltinOptionsType() == tflite.BuiltinOptions.NONE:
        return tflite.ActivationFunctionType.NONE, tflite.FullyConnectedOptionsWeightsFormat.DEFAULT
    if op.BuiltinOptionsType() != tflite.BuiltinOptions.FullyConnectedOptions:
        raise TinymlError(f"{where}: its options are builtin options type {op.BuiltinOptionsType()}, "
                          "not FullyConnectedOptions")
    fc = tflite.FullyConnectedOptions()
    fc.Init(opts.Bytes, opts.Pos)
    return fc.FusedActivationFunction(), fc.WeightsFormat()


def _nhwc(g: _Graph, index: int, where: str) -> tuple[int, int, int]:
    """A tensor's shape as .tmdl's (height, width, channels) with batch 1: [1, h, w, c],
    [1, w, c], [1, n] or [n] (a vector is 1 x 1 x n)."""
    shape = g.shape(index, where)
    if len(shape) == 4 and shape[0] == 1:
        hwc = shape[1:]
    elif len(shape) in (2, 3) and shape[0] == 1:
        hwc = (1,) * (4 - len(shape)) + shape[1:]
    elif len(shape) == 1:
        hwc = (1, 1) + shape
    else:
        raise TinymlError(f"{where}: {g.label(index)} has shape {list(shape)}; tinyml runs batch 1 "
                          "with at most height, width and channels")
    if max(hwc) > _MAX_WIDTH:
        raise TinymlError(f"{where}: {g.label(index)} has shape {list(shape)}; a .tmdl dimension is at most "
                          f"{_MAX_WIDTH}")
    return tuple(int(d) for d in hwc)


def _int8_quant(g: _Graph, index: int, where: str, role: str) -> tuple[float, int]:
    """(scale, zero point) of an int8 activation tensor quantized per tensor."""
    if g.type_name(index) != "INT8":
        raise TinymlError(f"{where}: {role} {g.label(index)} is {g.type_name(index)}, tinyml needs a full-int8 "
                          "model (TFLiteConverter with a representative dataset and int8 ops)")
    scale, zp = g.quant(index, where, role)
    if scale is None:
        raise TinymlError(f"{where}: {role} {g.label(index)} has no quantization parameters")
    return float(scale[0]), int(zp[0])


def _multipliers(real_scales, where: str, single_rounding: bool) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's QuantizeMultiplier of each real scale (already computed in double precision, in
    TFLite's order); refuses a scale no int8 requantization can express."""
    mults, shifts = [], []
    for real in real_scales:
        if not math.isfinite(real):
            raise TinymlError(f"{where}: input scale x weight scale / output scale = {real}")
        m, sh = reference.quantize_multiplier(real, single_rounding)
        if not -31 <= sh <= 30:
            raise TinymlError(f"{where}: input scale x weight scale / output scale = {real:g} is too large "
                              "for an int8 layer (needs a left shift over 30)")
        mults.append(m)
        shifts.append(sh)
    return np.array(mults, np.int32), np.array(shifts, np.int8)


def _options(op, kind, type_code: int, where: str):
    """The op's builtin options table of class `kind`, or None when it has none (TFLite's defaults)."""
    opts = op.BuiltinOptions()
    if opts is None or op.BuiltinOptionsType() == tflite.BuiltinOptions.NONE:
        return None
    if op.BuiltinOptionsType() != type_code:
        raise TinymlError(f"{where}: its options are builtin options type {op.BuiltinOptionsType()}, "
                          f"not {kind.__name__}")
    table = kind()
    table.Init(opts.Bytes, opts.Pos)
    return table


class _Builder:
    """The .tmdl graph under construction: its tensors, and which .tmdl tensor each TFLite tensor
    is. A RESHAPE makes its output another name for its input; an op that depends on the shape
    (windows, ADD, SOFTMAX) fixes the tensor's shape as it sees it, and two different fixed
    shapes for one tensor are refused."""

    def __init__(self, g: _Graph, single_rounding: bool):
        self.g = g
        self.single = single_rounding
        self.tensors: list[tmdl.Tensor] = []
        self.quant: list[tuple[float, int]] = []
        self.fixed: list[bool] = []
        self.alias: dict[int, int] = {}
        self.ops: list[tmdl.Op] = []

    def new(self, index: int, where: str, role: str, shaped: bool) -> int:
        """A new .tmdl tensor for TFLite tensor `index`."""
        scale, zp = _int8_quant(self.g, index, where, role)
        self.tensors.append(tmdl.Tensor(_nhwc(self.g, index, where), zp))
        self.quant.append((scale, zp))
        self.fixed.append(shaped)
        self.alias[index] = len(self.tensors) - 1
        return len(self.tensors) - 1

    def read(self, index: int, where: str, role: str = "input", shaped: bool = False) -> int:
        """The .tmdl tensor an op reads as TFLite tensor `index`."""
        _int8_quant(self.g, index, where, role)
        if index not in self.alias:
            if index == self.g.input and not self.tensors:
                return self.new(index, where, role, shaped)
            raise TinymlError(f"{where}: {role} {self.g.label(index)} is not written by an earlier operator "
                              "(a constant or a second model input?); tinyml needs activations computed in the graph")
        k = self.alias[index]
        shape = _nhwc(self.g, index, where)
        if shaped and self.tensors[k].shape != shape:
            if self.fixed[k]:
                raise TinymlError(f"{where}: reads {self.g.label(index)} as {list(shape)}, but it is used as "
                                  f"{list(self.tensors[k].shape)} elsewhere; one tensor cannot have two shapes")
            self.tensors[k].shape = shape
        self.fixed[k] = self.fixed[k] or shaped
        return k

    def reshape(self, op, where: str) -> None:
        ins, (y_i,) = self.g.op_tensors(op, where, (1, 2))
        x = self.read(ins[0], where)
        if self.g.elements(y_i, where) != self.tensors[x].size:
            raise TinymlError(f"{where}: output {self.g.label(y_i)} has shape {list(self.g.shape(y_i, where))}, "
                              f"its input {self.g.label(ins[0])} {list(self.g.shape(ins[0], where))}")
        if _int8_quant(self.g, y_i, where, "output") != self.quant[x]:
            raise TinymlError(f"{where}: output {self.g.label(y_i)} is quantized differently from its input; "
                              "a RESHAPE only renames the bytes")
        self.alias[y_i] = x

    def add(self, op: tmdl.Op) -> None:
        self.ops.append(op)


def _fully_connected(b: _Builder, op, where: str) -> tmdl.Op:
    g = b.g
    (x_i, w_i, *rest), (y_i,) = g.op_tensors(op, where, (2, 3))
    b_i = rest[0] if rest else -1
    x = b.read(x_i, where)
    in_scale, in_zp = b.quant[x]
    if g.type_name(w_i) != "INT8":
        raise TinymlError(f"{where}: weights {g.label(w_i)} is {g.type_name(w_i)}, tinyml needs a full-int8 model "
                          "(TFLiteConverter with a representative dataset and int8 ops)")
    out_scale, out_zp = _int8_quant(g, y_i, where, "output")
    w_scale, w_zp = g.quant(w_i, where, "weights", per_channel=True)
    if w_scale is None:
        raise TinymlError(f"{where}: weights {g.label(w_i)} has no quantization parameters")
    if np.any(w_zp != 0):
        raise TinymlError(f"{where}: weights {g.label(w_i)} zero point must be 0 (symmetric int8)")
    weights = g.data(w_i, np.int8, where, "weights")
    if weights.ndim != 2:
        raise TinymlError(f"{where}: weights {g.label(w_i)} have shape {list(weights.shape)}, expected [out, in]")
    n_out, n_in = weights.shape
    if max(n_out, n_in) > _MAX_WIDTH:
        raise TinymlError(f"{where}: weights {g.label(w_i)} are {n_out}x{n_in}; "
                          f"a .tmdl layer is at most {_MAX_WIDTH} wide")
    for name, t, n in (("input", x_i, n_in), ("output", y_i, n_out)):
        if g.elements(t, where) != n:
            raise TinymlError(f"{where}: {name} {g.label(t)} has shape {list(g.shape(t, where))}, the weights "
                              f"{'take' if name == 'input' else 'give'} {n} values (tinyml runs batch 1)")
    bias = _bias(g, b_i, n_out, where)
    activation, weights_format = _fc_options(op, where)
    if weights_format != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise TinymlError(f"{where}: shuffled weights format is not supported")
    if len(w_scale) not in (1, n_out):
        raise TinymlError(f"{where}: weights {g.label(w_i)} have {len(w_scale)} scales for {n_out} outputs")
    # Same expression and order as TFLite: double(input) * double(filter) / double(output)
    mults, shifts = _multipliers([in_scale * float(s) / out_scale for s in w_scale], where, b.single)
    act_min, act_max = _activation_range(activation, out_scale, out_zp, where)
    folded = _folded_bias(bias, in_zp, weights.reshape(n_out, -1), where)
    y = b.new(y_i, where, "output", shaped=False)
    return tmdl.Op(tmdl.OP_FULLY_CONNECTED, (x,), y, act_min, act_max, weights=weights.copy(), bias=folded,
                   multiplier=mults, shift=shifts)


def _bias(g: _Graph, index: int, n: int, where: str) -> np.ndarray:
    """int64 [n]: the op's int32 bias, zeros when it has none."""
    if index < 0:
        return np.zeros(n, np.int64)
    if g.type_name(index) != "INT32":
        raise TinymlError(f"{where}: bias {g.label(index)} is {g.type_name(index)}, expected INT32")
    bias = g.data(index, np.int32, where, "bias").reshape(-1).astype(np.int64)
    if len(bias) != n:
        raise TinymlError(f"{where}: bias {g.label(index)} has {len(bias)} values for {n} outputs")
    return bias


def _folded_bias(bias: np.ndarray, in_zp: int, matrix: np.ndarray, where: str) -> np.ndarray:
    """bias - input zero point x each row's weight sum: the input offset precomputed."""
    folded = bias - in_zp * matrix.astype(np.int64).sum(axis=1)
    if folded.min() < reference.INT32_MIN or folded.max() > reference.INT32_MAX:
        raise TinymlError(f"{where}: bias with input offset folded in overflows int32")
    return folded.astype(np.int32)


# TFLite's int8 softmax works on differences from the row's maximum with this many integer bits
_SOFTMAX_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, input_scale: float, single_rounding: bool) -> tuple[int, int, int]:
    """(input multiplier, input left shift, diff_min) as TFLite prepares an int8 softmax: the
    real factor beta x input scale in the differences' fixed-point format, capped below 2**31
    and quantized as a multiplier >= 1, and the most negative difference that format holds."""
    integer_bits = _SOFTMAX_DIFF_INTEGER_BITS
    real = min(float(beta) * float(input_scale) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    multiplier, left_shift = reference.quantize_multiplier(real, single_rounding)
    radius = ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)
    return multiplier, left_shift, -int(math.floor(radius))


def _softmax(b: _Builder, op, where: str) -> tmdl.Op:
    g = b.g
    (x_i,), (y_i,) = g.op_tensors(op, where, (1, 1))
    x = b.read(x_i, where, shaped=True)
    out_scale, out_zp = _int8_quant(g, y_i, where, "output")
    if abs(out_scale - 1 / 256) > 1e-3 / 256 or out_zp != -128:
        raise TinymlError(f"{where}: output {g.label(y_i)} has scale {out_scale:g} and zero point {out_zp}; "
                          "an int8 SOFTMAX gives scale 1/256 and zero point -128")
    if _nhwc(g, y_i, where) != b.tensors[x].shape:
        raise TinymlError(f"{where}: output shape {list(g.shape(y_i, where))} differs from its input's")
    opts = _options(op, tflite.SoftmaxOptions, tflite.BuiltinOptions.SoftmaxOptions, where)
    beta = 1.0 if opts is None else opts.Beta()
    # TFLite's prepare checks (aborts on) a factor beta x scale x 2**26 not above 1
    if not (math.isfinite(beta) and beta * b.quant[x][0] * (1 << 26) > 1):
        raise TinymlError(f"{where}: beta {beta:g} x input scale {b.quant[x][0]:g} is outside what an int8 "
                          "SOFTMAX can scale (TFLite needs beta x scale above 2**-26)")
    mult, left, diff_min = softmax_params(beta, b.quant[x][0], b.single)
    y = b.new(y_i, where, "output", shaped=True)
    return tmdl.Op(tmdl.OP_SOFTMAX, (x,), y, -128, 127, params=np.array([mult, left, diff_min, 0], np.int32))


def _window(g: _Graph, where: str, padding: int, in_hw, filter_hw, stride_hw, out_hw) -> tuple[int, int]:
    """(pad top, pad left) of a window op as TFLite resolves SAME/VALID: the output size follows
    from the padding type; the padding needed to cover it is split with the odd byte at the end."""
    if padding not in (tflite.Padding.SAME, tflite.Padding.VALID):
        raise TinymlError(f"{where}: unknown padding type {padding}")
    pads = []
    for axis, name in ((0, "height"), (1, "width")):
        n, f, s, out = in_hw[axis], filter_hw[axis], stride_hw[axis], out_hw[axis]
        if f < 1 or s < 1 or max(f, s) > _MAX_WIDTH:
            raise TinymlError(f"{where}: filter {list(filter_hw)} and stride {list(stride_hw)} must be 1 to {_MAX_WIDTH}")
        expected = (n + s - 1) // s if padding == tflite.Padding.SAME else (n - f + s) // s
        if expected < 1 or out != expected:
            kind = "SAME" if padding == tflite.Padding.SAME else "VALID"
            raise TinymlError(f"{where}: output {name} {out}, but {kind} padding of {name} {n} with filter {f} "
                              f"and stride {s} gives {expected}")
        pads.append(max((out - 1) * s + f - n, 0) // 2)
    return pads[0], pads[1]


def _per_channel_filter(g: _Graph, w_i: int, n_out: int, axis: int, where: str) -> np.ndarray:
    """The filter's scales (one, or one per output channel along `axis`), zero points checked 0."""
    if g.type_name(w_i) != "INT8":
        raise TinymlError(f"{where}: filter {g.label(w_i)} is {g.type_name(w_i)}, tinyml needs a full-int8 model "
                          "(TFLiteConverter with a representative dataset and int8 ops)")
    scales, zps = g.quant(w_i, where, "filter", per_channel=True, axis=axis)
    if scales is None:
        raise TinymlError(f"{where}: filter {g.label(w_i)} has no quantization parameters")
    if np.any(zps != 0):
        raise TinymlError(f"{where}: filter {g.label(w_i)} zero point must be 0 (symmetric int8)")
    if len(scales) not in (1, n_out):
        raise TinymlError(f"{where}: filter {g.label(w_i)} has {len(scales)} scales for {n_out} output channels")
    return scales


def _conv_options(op, kind, type_code, where: str):
    opts = _options(op, kind, type_code, where)
    if opts is None:
        raise TinymlError(f"{where}: has no options (padding, strides)")
    if (opts.DilationHFactor(), opts.DilationWFactor()) != (1, 1):
        raise TinymlError(f"{where}: dilation {opts.DilationHFactor()}x{opts.DilationWFactor()}; "
                          "tinyml supports dilation 1 only")
    return opts


def _convolution(b: _Builder, op, where: str, depthwise: bool) -> tmdl.Op:
    """CONV_2D (filter OHWI, bias with the input offset folded in) or DEPTHWISE_CONV_2D (filter
    1HWC, depth multiplier 1, bias as TFLite has it)."""
    g = b.g
    (x_i, w_i, *rest), (y_i,) = g.op_tensors(op, where, (2, 3))
    x = b.read(x_i, where, shaped=True)
    (in_scale, in_zp), in_shape = b.quant[x], b.tensors[x].shape
    out_scale, out_zp = _int8_quant(g, y_i, where, "output")
    out_shape = _nhwc(g, y_i, where)
    weights = g.data(w_i, np.int8, where, "filter")
    if weights.ndim != 4:
        raise TinymlError(f"{where}: filter {g.label(w_i)} has shape {list(weights.shape)}, expected 4 dimensions")
    n_out = out_shape[2]
    multiplier = 1
    if depthwise:
        opts = _conv_options(op, tflite.DepthwiseConv2DOptions, tflite.BuiltinOptions.DepthwiseConv2DOptions, where)
        if weights.shape[0] != 1 or weights.shape[3] != n_out or n_out % in_shape[2]:
            raise TinymlError(f"{where}: {in_shape[2]} input channels to {n_out} with filter "
                              f"{list(weights.shape)}: not a depthwise convolution tinyml knows")
        multiplier = n_out // in_shape[2]
        scales = _per_channel_filter(g, w_i, n_out, 3, where)
    else:
        opts = _conv_options(op, tflite.Conv2DOptions, tflite.BuiltinOptions.Conv2DOptions, where)
        if weights.shape[0] != n_out or weights.shape[3] != in_shape[2]:
            raise TinymlError(f"{where}: filter {g.label(w_i)} has shape {list(weights.shape)} for {in_shape[2]} "
                              f"input and {n_out} output channels (grouped convolutions are not supported)")
        scales = _per_channel_filter(g, w_i, n_out, 0, where)
    filter_hw, stride_hw = weights.shape[1:3], (opts.StrideH(), opts.StrideW())
    padding = _window(g, where, opts.Padding(), in_shape[:2], filter_hw, stride_hw, out_shape[:2])
    bias = _bias(g, rest[0] if rest else -1, n_out, where)
    # TFLite's order: double(input scale) * double(filter scale) / double(output scale)
    mults, shifts = _multipliers([in_scale * float(s) / out_scale for s in scales], where, b.single)
    act_min, act_max = _activation_range(opts.FusedActivationFunction(), out_scale, out_zp, where)
    if depthwise and multiplier == 1:
        kind, w, bias = tmdl.OP_DEPTHWISE_CONV_2D, weights[0].copy(), bias.astype(np.int32)
    elif depthwise:
        # A depth multiplier M > 1 (TensorFlow's converter makes one of a convolution over a
        # single channel, e.g. micro_speech's tiny_conv) is a CONV_2D whose output channel o reads
        # input channel o // M only: the same sums, the same requantization, padding counting as
        # the input zero point either way (skipped taps contribute nothing in both).
        fh, fw = weights.shape[1:3]
        dense = np.zeros((n_out, fh, fw, in_shape[2]), np.int8)
        for o in range(n_out):
            dense[o, :, :, o // multiplier] = weights[0, :, :, o]
        w = dense.reshape(n_out, -1)
        kind, bias = tmdl.OP_CONV_2D, _folded_bias(bias, in_zp, w, where)
    else:
        w = weights.reshape(n_out, -1).copy()
        kind, bias = tmdl.OP_CONV_2D, _folded_bias(bias, in_zp, w, where)
    y = b.new(y_i, where, "output", shaped=True)
    return tmdl.Op(kind, (x,), y, act_min, act_max, tuple(filter_hw), stride_hw, padding, weights=w, bias=bias,
                   multiplier=mults, shift=shifts)


def _conv_2d(b: _Builder, op, where: str) -> tmdl.Op:
    return _convolution(b, op, where, depthwise=False)


def _depthwise_conv_2d(b: _Builder, op, where: str) -> tmdl.Op:
    return _convolution(b, op, where, depthwise=True)


def _pool(b: _Builder, op, where: str) -> tmdl.Op:
    g = b.g
    (x_i,), (y_i,) = g.op_tensors(op, where, (1, 1))
    x = b.read(x_i, where, shaped=True)
    out_q, out_shape = _int8_quant(g, y_i, where, "output"), _nhwc(g, y_i, where)
    if out_q != b.quant[x]:
        raise TinymlError(f"{where}: input and output quantization differ ({b.quant[x]} -> {out_q}); "
                          "tinyml's pools keep the scale and zero point")
    if out_shape[2] != b.tensors[x].shape[2]:
        raise TinymlError(f"{where}: {b.tensors[x].shape[2]} input channels, {out_shape[2]} output")
    opts = _options(op, tflite.Pool2DOptions, tflite.BuiltinOptions.Pool2DOptions, where)
    if opts is None:
        raise TinymlError(f"{where}: has no options (filter, padding, strides)")
    filter_hw, stride_hw = (opts.FilterHeight(), opts.FilterWidth()), (opts.StrideH(), opts.StrideW())
    padding = _window(g, where, opts.Padding(), b.tensors[x].shape[:2], filter_hw, stride_hw, out_shape[:2])
    act_min, act_max = _activation_range(opts.FusedActivationFunction(), out_q[0], out_q[1], where)
    kind = tmdl.OP_AVERAGE_POOL_2D if g.opcode(op, where) == _AVERAGE_POOL else tmdl.OP_MAX_POOL_2D
    y = b.new(y_i, where, "output", shaped=True)
    return tmdl.Op(kind, (x,), y, act_min, act_max, filter_hw, stride_hw, padding)


# TFLite's int8 ADD shifts both inputs left by this many bits before rescaling them
_ADD_LEFT_SHIFT = 20


def add_params(scale_1: float, scale_2: float, out_scale: float, single_rounding: bool) -> list[int]:
    """[in1 multiplier, shift, in2 multiplier, shift, out multiplier, shift, left shift, 0] as
    TFLite prepares an int8 ADD: both inputs to the common scale of twice the larger input
    scale (factors <= 1/2), the sum from there to the output scale, in double precision."""
    twice_max = 2 * float(max(scale_1, scale_2))
    reals = (scale_1 / twice_max, scale_2 / twice_max, twice_max / ((1 << _ADD_LEFT_SHIFT) * out_scale))
    params = []
    for real in reals:
        params += reference.quantize_multiplier(real, single_rounding)
    return params + [_ADD_LEFT_SHIFT, 0]


def _add(b: _Builder, op, where: str) -> tmdl.Op:
    g = b.g
    (a_i, c_i), (y_i,) = g.op_tensors(op, where, (2, 2))
    shapes = [g.shape(t, where) for t in (a_i, c_i, y_i)]
    if shapes[0] != shapes[1] or shapes[0] != shapes[2]:
        raise TinymlError(f"{where}: input shapes {list(shapes[0])} and {list(shapes[1])}, output "
                          f"{list(shapes[2])}; tinyml adds tensors of one shape (no broadcasting)")
    a, c = b.read(a_i, where, shaped=True), b.read(c_i, where, shaped=True)
    out_scale, out_zp = _int8_quant(g, y_i, where, "output")
    params = add_params(b.quant[a][0], b.quant[c][0], out_scale, b.single)
    if max(params[1:6:2]) > 0 or min(params[1:6:2]) < -31:
        raise TinymlError(f"{where}: input scales {b.quant[a][0]:g}, {b.quant[c][0]:g} and output scale "
                          f"{out_scale:g} are too far apart for TFLite's int8 ADD")
    opts = _options(op, tflite.AddOptions, tflite.BuiltinOptions.AddOptions, where)
    activation = tflite.ActivationFunctionType.NONE if opts is None else opts.FusedActivationFunction()
    act_min, act_max = _activation_range(activation, out_scale, out_zp, where)
    y = b.new(y_i, where, "output", shaped=True)
    return tmdl.Op(tmdl.OP_ADD, (a, c), y, act_min, act_max, params=np.array(params, np.int32))


_HANDLERS = {_FC: _fully_connected, _SOFTMAX: _softmax, _CONV: _conv_2d, _DEPTHWISE: _depthwise_conv_2d,
             _AVERAGE_POOL: _pool, _MAX_POOL: _pool, _ADD: _add}


def _op_name(g: _Graph, op, code: int) -> str:
    if code == tflite.BuiltinOperator.CUSTOM:
        custom = g.model.OperatorCodes(op.OpcodeIndex()).CustomCode() or b""
        return "CUSTOM " + custom.decode(errors="replace")
    return _OP_NAMES.get(code, f"builtin code {code}")


def convert(data: bytes, rounding: str = "tflm") -> tmdl.TmdlModel:
    """Build a TmdlModel (without test vectors) from .tflite bytes (see convert_mapped)."""
    return convert_mapped(data, rounding)[0]


def convert_mapped(data: bytes, rounding: str = "tflm") -> tuple[tmdl.TmdlModel, list[int]]:
    """A TmdlModel (without test vectors) from .tflite bytes, and for each of its tensors the
    TFLite tensor it is (the first name, when RESHAPEs give it more), to compare intermediates.

    Checked in three steps, each before the next trusts the bytes: LiteRT's flatbuffer
    verifier (structure), this reader (what tinyml needs: supported ops, shapes, types,
    quantization), then LiteRT preparing every op as its kernels would."""
    if rounding not in tmdl.ROUNDING:
        raise TinymlError(f"unknown rounding {rounding!r}; use 'tflm' or 'litert'")
    if data[4:8] != _TFLITE_IDENTIFIER:
        raise TinymlError(f"not a TFLite model: bytes 4..8 are {bytes(data[4:8])!r}, a .tflite has "
                          f"{_TFLITE_IDENTIFIER!r} there" + (f" (the file is only {len(data)} bytes)" if len(data) < 8 else ""))
    interpreter = _interpreter(data)
    g = _Graph(data)
    b = _Builder(g, rounding == "litert")
    float_input = float_output = False
    output = g.output
    for i in range(g.n_ops):
        op = g.sub.Operators(i)
        code = g.opcode(op, f"operator index {i}")
        name = _op_name(g, op, code)
        where = f"{name} at operator index {i}"
        if code in _HANDLERS:
            b.add(_HANDLERS[code](b, op, where))
        elif code == _RESHAPE:
            b.reshape(op, where)
        elif code == _QUANTIZE and i == 0 and g.type_name(g.input) == "FLOAT32":
            (_,), (y_i,) = g.op_tensors(op, where, (1, 1))
            b.new(y_i, where, "output", shaped=False)
            float_input = True
        elif code == _DEQUANTIZE and i == g.n_ops - 1 and g.type_name(g.output) == "FLOAT32":
            (x_i,), _ = g.op_tensors(op, where, (1, 1))
            b.read(x_i, where)
            output = x_i
            float_output = True
        else:
            position = {_QUANTIZE: " (only as the first op, from float)",
                        _DEQUANTIZE: " (only as the last op, to float)"}.get(code, "")
            raise TinymlError(f"unsupported TFLite op {name} at operator index {i}{position}; "
                              f"tinyml supports {SUPPORTED}")
    if not b.ops:
        raise TinymlError("model has no operator tinyml computes (only RESHAPE, QUANTIZE or DEQUANTIZE)")
    last = len(b.tensors) - 1
    if b.alias.get(output) != last or b.ops[-1].output != last:
        raise TinymlError(f"the model's output is {g.label(output)}, but the last operator tinyml computes "
                          f"writes {g.label(g.sub.Operators(g.n_ops - 1).Outputs(0))}")
    try:
        interpreter.allocate_tensors()
    except Exception as e:  # noqa: BLE001 - RuntimeError or ValueError from a kernel's Prepare
        raise TinymlError(f"LiteRT cannot prepare the model: {_one_line(e)}") from e
    (in_scale, in_zp), (out_scale, out_zp) = b.quant[0], b.quant[last]
    model = tmdl.TmdlModel(b.ops, b.tensors, in_scale, in_zp, out_scale, out_zp, rounding=rounding,
                           float_input=float_input, float_output=float_output)
    model.arena_bytes = tmdl.plan_arena(model.ops, model.tensors)
    try:
        for k, op in enumerate(model.ops):
            tmdl.check_op(op, model.tensors, f"operator {k} ({op.name})")
    except ValueError as e:
        raise TinymlError(f"the converted graph breaks a .tmdl rule: {e}") from e
    sources = [0] * len(b.tensors)
    for index, k in sorted(b.alias.items(), reverse=True):
        sources[k] = index
    return model, sources


def interpreter_int8(tflite_bytes: bytes, model: tmdl.TmdlModel, x: np.ndarray) -> np.ndarray:
    """The TFLite interpreter of the model's rounding on int8 inputs [count, input size], as the
    int8 outputs [count, output size] of the graph's int8 core. Float edges are crossed exactly:
    the interpreter's QUANTIZE of a dequantized int8 value gives it back (the division lands
    within an ulp of the integer), and its DEQUANTIZE output is mapped back and checked."""
    feed = reference.dequantize(x, model.input_scale, model.input_zp) if model.float_input else x
    y = np.asarray(golden.run(tflite_bytes, feed, model.rounding)).reshape(len(x), -1)
    if not model.float_output:
        return y
    q = reference.quantize(y, model.output_scale, model.output_zp)
    if not np.array_equal(reference.dequantize(q, model.output_scale, model.output_zp), y):
        raise TinymlError("the interpreter's float output is not a dequantized int8 value")
    return q


def add_vectors(model: tmdl.TmdlModel, tflite_bytes: bytes, count: int = 16, seed: int = 0) -> None:
    """Attach golden vectors: int8 inputs and the TFLite interpreter's int8 outputs.

    The interpreter's outputs must equal the reference's: a model that passed every check but
    still computes something else (a field tinyml does not model) is refused here rather than
    shipped with vectors the board would fail.
    """
    if not 0 <= count <= _MAX_WIDTH:
        raise TinymlError(f"{count} golden vectors; a .tmdl holds 0 to {_MAX_WIDTH}")
    if count == 0:
        return
    rng = np.random.default_rng(seed)
    if model.input_size == 1:
        x = np.linspace(-128, 127, count).round().astype(np.int8).reshape(-1, 1)
    else:
        x = rng.integers(-128, 128, size=(count, model.input_size), dtype=np.int64).astype(np.int8)
    y = reference.run(model, x).reshape(count, model.output_size)
    interp = {"tflm": "TFLite Micro", "litert": "LiteRT"}[model.rounding]
    try:
        golden_y = interpreter_int8(tflite_bytes, model, x)
    except ImportError as e:
        raise TinymlError(f"golden vectors for --rounding {model.rounding} need {interp}'s Python package "
                          f"({e.name}): pip install {golden.PACKAGES[model.rounding]}, or --vectors 0") from e
    except TinymlError:
        raise
    except Exception as e:  # noqa: BLE001 - the interpreters raise RuntimeError, ValueError, ...
        raise TinymlError(f"{interp} cannot run the model to make golden vectors: {_one_line(e)}") from e
    if golden_y.shape != y.shape or golden_y.dtype != np.int8:
        raise TinymlError(f"{interp} gives {golden_y.shape[1]} {golden_y.dtype} outputs per input; "
                          f"the model's graph gives {model.output_size} int8")
    differ = np.flatnonzero((golden_y != y).any(axis=1))
    if len(differ):
        k = int(differ[0])
        raise TinymlError(f"{interp} and tinyml's reference disagree on {len(differ)} of {count} golden "
                          f"vectors (first: input {x[k].tolist()[:8]}, {interp} {golden_y[k].tolist()[:8]}, "
                          f"reference {y[k].tolist()[:8]}); the model uses something tinyml does not "
                          "reproduce bit-exactly")
    model.vectors_in, model.vectors_out = x, golden_y.astype(np.int8)


def export(tflite_path, out_path, rounding: str = "tflm", vectors: int = 16, frontend: bytes | None = None,
           labels: list[str] | None = None) -> tmdl.TmdlModel:
    """Read, check and convert a .tflite, attach golden vectors (and the front end record and
    labels, when given), write the .tmdl atomically. Every problem with the input is a
    TinymlError that starts with the file's name."""
    data = Path(tflite_path).read_bytes()
    try:
        model = convert(data, rounding)
        add_vectors(model, data, vectors)
        model.frontend = frontend
        model.labels = list(labels or [])
        if labels and len(labels) != model.output_size:
            raise TinymlError(f"{len(labels)} labels ({', '.join(labels)}) for a model of {model.output_size} outputs")
    except TinymlError as e:
        raise TinymlError(f"{tflite_path}: {e}") from e
    out = Path(out_path)
    if out.is_dir():
        raise TinymlError(f"{out} is a folder; -o names the .tmdl file to write")
    atomic_write(out, tmdl.encode(model))
    return model
