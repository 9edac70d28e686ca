"""SOFTMAX on the board: every backend bit-exact with TFLite Micro's int8 softmax (its own
interpreter, the tflite-micro package, on models the TFLite converter made), 0 bytes per
invoke(), and the pure-Python kernel free of long ints on a 32-bit port (run in CPython on
viper_twin's small ints, every value range-checked).

The SOFTMAX op's constants are computed here from the .tflite's input scale the way TFLite
prepares them (PreprocessSoftmaxScaling, CalculateInputRadius), independently of export.py."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import models
import viper_twin
from mpy import ALLOCATED, OUTPUTS, lines_with, run
from tinyml_host import golden, reference, tmdl

# (row length, spread of the representative data): input scales from ~0.002 to ~0.8
CASES = [(2, 0.3), (10, 4.0), (12, 1.0), (12, 100.0), (37, 0.5), (200, 20.0)]


def _softmax_tflite(n: int, spread: float) -> bytes:
    def make():
        import tensorflow as tf
        from tinyml_host.train import quantize_int8

        model = tf.keras.Sequential([tf.keras.Input(shape=(n,), batch_size=1), tf.keras.layers.Softmax()])
        rep = np.random.default_rng(n).uniform(-spread, spread, (64, n)).astype(np.float32)
        return quantize_int8(model, rep)

    return models._cached(f"softmax{n}-{spread:g}.tflite", make)


def softmax_params(input_scale: float, beta: float = 1.0) -> list[int]:
    """TFLite's SOFTMAX preparation for int8: input multiplier and left shift of
    beta * scale * 2**26 (5 integer bits), and diff_min = -floor(31 * 2**26 / 2**left_shift)."""
    real = min(beta * input_scale * (1 << 26), (1 << 31) - 1.0)
    mult, shift = reference.quantize_multiplier(real)
    radius = math.floor(31.0 * (1 << 26) / (1 << shift))
    return [mult, shift, -radius, 0]


def _model(data: bytes) -> tmdl.TmdlModel:
    from ai_edge_litert import interpreter as litert

    interp = litert.Interpreter(model_content=data)
    (in_scale, in_zp), n = interp.get_input_details()[0]["quantization"], interp.get_input_details()[0]["shape"][-1]
    out_scale, out_zp = interp.get_output_details()[0]["quantization"]
    assert (out_scale, out_zp) == (1 / 256, -128)
    tensors = [tmdl.Tensor((1, 1, int(n)), int(in_zp)), tmdl.Tensor((1, 1, int(n)), -128)]
    op = tmdl.Op(tmdl.OP_SOFTMAX, (0,), 1, params=np.array(softmax_params(float(in_scale)), np.int32))
    model = tmdl.TmdlModel([op], tensors, float(in_scale), int(in_zp), out_scale, out_zp)
    model.arena_bytes = tmdl.plan_arena(model.ops, model.tensors)
    return model


def _inputs(rng, n: int, rows: int = 40) -> np.ndarray:
    """Random rows, and the edges: all equal, one high value, the int8 extremes, near ties."""
    x = [rng.integers(-128, 128, (rows, n)),
         np.full((1, n), -128), np.full((1, n), 127), np.eye(1, n, 0) * 255 - 128,
         rng.integers(120, 128, (4, n)), rng.integers(-128, -120, (4, n))]
    return np.concatenate(x).astype(np.int8)


@pytest.fixture(scope="module")
def cases():
    out = []
    for n, spread in CASES:
        data = _softmax_tflite(n, spread)
        model = _model(data)
        x = _inputs(np.random.default_rng(n), n)
        out.append((f"softmax{n}_{spread:g}.tmdl", model, x, golden.run_tflm(data, x)))
    return out


def test_params_match_what_the_converter_expects(cases):
    """The scales differ enough to exercise left shifts from small to large."""
    shifts = sorted(int(m.ops[0].params[1]) for _, m, _, _ in cases)
    assert shifts[0] < shifts[-1]


RUN = OUTPUTS + ALLOCATED + """
import gc, tinyml
x = [int(v) for v in open('inputs.txt').read().split()]
name = open('models.txt').read().strip()


for backend in tinyml.available_backends():
    for stream in (False, True):
        m = tinyml.load(name, backend, stream=stream)
        out = outputs(m, x)
        print('OUT', backend, stream, allocated(m.invoke, 50), ' '.join(str(v) for v in out))
        m.close()
for backend in tinyml.available_backends():
    print('INFO', backend, repr(tinyml.load(name, backend).info()))
"""


def test_every_backend_bit_exact_with_tflite_micro_no_allocation(tmp_path, cases):
    for name, model, x, want in cases:
        (tmp_path / name).write_bytes(tmdl.encode(model))
        (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x.reshape(-1)))
        (tmp_path / "models.txt").write_text(name)
        out = run(RUN, cwd=tmp_path)
        rows = [line.split() for line in lines_with("OUT", out)]
        assert {r[0] for r in rows} >= {"python", "viper"}
        for backend, stream, alloc, *values in rows:
            assert [int(v) for v in values] == want.reshape(-1).tolist(), (name, backend, stream)
            assert alloc == "0", (name, backend, stream)
    info = {line.split()[0]: line for line in lines_with("INFO", out)}
    # viper lends itself the pure-Python SOFTMAX, and says so; native runs it in C (_tinyml ABI 4)
    assert "softmax" in info["viper"] and "pure-Python kernel" in info["viper"]
    assert "native" not in info or "pure-Python kernel" not in info["native"]


def test_twin_small_ints_bit_exact(cases):
    """The kernel's own source on 32-bit small ints: no value ever leaves [-2**30, 2**30)."""
    ns = viper_twin.load_python()
    A = viper_twin.Array
    for name, model, x, want in cases:
        n = x.shape[1]
        op = SimpleNamespace(params=A("i", [int(v) for v in model.ops[0].params]), out_h=1, out_w=1, out_c=n,
                             act_min=-128, act_max=127)
        plan = ns["prepare_softmax"](op)
        for row, expected in zip(x, want):
            out = A("b", [0] * n)
            ns["softmax"](plan, A("b", row.tolist()), out)
            assert out.values == expected.tolist(), name


def test_twin_every_left_shift_and_diff_min():
    """prepare_softmax over every left shift and multipliers at the edges (the exp table is
    every int8 difference), and rows of 1 to 4095 values: small ints throughout, and the
    rows the reference would call exact agree with a float softmax to within 1/256."""
    ns = viper_twin.load_python()
    A = viper_twin.Array
    rng = np.random.default_rng(4)
    for left in range(0, 32):
        for mult in (1 << 30, (1 << 31) - 1, 1518500250):
            radius = math.floor(31.0 * (1 << 26) / (1 << left))
            for diff_min in (-radius, 0, -(1 << 31)):
                op = SimpleNamespace(params=A("i", [mult, left, diff_min, 0]), out_h=1, out_w=2, out_c=7,
                                     act_min=-128, act_max=127)
                plan = ns["prepare_softmax"](op)
                x = rng.integers(-128, 128, 14)
                out = A("b", [0] * 14)
                ns["softmax"](plan, A("b", x.tolist()), out)
    for n in (1, 4095):
        op = SimpleNamespace(params=A("i", softmax_params(0.1)), out_h=1, out_w=1, out_c=n, act_min=-128, act_max=127)
        plan = ns["prepare_softmax"](op)
        out = A("b", [0] * n)
        ns["softmax"](plan, A("b", [127] * n), out)
        expected = 1.0 / n
        assert abs((out.values[0] + 128) / 256 - expected) <= 1 / 256 + 1e-9
