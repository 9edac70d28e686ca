"""`tinyml demo ad01` end to end on the virtual board: MLPerf Tiny's AD01 from ../shared/models
(skipped when absent) and the same-shape model from `tinyml train ad01` (always; the suite's
cached one). Every figure the demo reports is checked against an independent computation:
the score against the TFLite Micro interpreter run here, RAM against the model's own bytes,
the boards' verdicts against their heap sizes."""

import json
from pathlib import Path

import numpy as np
import pytest

import models
from tinyml_host import ad01_demo, boards, cli, golden, reference, tmdl

WINDOWS = 8  # of 196: pure Python takes 30-50 ms per AD01 invoke on the unix port


def _windows(recording: Path) -> np.ndarray:
    slices = np.fromfile(recording, dtype="<f4").reshape(-1, 128)
    return np.stack([np.concatenate(slices[i:i + 5]) for i in range(len(slices) - 4)])


def _score(tflite: bytes, model: tmdl.TmdlModel, windows: np.ndarray) -> float:
    q = reference.quantize(windows, model.input_scale, model.input_zp)
    y = golden.run_tflm(tflite, q).astype(np.float64)
    errors = [np.mean((w.astype(np.float64) - (row - model.output_zp) * float(model.output_scale)) ** 2)
              for w, row in zip(windows, y)]
    return float(np.mean(errors))


def _run(tmp_path, capsys, tflite: bytes, recording_name: str) -> dict:
    out = tmp_path / "out"
    assert cli.main(["demo", "ad01", "--out", str(out), "--models", str(tmp_path / "models"),
                     "--windows", str(WINDOWS)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "ad01_demo.json").read_text())
    model = tmdl.read(out / "ad01" / "ad01.tmdl")
    assert results["windows"] == WINDOWS
    recording = out / "ad01" / recording_name if not results["model"]["real"] else \
        ad01_demo.SHARED_MODELS / recording_name
    expected = _score(tflite, model, _windows(recording)[:WINDOWS])
    assert results["tflite_score"] == pytest.approx(expected, rel=1e-12)

    # with the unix port's own heap: every backend loads both ways, passes, scores as TFLite
    free = results["groups"][0]
    assert free["boards"] == [ad01_demo.UNCONSTRAINED]
    weights = sum(l.weights.size for l in model.layers)
    for run in free["runs"]:
        assert {"viper", "python"} <= {r["backend"] for r in run["rows"]}, run
        for r in run["rows"]:
            assert "error" not in r, (run["way"], r)
            assert r["selftest"] == "16/16" and r["alloc"] == 0 and r["us"] > 0, (run["way"], r)
            assert r["score"] == pytest.approx(expected, rel=1e-9), (run["way"], r)
            if run["way"] == "RAM":
                assert r["ram"] > weights  # every weight copied to RAM, and more
    # a board whose whole heap is smaller than the weights cannot load them into RAM
    facts = boards.load()
    for g in results["groups"][1:]:
        for run in g["runs"]:
            if run["way"] == "RAM" and facts[g["boards"][0]]["heap"]["bytes"] < weights:
                assert run["rows"] and all(r["error"].startswith("MemoryError") for r in run["rows"]), run
    assert "MLPerf Tiny" in printed and "10.05 ms" in printed  # the published figures beside the estimates
    # the native estimates priced from a cost table: out/bench/kernels.json, or the shipped one
    assert {r["board"]: r["native_us"] for r in results["estimate"]}["nano33_ble_sense"] > 0
    return results, printed


def test_showcase_with_the_same_shape_model_from_tinyml_train(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ad01_demo, "SHARED_MODELS", tmp_path / "no-shared-models")
    tflite = models.ad01_shaped_tflite()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ad01.tflite").write_bytes(tflite)  # what `tinyml train ad01` writes
    results, printed = _run(tmp_path, capsys, tflite, "ad01_synthetic_recording.bin")
    assert not results["model"]["real"] and "synthetic" in results["recording"]
    # a fresh clone's user learns it first, not from a footnote
    first = printed.splitlines()[0]
    assert first.startswith("AD01 STAND-IN: this runs a same-shape stand-in, not MLPerf Tiny's AD01"), first
    assert "STAND-IN" in results["model"]["label"]


@pytest.mark.skipif(not (ad01_demo.SHARED_MODELS / ad01_demo.AD01_TFLITE).exists(),
                    reason=f"{ad01_demo.SHARED_MODELS} has no ad01_int8.tflite: MLPerf Tiny's model lives beside "
                           "the repo, never in it; CI has it")
def test_showcase_with_mlperf_ad01_and_the_real_recording(tmp_path, capsys):
    tflite = (ad01_demo.SHARED_MODELS / ad01_demo.AD01_TFLITE).read_bytes()
    results, printed = _run(tmp_path, capsys, tflite, ad01_demo.RECORDING)
    assert results["model"]["real"] and results["model"]["macs"] == 264192
    assert printed.splitlines()[0].startswith("AD01: MLPerf Tiny's model and its real recording")
