"""`make demo` end to end on the virtual board (training skipped: the suite's cached sine model)."""

import json
import math

import numpy as np

import models
from tinyml_host import cli, reference, tmdl


def test_demo_runs_and_reports(tmp_path, capsys):
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    tflite = models.sine_tflite()
    (model_dir / "sine.tflite").write_bytes(tflite)
    assert cli.main(["demo", "--out", str(tmp_path / "out"), "--models", str(model_dir)]) == 0
    printed = capsys.readouterr().out
    assert "golden vectors passed" in printed
    results = json.loads((tmp_path / "out" / "sine_demo.json").read_text())
    png = tmp_path / "out" / "sine_demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
    assert {r["backend"] for r in results["backends"]} >= {"python", "viper"}
    for r in results["backends"]:
        assert r["selftest"] == "16/16" and r["alloc"] == 0 and r["us"] > 0
    assert results["tmdl_bytes"] <= 0.25 * len(tflite)
    assert results["led_updates"] == 128  # main.run(cycles=2): 2 sweeps of 64 steps, one duty each
    # what main.py printed on the board is the int8 model's answer, and the LED duty follows it
    samples = np.array(results["board_samples"])
    model = tmdl.read(model_dir / "sine.tmdl")
    xs = np.array([2 * math.pi * (k % 64) / 64 for k in range(128)])  # main.py's sweep, full precision
    np.testing.assert_allclose(samples[:, 0], xs, atol=5.1e-5)
    q = reference.run(model, reference.quantize(xs.reshape(-1, 1), model.input_scale, model.input_zp))
    y = (q.reshape(-1).astype(np.float64) - model.output_zp) * float(model.output_scale)  # as the board: double
    np.testing.assert_allclose(samples[:, 1], y, atol=5.1e-5)  # printed with 4 decimals
    assert list(samples[:, 2].astype(int)) == [min(65535, max(0, int((v + 1.0) * 32767.5))) for v in y]
    assert results["max_error_host"] < 0.25
