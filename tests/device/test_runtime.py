"""tinyml's device runtime in the real micropython binary: every backend bit-exact with
the host reference (itself proven bit-exact with TFLite), no allocation per inference,
and a clear ValueError for every bad file."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import models
from corrupt import mutations
from mpy import OUTPUTS, lines_with, micropypath, require_native, run
from tinyml_host import export, reference, tmdl

RUN_ALL = OUTPUTS + """
import tinyml, sys
x = [int(v) for v in open('inputs.txt').read().split()]
for name in sys.argv[1:] if len(sys.argv) > 1 else open('models.txt').read().split():
    for backend in tinyml.available_backends():
        m = tinyml.load(name, backend)
        out = outputs(m, x)
        print('OUT', name, backend, ' '.join(str(v) for v in out))
"""


def _write(tmp_path, name, model):
    (tmp_path / name).write_bytes(tmdl.encode(model))


def _device_outputs(tmp_path, names, x):
    (tmp_path / "inputs.txt").write_text(" ".join(str(int(v)) for v in np.asarray(x).reshape(-1)))
    (tmp_path / "models.txt").write_text(" ".join(names))
    results = {}
    for line in lines_with("OUT", run(RUN_ALL, cwd=tmp_path)):
        name, backend, *values = line.split()
        results[name, backend] = [int(v) for v in values]
    return results


def test_backends_available():
    available = run("import tinyml; print('B', *tinyml.available_backends())")
    backends = lines_with("B", available)[0].split()
    assert "python" in backends and "viper" in backends
    if require_native():
        assert backends[0] == "native", "TINYML_REQUIRE_NATIVE=1 but _tinyml is not in this firmware"


@pytest.mark.parametrize("rounding", ["tflm", "litert"])
def test_sine_all_256_inputs_every_backend(tmp_path, rounding):
    model = export.convert(models.sine_tflite(), rounding)
    _write(tmp_path, "sine.tmdl", model)
    x = np.arange(-128, 128).astype(np.int8).reshape(-1, 1)
    expected = list(reference.run(model, x).reshape(-1))
    results = _device_outputs(tmp_path, ["sine.tmdl"], x)
    assert {b for _, b in results} >= {"python", "viper"}
    for (_, backend), got in results.items():
        assert got == expected, backend


def test_random_mlps_every_backend(tmp_path):
    names, expected = [], {}
    rng = np.random.default_rng(7)
    inputs = {}
    for index in range(models.RANDOM_MLP_COUNT):
        rounding = ("tflm", "litert")[index % 4 // 2]  # both roundings, both weight granularities
        model = export.convert(models.random_mlp_tflite(index), rounding)
        name = f"mlp{index:02d}.tmdl"
        _write(tmp_path, name, model)
        x = rng.integers(-128, 128, size=(4, model.input_size)).astype(np.int8)
        inputs[name] = x
        expected[name] = list(reference.run(model, x).reshape(-1))
        names.append(name)
    # one micropython run per model keeps inputs model-specific
    for name in names:
        results = _device_outputs(tmp_path, [name], inputs[name])
        assert len(results) >= 2
        for (_, backend), got in results.items():
            assert got == expected[name], (name, backend)


ALLOC = """
import gc, tinyml

def allocated_by_1000_invokes(m):
    # inside a function, so the loop's own names live on the stack, not in globals
    invoke = m.invoke
    invoke()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(1000):
        invoke()
    return gc.mem_alloc() - before

for backend in tinyml.available_backends():
    print('ALLOC', backend, allocated_by_1000_invokes(tinyml.load('model.tmdl', backend)))
"""


@pytest.mark.parametrize("which", ["sine", "mlp"])
def test_no_allocation_in_1000_invokes(tmp_path, which):
    data = models.sine_tflite() if which == "sine" else models.random_mlp_tflite(2)
    _write(tmp_path, "model.tmdl", export.convert(data))
    allocs = dict(line.split() for line in lines_with("ALLOC", run(ALLOC, cwd=tmp_path)))
    assert set(allocs) >= {"python", "viper"}
    assert allocs == {b: "0" for b in allocs}


def test_predict_matches_host_reference(tmp_path):
    model = export.convert(models.sine_tflite())
    _write(tmp_path, "sine.tmdl", model)
    xs = np.linspace(-1.0, 7.5, 41)
    out = run("import tinyml\nm = tinyml.load('sine.tmdl')\n"
              f"for x in {xs.tolist()}:\n    print('P', repr(m.predict(x)))", cwd=tmp_path)
    got = [float(v) for v in lines_with("P", out)]
    np.testing.assert_allclose(got, reference.predict(model, xs).reshape(-1), rtol=1e-6, atol=1e-7)


def test_predict_sequence_and_shape_errors(tmp_path):
    model = export.convert(models.random_mlp_tflite(3))  # 4 inputs, 39 outputs
    _write(tmp_path, "m.tmdl", model)
    x = [0.5, -1.0, 2.0, 0.25]
    out = run("import tinyml\nm = tinyml.load('m.tmdl')\n"
              f"print('Y', m.predict({x}))\n"
              "for bad in ([1.0], 3.0):\n"
              "    try:\n        m.predict(bad)\n    except ValueError as e:\n        print('E', e)",
              cwd=tmp_path)
    got = json.loads(lines_with("Y", out)[0])
    np.testing.assert_allclose(got, reference.predict(model, [x]).reshape(-1), rtol=1e-6, atol=1e-7)
    assert lines_with("E", out) == ["model takes 4 inputs, got 1", "model takes 4 inputs, got one number"]


def test_selftest_passes_and_catches_wrong_vectors(tmp_path):
    data = models.sine_tflite()
    model = export.convert(data)
    export.add_vectors(model, data, 16)
    _write(tmp_path, "good.tmdl", model)
    model.vectors_out = model.vectors_out.copy()
    model.vectors_out[3, 0] += 1
    _write(tmp_path, "bad.tmdl", model)
    out = run("import tinyml\nprint('S', tinyml.selftest('good.tmdl', verbose=False),"
              " tinyml.selftest('bad.tmdl', verbose=False))", cwd=tmp_path)
    assert lines_with("S", out) == ["True False"]


def test_backend_choice_and_errors(tmp_path):
    _write(tmp_path, "sine.tmdl", export.convert(models.sine_tflite()))
    script = """
import tinyml
print('D', tinyml.load('sine.tmdl').backend)
print('F', tinyml.load('sine.tmdl', backend='python').backend)
for b in ('gpu', 'native'):
    try:
        tinyml.load('sine.tmdl', backend=b)
        print('L', b, 'loaded')
    except ValueError as e:
        print('L', b, e)
m = tinyml.load('sine.tmdl')
print('R', repr(m))
print(m.info())
"""
    out = run(script, cwd=tmp_path)
    expected_default = "native" if require_native() else "viper"
    assert lines_with("D", out) == [expected_default]
    assert lines_with("F", out) == ["python"]
    errors = lines_with("L", out)
    assert errors[0].startswith("gpu unknown backend 'gpu'")
    if not require_native():
        assert "_tinyml module is not in this firmware" in errors[1]
    assert "1->16->16->1" in lines_with("R", out)[0]
    assert "layer 1: dense 16 -> 16, per-channel" in out


FUZZ = """
import os, tinyml
for name in sorted(os.listdir('fuzz')):
    try:
        m = tinyml.load('fuzz/' + name, 'python')
        m.invoke()
        print('V', name, 'ok')
    except ValueError as e:
        print('V', name, 'ValueError', e)
    except Exception as e:
        print('V', name, 'CRASH', type(e).__name__, e)
"""


@pytest.mark.parametrize("fix_crc", [False, True], ids=["raw", "crc-fixed"])
def test_fuzz_1000_mutated_files_on_device(tmp_path, fix_crc):
    data = models.sine_tflite()
    model = export.convert(data)
    export.add_vectors(model, data, 8)
    blob = tmdl.encode(model)
    (tmp_path / "fuzz").mkdir()
    host_verdict = {}
    for i, bad in enumerate(mutations(blob, 1000, seed=3 + fix_crc, fix_crc=fix_crc)):
        name = f"{i:04d}.tmdl"
        (tmp_path / "fuzz" / name).write_bytes(bad)
        try:
            tmdl.decode(bad)
            host_verdict[name] = "ok"
        except ValueError:
            host_verdict[name] = "ValueError"
    verdicts = {}
    for line in lines_with("V", run(FUZZ, cwd=tmp_path)):
        name, verdict = line.split()[:2]
        assert verdict != "CRASH", line
        verdicts[name] = verdict
    assert verdicts == host_verdict  # device and host readers agree on every file
    if not fix_crc:
        assert set(verdicts.values()) == {"ValueError"}


def test_error_messages_name_the_problem(tmp_path):
    blob = tmdl.encode(export.convert(models.sine_tflite()))
    body = blob[tmdl.HEADER.size:]  # layer 0's kind byte at 24 + 9, its weight layout u16 at 24 + 10
    files = {
        "truncated.tmdl": blob[:-8],
        "short.tmdl": blob[:7],
        "magic.tmdl": b"XXXX" + blob[4:],
        "version.tmdl": blob[:4] + (9).to_bytes(2, "little") + blob[6:],
        "crc.tmdl": blob[:-1] + bytes([blob[-1] ^ 0x40]),
        "empty.tmdl": tmdl.pack_header(b"\0" * 4, 0, 0) + b"\0" * 4,
        "v1.tmdl": blob[:4] + (1).to_bytes(2, "little") + blob[6:],
        "rounding-flip.tmdl": blob[:6] + bytes([blob[6] ^ 1]) + blob[7:],
        "flags-flip.tmdl": blob[:7] + bytes([blob[7] ^ 2]) + blob[8:],
        "kind.tmdl": tmdl.pack_header(body[:33] + b"\1" + body[34:], 0, 0) + body[:33] + b"\1" + body[34:],
        "layout.tmdl": tmdl.pack_header(body[:34] + b"\0" + body[35:], 0, 0) + body[:34] + b"\0" + body[35:],
        "v2.tmdl": blob[:4] + (2).to_bytes(2, "little") + blob[6:],
        "rounding-code.tmdl": tmdl.pack_header(body, 2, 0) + body,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = run("import tinyml\nfor n in %r:\n    try:\n        tinyml.load(n)\n"
              "    except ValueError as e:\n        print('E', n, e)" % sorted(files), cwd=tmp_path)
    msgs = dict(line.split(" ", 1) for line in lines_with("E", out))
    assert "truncated .tmdl" in msgs["truncated.tmdl"]
    assert "truncated .tmdl" in msgs["short.tmdl"]
    assert "not a .tmdl file" in msgs["magic.tmdl"]
    assert "unsupported .tmdl version 9" in msgs["version.tmdl"]
    assert "corrupt .tmdl: CRC32" in msgs["crc.tmdl"]
    assert "truncated .tmdl" in msgs["empty.tmdl"]
    assert "made by an older tinyml; re-export it with `tinyml export`" in msgs["v1.tmdl"]
    assert "corrupt .tmdl: CRC32" in msgs["rounding-flip.tmdl"]  # not a model with the other rounding
    assert "corrupt .tmdl: CRC32" in msgs["flags-flip.tmdl"]
    assert "made by an older tinyml; re-export it with `tinyml export`" in msgs["v2.tmdl"]
    assert "layer 0 has kind 1, weight layout 1 (expected 0, 1)" in msgs["kind.tmdl"]
    assert "layer 0 has kind 0, weight layout 0 (expected 0, 1)" in msgs["layout.tmdl"]
    assert "unknown .tmdl rounding 2" in msgs["rounding-code.tmdl"]


def test_extreme_layers_every_backend(tmp_path):
    """Saturating values, scales from 1e-9 to 4 (left shifts, int32 wrap-around): the device
    requantization must follow TFLite's integer semantics there too."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
    from harness import random_layer

    rng = np.random.default_rng(21)
    for k in range(40):
        layer, x = random_layer(rng, max_dim=96)
        rounding = ("tflm", "litert")[k % 2]
        model = tmdl.TmdlModel.dense([layer], 0.1, 0, 0.1, 0, rounding=rounding)
        name = f"x{k:02d}.tmdl"
        _write(tmp_path, name, model)
        xs = np.vstack([x, rng.integers(-128, 128, size=x.shape).astype(np.int8)])
        results = _device_outputs(tmp_path, [name], xs)
        expected = list(reference.run(model, xs).reshape(-1))
        for (_, backend), got in results.items():
            assert got == expected, (name, backend)


def test_native_mpy_for_another_architecture_falls_back_with_a_reason(tmp_path):
    natmod_dir = tmp_path / "natmod"
    natmod_dir.mkdir()
    # a .mpy header for armv7emsp (arch code 7): this unix port cannot load it
    (natmod_dir / "_tinyml.mpy").write_bytes(bytes([ord("M"), 6, (7 << 2) | 3, 31]) + bytes(16))
    _write(tmp_path, "sine.tmdl", export.convert(models.sine_tflite()))
    out = run("import tinyml\nprint('B', *tinyml.available_backends())\n"
              "try:\n    tinyml.load('sine.tmdl', 'native')\nexcept ValueError as e:\n    print('E', e)",
              cwd=tmp_path, env={"MICROPYPATH": micropypath(natmod_dir)})
    if require_native() and not os.environ.get("TINYML_MPY_PATH"):  # built in: /lib is never searched
        assert lines_with("B", out)[0].split()[0] == "native"
    else:
        assert lines_with("B", out) == ["viper python"]
        assert "lib/_tinyml.mpy does not load here (incompatible .mpy" in lines_with("E", out)[0]


def test_software_crc32_matches_binascii():
    # the fallback for ports whose binascii has no crc32 must give the same checksums
    out = run("""
import binascii
from tinyml.reader import _crc32_soft
data = bytes(range(256)) * 3
print('C', _crc32_soft(data) == binascii.crc32(data), _crc32_soft(data[100:], _crc32_soft(data[:100])) == binascii.crc32(data))
""")
    assert lines_with("C", out) == ["True True"]
