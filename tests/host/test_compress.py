"""`tinyml compress`: structured pruning, distillation, int8, measured on held-out takes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import models
from tinyml_host import boards, compress, estimate, gesture, tmdl


@pytest.fixture(scope="module")
def run():
    folder = models.compress_run()
    return folder, {r["step"]: r for r in json.loads((folder / "compress.json").read_text())}


def test_every_row_has_the_issue_columns(run):
    folder, rows = run
    assert {"baseline", "pruned", "distilled"} <= set(rows)
    for step, r in rows.items():
        assert {"step", "params", "tmdl_bytes", "ram_bytes", "float_accuracy", "int8_accuracy", "latency_us"} <= set(r)
        m = tmdl.read(folder / f"gesture-{step}.tmdl")
        assert (folder / f"gesture-{step}.tmdl").stat().st_size == r["tmdl_bytes"]
        assert [l.weights.shape[0] for l in m.layers] == r["layers"]
        assert sum(l.weights.size + l.weights.shape[0] for l in m.layers) == r["params"] == r["float32_bytes"] // 4


def test_pruned_and_distilled_meet_the_targets(run):
    """Within 2 points of the baseline's int8 accuracy with at most half its parameters and a
    lower estimated latency on the Nano 33 BLE Sense."""
    _, rows = run
    base = rows["baseline"]
    nano = boards.load()["nano33_ble_sense"]["cpu_mhz"]
    for step in ("pruned", "distilled"):
        r = rows[step]
        assert r["int8_accuracy"] >= base["int8_accuracy"] - 0.02, step
        assert r["params"] <= 0.5 * base["params"], step
        assert r["latency_us"]["nano33_ble_sense"] < base["latency_us"]["nano33_ble_sense"], step
    # the estimate: MACs * cycles per MAC, plus the int8 SOFTMAX op (format 4) at its cycles per
    # element of op_costs.json, over the clock
    softmax = json.loads(estimate.OP_COSTS.read_text())["cpus"]["cortex-m4"]["SOFTMAX"]
    for r in rows.values():
        cycles = r["macs"] * models.CYCLES_PER_MAC + r["layers"][-1] * softmax
        assert r["latency_us"]["nano33_ble_sense"] == pytest.approx(cycles / nano)


def test_structured_pruning_removes_dead_neurons_without_changing_the_output():
    """Neurons that never fire (bias very negative, so relu gives 0) have no importance: pruning
    half the layer removes exactly them and the narrower network computes the same function."""
    tf = gesture._tf()
    model = gesture.build_mlp(3, (8, 4), seed=1)
    w, b = model.layers[0].get_weights()
    dead = [1, 2, 5, 6]
    b[dead] = -1000.0
    model.layers[0].set_weights([w, b])
    x = np.random.default_rng(0).normal(size=(64, gesture.FEATURES)).astype(np.float32)
    small, kept = compress.prune(model, x, keep=0.5)
    assert kept[0].tolist() == [0, 3, 4, 7] and [l.units for l in small.layers] == [4, 2, 3]
    # the second hidden layer loses 2 of 4 live neurons: compare only through the first layer
    first_big = tf.keras.Sequential([tf.keras.Input(shape=(gesture.FEATURES,)), model.layers[0]])
    first_small = tf.keras.Sequential([tf.keras.Input(shape=(gesture.FEATURES,)), small.layers[0]])
    assert first_small(x).numpy() == pytest.approx(first_big(x).numpy()[:, kept[0]], abs=1e-6)
    assert first_big(x).numpy()[:, dead] == pytest.approx(0.0)


def test_compress_without_a_dataset_is_a_clear_error(tmp_path, capsys):
    from tinyml_host import cli

    assert cli.main(["compress", str(tmp_path / "nothing"), "-o", str(tmp_path / "out")]) == 1
    assert "tinyml compress: error: no dataset folder" in capsys.readouterr().err
