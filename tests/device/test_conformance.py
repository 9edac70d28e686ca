"""Conformance on real models nobody here wrote (../shared/models, its README names the sources).

Every .tflite there is exported with both roundings by `tinyml export`, then run in the real
`micropython` binary on every backend it has (viper, python; native when TINYML_MICROPYTHON
is a firmware with _tinyml), from /rom (MicroPython's VfsRom over an image from
host/tinyml_host/romfs.py, file data 4-byte aligned as `tinyml deploy --romfs` writes it) and
from the filesystem, on real inputs, and compared byte for byte with TensorFlow Lite's own
interpreters: tflite-micro for `--rounding tflm`, ai-edge-litert's BUILTIN_REF kernels for
`--rounding litert`.

Inputs: for the MLPerf Tiny models (KWS, str_ww, ResNet-8, VWW) no recording is here, so a few
seeded random int8 inputs; for AD01 the real recording (200 x 128 log-mel slices, 196 windows of 5 slices),
quantized on the host with the model's input quantization (TFLite's formula); for the float
I/O variant the board quantizes the floats itself (Model.quantize) and the interpreter runs
the graph's own QUANTIZE/DEQUANTIZE; for hello world a sweep of x.

Runtime: the pure-Python backend takes 27-50 ms per AD01 invoke on the unix port (264k MACs;
the range is the shared machine's load), viper 0.7-3 ms, so python runs the first
PYTHON_WINDOWS windows and the other backends all 196: the whole file took 17-29 s on the 2-core
CI machine (2026-11-30, by its load) before streamed runs were added; every backend also runs
streamed from the filesystem, about half as long again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpy import ROOT, lines_with, require_native, run
from tinyml_host import cli, golden, reference, romfs, tmdl

SHARED_MODELS = ROOT.parent / "shared" / "models"   # ../shared/models from the repo root
RECORDING = "ad01_normal_id_01_00000000_hist_librosa.bin"
PYTHON_WINDOWS = 48      # AD01 windows for the pure-Python backend (all 196 for the others)
HELLO_SWEEP = 300         # x values for the hello world model
RANDOM_INPUTS = 3         # seeded random int8 inputs for the models with no recording here (MLPerf Tiny's)
# seconds per invoke on the pure-Python backend (ResNet-8 12.5 M MACs, VWW 7.5 M): viper and native only
PYTHON_TOO_SLOW = {"pretrainedResnet_quant.tflite", "vww_96_int8.tflite"}
KNOWN = ["ad01_int8.tflite", "ad01_int8_floatio.tflite", "hello_world_int8.tflite"]  # its README's list
# every .tflite there, so a model added to the folder is tested too (or fails: no input known for it)
MODELS = sorted(p.name for p in SHARED_MODELS.glob("*.tflite")) or KNOWN

pytestmark = pytest.mark.skipif(
    not SHARED_MODELS.is_dir(),
    reason=f"{SHARED_MODELS} is absent: the real models (AD01, TFLM hello world) live beside the "
           "repo, never in it; CI has them")


def _shared(name: str) -> Path:
    path = SHARED_MODELS / name
    if not path.exists():
        pytest.fail(f"{path} is missing from {SHARED_MODELS} (its README lists it)")
    return path


def ad01_windows() -> np.ndarray:
    """The recording's 196 windows of 5 consecutive 128-value log-mel slices: [196, 640] float32."""
    slices = np.fromfile(_shared(RECORDING), dtype="<f4").reshape(200, 128)
    return np.stack([slices[i:i + 5].reshape(-1) for i in range(len(slices) - 4)])


def hello_sweep() -> np.ndarray:
    """x from a little below 0 to a little past 2 pi: the model's range and both clamps."""
    return np.linspace(-0.5, 2 * np.pi + 0.5, HELLO_SWEEP, dtype=np.float32).reshape(-1, 1)


# Runs in the micropython binary: mount the aligned image at /rom, then for every job load
# the model on one backend, run the windows from the input file (int8 rows, or float32 rows
# that the board quantizes), write the int8 outputs to the output file.
_RUN = """
import gc, vfs, tinyml
from array import array
vfs.mount(vfs.VfsRom(open(%(image)r, 'rb').read()), '/rom')
print('BACKENDS', *tinyml.available_backends())
for path, backend, stream, inputs, floats, n, outputs in %(jobs)r:
    m = tinyml.load(path, backend, stream=True) if stream else tinyml.load(path, backend)
    n_in = len(m.input)
    row = array('f', bytes(4 * n_in))
    with open(inputs, 'rb') as src, open(outputs, 'wb') as dst:
        for _ in range(n):
            if floats:
                src.readinto(row)
                for i in range(n_in):
                    m.input[i] = m.quantize(row[i])
            else:
                src.readinto(m.input)
            m.invoke()
            dst.write(m.output)
    passed, total = m.selftest()
    print('RAN', path, backend, stream, n, '%%d/%%d' %% (passed, total))
    del m
    gc.collect()
"""


def _int8_of_dequantized(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The int8 values behind a DEQUANTIZE op's float32 output, float32(scale * (q - zp)) as
    TFLite computes it: every value must be one of the 256 exactly, else the test fails."""
    q = np.arange(-128, 128)
    table = np.float32(np.float64(np.float32(scale)) * (q - zero_point))
    where = {float(v): int(k) for v, k in zip(table, q)}
    flat = y.reshape(-1)
    missing = [float(v) for v in flat if float(v) not in where]
    assert not missing, f"interpreter output {missing[:3]} is no dequantized int8 value"
    return np.array([where[float(v)] for v in flat], np.int8).reshape(y.shape)


def _golden(tflite: bytes, model: tmdl.TmdlModel, inputs: np.ndarray, rounding: str) -> np.ndarray:
    """The interpreter's int8 outputs for `inputs` (int8 rows, or float rows for float I/O)."""
    y = golden.run(tflite, inputs, rounding)
    if model.float_output:
        return _int8_of_dequantized(y, model.output_scale, model.output_zp)
    return y.astype(np.int8)


@pytest.mark.parametrize("rounding", ["tflm", "litert"])
@pytest.mark.parametrize("name", MODELS)
def test_real_model_bit_exact_every_backend_from_rom_and_filesystem(tmp_path, name, rounding):
    tflite_path = _shared(name)
    tmdl_path = tmp_path / (Path(name).stem + ".tmdl")
    assert cli.main(["export", str(tflite_path), "-o", str(tmdl_path), "--rounding", rounding]) == 0
    model = tmdl.read(tmdl_path)
    assert model.rounding == rounding

    if model.input_size == 640:    # AD01: 5 log-mel slices of 128 bands
        floats = ad01_windows()
        assert floats.shape == (196, 640)
    elif model.input_size == 1:    # hello world: x
        floats = hello_sweep()
    elif not model.float_input:  # no recording here (the MLPerf Tiny models): random int8, seeded
        floats = None
    else:
        pytest.fail(f"{name}: no real input is known for a model of {model.input_size} float inputs; add one here")
    if floats is None:
        board_inputs = np.random.default_rng(11).integers(-128, 128, (RANDOM_INPUTS, model.input_size)).astype(np.int8)
        interpreter_inputs = board_inputs
    elif model.float_input:  # the board quantizes; the interpreter runs the graph's QUANTIZE
        board_inputs, interpreter_inputs = floats.astype("<f4"), floats
    else:                  # an int8 model's input, quantized as TFLite does
        board_inputs = reference.quantize(floats, model.input_scale, model.input_zp)
        interpreter_inputs = board_inputs
        # the recording really exercises the input range, not a clamp at one end
        assert len(np.unique(board_inputs)) > 64 or model.input_size == 1
    (tmp_path / "inputs.bin").write_bytes(board_inputs.tobytes())
    expected = _golden(tflite_path.read_bytes(), model, interpreter_inputs, rounding)

    image, placements = romfs.build({tmdl_path.name: tmdl_path.read_bytes()})
    assert all(p.offset % 4 == 0 for p in placements)
    (tmp_path / "models.romfs").write_bytes(image)
    backends = lines_with("BACKENDS", run("import tinyml; print('BACKENDS', *tinyml.available_backends())"))[0].split()
    assert {"viper", "python"} <= set(backends)
    if require_native():
        assert "native" in backends, "TINYML_REQUIRE_NATIVE=1 but _tinyml is not in this firmware"
    ways = [("rom", "/rom/" + tmdl_path.name, False), ("fs", str(tmdl_path), False),
            ("streamed", str(tmdl_path), True)]  # weights read layer by layer from the filesystem
    jobs = []
    for backend in backends:
        if backend == "python" and name in PYTHON_TOO_SLOW:
            continue
        n = len(board_inputs)
        if backend == "python" and floats is not None and model.input_size > 1:
            n = min(n, PYTHON_WINDOWS)
        for where, path, stream in ways:
            jobs.append((path, backend, stream, str(tmp_path / "inputs.bin"), bool(model.float_input), n,
                         str(tmp_path / f"out_{backend}_{where}.bin")))
    out = run(_RUN % {"image": str(tmp_path / "models.romfs"), "jobs": jobs}, cwd=tmp_path, timeout=600)

    ran = lines_with("RAN", out)
    assert len(ran) == len(jobs), out
    for line, (path, backend, stream, _, _, n, outputs) in zip(ran, jobs):
        assert line.split()[:4] == [path, backend, str(stream), str(n)]
        assert line.split()[4] == f"{len(model.vectors_in)}/{len(model.vectors_in)}", line
        got = np.frombuffer(Path(outputs).read_bytes(), np.int8).reshape(n, model.output_size)
        bad = np.argwhere(got != expected[:n])
        how = f"{name} {rounding} {backend} from {path}{' streamed' if stream else ''}"
        assert not len(bad), (f"{how}: {len(bad)} of {got.size} output bytes differ from the interpreter, "
                              f"first at window {bad[0][0]}, "
                              f"output {bad[0][1]}: {got[tuple(bad[0])]} != {expected[:n][tuple(bad[0])]}")


def test_the_two_roundings_really_differ_on_ad01():
    """Why both roundings are tested: on the real recording TFLite Micro's double rounding and
    LiteRT's single rounding give different bytes, so one path cannot stand in for the other."""
    tflite = _shared("ad01_int8.tflite").read_bytes()
    from tinyml_host import export

    model = export.convert(tflite, "tflm")
    x = reference.quantize(ad01_windows()[:16], model.input_scale, model.input_zp)
    assert np.any(golden.run(tflite, x, "tflm") != golden.run(tflite, x, "litert"))


def test_the_folder_holds_the_models_its_readme_lists():
    assert set(KNOWN) <= set(MODELS), f"{SHARED_MODELS} lacks {sorted(set(KNOWN) - set(MODELS))}"

