"""Read a full-int8 TFLite flatbuffer (with the `tflite` package) and build a .tmdl model.

Supported graph: a chain of FULLY_CONNECTED (fused NONE/RELU/RELU6/RELU_N1_TO_1) and
RESHAPE ops, optionally QUANTIZE first, DEQUANTIZE last and SOFTMAX last (SOFTMAX runs
in float on the device, after dequantization). Anything else is refused by name.
"""

from __future__ import annotations

import math
import re
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

    def quant(self, index: int, where: str, role: str, per_channel: bool = False):
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
        if n > 1 and q.QuantizedDimension() != 0:
            raise TinymlError(f"{what} is quantized along dimension {q.QuantizedDimension()}; "
                              "tinyml needs per-channel scales along the outputs (dimension 0)")
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


def _fully_connected(g: _Graph, op, index: int, single_rounding: bool):
    """Return the layer and its (input scale, input zp, output scale, output zp)."""
    where = f"FULLY_CONNECTED at operator index {index}"
    (x_i, w_i, *rest), (y_i,) = g.op_tensors(op, where, (2, 3))
    b_i = rest[0] if rest else -1
    for name, t in (("input", x_i), ("weights", w_i), ("output", y_i)):
        if g.type_name(t) != "INT8":
            raise TinymlError(f"{where}: {name} {g.label(t)} is {g.type_name(t)}, tinyml needs a full-int8 model "
                              "(TFLiteConverter with a representative dataset and int8 ops)")
    x_scale, x_zp = g.quant(x_i, where, "input")
    w_scale, w_zp = g.quant(w_i, where, "weights", per_channel=True)
    y_scale, y_zp = g.quant(y_i, where, "output")
    for name, t, scale in (("input", x_i, x_scale), ("weights", w_i, w_scale), ("output", y_i, y_scale)):
        if scale is None:
            raise TinymlError(f"{where}: {name} {g.label(t)} has no quantization parameters")
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
    if len(w_scale) not in (1, n_out):
        raise TinymlError(f"{where}: weights {g.label(w_i)} have {len(w_scale)} scales for {n_out} outputs")
    if b_i >= 0:
        if g.type_name(b_i) != "INT32":
            raise TinymlError(f"{where}: bias {g.label(b_i)} is {g.type_name(b_i)}, expected INT32")
        bias = g.data(b_i, np.int32, where, "bias").reshape(-1).astype(np.int64)
        if len(bias) != n_out:
            raise TinymlError(f"{where}: bias {g.label(b_i)} has {len(bias)} values for {n_out} outputs")
    else:
        bias = np.zeros(n_out, np.int64)
    activation, weights_format = _fc_options(op, where)
    if weights_format != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise TinymlError(f"{where}: shuffled weights format is not supported")
    in_scale, out_scale = float(x_scale[0]), float(y_scale[0])
    in_zp, out_zp = int(x_zp[0]), int(y_zp[0])
    mults, shifts = [], []
    for s in w_scale:
        # Same expression and order as TFLite: double(input) * double(filter) / double(output)
        real = in_scale * float(s) / out_scale
        if not math.isfinite(real):
            raise TinymlError(f"{where}: input scale x weight scale / output scale = {real}")
        m, sh = reference.quantize_multiplier(real, single_rounding)
        if not -31 <= sh <= 30:
            raise TinymlError(f"{where}: input scale x weight scale / output scale = {real:g} is too large "
                              "for an int8 layer (needs a left shift over 30)")
        mults.append(m)
        shifts.append(sh)
    act_min, act_max = _activation_range(activation, out_scale, out_zp, where)
    folded = bias - in_zp * weights.astype(np.int64).sum(axis=1)
    if folded.min() < reference.INT32_MIN or folded.max() > reference.INT32_MAX:
        raise TinymlError(f"{where}: bias with input offset folded in overflows int32")
    layer = tmdl.Layer(weights.copy(), folded.astype(np.int32), np.array(mults, np.int32),
                       np.array(shifts, np.int8), act_min, act_max, out_zp)
    return layer, (in_scale, in_zp, out_scale, out_zp)


def convert(data: bytes, rounding: str = "tflm") -> tmdl.TmdlModel:
    """Build a TmdlModel (without test vectors) from .tflite bytes.

    Checked in three steps, each before the next trusts the bytes: LiteRT's flatbuffer
    verifier (structure), this reader (what tinyml needs: one chain of supported ops, shapes,
    types, quantization), then LiteRT preparing every op as its kernels would."""
    if rounding not in tmdl.ROUNDING:
        raise TinymlError(f"unknown rounding {rounding!r}; use 'tflm' or 'litert'")
    if data[4:8] != _TFLITE_IDENTIFIER:
        raise TinymlError(f"not a TFLite model: bytes 4..8 are {bytes(data[4:8])!r}, a .tflite has "
                          f"{_TFLITE_IDENTIFIER!r} there" + (f" (the file is only {len(data)} bytes)" if len(data) < 8 else ""))
    interpreter = _interpreter(data)
    g = _Graph(data)
    single = rounding == "litert"
    layers, current = [], g.input
    float_input = float_output = softmax = False
    in_q = out_q = None
    for i in range(g.n_ops):
        op = g.sub.Operators(i)
        code = g.opcode(op, f"operator index {i}")
        name = _OP_NAMES.get(code, f"builtin code {code}")
        if code == tflite.BuiltinOperator.CUSTOM:
            custom = g.model.OperatorCodes(op.OpcodeIndex()).CustomCode() or b""
            name = "CUSTOM " + custom.decode(errors="replace")
        where = f"{name} at operator index {i}"
        last = i == g.n_ops - 1
        if code == _FC:
            if softmax:
                raise TinymlError(f"{where} after SOFTMAX; SOFTMAX must be last")
            ins, outs = g.op_tensors(op, where, (2, 3))
        elif code in (_RESHAPE, _QUANTIZE, _DEQUANTIZE, _SOFTMAX):
            ins, outs = g.op_tensors(op, where, (2, 2) if code == _RESHAPE else (1, 1))
        else:
            ins = outs = None
        if ins is not None and ins[0] != current:
            raise TinymlError(f"{where} does not take the previous op's output; "
                              "tinyml needs a single chain of layers")
        if code == _FC:
            layer, (in_scale, in_zp, out_scale, out_zp) = _fully_connected(g, op, i, single)
            if out_q is not None and out_q != (in_scale, in_zp):
                raise TinymlError(f"{where}: input quantization differs from the previous layer's output")
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
        elif code == _SOFTMAX and (last or (i == g.n_ops - 2 and
                                            g.opcode(g.sub.Operators(i + 1), f"operator index {i + 1}") == _DEQUANTIZE)):
            softmax = True
        else:
            position = {_QUANTIZE: " (only as the first op, from float)",
                        _DEQUANTIZE: " (only as the last op)", _SOFTMAX: " (only as the last op)"}.get(code, "")
            raise TinymlError(f"unsupported TFLite op {name} at operator index {i}{position}; "
                              f"tinyml supports {SUPPORTED}")
        if code != _FC and g.elements(outs[0], where) != g.elements(current, where):
            raise TinymlError(f"{where}: output {g.label(outs[0])} has shape {list(g.shape(outs[0], where))}, "
                              f"its input {g.label(current)} {list(g.shape(current, where))}")
        current = outs[0]
    if not layers:
        raise TinymlError("model has no FULLY_CONNECTED layer")
    if current != g.output:
        raise TinymlError(f"the model's output is {g.label(g.output)}, but the chain of operators ends at "
                          f"{g.label(current)}")
    try:
        interpreter.allocate_tensors()
    except Exception as e:  # noqa: BLE001 - RuntimeError or ValueError from a kernel's Prepare
        raise TinymlError(f"LiteRT cannot prepare the model: {_one_line(e)}") from e
    return tmdl.TmdlModel(layers, in_q[0], in_q[1], out_q[0], out_q[1], rounding=rounding,
                          softmax=softmax, float_input=float_input, float_output=float_output)


def add_vectors(model: tmdl.TmdlModel, tflite_bytes: bytes, count: int = 16, seed: int = 0) -> None:
    """Attach golden vectors: int8 inputs and the TFLite interpreter's int8 outputs.

    When the graph's output is not the last layer's int8 tensor (softmax or float edges),
    the interpreter's output is not comparable byte for byte, so the outputs come from the
    numpy reference, which the test suite holds bit-exact with the same interpreter.
    Otherwise the interpreter's outputs must equal the reference's: a model that passed every
    check but still computes something else (a field tinyml does not model) is refused here
    rather than shipped with vectors the board would fail.
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
    if not (model.softmax or model.float_input or model.float_output):
        interp = {"tflm": "TFLite Micro", "litert": "LiteRT"}[model.rounding]
        try:
            golden_y = golden.run(tflite_bytes, x, model.rounding)
        except ImportError as e:
            raise TinymlError(f"golden vectors for --rounding {model.rounding} need {interp}'s Python package "
                              f"({e.name}): pip install {golden.PACKAGES[model.rounding]}, or --vectors 0") from e
        except Exception as e:  # noqa: BLE001 - the interpreters raise RuntimeError, ValueError, ...
            raise TinymlError(f"{interp} cannot run the model to make golden vectors: {_one_line(e)}") from e
        golden_y = np.asarray(golden_y).reshape(count, -1)
        if golden_y.shape != y.shape or golden_y.dtype != np.int8:
            raise TinymlError(f"{interp} gives {golden_y.shape[1]} {golden_y.dtype} outputs per input; "
                              f"the model's layers give {model.output_size} int8")
        differ = np.flatnonzero((golden_y != y).any(axis=1))
        if len(differ):
            k = int(differ[0])
            raise TinymlError(f"{interp} and tinyml's reference disagree on {len(differ)} of {count} golden "
                              f"vectors (first: input {x[k].tolist()[:8]}, {interp} {golden_y[k].tolist()[:8]}, "
                              f"reference {y[k].tolist()[:8]}); the model uses something tinyml does not "
                              "reproduce bit-exactly")
        y = golden_y
    model.vectors_in, model.vectors_out = x, y.astype(np.int8)


def export(tflite_path, out_path, rounding: str = "tflm", vectors: int = 16) -> tmdl.TmdlModel:
    """Read, check and convert a .tflite, attach golden vectors, write the .tmdl atomically.
    Every problem with the input is a TinymlError that starts with the file's name."""
    data = Path(tflite_path).read_bytes()
    try:
        model = convert(data, rounding)
        add_vectors(model, data, vectors)
    except TinymlError as e:
        raise TinymlError(f"{tflite_path}: {e}") from e
    out = Path(out_path)
    if out.is_dir():
        raise TinymlError(f"{out} is a folder; -o names the .tmdl file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(tmdl.encode(model))
    tmp.replace(out)
    return model
