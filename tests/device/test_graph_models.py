"""Real graphs on the board, every backend bit-exact with the host reference
(host/tinyml_host/reference.py, itself bit-exact with TFLite Micro and LiteRT on these very
models: tests/host/test_graphs.py), from /rom, from the filesystem and streamed, 0 bytes per
invoke(): the random CNNs of tests/models.py (made by the TFLite converter; they have every
operator, ADD included) and the four MLPerf Tiny models of ../shared/models. Inputs are random
int8 (seeded): these models have no recording here.

The pure-Python backend runs the small models (the random CNNs, KWS, str_ww); on the image
models (ResNet-8: 12.5 M MACs, VWW: 7.5 M) it takes seconds per invoke, so IC and VWW run on
viper and native only."""

from __future__ import annotations

import numpy as np
import pytest

import models
import romfs
from mpy import ROOT, lines_with, require_native, run
from tinyml_host import export, reference, tmdl

SHARED_MODELS = ROOT.parent / "shared" / "models"
MLPERF = {"kws_ref_model.tflite": ("python", "viper", "native"), "str_ww_ref_model.tflite": ("python", "viper", "native"),
          "pretrainedResnet_quant.tflite": ("viper", "native"), "vww_96_int8.tflite": ("viper", "native")}

RUN = """
import gc, vfs, tinyml
vfs.mount(vfs.VfsRom(open('image.romfs', 'rb').read()), '/rom')
name, n = %(name)r, %(n)d
for backend in %(backends)r:
    if backend not in tinyml.available_backends():
        print('MISSING', backend)
        continue
    for where, stream in (('/rom/', False), ('', False), ('', True)):
        m = tinyml.load(where + name, backend, stream=stream)
        size = len(m.input)
        out = []
        with open('inputs.bin', 'rb') as f:
            for k in range(n):
                f.readinto(m.input)
                m.invoke()
                out.extend(m.output)
        gc.collect()
        before = gc.mem_alloc()
        m.invoke()
        m.invoke()
        alloc = gc.mem_alloc() - before
        print('OUT', where or ('stream' if stream else 'fs'), backend, alloc, ' '.join(str(v) for v in out))
        m.close()
        m = None
        gc.collect()
"""


def _run_model(tmp_path, model: tmdl.TmdlModel, backends, n, seed):
    name = "model.tmdl"
    data = tmdl.encode(model)
    (tmp_path / name).write_bytes(data)
    (tmp_path / "image.romfs").write_bytes(romfs.aligned_image({name: data}))
    x = np.random.default_rng(seed).integers(-128, 128, (n, model.input_size)).astype(np.int8)
    (tmp_path / "inputs.bin").write_bytes(x.tobytes())
    want = reference.run(model, x).reshape(-1).tolist()
    out = run(RUN % {"name": name, "n": n, "backends": tuple(backends)}, cwd=tmp_path, timeout=900)
    if require_native():
        assert not lines_with("MISSING", out), out
    seen = set()
    for where, backend, alloc, *values in (line.split() for line in lines_with("OUT", out)):
        assert [int(v) for v in values] == want, (where, backend)
        assert alloc == "0", (where, backend, alloc)
        seen.add((where, backend))
    return seen


@pytest.mark.parametrize("index", range(models.RANDOM_CNN_COUNT))
def test_random_cnns_every_backend_every_placement(tmp_path, index):
    rounding = ("tflm", "litert")[index % 2]
    model = export.convert(models.random_cnn_tflite(index), rounding)
    seen = _run_model(tmp_path, model, ("python", "viper", "native"), 3, index)
    assert {b for _, b in seen} >= {"python", "viper"}
    assert {w for w, _ in seen} == {"/rom/", "fs", "stream"}


def test_random_cnns_have_adds():
    kinds = {op.kind for i in range(models.RANDOM_CNN_COUNT)
             for op in export.convert(models.random_cnn_tflite(i)).ops}
    assert tmdl.OP_ADD in kinds and tmdl.OP_CONV_2D in kinds and tmdl.OP_DEPTHWISE_CONV_2D in kinds


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason=f"{SHARED_MODELS} is absent (CI has it)")
@pytest.mark.parametrize("rounding", ["tflm", "litert"])
@pytest.mark.parametrize("name", sorted(MLPERF))
def test_mlperf_tiny_every_backend_every_placement(tmp_path, name, rounding):
    model = export.convert((SHARED_MODELS / name).read_bytes(), rounding)
    backends = MLPERF[name]
    seen = _run_model(tmp_path, model, backends, 2, 7)
    assert {b for _, b in seen} >= set(backends) - {"native"}
    assert len(seen) == 3 * len({b for _, b in seen})
