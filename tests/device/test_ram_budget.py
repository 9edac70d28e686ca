"""load's RAM budget and streamed weights, in the real micropython binary.

load() computes what it needs before allocating (tinyml.ram_needed gives the same figures):
the estimate must cover what load really takes (gc.mem_alloc() around it) and stay close to
it; on a heap too small it raises MemoryError naming the bytes needed, the bytes free and the
remedies. load(path, stream=True) reads each layer's weights a block at a time into one window
during invoke(): bit-exact, 0 bytes per invoke, RAM within 16 KB of one block (8 KB by default)
plus the activations, far below a layer (test_stream_blocks.py: the blocks themselves)."""

from pathlib import Path

import numpy as np
import pytest

import models
import romfs
from mpy import DEVICE_LIB, OUTPUTS, deployed_lib, lines_with, micropypath, run
from tinyml_host import export, reference, tmdl

AD01 = Path(__file__).resolve().parents[3] / "shared" / "models" / "ad01_int8.tflite"

MEASURE = """
import vfs
vfs.mount(vfs.VfsRom(open('image.romfs', 'rb').read()), '/rom')
import gc, tinyml
for name in open('models.txt').read().split():
    for where, stream, placement in (('/rom/', False, 'romfs'), ('', False, 'filesystem'), ('', True, 'stream')):
        for backend in tinyml.available_backends():
            needs = tinyml.ram_needed(where + name, backend)
            gc.collect()
            before = gc.mem_alloc()
            m = tinyml.load(where + name, backend, stream=stream)
            gc.collect()
            used = gc.mem_alloc() - before
            assert m.ram_needed == needs
            print('RAM', name, placement, backend, used, needs[placement], needs['buffers'], '%d/%d' % m.selftest())
            m.close()
            m = None
"""


def _measure(tmp_path, mods):
    files = {name: tmdl.encode(m) for name, m in mods.items()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "image.romfs").write_bytes(romfs.aligned_image(files))
    (tmp_path / "models.txt").write_text(" ".join(files))
    rows = [line.split() for line in lines_with("RAM", run(MEASURE, cwd=tmp_path))]
    assert {r[2] for r in rows} >= {"viper", "python"}
    return rows


def test_estimate_covers_what_load_takes(tmp_path):
    mods = {}
    for label, data in (("sine", models.sine_tflite()), ("mlp2", models.random_mlp_tflite(2)),
                        ("mlp8", models.random_mlp_tflite(8))):
        mods[f"{label}.tmdl"] = export.convert(data)
        export.add_vectors(mods[f"{label}.tmdl"], data, 2)
    for k in (0, 3, 7):   # converter-made CNNs: convolutions, depthwise, pools, ADD, SOFTMAX
        data = models.random_cnn_tflite(k)
        mods[f"cnn{k}.tmdl"] = export.convert(data)
        export.add_vectors(mods[f"cnn{k}.tmdl"], data, 2)
    if AD01.exists():
        mods["ad01.tmdl"] = export.convert(AD01.read_bytes())
        export.add_vectors(mods["ad01.tmdl"], AD01.read_bytes(), 2)
    rows = _measure(tmp_path, mods)
    for name, placement, backend, used, estimate, buffers, vectors in rows:
        assert vectors == "2/2", (name, placement, backend)
        assert int(used) <= int(estimate) <= int(used) + 5 * 1024, (name, placement, backend, used, estimate)
        if placement == "stream" and mods[name].is_dense:
            shapes = [l.shape for l in mods[name].layers]
            window = max(min(n_out, max(8, 8192 // n_in // 8 * 8)) * n_in for n_out, n_in in shapes)
            largest = max(n_out * n_in for n_out, n_in in shapes)
            if largest > 4 * window:  # AD01: its 80 KB layers in 8 KB blocks
                # beyond the buffers, less than half of one layer's weights: no layer in RAM
                assert int(used) - int(buffers) < largest // 2, (name, backend, used)
    if not AD01.exists():
        pytest.skip(f"AD01 not measured: {AD01} is absent (the other models were)")


def _big_model(rounding="tflm"):
    """Two 256 x 512 layers (256 KB of weights), no TFLite needed: only the figures matter here,
    and the outputs are checked against the host reference."""
    from tinyml_host.tmdl import Layer, TmdlModel

    rng = np.random.default_rng(5)
    layers = []
    for n_in, n_out in ((256, 512), (512, 256)):
        w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
        bias = rng.integers(-(1 << 16), 1 << 16, size=n_out).astype(np.int32)
        layers.append(Layer(w, bias, np.array([1 << 30], np.int32), np.array([-12], np.int8), -128, 127, 3))
    return TmdlModel.dense(layers, 0.05, 0, 0.1, 3, rounding=rounding)


SMALL_HEAP = """
import gc, tinyml
try:
    tinyml.load('big.tmdl')
    print('E none')
except MemoryError as e:
    print('E', e)
x = [int(v) for v in open('inputs.txt').read().split()]
for backend in tinyml.available_backends():
    tinyml.ram_needed('big.tmdl', backend)  # imports the backend (load imports it the first time): not the model's RAM
    gc.collect()
    before = gc.mem_alloc()
    m = tinyml.load('big.tmdl', backend, stream=True)
    gc.collect()
    used = gc.mem_alloc() - before
    out = []
    for k in range(len(x) // 256):
        for i in range(256):
            m.input[i] = x[256 * k + i]
        m.invoke()
        out.extend(m.output)
    invoke = m.invoke
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(3):
        invoke()
    alloc = gc.mem_alloc() - a0
    print('S', backend, m.weights, used, m.ram_needed['stream'], m.ram_needed['buffers'], alloc, *out)
    m.close()
    m = invoke = None  # the next backend's load needs this one's RAM back
"""


def test_heap_too_small_names_needs_and_remedies_and_stream_fits(tmp_path):
    model = _big_model()
    (tmp_path / "big.tmdl").write_bytes(tmdl.encode(model))
    x = np.random.default_rng(6).integers(-128, 128, size=(2, 256)).astype(np.int8)
    (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x.reshape(-1)))
    # the library as deployed (.mpy): from .py sources the compiler's garbage leaves the 256 KB
    # heap in pieces a board (which loads .mpy) never has
    lib = deployed_lib(tmp_path / "lib")
    out = run(SMALL_HEAP, cwd=tmp_path, args=("-X", "heapsize=256k"),
              env={"MICROPYPATH": micropypath().replace(str(DEVICE_LIB), str(lib))})
    message = lines_with("E", out)[0]
    assert message.startswith("tinyml.load('big.tmdl'): needs about ")
    assert "(whole model in RAM)" in message and "bytes are free" in message
    assert "`tinyml deploy --romfs`" in message and "stream=True" in message
    need = int(message.split("needs about ")[1].split()[0])
    free = int(message.split("), ")[1].split()[0])
    assert need > 262_144 > free  # the weights alone do not fit this heap
    want = reference.run(model, x).reshape(-1).tolist()
    seen = set()
    for line in lines_with("S", out):
        backend, weights, used, estimate, buffers, alloc, *values = line.split()
        seen.add(backend)
        assert weights == "streamed" and alloc == "0", line[:80]
        assert [int(v) for v in values] == want, backend
        assert int(used) <= int(estimate)
        # one 8 KB block (32 rows of 256 inputs, 16 of 512), not a 128 KB layer
        assert int(used) <= 8192 + int(buffers) + 16 * 1024, (backend, used)
    assert seen >= {"viper", "python"}


STREAM_EVERY_BACKEND = OUTPUTS + """
import gc, tinyml
x = [int(v) for v in open('inputs.txt').read().split()]
for name in open('models.txt').read().split():
    for backend in tinyml.available_backends():
        m = tinyml.load(name, backend, stream=True)
        out = outputs(m, x)
        print('OUT', name, backend, m.weights, '%d/%d' % m.selftest(), ' '.join(str(v) for v in out))
        m.close()
        try:
            m.invoke()
            print('CLOSED', name, backend, 'still runs')
        except ValueError:
            pass
"""


def test_streamed_every_backend_bit_exact(tmp_path):
    mods = {}
    for rounding in ("tflm", "litert"):
        for label, data in (("sine", models.sine_tflite()), ("mlp2", models.random_mlp_tflite(2)),
                            ("mlp3", models.random_mlp_tflite(3))):
            model = export.convert(data, rounding)
            export.add_vectors(model, data, 4)
            mods[f"{label}_{rounding}.tmdl"] = model
    for name, model in mods.items():
        (tmp_path / name).write_bytes(tmdl.encode(model))
    x = np.random.default_rng(8).integers(-128, 128, size=420).astype(np.int8)
    (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x))
    (tmp_path / "models.txt").write_text(" ".join(mods))
    out = run(STREAM_EVERY_BACKEND, cwd=tmp_path)
    seen = set()
    for line in lines_with("OUT", out):
        name, backend, weights, vectors, *values = line.split()
        n_in = mods[name].input_size
        want = reference.run(mods[name], x[:len(x) // n_in * n_in].reshape(-1, n_in)).reshape(-1).tolist()
        assert (weights, vectors) == ("streamed", "4/4") and [int(v) for v in values] == want, (name, backend)
        seen.add(backend)
    assert seen >= {"viper", "python"}
    assert not lines_with("CLOSED", out)


def test_predict_allocates_only_its_float_result(tmp_path):
    """predict() = quantize, invoke, dequantize: the one object it makes is the float it returns
    (boxed on this port; in the object word on CircuitPython's), no tuple or list per call."""
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    out = run("""
import gc, tinyml
def per_call(f):
    for _ in range(5):
        f()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(100):
        f()
    return (gc.mem_alloc() - before) // 100
for backend in tinyml.available_backends():
    m = tinyml.load('sine.tmdl', backend)
    print('A', backend, per_call(lambda: m.predict(1.0)), per_call(lambda: m.dequantize(3)))
""", cwd=tmp_path)
    rows = [line.split() for line in lines_with("A", out)]
    assert rows and all(predict == one_float for _, predict, one_float in rows), rows


def test_stream_budget_counts_the_windows_temporary_copy_without_uctypes(monkeypatch, tmp_path):
    """Where uctypes is missing (CircuitPython; CPython here) the stream window is made as
    array('b', bytes(n)), which holds a copy as large while it is made: load's check before
    allocating must count it, or a heap that holds the window once fails mid-load. The window
    is the largest block: per layer, the whole groups of 8 rows that the block size (512 bytes
    here) holds, at least 8 rows, at most all (docs/models.md)."""
    import sys
    import types

    from mpy import DEVICE_LIB

    model = export.convert(models.motion_tflite())
    path = tmp_path / "motion.tmdl"
    path.write_bytes(tmdl.encode(model))
    largest = max(min(n_out, max(8, 512 // n_in // 8 * 8)) * n_in for n_out, n_in in (l.shape for l in model.layers))
    assert largest < max(n_out * n_in for n_out, n_in in (l.shape for l in model.layers))  # more than one block
    monkeypatch.setitem(sys.modules, "micropython", types.SimpleNamespace(const=lambda v: v))  # no viper
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    for name in [m for m in sys.modules if m == "tinyml" or m.startswith("tinyml.")]:
        monkeypatch.delitem(sys.modules, name)
    import tinyml

    needs = tinyml.ram_needed(str(path), "python", 512)
    assert needs["stream_peak"] - needs["stream"] == largest == 8 * 96
    for name in [m for m in sys.modules if m == "tinyml" or m.startswith("tinyml.")]:
        del sys.modules[name]


LOAD_ALONE = """
import gc, sys, tinyml
from tinyml import model
name, backend = open('case.txt').read().split()
model._backend_module(backend)  # the backend's own import, as a board's app does it: not the model's RAM
needs = tinyml.ram_needed(name, backend, 1)
gc.collect()
before = gc.mem_alloc()
m = tinyml.load(name, backend, stream=1)
gc.collect()
used = gc.mem_alloc() - before
print('RAM', name, backend, used, needs['stream'], *sorted(k for k in sys.modules if k.startswith('tinyml._')))
"""


def test_a_streamed_convolution_in_blocks_imports_nothing_after_the_check(tmp_path):
    """A CONV_2D streamed in several blocks copies each block's output to its channels (a
    scatter): the backend load picked does it, or model.py's own Python loop; no other
    backend's module is imported mid-load (native once imported the pure-Python one there,
    after the RAM check, beside the figure it had checked). Each backend in a process of its
    own, as a board's app loads its model: the RAM gc.mem_alloc() sees load take is covered by
    the estimate and close to it, and no backend's module but this one's is there after."""
    from test_graph_ops import random_cnn

    named = {}
    for seed in range(8):
        model = random_cnn(seed, "tflm")
        if any(op.kind == tmdl.OP_CONV_2D and op.weights.shape[0] > 8 for op in model.ops):
            named[f"g{seed}.tmdl"] = model  # more than one block of 8 channels at stream=1
    assert len(named) >= 2
    for name, model in named.items():
        (tmp_path / name).write_bytes(tmdl.encode(model))
    backends = run("import tinyml\nprint('B', *tinyml.available_backends())").split()[1:]
    assert {"viper", "python"} <= set(backends)
    for backend in backends:
        for name in named:
            (tmp_path / "case.txt").write_text(f"{name} {backend}")
            row = lines_with("RAM", run(LOAD_ALONE, cwd=tmp_path))[0].split()
            used, estimate, imported = int(row[2]), int(row[3]), set(row[4:])
            assert used <= estimate <= used + 5 * 1024, (name, backend, used, estimate)
            # viper borrows the pure-Python pools and softmax: it imports tinyml._python itself
            assert imported == {f"tinyml._{backend}"} | ({"tinyml._python"} if backend == "viper" else set()), \
                (name, backend, imported)


FULL_HEAP = """
import gc, tinyml
gc.collect()
hog = []
try:
    while True:
        hog.append(bytearray(2048))
except MemoryError:
    pass
del hog[-3:]   # a few KB free: viper's kernels, compiled at their first use, need tens
gc.collect()
try:
    tinyml.load('sine.tmdl', 'viper')
    print('LOADED')
except MemoryError as e:
    hog = None
    print('E', e)
gc.collect()
m = tinyml.load('sine.tmdl', 'viper')   # with the heap freed the same backend loads
print('S', '%d/%d' % m.selftest())
"""


def test_a_backend_whose_code_does_not_fit_says_so_and_loads_later(tmp_path):
    model = export.convert(models.sine_tflite())
    export.add_vectors(model, models.sine_tflite())
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(model))
    out = run(FULL_HEAP, cwd=tmp_path, args=("-X", "heapsize=256k"))
    message = lines_with("E", out)[0]
    assert message.startswith("tinyml: the viper backend's code did not fit in the heap (")
    assert "compiled on the board at its first use" in message and "load models first thing after boot" in message
    assert "choose backend 'native' or 'python'" in message or "choose backend 'python'" in message
    total, passed = lines_with("S", out)[0].split("/")[::-1]
    assert passed == total != "0"
