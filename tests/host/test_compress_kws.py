"""`tinyml compress` on a keyword dataset (host/tinyml_host/kws_compress.py): structured pruning of
dense units and convolution filters, distillation and int8 on keyword models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import models
from tinyml_host import kws, kws_compress, tmdl

ROOT = Path(__file__).resolve().parents[2]
FRAMES, CHANNELS, CLASSES = 49, 40, 5


@pytest.mark.parametrize("kind, widths", [("dnn", (8, 6, 4)), ("cnn", (4, 8))])
def test_pruning_units_that_never_fire_leaves_the_function_unchanged(kind, widths):
    """Half of every layer's units are dead (batch norm's offset far below zero, so the ReLU
    gives 0 for any input): they have no importance, pruning half removes exactly them, and the
    narrower network computes what the wide one did, to float rounding."""
    model = kws.build(kind, FRAMES, CHANNELS, CLASSES, seed=3, **kws_compress._widths(kind, widths))
    rng = np.random.default_rng(0)
    dead = []
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            n = len(beta)
            gone = np.sort(rng.choice(n, n // 2, replace=False))
            beta[gone] = -1e4
            # live units: a spread of gains and offsets, so the test is not of a trivial network
            beta[np.setdiff1d(np.arange(n), gone)] = rng.normal(0, 0.5, n - n // 2)
            layer.set_weights([rng.uniform(0.5, 2, n).astype(np.float32), beta, mean, var])
            dead.append(gone)
    x = rng.normal(0, 1, (32, FRAMES * CHANNELS)).astype(np.float32)
    small, kept = kws_compress.prune(model, kind, x, FRAMES, CHANNELS, CLASSES, keep=0.5)
    for gone, k, n in zip(dead, kept, widths):
        assert k.tolist() == np.setdiff1d(np.arange(n), gone).tolist()
    assert small(x, training=False).numpy() == pytest.approx(model(x, training=False).numpy(), abs=1e-5)
    assert small.count_params() < model.count_params()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # four short trainings (baseline, fine-tune, teacher, student): about a minute on an idle
    # machine; the subprocess's own limit stays under pytest-timeout's
    data = models.kws_run() / "data"
    out = tmp_path_factory.mktemp("kws-compress")
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "compress", str(data), "-o", str(out),
                           "--epochs", "4", "--words", ",".join(models.KWS_WORDS)],
                          capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "host")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout, {r["step"]: r for r in json.loads((out / "compress.json").read_text())}


@pytest.mark.timeout(1800)
def test_every_step_is_a_keyword_model_the_board_can_run(run):
    out, stdout, rows = run
    assert list(rows) == ["baseline", "pruned", "teacher", "distilled"]
    assert rows["baseline"]["widths"] == list(kws.HIDDEN)
    assert rows["pruned"]["widths"] == rows["distilled"]["widths"] == [w // 2 for w in kws.HIDDEN]
    assert rows["teacher"]["widths"] == [2 * w for w in kws.HIDDEN]
    for step, r in rows.items():
        path = out / f"kws-{step}.tmdl"
        m = tmdl.read(path)
        assert path.stat().st_size == r["tmdl_bytes"]
        assert m.frontend is not None          # the board computes its input from the microphone
        assert m.labels == sorted(models.KWS_WORDS) + ["unknown", "silence"]   # and names what it hears
        dense = [op for op in m.ops if op.kind == tmdl.OP_FULLY_CONNECTED]
        assert [op.weights.shape[0] for op in dense][:-1] == r["widths"]
        assert r["macs"] == sum(op.weights.size for op in dense)
        assert 0 <= r["int8_accuracy"] <= 1 and 0 <= r["float_accuracy"] <= 1
    base, pruned = rows["baseline"], rows["pruned"]
    assert pruned["params"] < 0.55 * base["params"] and pruned["tmdl_bytes"] < 0.6 * base["tmdl_bytes"]
    assert pruned["latency_us"]["nano33_ble_sense"] < base["latency_us"]["nano33_ble_sense"]
    assert "keyword model compressed" in stdout
    assert max(len(line) for line in stdout.splitlines()) <= 100


def test_keyword_options_on_a_gesture_dataset_are_a_clear_error(tmp_path, capsys):
    from tinyml_host import cli

    data = models.gesture_run() / "data"
    assert cli.main(["compress", str(data), "-o", str(tmp_path), "--model", "cnn"]) == 1
    assert "--model and --words are for keyword datasets" in capsys.readouterr().err
