"""Single-operator int8 models made by the real TFLite converter, run in TFLite Micro's own
interpreter (the golden outputs), and the kernel parameters computed from the flatbuffer the
way TFLite computes them at prepare: what the .tmdl exporter will store for each operator.

Models are cached under out/cache (tests/models.py's cache), keyed by their recipe.
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models import _cached  # noqa: E402

_RECIPE_VERSION = "1"  # bump when the model builders below change


def _key(recipe: dict) -> str:
    return hashlib.sha256(repr((_RECIPE_VERSION, sorted(recipe.items()))).encode()).hexdigest()[:12]


def _convert(model, inputs: list[np.ndarray], per_channel: bool = True) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative():
        for k in range(len(inputs[0])):
            yield [a[k:k + 1].astype(np.float32) for a in inputs]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    return converter.convert()


def op_model(recipe: dict) -> bytes:
    """One operator: recipe["op"] is conv, dwconv, avgpool, maxpool, add or softmax."""
    def make():
        import tensorflow as tf

        tf.keras.utils.set_random_seed(recipe.get("seed", 0))
        rng = np.random.default_rng(recipe.get("seed", 0))
        op = recipe["op"]
        shape = recipe["shape"]
        bias_init = tf.keras.initializers.RandomNormal(0, 0.3)
        inp = tf.keras.Input(shape=shape, batch_size=1)
        inputs = [inp]
        if op == "conv":
            y = tf.keras.layers.Conv2D(recipe["filters"], recipe["kernel"], strides=recipe["strides"],
                                       padding=recipe["padding"], activation=recipe["act"],
                                       bias_initializer=bias_init)(inp)
        elif op == "dwconv":
            y = tf.keras.layers.DepthwiseConv2D(recipe["kernel"], strides=recipe["strides"], padding=recipe["padding"],
                                                activation=recipe["act"], bias_initializer=bias_init)(inp)
        elif op in ("avgpool", "maxpool"):
            layer = tf.keras.layers.AveragePooling2D if op == "avgpool" else tf.keras.layers.MaxPooling2D
            y = layer(recipe["kernel"], strides=recipe["strides"], padding=recipe["padding"])(inp)
        elif op == "add":
            other = tf.keras.Input(shape=shape, batch_size=1)
            inputs.append(other)
            y = tf.keras.layers.Add()([inp, other])
            if recipe["act"] == "relu":
                y = tf.keras.layers.ReLU()(y)
        elif op == "softmax":
            y = tf.keras.layers.Softmax()(inp)
        else:
            raise ValueError(op)
        model = tf.keras.Model(inputs, y)
        spans = recipe.get("spans", [2.0] * len(inputs))
        data = [(rng.standard_normal((48, *shape)) * s + rng.uniform(-0.5, 0.5)).astype(np.float32) for s in spans]
        return _convert(model, data, recipe.get("per_channel", True))

    return _cached(f"op-{recipe['op']}-{_key(recipe)}.tflite", make)


# ---- reading the converted operator ----

class Tensor:
    def __init__(self, g, index):
        import tflite

        t = g.sub.Tensors(index)
        self.shape = tuple(t.Shape(j) for j in range(t.ShapeLength()))
        q = t.Quantization()
        self.scales = np.array([q.Scale(j) for j in range(q.ScaleLength())], np.float32) if q else None
        self.zps = np.array([q.ZeroPoint(j) for j in range(q.ZeroPointLength())], np.int64) if q else None
        buf = g.model.Buffers(t.Buffer())
        self.data = buf.DataAsNumpy() if buf.DataLength() else None
        self.type = t.Type()
        self.tflite = tflite

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zp(self) -> int:
        return int(self.zps[0])

    def values(self, dtype):
        return np.frombuffer(self.data.tobytes(), dtype).reshape(self.shape)


class Graph:
    def __init__(self, data: bytes):
        import tflite

        self.model = tflite.Model.GetRootAsModel(data, 0)
        self.sub = self.model.Subgraphs(0)

    def ops(self):
        names = {v: k for k, v in vars(__import__("tflite").BuiltinOperator).items() if not k.startswith("_")}
        for k in range(self.sub.OperatorsLength()):
            op = self.sub.Operators(k)
            oc = self.model.OperatorCodes(op.OpcodeIndex())
            yield names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())], op

    def only(self, name: str):
        found = [op for n, op in self.ops() if n == name]
        others = [n for n, _ in self.ops() if n != name]
        if len(found) != 1 or others:
            raise AssertionError(f"expected one {name}, the converter made {[n for n, _ in self.ops()]}")
        op = found[0]
        ins = [Tensor(self, op.Inputs(j)) if op.Inputs(j) >= 0 else None for j in range(op.InputsLength())]
        return op, ins, Tensor(self, op.Outputs(0))


def _options(op, cls):
    o = cls()
    t = op.BuiltinOptions()
    o.Init(t.Bytes, t.Pos)
    return o


def quantize_multiplier(real: float) -> tuple[int, int]:
    from tinyml_host.reference import quantize_multiplier as qm

    return qm(real)


def activation_range(act: int, scale: float, zp: int) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8: zp + round(f / scale) in float32."""
    import tflite

    def q(f):
        v = float(np.float32(f) / np.float32(scale))
        return zp + int(math.copysign(math.floor(abs(v) + 0.5), v))

    A = tflite.ActivationFunctionType
    if act == A.NONE:
        return -128, 127
    if act == A.RELU:
        return max(-128, q(0.0)), 127
    if act == A.RELU6:
        return max(-128, q(0.0)), min(127, q(6.0))
    raise AssertionError(f"activation {act}")


def _padding(padding: int, in_size: int, filter_size: int, stride: int) -> tuple[int, int]:
    """TFLite's ComputePaddingHeightWidth (dilation 1): output size and leading padding."""
    import tflite

    if padding == tflite.Padding.SAME:
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size - filter_size + stride) // stride
    return out, max((out - 1) * stride + filter_size - in_size, 0) // 2


def conv_layer(data: bytes, depthwise: bool):
    """(window_ops.Conv, input zp) of a CONV_2D or DEPTHWISE_CONV_2D model: weights, bias and
    per-channel multipliers as TFLite's PopulateConvolutionQuantizationParams computes them;
    a conv's bias has the input offset folded in (the .tmdl contract)."""
    import tflite
    from window_ops import Conv

    g = Graph(data)
    op, (x, w, b), y = g.only("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D")
    o = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    if depthwise:
        assert o.DepthMultiplier() == 1
    _, in_h, in_w, in_c = x.shape
    weights = w.values(np.int8)
    if depthwise:
        _, fh, fw, _ = weights.shape
        weights = weights.reshape(fh, fw, in_c)
        out_c = in_c
    else:
        out_c, fh, fw, _ = weights.shape
        weights = weights.reshape(out_c, -1)
    out_h, pad_top = _padding(o.Padding(), in_h, fh, o.StrideH())
    out_w, pad_left = _padding(o.Padding(), in_w, fw, o.StrideW())
    assert y.shape == (1, out_h, out_w, out_c), (y.shape, out_h, out_w)
    bias = b.values(np.int32).astype(np.int64) if b is not None else np.zeros(out_c, np.int64)
    q = [quantize_multiplier(float(np.float64(x.scale) * np.float64(s) / np.float64(y.scale))) for s in w.scales]
    if not depthwise:
        bias = bias - x.zp * weights.astype(np.int64).sum(axis=1)
        assert bias.min() >= -(1 << 31) and bias.max() < (1 << 31)
    act_min, act_max = activation_range(o.FusedActivationFunction(), y.scale, y.zp)
    params = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, filter_h=fh, filter_w=fw,
                  stride_h=o.StrideH(), stride_w=o.StrideW(), pad_top=pad_top, pad_left=pad_left, input_zp=x.zp,
                  n_channels=len(q), act_min=act_min, act_max=act_max, output_zp=y.zp, rounding=0)
    return Conv(params, weights, bias.astype(np.int32), [m for m, _ in q], [s for _, s in q], depthwise)


def pool_params(data: bytes, kind: str) -> dict:
    import tflite

    g = Graph(data)
    op, (x,), y = g.only("AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D")
    assert x.scale == y.scale and x.zp == y.zp
    o = _options(op, tflite.Pool2DOptions)
    _, in_h, in_w, c = x.shape
    out_h, pad_top = _padding(o.Padding(), in_h, o.FilterHeight(), o.StrideH())
    out_w, pad_left = _padding(o.Padding(), in_w, o.FilterWidth(), o.StrideW())
    act_min, act_max = activation_range(o.FusedActivationFunction(), y.scale, y.zp)
    return dict(in_h=in_h, in_w=in_w, channels=c, out_h=out_h, out_w=out_w, filter_h=o.FilterHeight(),
                filter_w=o.FilterWidth(), stride_h=o.StrideH(), stride_w=o.StrideW(), pad_top=pad_top,
                pad_left=pad_left, act_min=act_min, act_max=act_max)


def add_params(data: bytes) -> dict:
    """TFLite Micro's int8 ADD prepare: left shift 20, each input's scale over twice the larger,
    that over 2^20 times the output's scale."""
    import tflite

    g = Graph(data)
    op, (a, b), y = g.only("ADD")
    o = _options(op, tflite.AddOptions) if op.BuiltinOptions() is not None else None
    act = o.FusedActivationFunction() if o else tflite.ActivationFunctionType.NONE
    twice_max = 2 * float(max(a.scales[0], b.scales[0]))
    m1, s1 = quantize_multiplier(float(a.scales[0]) / twice_max)
    m2, s2 = quantize_multiplier(float(b.scales[0]) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << 20) * float(y.scales[0])))
    act_min, act_max = activation_range(act, y.scale, y.zp)
    return dict(size=int(np.prod(y.shape)), left_shift=20, input1_offset=-a.zp, input1_multiplier=m1,
                input1_shift=s1, input2_offset=-b.zp, input2_multiplier=m2, input2_shift=s2, output_multiplier=mo,
                output_shift=so, output_zp=y.zp, act_min=act_min, act_max=act_max, rounding=0)


def add_input_order(data: bytes) -> list[int]:
    """For ADD's first and second operand, its position among the model's inputs (the converter
    may list them the other way round)."""
    g = Graph(data)
    op = next(op for name, op in g.ops() if name == "ADD")
    graph_inputs = [g.sub.Inputs(j) for j in range(g.sub.InputsLength())]
    return [graph_inputs.index(op.Inputs(j)) for j in range(2)]


def softmax_params(data: bytes) -> dict:
    """TFLite's PreprocessSoftmaxScaling (5 integer bits for the scaled differences) and
    CalculateInputRadius, for the model's beta and input scale."""
    import tflite

    g = Graph(data)
    op, (x,), y = g.only("SOFTMAX")
    assert abs(y.scale - 1 / 256) < 1e-9 and y.zp == -128
    beta = _options(op, tflite.SoftmaxOptions).Beta()
    integer_bits = 5
    real = min(float(beta) * float(x.scales[0]) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    mult, left = quantize_multiplier(real)
    assert left >= 0
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left))
    return dict(rows=int(np.prod(x.shape[:-1])), depth=x.shape[-1], input_multiplier=mult, input_left_shift=left,
                diff_min=-radius)


def run_tflm(data: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    """TFLite Micro's interpreter on int8 inputs (each shaped as the model's input)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data)
    for k, a in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(a, np.int8).reshape(interp.get_input_details(k)["shape"]), k)
    interp.invoke()
    return np.array(interp.get_output(0)).reshape(-1)
