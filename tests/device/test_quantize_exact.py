"""Model.quantize() gives TFLite's own int8 on every float a VM may have (issue 15).

Golden values: TFLite's QUANTIZE op, run by the LiteRT interpreter's reference kernels and by
TFLite Micro, which must agree (the float-input AD01 model in ../shared/models, its input
QUANTIZE's scale and zero point rewritten to each held model's),
on inputs at and around every rounding tie of each held model's input scale: every float32
within 4 ulps of each (k + 0.5) * scale, and the 30-bit floats within 3 steps of each, in
both of CircuitPython's storages: a float kept in the object word loses its two lowest mantissa
bits, which read back as zero up to CircuitPython 10.1 and as a copy of the two bits above them
from 10.2 on (py/obj.h, mp_obj_float_get; seen on its unix port built from source). Checked
three ways:
- tinyml.quant in CPython, handed each input as the VM would hold it: a double (also doubles
  between float32 values, which a VM rounds to nearest float32 as TFLite's caller would), a
  float32, and a 30-bit float of either storage, emulated as a float that stores every
  operation's result that way;
- the old float arithmetic under the same 30-bit emulation, which must disagree near ties
  (else the emulation would not be showing anything);
- Model.quantize in the micropython binary (doubles), 0 bytes allocated per call.
"""

import importlib.util
import math
import struct
from pathlib import Path

import numpy as np
import pytest

import models
from mpy import lines_with, run

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "models"
FLOATIO = SHARED / "ad01_int8_floatio.tflite"

spec = importlib.util.spec_from_file_location("quant", ROOT / "device" / "lib" / "tinyml" / "quant.py")
quant = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quant)


def f32_bits(x) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def held_bits(bits: int, refill: bool) -> int:
    """The float32 bits a CircuitPython float keeps: the two lowest dropped, and on reading
    zero (to 10.1) or refilled with a copy of the two bits above them (10.2 on)."""
    bits &= ~3
    return bits | (bits >> 2) & 3 if refill else bits


class Float30(float):
    """A CircuitPython float as its VM stores it (up to 10.1): float32 with the two lowest
    mantissa bits dropped (truncated) after every operation."""

    refill = False

    def __new__(cls, value):
        return float.__new__(cls, from_bits(held_bits(f32_bits(value), cls.refill)))

    def _op(name):
        def op(self, other):
            return type(self)(getattr(float(self), name)(float(other)))
        return op

    __add__, __radd__, __sub__, __rsub__ = _op("__add__"), _op("__radd__"), _op("__sub__"), _op("__rsub__")
    __mul__, __rmul__, __truediv__, __rtruediv__ = _op("__mul__"), _op("__rmul__"), _op("__truediv__"), _op("__rtruediv__")

    def __neg__(self):
        return type(self)(-float(self))


class Float30Refilled(Float30):
    """The same from CircuitPython 10.2 on: the two dropped bits read back as the two above them."""

    refill = True


def held_scales():
    """(name, input scale as float32, zero point) of every held model."""
    import tflite

    out = []
    blobs = [("sine", models.sine_tflite())] + [(p.name, p.read_bytes()) for p in sorted(SHARED.glob("*.tflite"))]
    for name, blob in blobs:
        g = tflite.Model.GetRootAsModel(blob, 0).Subgraphs(0)
        t = g.Tensors(g.Inputs(0))
        if t.Type() != tflite.TensorType.INT8:  # float input: its QUANTIZE's output
            for k in range(g.OperatorsLength()):
                op = g.Operators(k)
                if op.Inputs(0) == g.Inputs(0):
                    t = g.Tensors(op.Outputs(0))
                    break
        q = t.Quantization()
        out.append((name, np.float32(q.Scale(0)), int(q.ZeroPoint(0))))
    return out


def tie_inputs(scale, zero_point):
    """Float32 values within 4 ulps of every tie (k + 0.5) * scale an int8 output can meet,
    and 30-bit values (both storages) within 3 steps of each."""
    values = set()
    for k in range(-129 - zero_point, 128 - zero_point):
        tie = f32_bits(np.float32((k + 0.5) * float(scale)))
        for d in range(-4, 5):
            values.add(from_bits(tie + d if tie < 1 << 31 else tie - d))
            values.add(from_bits((tie & ~3) + 4 * d))
            values.add(from_bits(held_bits((tie & ~3) + 4 * d, refill=True)))
    return sorted(v for v in values if math.isfinite(v))


class TflmQuantize:
    """TFLite Micro's QUANTIZE on the same model, its subgraph's output redirected to the
    QUANTIZE's output tensor (TFLM keeps no intermediate tensors)."""

    def __init__(self, litert: "TfliteQuantize"):
        import tflite
        from flatbuf_map import tflite_map

        self.litert = litert
        g = tflite.Model.GetRootAsModel(litert.blob, 0).Subgraphs(0)
        outputs = dict((name, (a, b)) for name, a, b in tflite_map(bytes(litert.blob)).sections)["model.2[0].2"]
        assert g.OutputsLength() == 1 and outputs[1] - outputs[0] == 8
        self.outputs_at = outputs[0] + 4

    def __call__(self, scale, zero_point, values):
        from tflite_micro.python.tflite_micro import runtime

        blob = self.litert.blob
        struct.pack_into("<f", blob, self.litert.scale_at, scale)
        struct.pack_into("<q", blob, self.litert.zp_at, zero_point)
        struct.pack_into("<i", blob, self.outputs_at, self.litert.out_index)
        interp = runtime.Interpreter.from_bytes(bytes(blob))
        n = self.litert.n_in
        out = []
        values = np.asarray(values, np.float32)
        for start in range(0, len(values), n):
            chunk = np.zeros(n, np.float32)
            part = values[start:start + n]
            chunk[:len(part)] = part
            interp.set_input(chunk.reshape(1, -1), 0)
            interp.invoke()
            out.extend(np.array(interp.get_output(0)).reshape(-1)[:len(part)].tolist())
        return out


class TfliteQuantize:
    """TFLite's QUANTIZE on the float-input AD01 model, its input scale and zero point rewritten."""

    def __init__(self):
        import tflite
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.blob = bytearray(FLOATIO.read_bytes())
        g = tflite.Model.GetRootAsModel(self.blob, 0).Subgraphs(0)
        op = next(g.Operators(k) for k in range(g.OperatorsLength()) if g.Operators(k).Inputs(0) == g.Inputs(0))
        self.out_index = op.Outputs(0)
        q = g.Tensors(self.out_index).Quantization()._tab
        self.scale_at = q.Vector(q.Offset(8))   # QuantizationParameters.scale: float32 vector
        self.zp_at = q.Vector(q.Offset(10))     # zero_point: int64 vector
        self.n_in = int(np.prod(g.Tensors(g.Inputs(0)).ShapeAsNumpy()))
        self.Interpreter = Interpreter
        # TFLite's reference kernels, as export makes golden vectors (TFLM runs the same
        # QUANTIZE). LiteRT's default, optimized kernels (and XNNPACK) round differently at
        # exact ties (they multiply by 1 / scale): see the report in the module docstring
        self.resolver = OpResolverType.BUILTIN_REF

    def __call__(self, scale, zero_point, values):
        struct.pack_into("<f", self.blob, self.scale_at, scale)
        struct.pack_into("<q", self.blob, self.zp_at, zero_point)
        it = self.Interpreter(model_content=bytes(self.blob), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=self.resolver)
        it.allocate_tensors()
        inp = it.get_input_details()[0]["index"]
        out = []
        values = np.asarray(values, np.float32)
        for start in range(0, len(values), self.n_in):
            chunk = np.zeros(self.n_in, np.float32)
            part = values[start:start + self.n_in]
            chunk[:len(part)] = part
            it.set_tensor(inp, chunk.reshape(it.get_input_details()[0]["shape"]))
            it.invoke()
            out.extend(it.get_tensor(self.out_index).reshape(-1)[:len(part)].tolist())
        return out


def old_quantize(value, scale, zero_point):
    """The float arithmetic quantize() used before (array('f') round trips)."""
    v = type(value)(float(np.float32(value)))
    v = type(value)(float(np.float32(v / scale)))
    q = (int(v + 0.5) if v >= 0 else -int(0.5 - v)) + zero_point
    return -128 if q < -128 else 127 if q > 127 else q


@pytest.fixture(scope="module")
def golden():
    if not FLOATIO.exists():
        pytest.skip(f"{FLOATIO} is absent: TFLite's QUANTIZE is run from it (the real models are not in the repo)")
    tfl = TfliteQuantize()
    cases = []
    for name, scale, zp in held_scales():
        values = tie_inputs(scale, zp)
        want = tfl(scale, zp, values)
        assert TflmQuantize(TfliteQuantize())(scale, zp, values) == want, f"{name}: TFLM and TFLite's reference differ"
        cases.append((name, scale, zp, values, want))
    return cases


def test_exact_on_double_float32_and_30_bit_floats(golden):
    for name, scale, zp, values, want in golden:
        halves = struct.unpack("<HH", struct.pack("<f", scale))
        high, low = quant.thresholds(halves, zp)
        scratch = bytearray(4)
        for v, w in zip(values, want):
            assert quant.quantize(v, scratch, high, low, zp) == w, (name, v, w)  # double and float32 (v is on the grid)
            for storage in (Float30, Float30Refilled):
                if held_bits(f32_bits(v), storage.refill) == f32_bits(v):  # a value this storage can hold
                    assert quant.quantize(storage(v), scratch, high, low, zp) == w, (name, storage.__name__, v, w)
        # doubles between float32 values: a VM rounds them to nearest float32, as TFLite's caller does
        mids = [(a + b) / 2 + (b - a) / 8 for a, b in zip(values, values[1:]) if b - a < 1e-3]
        want_mid = TfliteQuantize()(scale, zp, [float(np.float32(m)) for m in mids]) if mids else []
        assert [quant.quantize(m, scratch, high, low, zp) for m in mids] == want_mid, name


def test_the_30_bit_emulation_shows_the_old_error(golden):
    """The old float arithmetic, under the 30-bit emulation, gets ties wrong (as issue 15 measured
    on CircuitPython's VM); exact on doubles, which is what the emulation must not change."""
    wrong_30 = wrong_double = total = 0
    for name, scale, zp, values, want in golden:
        s30 = Float30(float(scale))
        for v, w in zip(values, want):
            if f32_bits(v) & 3 == 0:
                total += 1
                wrong_30 += old_quantize(Float30(v), s30, zp) != w
                wrong_double += old_quantize(v, float(scale), zp) != w
    assert wrong_double == 0 and wrong_30 > total // 50, (wrong_double, wrong_30, total)


QUANTIZE_IN_MICROPYTHON = """
import gc, struct, tinyml
m = tinyml.load('model.tmdl', 'python')
raw = open('inputs.bin', 'rb').read()
n = len(raw) // 4
out = bytearray(n)
values = [struct.unpack_from('<f', raw, 4 * i)[0] for i in range(n)]
def quantize_all(q):
    for i in range(n):
        out[i] = q(values[i]) & 0xFF
def allocated(q):
    quantize_all(q)
    gc.collect()
    before = gc.mem_alloc()
    quantize_all(q)
    return gc.mem_alloc() - before
def nothing(v):
    return 0
q = m.quantize  # a bound method is an object: made once, outside the measurement
# what the loop itself allocates (a few bytes here, whatever it runs) is measured with nothing()
loop_only = allocated(nothing)
print('ALLOC', allocated(q) - loop_only)  # out keeps q's answers
print('Q', out.hex())
"""


def test_model_quantize_in_micropython(golden, tmp_path):
    from tinyml_host import export, tmdl

    blobs = {"sine": models.sine_tflite(), **{p.name: p.read_bytes() for p in SHARED.glob("*.tflite")}}
    for name, scale, zp, values, want in golden:
        model = export.convert(blobs[name])
        assert np.float32(model.input_scale) == scale and model.input_zp == zp, name
        (tmp_path / "model.tmdl").write_bytes(tmdl.encode(model))
        (tmp_path / "inputs.bin").write_bytes(np.asarray(values, "<f4").tobytes())
        out = run(QUANTIZE_IN_MICROPYTHON, cwd=tmp_path)
        assert lines_with("ALLOC", out) == ["0"], (name, out[-500:])
        got = np.frombuffer(bytes.fromhex(lines_with("Q", out)[0]), np.int8).tolist()
        assert got == want, (name, [(v, g, w) for v, g, w in zip(values, got, want) if g != w][:5])
