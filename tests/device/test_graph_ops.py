"""Graphs of window operators on the board (CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D,
MAX_POOL_2D, then FULLY_CONNECTED), every backend that has them bit-exact with an independent
numpy computation of docs/format.md's definitions (requantize from host/tinyml_host/reference.py,
itself proven bit-exact with TFLite), from the filesystem, from /rom and streamed, 0 bytes
per invoke().

Models are built here with random constants and shapes: random strides, paddings, per-tensor
and per-channel scales, both roundings, zero points and clamps."""

from __future__ import annotations

import numpy as np
import pytest

import romfs
from mpy import ALLOCATED, OUTPUTS, lines_with, run
from tinyml_host import reference, tmdl


def _window(rng, size):
    """filter, stride, padding and output size of a TFLite window over `size`: VALID or SAME
    (docs/format.md, the only geometry the format takes), padding worked out here."""
    f = int(rng.integers(1, min(size, 4) + 1))
    s = int(rng.integers(1, 3))
    if rng.integers(0, 2):   # VALID
        return f, s, 0, (size - f) // s + 1
    out = -(-size // s)      # SAME
    return f, s, max((out - 1) * s + f - size, 0) // 2, out


def _quant(rng, n, per_channel):
    k = n if per_channel else 1
    return (rng.integers(1 << 30, 1 << 31, k).astype(np.int32), rng.integers(-11, -6, k).astype(np.int8))


def _act(rng):
    lo = int(rng.integers(-128, -60))
    return lo, int(rng.integers(max(lo, 0), 128))


def random_cnn(seed: int, rounding: str) -> tmdl.TmdlModel:
    """input HxWxC -> CONV_2D -> DEPTHWISE_CONV_2D -> a pool -> FULLY_CONNECTED."""
    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(3, 9, 3))
    tensors = [tmdl.Tensor((h, w, c), int(rng.integers(-128, 128)))]
    ops = []

    def window_op(kind, out_c):
        x = tensors[-1]
        fh, sh, ph, oh = _window(rng, x.shape[0])
        fw, sw, pw, ow = _window(rng, x.shape[1])
        zp = x.zero_point if kind in (tmdl.OP_AVERAGE_POOL_2D, tmdl.OP_MAX_POOL_2D) else int(rng.integers(-128, 128))
        tensors.append(tmdl.Tensor((oh, ow, out_c), zp))
        lo, hi = _act(rng) if kind != tmdl.OP_AVERAGE_POOL_2D or rng.random() < 0.5 else (-128, 127)
        return tmdl.Op(kind, (len(tensors) - 2,), len(tensors) - 1, lo, hi, (fh, fw), (sh, sw), (ph, pw))

    per_channel = seed % 2 == 0
    n = int(rng.integers(1, 12))
    op = window_op(tmdl.OP_CONV_2D, n)
    k = op.filter[0] * op.filter[1] * c
    op.weights = rng.integers(-128, 128, (n, k)).astype(np.int8)
    op.bias = rng.integers(-(1 << 14), 1 << 14, n).astype(np.int32)
    op.multiplier, op.shift = _quant(rng, n, per_channel)
    ops.append(op)
    op = window_op(tmdl.OP_DEPTHWISE_CONV_2D, n)
    op.weights = rng.integers(-128, 128, (op.filter[0], op.filter[1], n)).astype(np.int8)
    op.bias = rng.integers(-(1 << 12), 1 << 12, n).astype(np.int32)
    op.multiplier, op.shift = _quant(rng, n, per_channel)
    op.shift = (op.shift + 3).astype(np.int8)
    ops.append(op)
    ops.append(window_op(tmdl.OP_MAX_POOL_2D if seed % 3 == 0 else tmdl.OP_AVERAGE_POOL_2D, n))
    n_in, n_out = tensors[-1].size, int(rng.integers(1, 20))
    tensors.append(tmdl.Tensor((1, 1, n_out), int(rng.integers(-128, 128))))
    m, s = _quant(rng, n_out, per_channel)
    lo, hi = _act(rng)
    ops.append(tmdl.Op(tmdl.OP_FULLY_CONNECTED, (len(tensors) - 2,), len(tensors) - 1, lo, hi,
                       weights=rng.integers(-128, 128, (n_out, n_in)).astype(np.int8),
                       bias=rng.integers(-(1 << 14), 1 << 14, n_out).astype(np.int32), multiplier=m, shift=s))
    model = tmdl.TmdlModel(ops, tensors, 0.1, tensors[0].zero_point, 0.1, tensors[-1].zero_point, rounding=rounding)
    model.arena_bytes = tmdl.plan_arena(model.ops, model.tensors)
    return tmdl.decode(tmdl.encode(model))  # what a reader sees, and checked by the host's reader


def _windows(op, x):
    """For each output position: the input rows and columns its window reads (may be outside)."""
    (fh, fw), (sh, sw), (pt, pl) = op.filter, op.stride, op.padding
    return fh, fw, sh, sw, pt, pl


def _requantize(acc, op, rounding, zp):
    rounding = reference.op_rounding(op.kind, rounding)
    out = reference.requantize(acc, op.multiplier, op.shift.astype(np.int64), rounding) + zp
    return np.clip(out, op.act_min, op.act_max)


def expected(model: tmdl.TmdlModel, x: np.ndarray) -> np.ndarray:
    """docs/format.md's operators in numpy, written from the definitions (not the device code)."""
    t = model.tensors
    values = {0: x.reshape(t[0].shape).astype(np.int64)}
    for op in model.ops:
        src, zin = values[op.inputs[0]], t[op.inputs[0]].zero_point
        oh, ow, oc = t[op.output].shape
        if op.kind == tmdl.OP_FULLY_CONNECTED:
            acc = op.weights.astype(np.int64) @ src.reshape(-1) + op.bias
            y = _requantize(acc, op, model.rounding, t[op.output].zero_point)
        else:
            fh, fw, sh, sw, pt, pl = _windows(op, src)
            y = np.zeros((oh, ow, oc), np.int64)
            for oy in range(oh):
                for ox in range(ow):
                    rows = [oy * sh - pt + ky for ky in range(fh)]
                    cols = [ox * sw - pl + kx for kx in range(fw)]
                    inside = [(ky, kx) for ky, r in enumerate(rows) for kx, cc in enumerate(cols)
                              if 0 <= r < src.shape[0] and 0 <= cc < src.shape[1]]
                    if op.kind == tmdl.OP_CONV_2D:
                        win = np.full((fh, fw, src.shape[2]), zin, np.int64)
                        for ky, kx in inside:
                            win[ky, kx] = src[rows[ky], cols[kx]]
                        acc = op.weights.astype(np.int64) @ win.reshape(-1) + op.bias
                        y[oy, ox] = _requantize(acc, op, model.rounding, t[op.output].zero_point)
                    elif op.kind == tmdl.OP_DEPTHWISE_CONV_2D:
                        acc = op.bias.astype(np.int64).copy()
                        for ky, kx in inside:
                            acc += op.weights[ky, kx].astype(np.int64) * (src[rows[ky], cols[kx]] - zin)
                        y[oy, ox] = _requantize(acc, op, model.rounding, t[op.output].zero_point)
                    else:
                        taps = np.array([src[rows[ky], cols[kx]] for ky, kx in inside])
                        if op.kind == tmdl.OP_MAX_POOL_2D:
                            v = taps.max(axis=0)
                        else:
                            s, n = taps.sum(axis=0), len(inside)
                            v = np.where(s > 0, (s + n // 2) // n, -((-s + n // 2) // n))
                        y[oy, ox] = np.clip(v, op.act_min, op.act_max)
        values[op.output] = y
    return values[len(t) - 1].reshape(-1).astype(np.int8)


MOUNT = """
import vfs
vfs.mount(vfs.VfsRom(open('image.romfs', 'rb').read()), '/rom')
"""

RUN = MOUNT + OUTPUTS + ALLOCATED + """
import gc, tinyml
x = [int(v) for v in open('inputs.txt').read().split()]


for name in open('models.txt').read().split():
    for backend in tinyml.available_backends():
        for where, stream in (('/rom/', False), ('', False), ('', True)):
            try:
                m = tinyml.load(where + name, backend, stream=stream)
            except ValueError as e:
                print('NO', name, backend, e)
                break
            print('OUT', where or ('stream' if stream else 'fs'), name, backend, allocated(m.invoke, 5),
                  ' '.join(str(v) for v in outputs(m, x)))
            m.close()
"""


@pytest.mark.parametrize("rounding", ["tflm", "litert"])
def test_random_cnns_every_backend_every_placement(tmp_path, rounding):
    models = {f"cnn{seed:02d}.tmdl": random_cnn(seed, rounding) for seed in range(12)}
    files = {name: tmdl.encode(m) for name, m in models.items()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "image.romfs").write_bytes(romfs.aligned_image(files))
    rng = np.random.default_rng(5)
    results = {}
    for name, model in models.items():
        x = rng.integers(-128, 128, (2, model.input_size)).astype(np.int8)
        (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x.reshape(-1)))
        (tmp_path / "models.txt").write_text(name)
        out = run(RUN, cwd=tmp_path)
        want = np.concatenate([expected(model, row) for row in x]).tolist()
        for where, _, backend, alloc, *values in (line.split() for line in lines_with("OUT", out)):
            assert [int(v) for v in values] == want, (name, where, backend)
            assert alloc == "0", (name, where, backend)
            results.setdefault(backend, set()).add(where)
        for line in lines_with("NO", out):
            assert "native" in line and "cannot run" in line, line  # only _tinyml lacks window ops here
    assert results["python"] == results["viper"] == {"/rom/", "fs", "stream"}
