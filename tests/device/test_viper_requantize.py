"""tinyml._viper.requantize: bit-exact with the numpy reference for both roundings, and
32-bit safe, i.e. the same on a board's 32-bit viper words as on CI's 64-bit unix port.

- In CPython, viper_twin runs the function's own source on emulated 32-bit words that
  assert every intermediate is a signed 32-bit value (so nothing depends on wrap-around)
  and every constant a small int, over every shift, multiplier and accumulator edge plus
  random cases, comparing the full int32 result (before the int8 clamp) with
  reference.requantize.
- In the micropython binary, the real viper function on edge cases and on inputs built to
  land near the int8 window (rounding ties included), through per-channel and per-tensor
  calls, with output zero points and activation clamps; and model.invoke uses it.
"""

from __future__ import annotations

import numpy as np
import pytest

import viper_twin
from mpy import allocations_per_model, lines_with, run
from tinyml_host import reference, tmdl

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
SHIFTS = range(-31, 31)
ROUNDINGS = ("tflm", "litert")

# accumulators (after the bias add) at the int32 edges and at the 16-bit piece boundaries
ACC_EDGES = sorted({v for b in (0, 1, 2, 14, 15, 16, 17, 29, 30, 31)
                    for v in (1 << b, (1 << b) - 1, (1 << b) + 1, -(1 << b), -(1 << b) + 1, -(1 << b) - 1)
                    if I32_MIN <= v <= I32_MAX} | {0, I32_MIN, I32_MAX, 0x7FFF8000, -0x7FFF8000, 0x12345678})
CHUNK = 20_000
M_EDGES = [0, 1, 2, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x10001, 1 << 30, (1 << 30) + 1,
           0x7FFF0000, 0x7FFF8000, 0x7FFFFFFE, I32_MAX]


def _wrap32(v):
    return ((np.asarray(v, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _expected(acc, bias, mult, shift, rounding, zp=0, act=(-128, 127)):
    """reference.requantize of the int32-wrapped acc + bias: (int32 result, clamped int8 output)."""
    v = _wrap32(np.asarray(acc, np.int64) + np.asarray(bias, np.int64))
    r = reference.requantize(v, np.asarray(mult, np.int64), np.asarray(shift, np.int64), rounding)
    assert ((r >= I32_MIN) & (r <= I32_MAX)).all()
    return r, np.clip(r + zp, act[0], act[1])


def _edge_cases(rng, rounding):
    """Every shift x every multiplier edge x every accumulator edge, bias 0 or splitting the
    accumulator so acc + bias wraps; plus random multipliers and accumulators per shift."""
    acc, bias, mult, shift = [], [], [], []
    edges = np.array(ACC_EDGES, np.int64)
    for s in SHIFTS:
        for m in M_EDGES + [int(v) for v in rng.integers(1 << 30, 1 << 31, 6)] + [int(rng.integers(0, 1 << 31))]:
            b = np.where(rng.random(len(edges)) < 0.5, 0, rng.integers(I32_MIN, I32_MAX + 1, len(edges)))
            acc.append(_wrap32(edges - b))
            bias.append(b)
            mult.append(np.full(len(edges), m))
            shift.append(np.full(len(edges), s))
        n = 1000
        magnitude = rng.integers(0, 32, n)
        a = rng.integers(-(1 << 31), 1 << 31, n) >> magnitude  # small and large values alike
        b = np.where(rng.random(n) < 0.7, 0, rng.integers(I32_MIN, I32_MAX + 1, n))
        acc.append(_wrap32(a - b))
        bias.append(b)
        mult.append(np.where(rng.random(n) < 0.8, rng.integers(1 << 30, 1 << 31, n), rng.integers(0, 1 << 31, n)))
        shift.append(np.full(n, s))
    return [np.concatenate(v).astype(np.int64) for v in (acc, bias, mult, shift)]


def _near_window_cases(rng, rounding, n_per_shift=40):
    """Accumulators whose result lands in [-300, 300], on and beside the rounding ties, so the
    int8 output shows the low bits of the result rather than saturating."""
    acc, bias, mult, shift = [], [], [], []
    for s in SHIFTS:
        m = rng.integers(1 << 30, 1 << 31, n_per_shift)
        k = rng.integers(-300, 301, n_per_shift) + rng.choice([0.0, 0.5, -0.5, 0.25], n_per_shift)
        a = np.round(k * 2.0 ** (31 - s) / m).astype(np.float64)
        a = np.clip(a, I32_MIN + 2, I32_MAX - 2).astype(np.int64)
        for d in (-2, -1, 0, 1, 2):
            b = np.where(rng.random(n_per_shift) < 0.5, 0, rng.integers(I32_MIN, I32_MAX + 1, n_per_shift))
            acc.append(_wrap32(a + d - b))
            bias.append(b)
            mult.append(m)
            shift.append(np.full(n_per_shift, s))
    return [np.concatenate(v).astype(np.int64) for v in (acc, bias, mult, shift)]


def _twin_run(fn, probed, acc, bias, mult, shift, rounding, zp=0, act=(-128, 127)):
    """Run the twin over the buffers in calls of at most CHUNK outputs (a layer's n_out is 16-bit)."""
    probed.clear()
    outs = []
    per_channel = len(mult) > 1
    for i in range(0, len(acc), CHUNK):
        j = min(i + CHUNK, len(acc))
        out = viper_twin.Ptr8(np.zeros(j - i, np.int64))
        params = viper_twin.Ptr32([0, j - i, j - i if per_channel else 1, act[0], act[1], zp, rounding == "litert"])
        fn(viper_twin.Ptr32(acc[i:j]), viper_twin.Ptr32(bias[i:j]), viper_twin.Ptr32(mult[i:j] if per_channel else mult),
           viper_twin.Ptr8(shift[i:j] if per_channel else shift), out, params)
        outs.extend(out.signed())
    return np.array(probed, np.int64), np.array(outs, np.int64)


def test_constants_are_small_ints():
    # a constant outside MicroPython's 32-bit small-int range would be an object in viper code
    consts = viper_twin.constants("requantize")
    assert consts and all(-viper_twin.SMALL_INT <= c < viper_twin.SMALL_INT for c in consts)


def test_twin_catches_overflow():
    W = viper_twin.Word
    with pytest.raises(viper_twin.Overflow):
        W(1 << 30) + (1 << 30)
    with pytest.raises(viper_twin.Overflow):
        W(0xFFFF) * 0x10000
    with pytest.raises(viper_twin.Overflow):
        W(1) << 32
    with pytest.raises(viper_twin.Overflow):
        W(-1) >> 32
    assert (W(-(1 << 30)) + -(1 << 30)).v == I32_MIN and (W(-5) >> 1).v == -3


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_twin_32bit_words_bit_exact_on_edges_and_random(rounding):
    """~140k (acc, bias, m, shift) per rounding: every shift, every multiplier edge, every
    accumulator edge; the full int32 result and the int8 output; no intermediate leaves int32."""
    rng = np.random.default_rng(1 if rounding == "tflm" else 2)
    probed: list[int] = []
    fn = viper_twin.load("requantize", "r", probed)
    acc, bias, mult, shift = (np.concatenate(v) for v in zip(_edge_cases(rng, rounding),
                                                              _near_window_cases(rng, rounding)))
    assert len(acc) > 140_000
    zp = int(rng.integers(-128, 128))
    act = tuple(sorted(int(v) for v in rng.integers(-128, 128, 2)))
    want, want_out = _expected(acc, bias, mult, shift, rounding, zp, act)
    got, got_out = _twin_run(fn, probed, acc, bias, mult, shift, rounding, zp, act)
    bad = np.nonzero(got != want)[0]
    assert not len(bad), [(int(acc[i]), int(bias[i]), int(mult[i]), int(shift[i]), int(got[i]), int(want[i]))
                          for i in bad[:5]]
    assert np.array_equal(got_out, want_out)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_twin_per_tensor_every_shift(rounding):
    """The per-tensor branch (entry 0 of mult and shift for every output)."""
    rng = np.random.default_rng(3)
    probed: list[int] = []
    fn = viper_twin.load("requantize", "r", probed)
    acc = np.array(ACC_EDGES + [int(v) for v in rng.integers(I32_MIN, I32_MAX + 1, 60)], np.int64)
    bias = np.where(rng.random(len(acc)) < 0.5, 0, rng.integers(I32_MIN, I32_MAX + 1, len(acc)))
    for s in SHIFTS:
        for m in M_EDGES:
            want, _ = _expected(acc, bias, np.full(len(acc), m), np.full(len(acc), s), rounding)
            got, _ = _twin_run(fn, probed, acc, bias, [m], [s], rounding)
            assert np.array_equal(got, want), (s, m)


DIRECT = """
from array import array
from tinyml._viper import requantize

def read(name, typecode):
    with open(name, 'rb') as f:
        return array(typecode, f.read())  # a bytes initializer is copied raw in MicroPython

for case in open('cases.txt').read().split():
    acc = read(case + '.acc', 'i')
    bias = read(case + '.bias', 'i')
    mult = read(case + '.mult', 'i')
    shift = read(case + '.shift', 'b')
    params = read(case + '.params', 'i')
    out = array('b', bytes(len(acc)))
    requantize(acc, bias, mult, shift, out, params)
    with open(case + '.out', 'wb') as f:
        f.write(out)
    print('DONE', case)
"""


def test_real_viper_function_bit_exact(tmp_path):
    """The viper function in the micropython binary (64-bit words here), per-channel and per-tensor,
    with zero points and clamps, on edge cases and near-window cases."""
    rng = np.random.default_rng(4)
    cases = {}
    for rounding in ROUNDINGS:
        for kind, gen in (("edge", _edge_cases), ("near", _near_window_cases)):
            acc, bias, mult, shift = gen(rng, rounding)
            for part in range(3):
                zp = int(rng.integers(-128, 128)) if part else 0
                act = tuple(sorted(int(v) for v in rng.integers(-128, 128, 2))) if part == 2 else (-128, 127)
                for c, i in enumerate(range(0, len(acc), CHUNK)):
                    j = i + CHUNK
                    cases[f"{rounding}-{kind}-{part}-{c}"] = (acc[i:j], bias[i:j], mult[i:j], shift[i:j],
                                                              rounding, zp, act)
        # per tensor: one multiplier and shift for a whole buffer
        acc = np.array(ACC_EDGES, np.int64)
        for s in SHIFTS:
            for j, m in enumerate(M_EDGES):
                cases[f"{rounding}-tensor-{s}-{j}"] = (acc, np.zeros(len(acc), np.int64), np.array([m]),
                                                      np.array([s]), rounding, 3, (-128, 127))
    for name, (acc, bias, mult, shift, rounding, zp, act) in cases.items():
        (tmp_path / f"{name}.acc").write_bytes(acc.astype("<i4").tobytes())
        (tmp_path / f"{name}.bias").write_bytes(bias.astype("<i4").tobytes())
        (tmp_path / f"{name}.mult").write_bytes(mult.astype("<i4").tobytes())
        (tmp_path / f"{name}.shift").write_bytes(shift.astype("i1").tobytes())
        params = [0, len(acc), len(mult), act[0], act[1], zp, int(rounding == "litert")]
        (tmp_path / f"{name}.params").write_bytes(np.array(params, "<i4").tobytes())
    (tmp_path / "cases.txt").write_text(" ".join(cases))
    done = lines_with("DONE", run(DIRECT, cwd=tmp_path))
    assert done == list(cases)
    saturated = in_window = 0
    for name, (acc, bias, mult, shift, rounding, zp, act) in cases.items():
        n = len(acc)
        want_r, want = _expected(acc, bias, np.resize(mult, n), np.resize(shift, n), rounding, zp, act)
        got = np.frombuffer((tmp_path / f"{name}.out").read_bytes(), np.int8).astype(np.int64)
        bad = np.nonzero(got != want)[0]
        assert not len(bad), (name, [(int(acc[i]), int(bias[i]), int(want_r[i]), int(got[i])) for i in bad[:5]])
        unclamped = (want_r + zp > act[0]) & (want_r + zp < act[1])
        in_window += int(unclamped.sum())
        saturated += n - int(unclamped.sum())
    assert in_window > 20_000 and saturated > 20_000  # both the low bits and the sign were seen


def test_models_use_viper_requantize_without_allocating(tmp_path):
    """model.invoke on the viper backend goes through _viper.requantize, both roundings,
    per-tensor and per-channel layers, 0 bytes per invoke."""
    allocs = allocations_per_model(tmp_path, "viper", "_viper")
    assert allocs == {n: "0" for n in allocs}


WRAP = """
import tinyml
for backend in tinyml.available_backends():
    m = tinyml.load('wrap.tmdl', backend)
    out = []
    for x in (127, -128, 0, 1):
        for i in range(len(m.input)):
            m.input[i] = x
        m.invoke()
        out.extend(m.output)
    print('OUT', backend, *out)
"""


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_accumulator_plus_bias_wraps_like_int32_every_backend(tmp_path, rounding):
    """acc + bias past the int32 range wraps in TFLite (and the reference); every backend too."""
    from tinyml_host.tmdl import Layer, TmdlModel

    n_in = 8
    w = np.full((4, n_in), 127, np.int8)
    w[1::2] *= -1
    bias = np.array([I32_MAX - 1000, I32_MIN + 1000, I32_MAX, I32_MIN], np.int32)
    layer = Layer(w, bias, np.array([1 << 30], np.int32), np.array([-20], np.int8), -128, 127, 0)
    model = TmdlModel.dense([layer], 0.1, 0, 0.1, 0, rounding=rounding)
    (tmp_path / "wrap.tmdl").write_bytes(tmdl.encode(model))
    x = np.repeat(np.array([127, -128, 0, 1], np.int8)[:, None], n_in, axis=1)
    expected = [int(v) for v in reference.run(model, x).reshape(-1)]
    unwrapped = (x.astype(np.int64) @ w.T.astype(np.int64) + bias).reshape(-1)
    assert (unwrapped > I32_MAX).any() and (unwrapped < I32_MIN).any()
    # past the int32 range the sum wraps to the other sign, and saturates the other way
    assert (np.array(expected)[unwrapped > I32_MAX] == -128).all()
    assert (np.array(expected)[unwrapped < I32_MIN] == 127).all()
    for line in lines_with("OUT", run(WRAP, cwd=tmp_path)):
        backend, *got = line.split()
        assert [int(v) for v in got] == expected, backend
