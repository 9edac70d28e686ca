"""load(path, stream=N) in the real micropython binary: each layer's weights read a block of
output rows (a CONV_2D: of output channels) at a time, whole groups of 8 rows that N bytes
hold (at least one group, at most the layer; a DEPTHWISE_CONV_2D whole), docs/models.md.

Every backend, several block sizes, random graphs with tails of fewer than 8 rows and
channels, and MLPerf Tiny's ResNet (IC, 16 to 64 channels) when ../shared/models has it:
outputs bit-exact with an independent numpy computation (test_graph_ops.expected, and the
host's reference, itself bit-exact with TFLite), 0 bytes per invoke(), and the file reads
one invoke() makes, counted by a file object that counts them, equal to what the rule above
gives and to what the model says it reads (Model.stream_reads, which `tinyml bench` reports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import models
from mpy import ALLOCATED, OUTPUTS, lines_with, run
from test_graph_ops import expected, random_cnn
from tinyml_host import device_ram, export, reference, tmdl

IC = Path(__file__).resolve().parents[3] / "shared" / "models" / "pretrainedResnet_quant.tflite"

RUN = OUTPUTS + ALLOCATED + """
import gc, tinyml

class Counting:
    # stands in for the model's file: counts the reads invoke() makes and their bytes
    def __init__(self, f):
        self.f = f
        self.reads = self.total = self.largest = 0
    def seek(self, at):
        return self.f.seek(at)
    def readinto(self, buf):
        n = self.f.readinto(buf)
        self.reads += 1
        self.total += n
        self.largest = max(self.largest, n)
        return n
    def close(self):
        self.f.close()


x = [int(v) for v in open('inputs.txt').read().split()]
for name in open('models.txt').read().split():
    for block in (1, 300, True):
        for backend in tinyml.available_backends():
            m = tinyml.load(name, backend, stream=block)
            out = outputs(m, x)
            alloc = allocated(m.invoke, 3)
            counting = Counting(m._streamed.file)
            m._streamed.file = counting
            m.invoke()
            print('OUT', name, block, backend, alloc, counting.reads, counting.total, counting.largest,
                  m.stream_reads[0], m.stream_reads[1], ' '.join(str(v) for v in out))
            m.close()
            m = None
"""


def _rule(model: tmdl.TmdlModel, block: int) -> tuple[int, int, int]:
    """(reads, bytes, largest read) per invoke by docs/models.md's rule, from the host's model."""
    reads = total = largest = 0
    for op in model.ops:
        if op.kind in (tmdl.OP_FULLY_CONNECTED, tmdl.OP_CONV_2D):
            n_out, k = op.weights.shape[0], op.weights.size // op.weights.shape[0]
            rows = min(n_out, max(8, block // k // 8 * 8))
            reads += -(-n_out // rows)
            largest = max(largest, rows * k)
        elif op.kind == tmdl.OP_DEPTHWISE_CONV_2D:
            reads += 1
            largest = max(largest, op.weights.size)
        else:
            continue
        total += op.weights.size
    return reads, total, largest


def _check(tmp_path, named: dict, want_of) -> set:
    for name, model in named.items():
        (tmp_path / name).write_bytes(tmdl.encode(model))
    (tmp_path / "models.txt").write_text(" ".join(named))
    seen = set()
    for line in lines_with("OUT", run(RUN, cwd=tmp_path, timeout=1200, args=("-X", "heapsize=8M"))):
        name, block, backend, alloc, reads, total, largest, said_reads, said_total, *values = line.split()
        model = named[name]
        where = (name, block, backend)
        assert [int(v) for v in values] == want_of(name), where
        assert alloc == "0", where
        rule = _rule(model, device_ram.default_block() if block == "True" else int(block))
        assert (int(reads), int(total), int(largest)) == rule, where
        assert (int(said_reads), int(said_total)) == rule[:2], where
        seen.add((name, block, backend))
    for backend in ("viper", "python"):  # every model at every block size
        assert {(n, b) for n, b, k in seen if k == backend} == {(n, b) for n in named for b in ("1", "300", "True")}
    return seen


def test_random_graphs_stream_in_blocks_bit_exact(tmp_path):
    named = {f"g{seed:02d}_{rounding}.tmdl": random_cnn(seed, rounding)
             for seed in range(8) for rounding in ("tflm", "litert")}
    x = np.random.default_rng(11).integers(-128, 128, 1024).astype(np.int8)
    (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x))

    def want(name):
        m = named[name]
        n = len(x) // m.input_size
        return np.concatenate([expected(m, x[i * m.input_size:(i + 1) * m.input_size]) for i in range(n)]).tolist()

    seen = _check(tmp_path, named, want)
    assert {b for _, _, b in seen} >= {"viper", "python"}
    # the block sizes took the graphs apart: some CONV_2D and FULLY_CONNECTED in several
    # blocks, some with a tail of fewer than 8 rows
    split = [(op.kind, op.weights.shape[0]) for m in named.values() for op in m.ops
             if op.kind in (tmdl.OP_FULLY_CONNECTED, tmdl.OP_CONV_2D) and op.weights.shape[0] > 8]
    assert {k for k, n in split} == {tmdl.OP_FULLY_CONNECTED, tmdl.OP_CONV_2D}
    assert any(n % 8 for _, n in split)


def test_mlps_and_resnet_stream_in_blocks_bit_exact(tmp_path):
    named = {}
    for label, data in (("mlp2", models.random_mlp_tflite(2)), ("mlp3", models.random_mlp_tflite(3))):
        named[f"{label}.tmdl"] = export.convert(data)
    if IC.exists():
        named["ic.tmdl"] = export.convert(IC.read_bytes())
    x = np.random.default_rng(12).integers(-128, 128, 3072).astype(np.int8)
    (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x))

    def want(name):
        m = named[name]
        n = len(x) // m.input_size
        return reference.run(m, x[:n * m.input_size].reshape(n, -1)).reshape(-1).tolist()

    seen = _check(tmp_path, named, want)
    assert {n for n, _, _ in seen} == set(named)
    if IC.exists():
        # ResNet's 3x3 64-channel convolutions (36,864 bytes of weights) never in one read
        assert _rule(named["ic.tmdl"], device_ram.default_block())[2] < 36_864
    else:
        print(f"ResNet not streamed here: {IC} is absent (the MLPs were)")


def test_a_block_size_that_is_not_one_says_so(tmp_path):
    (tmp_path / "m.tmdl").write_bytes(tmdl.encode(export.convert(models.random_mlp_tflite(2))))
    out = run("""
import tinyml
for stream in (-1, 2.5, 'big'):
    try:
        tinyml.load('m.tmdl', stream=stream)
        print('E loaded', stream)
    except ValueError as e:
        print('E', e)
""", cwd=tmp_path)
    errors = lines_with("E", out)
    assert len(errors) == 3 and not any(e.startswith("loaded") for e in errors), errors
    assert all(e.startswith("stream=") and "block size in bytes" in e for e in errors), errors
