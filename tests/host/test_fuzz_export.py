"""`tinyml export` on damaged .tflite files: every case either writes a .tmdl whose golden
vectors the reference reproduces, or exits 1 with one line `tinyml export: error: FILE: ...`.
Never a traceback, never an "internal error".

Per run: CASES (600) damaged sine models from a fixed seed, CASES / 3 from a fresh seed, and
CASES / 6 of each real model in ../shared/models (truncated, flipped, words and offsets
overwritten, tables shuffled: corrupt.tflite_mutations), plus each model cut at every section
boundary of its flatbuffer (flatbuf_map.py).
Replay: TINYML_FUZZ_SEED=N (the fixed-seed run's seed) and TINYML_FUZZ_CASES=N; the
fresh-seed run prints its seed when it fails.
"""

import os
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

import corrupt
import models
from tinyml_host import cli, reference, tmdl

CASES = int(os.environ.get("TINYML_FUZZ_CASES", 600))
SEED = int(os.environ.get("TINYML_FUZZ_SEED", 18))
SHARED = Path(__file__).resolve().parents[3] / "shared" / "models"
SHARED_MODELS = sorted(SHARED.glob("*.tflite")) if SHARED.is_dir() else []
TINYML = Path(sys.executable).with_name("tinyml")  # the console script pip installed


def problem_with(rc: int, err: str, src: Path, dst: Path) -> str | None:
    """None when the outcome is one of the two allowed ones, else what is wrong."""
    if rc == 0:
        try:
            model = tmdl.read(dst)
        except ValueError as e:
            return f"exported a .tmdl its reader refuses: {e}"
        got = reference.run(model, model.vectors_in).reshape(model.vectors_out.shape)
        if not np.array_equal(got, model.vectors_out):
            return "exported golden vectors the reference does not reproduce"
        return None
    lines = err.strip().splitlines()
    if rc != 1 or len(lines) != 1 or not lines[0].startswith(f"tinyml export: error: {src}: "):
        return f"exit {rc}, stderr {err.strip()[-600:]!r}"
    if dst.exists() or dst.with_suffix(".tmdl.tmp").exists():
        return "an error, but an output file was written"
    return None


def fuzz(blob: bytes, count: int, seed: int, tmp_path: Path, capsys, cases=None) -> dict:
    outcomes = {"exported": 0, "error": 0}
    failures = []
    cases = list(corrupt.tflite_mutations(blob, count, seed) if cases is None else cases)
    count = len(cases)
    for n, (kind, data) in enumerate(cases):
        src, dst = tmp_path / f"case{n}.tflite", tmp_path / f"case{n}.tmdl"
        src.write_bytes(data)
        try:
            rounding = ("tflm", "litert")[n % 2]  # both interpreters make golden vectors
            rc = cli.main(["export", str(src), "-o", str(dst), "--rounding", rounding])
            out, err = capsys.readouterr()
            why = problem_with(rc, err, src, dst)
        except BaseException:  # noqa: BLE001 - SystemExit included: any escape is the failure we look for
            why = "raised:\n" + traceback.format_exc(limit=-3)
        if why:
            failures.append(f"seed {seed} case {n} ({kind}): {why}")
        else:
            outcomes["exported" if rc == 0 else "error"] += 1
        src.unlink()
        dst.unlink(missing_ok=True)
    assert not failures, f"{len(failures)} of {count} cases failed:\n" + "\n".join(failures[:10])
    return outcomes


def test_damaged_sine_models(tmp_path, capsys):
    outcomes = fuzz(models.sine_tflite(), CASES, SEED, tmp_path, capsys)
    # both outcomes must occur, or the mutations are not exercising the checks
    assert outcomes["exported"] >= CASES // 10 and outcomes["error"] >= CASES // 3, outcomes


def test_damaged_sine_models_fresh_seed(tmp_path, capsys):
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"fresh seed {seed}: replay with TINYML_FUZZ_SEED={seed}")
    fuzz(models.sine_tflite(), max(CASES // 3, 1), seed, tmp_path, capsys)


@pytest.mark.skipif(not SHARED_MODELS, reason=f"{SHARED} is absent: the real models are not in the repo")
@pytest.mark.parametrize("path", SHARED_MODELS, ids=lambda p: p.name)
def test_damaged_real_models(path, tmp_path, capsys):
    outcomes = fuzz(path.read_bytes(), max(CASES // 6, 1), SEED, tmp_path, capsys)
    assert outcomes["error"] >= CASES // 20, outcomes


def test_the_flatbuffer_map_agrees_with_the_tflite_package():
    """The fuzz's own flatbuffer walk (flatbuf_map.py) finds what the tflite package reads:
    every constant buffer's data, every tensor and operator table, offsets inside the file."""
    import tflite
    from flatbuf_map import tflite_map

    for blob in [models.sine_tflite()] + [p.read_bytes() for p in SHARED_MODELS]:
        layout = tflite_map(blob)
        assert all(0 <= a < b <= len(blob) for _, a, b in layout.sections)
        assert all(0 <= t < len(blob) for _, t in layout.offsets)
        spans = {(a, b) for _, a, b in layout.sections}
        data = {(a - 4, b) for a, b in corrupt.tflite_data_ranges(blob)}  # a vector starts with its length
        assert data <= spans
        model = tflite.Model.GetRootAsModel(blob, 0)
        graph = model.Subgraphs(0)
        vectors = dict(layout.table_vectors)
        assert len(vectors["model.2[0].0"]) == graph.TensorsLength()
        assert len(vectors["model.2[0].3"]) == graph.OperatorsLength()
        assert len(vectors["model.4"]) == model.BuffersLength()
        tensors = {a for name, a, _ in layout.sections if name.startswith("model.2[0].0[") and name.endswith("]")}
        assert tensors == {graph.Tensors(k)._tab.Pos for k in range(graph.TensorsLength())}


@pytest.mark.parametrize("path", [None] + SHARED_MODELS, ids=lambda p: p.name if p else "sine")
def test_cut_at_every_section_boundary(path, tmp_path, capsys):
    blob = models.sine_tflite() if path is None else path.read_bytes()
    cases = list(corrupt.tflite_boundary_cuts(blob))
    assert len(cases) > 100, len(cases)
    outcomes = fuzz(blob, 0, 0, tmp_path, capsys, cases=cases)
    assert outcomes["exported"] == 0, outcomes  # no cut leaves a whole model


def test_damaged_models_through_the_console_script(tmp_path, capsys):
    """The installed `tinyml` command itself, a process per case: two of each kind of damage
    that makes an error (picked in-process), and the undamaged model."""
    assert TINYML.exists(), f"{TINYML} missing: the package is not installed (make setup)"
    blob = models.sine_tflite()
    chosen, seen = [("undamaged", blob)], {}
    for kind, data in corrupt.tflite_mutations(blob, 60, SEED + 1):
        src = tmp_path / "probe.tflite"
        src.write_bytes(data)
        if seen.get(kind, 0) < 2 and cli.main(["export", str(src), "-o", str(tmp_path / "probe.tmdl")]) == 1:
            seen[kind] = seen.get(kind, 0) + 1
            chosen.append((kind, data))
    capsys.readouterr()
    assert len(chosen) == 1 + 2 * 5, [k for k, _ in chosen]  # two of each of the five kinds
    for n, (kind, data) in enumerate(chosen):
        src, dst = tmp_path / f"cli{n}.tflite", tmp_path / f"cli{n}.tmdl"
        src.write_bytes(data)
        proc = subprocess.run([str(TINYML), "export", str(src), "-o", str(dst)], capture_output=True,
                              text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert problem_with(proc.returncode, proc.stderr, src, dst) is None, (kind, proc.returncode, proc.stderr)
        assert (proc.returncode == 0) == (kind == "undamaged"), (kind, proc.stderr)
