"""tinyml._python (the pure-Python backend, CircuitPython's): bit-exact with the numpy
reference for both roundings, and allocation-free on 32-bit ports, where an int outside
[-2**30, 2**30 - 1] is a heap-allocated long int.

- In CPython, viper_twin.load_python() runs _python.py's own source with every literal,
  array read and operation result a SmallInt that raises outside that range, over every
  shift, multiplier and accumulator/bias edge plus random and near-tie cases (~330k),
  through pieces() and requantize(), per channel and per tensor, comparing with
  reference.requantize; mac() on 65535-wide rows at the int8 extremes; whole random layers.
- In the micropython binary, the real functions on the same kinds of cases with zero points
  and clamps, and model.invoke on the python backend allocating nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import viper_twin
from mpy import allocations_per_model, lines_with, run
from tinyml_host import reference, tmdl


I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
S_MIN, S_MAX = -(1 << 30), (1 << 30) - 1  # MicroPython's small ints on a 32-bit port
SHIFTS = range(-31, 31)
ROUNDINGS = ("tflm", "litert")
WIDE = 255  # requantize() allows |act - zp| <= 255; a 16-bit output shows r in [-255, 255]

# x = wrap32(acc + bias) at the int32 edges and at the 15- and 16-bit piece boundaries
X_EDGES = sorted({v for b in (0, 1, 2, 14, 15, 16, 17, 29, 30, 31)
                  for v in (1 << b, (1 << b) - 1, (1 << b) + 1, -(1 << b), -(1 << b) + 1, -(1 << b) - 1)
                  if I32_MIN <= v <= I32_MAX} | {0, I32_MIN, I32_MAX, 0x7FFF8000, -0x7FFF8000, 0x12345678})
# accumulators mac() can produce: |acc| <= 65535 * 2**14 = 2**30 - 2**14; the small-int edges too
ACC_EDGES = [0, 1, -1, 0x7FFF, 0x8000, -0x8000, (1 << 30) - (1 << 14), -(1 << 30) + (1 << 14), S_MAX, S_MIN]
M_EDGES = [0, 1, 2, 0x3FFF, 0x4000, 0x7FFF, 0x8000, 0xBFFF, 0xC000, 0xFFFF, 0x10000, 0x1FFFC000, 0x20000000,
           0x3FFFFFFF, 1 << 30, (1 << 30) + 1, 0x5FFFBFFF, 0x7FFF0000, 0x7FFF8000, 0x7FFFFFFE, I32_MAX]
CHUNK = 20_000
DIRECT_CHUNK = 4_000  # outputs per call in the micropython binary (its heap holds a few of them)


def _wrap32(v):
    return ((np.asarray(v, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _expected(acc, bias, mult, shift, rounding, zp=0, act=(-WIDE, WIDE)):
    """reference.requantize of the int32-wrapped acc + bias, plus zp, clamped."""
    v = _wrap32(np.asarray(acc, np.int64) + np.asarray(bias, np.int64))
    r = reference.requantize(v, np.asarray(mult, np.int64), np.asarray(shift, np.int64), rounding)
    return np.clip(r + zp, act[0], act[1])


def _split(rng, x):
    """Accumulators (small ints, edges half the time) and int32 biases that sum to x, wrapping."""
    x = np.asarray(x, np.int64)
    acc = np.where(rng.random(len(x)) < 0.5, rng.choice(ACC_EDGES, len(x)),
                   rng.integers(S_MIN, S_MAX + 1, len(x)) >> rng.integers(0, 31, len(x)))
    acc = np.where(rng.random(len(x)) < 0.2, 0, acc)  # bias = x
    return acc.astype(np.int64), _wrap32(x - acc)


def _edge_cases(rng):
    """Every shift x every multiplier edge x every x edge; plus random x and m per shift."""
    x, mult, shift = [], [], []
    edges = np.array(X_EDGES, np.int64)
    for s in SHIFTS:
        for m in M_EDGES + [int(v) for v in rng.integers(1 << 30, 1 << 31, 6)] + [int(rng.integers(0, 1 << 31))]:
            x.append(edges)
            mult.append(np.full(len(edges), m))
            shift.append(np.full(len(edges), s))
        n = 1000
        x.append(rng.integers(I32_MIN, I32_MAX + 1, n) >> rng.integers(0, 32, n))  # small and large alike
        mult.append(np.where(rng.random(n) < 0.8, rng.integers(1 << 30, 1 << 31, n), rng.integers(0, 1 << 31, n)))
        shift.append(np.full(n, s))
    x = np.concatenate(x)
    acc, bias = _split(rng, x)
    return acc, bias, np.concatenate(mult).astype(np.int64), np.concatenate(shift).astype(np.int64)


def _near_window_cases(rng, n_per_shift=40):
    """x whose result lands in [-300, 300], on and beside the rounding ties."""
    x, mult, shift = [], [], []
    for s in SHIFTS:
        m = rng.integers(1 << 30, 1 << 31, n_per_shift)
        k = rng.integers(-300, 301, n_per_shift) + rng.choice([0.0, 0.5, -0.5, 0.25], n_per_shift)
        a = np.clip(np.round(k * 2.0 ** (31 - s) / m), I32_MIN + 2, I32_MAX - 2).astype(np.int64)
        for d in (-2, -1, 0, 1, 2):
            x.append(a + d)
            mult.append(m)
            shift.append(np.full(n_per_shift, s))
    acc, bias = _split(rng, np.concatenate(x))
    return acc, bias, np.concatenate(mult).astype(np.int64), np.concatenate(shift).astype(np.int64)


def _twin_requantize(ns, acc, bias, mult, shift, rounding, zp=0, act=(-WIDE, WIDE)):
    """pieces() + requantize() of the small-int twin, in calls of at most CHUNK outputs."""
    A = viper_twin.Array
    outs = []
    per_channel = len(mult) > 1
    for i in range(0, len(acc), CHUNK):
        j = min(i + CHUNK, len(acc))
        m = mult[i:j] if per_channel else mult
        s = shift[i:j] if per_channel else shift
        q = ns["pieces"](A("i", bias[i:j].tolist()), A("i", [int(v) for v in m]), A("b", [int(v) for v in s]),
                          rounding == "litert")
        out = A("h", [0] * (j - i))
        ns["requantize"](A("i", acc[i:j].tolist()), q, out, j - i, act[0], act[1], zp)
        outs.extend(out.values)
    return np.array(outs, np.int64)


def test_constants_are_small_ints():
    consts = viper_twin.python_constants()
    assert consts and all(S_MIN <= c <= S_MAX for c in consts)


def test_twin_catches_long_ints():
    S = viper_twin.SmallInt
    with pytest.raises(viper_twin.Overflow):
        S(S_MAX) + 1
    with pytest.raises(viper_twin.Overflow):
        -S(S_MIN)
    with pytest.raises(viper_twin.Overflow):
        S(0x8000) * 0x8000  # 2**30
    with pytest.raises(viper_twin.Overflow):
        S(1) << 30
    with pytest.raises(viper_twin.Overflow):
        S(0) << 32  # a long int in MicroPython, although 0
    with pytest.raises(viper_twin.Overflow):
        viper_twin.Array("i", [1 << 30])[0]  # reading it makes a long int
    with pytest.raises(viper_twin.Overflow):
        viper_twin.load_python("X = 1 << 30\n")  # the literal's operands are fine, the result is not
    with pytest.raises(viper_twin.Overflow):
        viper_twin.load_python("X = 0x40000000\n")
    assert (S(S_MIN) >> 40).v == -1 and (S(0x7FFF) * 0x8001).v == S_MAX and (S(-5) >> 1).v == -3 and (S(S_MIN) + S_MAX).v == -1


def test_mac_sums_stay_small_on_the_widest_rows():
    """n_in <= 65535 (16 bits in the file): a row of 65535 products of -128 * -128 sums to
    2**30 - 2**14, the largest; one more term would be a long int."""
    ns = viper_twin.load_python()
    A = viper_twin.Array
    n = 65535
    x = A("b", [-128] * n)
    w = A("b", [-128] * n + [127] * n + [-128, 127] * (n // 2) + [-128])
    acc = A("i", [0] * 3)
    ns["mac"](x, w, acc, n, 3)
    assert acc.values == [n << 14, -128 * 127 * n, (1 << 14) * (n // 2 + 1) - 128 * 127 * (n // 2)]
    with pytest.raises(viper_twin.Overflow):
        ns["mac"](A("b", [-128] * (n + 1)), A("b", [-128] * (n + 1)), A("i", [0]), n + 1, 1)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_twin_small_ints_bit_exact_on_edges_and_random(rounding):
    """~166k (acc, bias, m, shift) per rounding, per channel: every shift, every multiplier edge,
    every x = acc + bias edge (wrapping), near-tie results; r exact in [-255, 255], saturating
    beyond; no value ever leaves the small-int range."""
    rng = np.random.default_rng(11 if rounding == "tflm" else 12)
    ns = viper_twin.load_python()
    acc, bias, mult, shift = (np.concatenate(v) for v in zip(_edge_cases(rng), _near_window_cases(rng)))
    assert len(acc) > 160_000
    want = _expected(acc, bias, mult, shift, rounding)
    got = _twin_requantize(ns, acc, bias, mult, shift, rounding)
    bad = np.nonzero(got != want)[0]
    assert not len(bad), [(int(acc[i]), int(bias[i]), int(mult[i]), int(shift[i]), int(got[i]), int(want[i]))
                          for i in bad[:5]]
    in_window = int((np.abs(want) < WIDE).sum())
    assert in_window > 20_000 and len(want) - in_window > 20_000  # low bits and saturation both seen


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_twin_per_tensor_every_shift(rounding):
    """The per-tensor branch (one record for every output), with int8 zero points and clamps."""
    rng = np.random.default_rng(13)
    ns = viper_twin.load_python()
    x = np.array(X_EDGES + [int(v) for v in rng.integers(I32_MIN, I32_MAX + 1, 40)], np.int64)
    acc, bias = _split(rng, x)
    for s in SHIFTS:
        for m in M_EDGES:
            zp = int(rng.integers(-128, 128))
            act = tuple(sorted(int(v) for v in rng.integers(-128, 128, 2)))
            want = _expected(acc, bias, np.full(len(acc), m), np.full(len(acc), s), rounding, zp, act)
            got = _twin_requantize(ns, acc, bias, np.array([m]), np.array([s]), rounding, zp, act)
            assert np.array_equal(got, want), (s, m)


def test_twin_whole_random_layers():
    """mac + pieces + requantize of the twin on random layers (saturating values, scales from
    1e-9 to 4, int32 biases) against reference.fully_connected, both roundings."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
    from harness import random_layer

    ns = viper_twin.load_python()
    A = viper_twin.Array
    rng = np.random.default_rng(14)
    for k in range(60):
        layer, x = random_layer(rng, max_dim=48)
        rounding = ROUNDINGS[k % 2]
        n_out, n_in = layer.weights.shape
        q = ns["pieces"](A("i", np.atleast_1d(layer.bias).tolist()), A("i", np.atleast_1d(layer.multiplier).tolist()),
                          A("b", np.atleast_1d(layer.shift).tolist()), rounding == "litert")
        w = A("b", np.frombuffer(tmdl.interleave(layer.weights), np.int8).tolist())  # the file's layout
        xs = np.vstack([x, rng.integers(-128, 128, size=(2, n_in)).astype(np.int8)])
        want = reference.fully_connected(xs, layer, rounding)
        for row, expected in zip(xs, want):
            acc = A("i", [0] * n_out)
            out = A("b", [0] * n_out)
            ns["mac"](A("b", row.tolist()), w, acc, n_in, n_out)
            ns["requantize"](acc, q, out, n_out, layer.act_min, layer.act_max, layer.output_zp)
            assert out.values == expected.tolist(), (k, rounding)


DIRECT = """
from array import array
from tinyml import _python

def read(name, typecode):
    with open(name, 'rb') as f:
        return array(typecode, f.read())  # a bytes initializer is copied raw in MicroPython

for case in open('cases.txt').read().split():
    acc = read(case + '.acc', 'i')
    bias = read(case + '.bias', 'i')
    mult = read(case + '.mult', 'i')
    shift = read(case + '.shift', 'b')
    p = read(case + '.params', 'i')  # act_min, act_max, zp, litert
    q = _python.pieces(bias, mult, shift, p[3])
    out = array('b', bytes(len(acc)))
    _python.requantize(acc, q, out, len(acc), p[0], p[1], p[2])
    with open(case + '.out', 'wb') as f:
        f.write(out)
    print('DONE', case)
"""


def test_real_python_functions_bit_exact(tmp_path):
    """pieces + requantize in the micropython binary, per channel and per tensor, with int8
    zero points and clamps, on edge and near-window cases."""
    rng = np.random.default_rng(15)
    cases = {}
    for rounding in ROUNDINGS:
        for kind, gen in (("edge", _edge_cases), ("near", _near_window_cases)):
            acc, bias, mult, shift = gen(rng)
            for part in range(3):
                zp = int(rng.integers(-128, 128)) if part else 0
                act = tuple(sorted(int(v) for v in rng.integers(-128, 128, 2))) if part == 2 else (-128, 127)
                for c, i in enumerate(range(0, len(acc), DIRECT_CHUNK)):
                    j = i + DIRECT_CHUNK
                    cases[f"{rounding}-{kind}-{part}-{c}"] = (acc[i:j], bias[i:j], mult[i:j], shift[i:j],
                                                              rounding, zp, act)
        x = np.array(X_EDGES, np.int64)
        for s in SHIFTS:
            for j, m in enumerate(M_EDGES):
                acc, bias = _split(rng, x)
                cases[f"{rounding}-tensor-{s}-{j}"] = (acc, bias, np.array([m]), np.array([s]), rounding, 3,
                                                      (-128, 127))
    for name, (acc, bias, mult, shift, rounding, zp, act) in cases.items():
        (tmp_path / f"{name}.acc").write_bytes(acc.astype("<i4").tobytes())
        (tmp_path / f"{name}.bias").write_bytes(bias.astype("<i4").tobytes())
        (tmp_path / f"{name}.mult").write_bytes(mult.astype("<i4").tobytes())
        (tmp_path / f"{name}.shift").write_bytes(shift.astype("i1").tobytes())
        params = [act[0], act[1], zp, int(rounding == "litert")]
        (tmp_path / f"{name}.params").write_bytes(np.array(params, "<i4").tobytes())
    (tmp_path / "cases.txt").write_text(" ".join(cases))
    done = lines_with("DONE", run(DIRECT, cwd=tmp_path))
    assert done == list(cases)
    saturated = in_window = 0
    for name, (acc, bias, mult, shift, rounding, zp, act) in cases.items():
        n = len(acc)
        want = _expected(acc, bias, np.resize(mult, n), np.resize(shift, n), rounding, zp, act)
        got = np.frombuffer((tmp_path / f"{name}.out").read_bytes(), np.int8).astype(np.int64)
        bad = np.nonzero(got != want)[0]
        assert not len(bad), (name, [(int(acc[i]), int(bias[i]), int(want[i]), int(got[i])) for i in bad[:5]])
        unclamped = (want > act[0]) & (want < act[1])
        in_window += int(unclamped.sum())
        saturated += n - int(unclamped.sum())
    assert in_window > 20_000 and saturated > 20_000


def test_models_use_python_requantize_without_allocating(tmp_path):
    """model.invoke on the python backend goes through _python.requantize with prepared pieces,
    both roundings, per-tensor and per-channel layers, 0 bytes per invoke."""
    allocs = allocations_per_model(tmp_path, "python", "_python")
    assert allocs == {n: "0" for n in allocs}
