"""Models used in place from ROMFS (`/rom`), in the real micropython binary: every backend
bit-exact with the host reference, from /rom and from the filesystem, 0 bytes per invoke(),
and load's RAM within 16 KB of the activation buffers.

The unix port mounts a ROMFS image held in a bytes object (`vfs.VfsRom`), as a board mounts
its flash partition; a file there supports the buffer protocol, which is what load detects."""

from pathlib import Path

import numpy as np
import pytest

import models
import romfs
from mpy import ALLOCATED, OUTPUTS, lines_with, run
from tinyml_host import export, reference, tmdl

ROOT = Path(__file__).resolve().parents[2]
AD01 = ROOT.parent / "shared" / "models" / "ad01_int8.tflite"

MOUNT = """
import vfs
vfs.mount(vfs.VfsRom(open('image.romfs', 'rb').read()), '/rom')
"""

RUN_BOTH = MOUNT + OUTPUTS + ALLOCATED + """
import tinyml, gc
x = [int(v) for v in open('inputs.txt').read().split()]


for name in open('models.txt').read().split():
    for where in ('/rom/', ''):
        for backend in tinyml.available_backends():
            m = tinyml.load(where + name, backend)
            out = outputs(m, x)
            l = m.layers[0]
            kinds = ','.join(type(b).__name__ for b in (l.weights, l.bias, l.multipliers, l.shifts))
            print('OUT', where or 'fs', name, backend, m.weights.replace(' ', '_'), kinds, allocated(m.invoke, 100),
                  '%d/%d' % m.selftest(), ' '.join(str(v) for v in out))
"""


def _models():
    """Both roundings, per-tensor and per-channel layers, odd widths, golden vectors."""
    out = {}
    for rounding in ("tflm", "litert"):
        for label, data in (("sine", models.sine_tflite()), ("mlp2", models.random_mlp_tflite(2)),
                            ("mlp3", models.random_mlp_tflite(3))):
            model = export.convert(data, rounding)
            export.add_vectors(model, data, 4)
            out[f"{label}_{rounding}.tmdl"] = model
    return out


def _run_both(tmp_path, image_of):
    mods = _models()
    files = {name: tmdl.encode(m) for name, m in mods.items()}
    image = image_of(files)
    (tmp_path / "image.romfs").write_bytes(image)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=420).astype(np.int8)  # whole rows for inputs of 1 to 7 values
    (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in x.reshape(-1)))
    (tmp_path / "models.txt").write_text(" ".join(files))
    results = {}
    for line in lines_with("OUT", run(RUN_BOTH, cwd=tmp_path)):
        where, name, backend, weights, kinds, alloc, vectors, *values = line.split()
        n_in = mods[name].input_size
        rows = x[:len(x) // n_in * n_in].reshape(-1, n_in)
        want = reference.run(mods[name], rows).reshape(-1).tolist()
        assert [int(v) for v in values] == want, (where, name, backend)
        assert alloc == "0", (where, name, backend, alloc)
        assert vectors == "4/4", (where, name, backend)
        results[where, name, backend] = (weights, kinds)
    assert {b for _, _, b in results} >= {"viper", "python"}
    assert len(results) == 2 * len(files) * len({b for _, _, b in results})
    return files, image, results


def test_aligned_rom_every_backend_in_place_bit_exact(tmp_path):
    files, image, results = _run_both(tmp_path, romfs.aligned_image)
    assert all(at % 4 == 0 for at in romfs.data_offsets(image, files).values())
    for (where, name, backend), (weights, kinds) in results.items():
        if where == "/rom/":
            assert (weights, kinds) == ("in_place", "memoryview,memoryview,memoryview,memoryview"), (name, backend)
        else:
            # weights in a bytearray: allocated once, read through uctypes as int8 (reader.int8_buffer)
            assert (weights, kinds) == ("RAM", "bytearray,array,array,array"), (name, backend)


def test_mpremote_image_unaligned_copies_only_int32_sections(tmp_path):
    """mpremote's builder leaves file data at 2 mod 4: load still works, with bias and
    multipliers copied into RAM (an unaligned word load faults a Cortex-M0+)."""
    files, image, results = _run_both(tmp_path, romfs.mpremote_image)
    offsets = romfs.data_offsets(image, files)
    assert any(at % 4 for at in offsets.values()), offsets
    for (where, name, backend), (weights, kinds) in results.items():
        if where == "/rom/" and offsets[name] % 4:
            assert (weights, kinds) == ("in_place,_int32_copied", "memoryview,array,array,memoryview"), (name, backend)


LOAD_RAM = MOUNT + """
import gc, tinyml
for name in open('models.txt').read().split():
    for where in ('/rom/', ''):
        for backend in tinyml.available_backends():
            tinyml.ram_needed(where + name, backend)  # imports the backend (load's first does): not the model's RAM
            gc.collect()
            before = gc.mem_alloc()
            m = tinyml.load(where + name, backend)
            gc.collect()
            used = gc.mem_alloc() - before
            print('RAM', where or 'fs', name, backend, used, m.ram_bytes, '%d/%d' % m.selftest())
            m = None
"""


def test_load_from_rom_needs_at_most_16_kb_beyond_activations(tmp_path):
    """From /rom, load's RAM (gc.mem_alloc() around it) is the activation buffers plus at most
    16 KB of plans and views, every backend. From the filesystem the weights are in RAM too.
    The AD01-shaped model `tinyml train ad01` makes is quantized per channel (1,672 channels
    over 640-wide layers): the python backend reads its multipliers and shifts in place too."""
    stand_in = export.convert(models.ad01_shaped_tflite())
    assert sum(len(l.multiplier) for l in stand_in.layers) == 1672
    mods = {"sine.tmdl": export.convert(models.sine_tflite()), "stand_in.tmdl": stand_in}
    if AD01.exists():
        mods["ad01.tmdl"] = export.convert(AD01.read_bytes())
        export.add_vectors(mods["ad01.tmdl"], AD01.read_bytes(), 4)
    files = {name: tmdl.encode(m) for name, m in mods.items()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "image.romfs").write_bytes(romfs.aligned_image(files))
    (tmp_path / "models.txt").write_text(" ".join(files))
    rows = [line.split() for line in lines_with("RAM", run(LOAD_RAM, cwd=tmp_path))]
    assert {r[2] for r in rows} >= {"viper", "python"}
    used = {}
    for where, name, backend, ram, activations, vectors in rows:
        used[where, name, backend] = int(ram)
        if name == "ad01.tmdl":
            assert vectors == "4/4", (where, backend)
        if where == "/rom/":
            assert int(ram) <= int(activations) + 16 * 1024, (name, backend, ram, activations)
    if not AD01.exists():
        pytest.skip(f"AD01 not measured: {AD01} is absent (the sine model was)")
    weights = sum(l.weights.size for l in mods["ad01.tmdl"].layers)  # 264,192 bytes
    for where, name, backend in used:
        if name == "ad01.tmdl" and where == "/rom/":
            assert used["fs", name, backend] - used[where, name, backend] >= weights, backend
