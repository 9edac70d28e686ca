"""Read a full-int8 TFLite flatbuffer (with the `tflite` package) and build a .tmdl model.

Supported graph: a chain of FULLY_CONNECTED (fused NONE/RELU/RELU6/RELU_N1_TO_1) and
RESHAPE ops, optionally QUANTIZE first, DEQUANTIZE last and SOFTMAX last (SOFTMAX runs
in float on the device, after dequantization). Anything else is refused by name.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tflite

from . import golden, reference, tmdl
from .errors import TinymlError

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_ACT_NAMES = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_FC, _RESHAPE = tflite.BuiltinOperator.FULLY_CONNECTED, tflite.BuiltinOperator.RESHAPE
_QUANTIZE, _DEQUANTIZE = tflite.BuiltinOperator.QUANTIZE, tflite.BuiltinOperator.DEQUANTIZE
_SOFTMAX = tflite.BuiltinOperator.SOFTMAX
SUPPORTED = "FULLY_CONNECTED, RESHAPE, QUANTIZE (first), DEQUANTIZE (last), SOFTMAX (last)"


class _Graph:
    def __init__(self, data: bytes):
        try:
            self.model = tflite.Model.GetRootAsModel(data, 0)
            self.sub = self.model.Subgraphs(0)
            self.n_ops = self.sub.OperatorsLength()
        except Exception as e:  # the flatbuffer library raises assorted errors on garbage
            raise TinymlError(f"not a readable TFLite flatbuffer: {e}") from None
        if self.model.SubgraphsLength() != 1:
            raise TinymlError(f"model has {self.model.SubgraphsLength()} subgraphs; tinyml needs exactly 1")

    def opcode(self, op) -> int:
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        return max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())

    def tensor(self, index: int):
        return self.sub.Tensors(index)

    def quant(self, index: int):
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None, None
        return q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64)

    def data(self, index: int, dtype) -> np.ndarray:
        t = self.tensor(index)
        raw = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw is None or len(raw) == 0:
            raise TinymlError(f"tensor {t.Name().decode()} has no constant data")
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())

    def type_name(self, index: int) -> str:
        return _TYPE_NAMES.get(self.tensor(index).Type(), "?")


def _activation_range(act: int, scale: float, zp: int, where: str) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8."""
    def q(f: float) -> int:
        v = np.float32(f) / np.float32(scale)
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


def _fully_connected(g: _Graph, op, index: int, single_rounding: bool):
    """Return the layer and its (input scale, input zp, output scale, output zp)."""
    where = f"FULLY_CONNECTED at operator index {index}"
    ins = op.InputsAsNumpy()
    x_i, w_i = int(ins[0]), int(ins[1])
    b_i = int(ins[2]) if len(ins) > 2 else -1
    y_i = int(op.OutputsAsNumpy()[0])
    for name, t in (("input", x_i), ("weights", w_i), ("output", y_i)):
        if g.type_name(t) != "INT8":
            raise TinymlError(f"{where}: {name} is {g.type_name(t)}, tinyml needs a full-int8 model "
                              "(TFLiteConverter with a representative dataset and int8 ops)")
    x_scale, x_zp = g.quant(x_i)
    w_scale, w_zp = g.quant(w_i)
    y_scale, y_zp = g.quant(y_i)
    if x_scale is None or w_scale is None or y_scale is None:
        raise TinymlError(f"{where}: missing quantization parameters")
    if np.any(w_zp != 0):
        raise TinymlError(f"{where}: weight zero point must be 0 (symmetric int8)")
    weights = g.data(w_i, np.int8)
    if weights.ndim != 2:
        raise TinymlError(f"{where}: weights have shape {weights.shape}, expected [out, in]")
    n_out, n_in = weights.shape
    if len(w_scale) not in (1, n_out):
        raise TinymlError(f"{where}: {len(w_scale)} weight scales for {n_out} outputs")
    if b_i >= 0:
        if g.type_name(b_i) != "INT32":
            raise TinymlError(f"{where}: bias is {g.type_name(b_i)}, expected INT32")
        bias = g.data(b_i, np.int32).reshape(n_out).astype(np.int64)
    else:
        bias = np.zeros(n_out, np.int64)
    opts = op.BuiltinOptions()
    fc = tflite.FullyConnectedOptions()
    fc.Init(opts.Bytes, opts.Pos)
    if fc.WeightsFormat() != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise TinymlError(f"{where}: shuffled weights format is not supported")
    in_scale, out_scale = float(x_scale[0]), float(y_scale[0])
    in_zp, out_zp = int(x_zp[0]), int(y_zp[0])
    mults, shifts = [], []
    for s in w_scale:
        # Same expression and order as TFLite: double(input) * double(filter) / double(output)
        m, sh = reference.quantize_multiplier(in_scale * float(s) / out_scale, single_rounding)
        mults.append(m)
        shifts.append(sh)
    act_min, act_max = _activation_range(fc.FusedActivationFunction(), out_scale, out_zp, where)
    folded = bias - in_zp * weights.astype(np.int64).sum(axis=1)
    if folded.min() < reference.INT32_MIN or folded.max() > reference.INT32_MAX:
        raise TinymlError(f"{where}: bias with input offset folded in overflows int32")
    layer = tmdl.Layer(weights.copy(), folded.astype(np.int32), np.array(mults, np.int32),
                       np.array(shifts, np.int8), act_min, act_max, out_zp)
    return layer, (in_scale, in_zp, out_scale, out_zp)


def convert(data: bytes, rounding: str = "tflm") -> tmdl.TmdlModel:
    """Build a TmdlModel (without test vectors) from .tflite bytes."""
    if rounding not in tmdl.ROUNDING:
        raise TinymlError(f"unknown rounding {rounding!r}; use 'tflm' or 'litert'")
    g = _Graph(data)
    single = rounding == "litert"
    layers, current = [], int(g.sub.InputsAsNumpy()[0])
    float_input = float_output = softmax = False
    in_q = out_q = None
    for i in range(g.n_ops):
        op = g.sub.Operators(i)
        code = g.opcode(op)
        name = _OP_NAMES.get(code, f"builtin code {code}")
        if code == tflite.BuiltinOperator.CUSTOM:
            name = "CUSTOM " + g.model.OperatorCodes(op.OpcodeIndex()).CustomCode().decode()
        if int(op.InputsAsNumpy()[0]) != current:
            raise TinymlError(f"{name} at operator index {i} does not take the previous op's output; "
                              "tinyml needs a single chain of layers")
        out = int(op.OutputsAsNumpy()[0])
        last = i == g.n_ops - 1
        if code == _FC:
            if softmax:
                raise TinymlError(f"FULLY_CONNECTED at operator index {i} after SOFTMAX; SOFTMAX must be last")
            layer, (in_scale, in_zp, out_scale, out_zp) = _fully_connected(g, op, i, single)
            if out_q is not None and out_q != (in_scale, in_zp):
                raise TinymlError(f"FULLY_CONNECTED at operator index {i}: input quantization differs "
                                  "from the previous layer's output")
            if in_q is None:
                in_q = (in_scale, in_zp)
            out_q = (out_scale, out_zp)
            layers.append(layer)
        elif code == _RESHAPE:
            pass  # a dense chain works on flat vectors
        elif code == _QUANTIZE and i == 0 and g.type_name(current) == "FLOAT32":
            float_input = True
        elif code == _DEQUANTIZE and last:
            float_output = True
        elif code == _SOFTMAX and (last or (i == g.n_ops - 2 and g.opcode(g.sub.Operators(i + 1)) == _DEQUANTIZE)):
            softmax = True
        else:
            position = {_QUANTIZE: " (only as the first op, from float)",
                        _DEQUANTIZE: " (only as the last op)", _SOFTMAX: " (only as the last op)"}.get(code, "")
            raise TinymlError(f"unsupported TFLite op {name} at operator index {i}{position}; "
                              f"tinyml supports {SUPPORTED}")
        current = out
    if not layers:
        raise TinymlError("model has no FULLY_CONNECTED layer")
    return tmdl.TmdlModel(layers, in_q[0], in_q[1], out_q[0], out_q[1], rounding=rounding,
                          softmax=softmax, float_input=float_input, float_output=float_output)


def add_vectors(model: tmdl.TmdlModel, tflite_bytes: bytes, count: int = 16, seed: int = 0) -> None:
    """Attach golden vectors: int8 inputs and the TFLite interpreter's int8 outputs.

    When the graph's output is not the last layer's int8 tensor (softmax or float edges),
    the interpreter's output is not comparable byte for byte, so the outputs come from the
    numpy reference, which the test suite holds bit-exact with the same interpreter.
    """
    if count <= 0:
        return
    rng = np.random.default_rng(seed)
    if model.input_size == 1:
        x = np.linspace(-128, 127, count).round().astype(np.int8).reshape(-1, 1)
    else:
        x = rng.integers(-128, 128, size=(count, model.input_size), dtype=np.int64).astype(np.int8)
    if model.softmax or model.float_input or model.float_output:
        y = reference.run(model, x)
    else:
        y = golden.run(tflite_bytes, x, model.rounding).astype(np.int8)
    model.vectors_in, model.vectors_out = x, y.reshape(count, model.output_size)


def export(tflite_path, out_path, rounding: str = "tflm", vectors: int = 16) -> tmdl.TmdlModel:
    data = Path(tflite_path).read_bytes()
    model = convert(data, rounding)
    add_vectors(model, data, vectors)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(tmdl.encode(model))
    tmp.replace(out)
    return model
