"""`tinyml estimate`: sizes from the file and boards.json, latency from kernel measurements."""

import json

import numpy as np

import models
from tinyml_host import cli, estimate, export, tmdl


def _model():
    return export.convert(models.sine_tflite())


def test_ram_counts_every_array_and_buffer():
    model = _model()  # 1->16->16->1, per-channel, per-channel, per-tensor
    weights = 16 + 256 + 16
    bias = 4 * (16 + 16 + 1)
    quant = 5 * (16 + 16 + 1)       # int32 multiplier + int8 shift per channel
    params = 3 * 28                 # tml_fc_params per layer
    buffers = 1 + 1 + 2 * 16 + 4 * 16 + 4 + 8 * 1
    headers = estimate.OBJECT_HEADER * (estimate.ARRAYS_PER_LAYER * 3 + 7)
    assert estimate.model_ram(model) == weights + bias + quant + params + buffers + headers


def test_latency_uses_the_nearest_measured_shape():
    model = _model()
    costs = [{"cpu": "cortex-m4", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 4.0, "code_bytes": 900},
             {"cpu": "cortex-m4", "shape": "256x64", "kernel": "tinyml", "cycles_per_mac": 2.0, "code_bytes": 900},
             {"cpu": "cortex-m4", "shape": "16x16", "kernel": "reference", "cycles_per_mac": 9.0, "code_bytes": 300}]
    # every sine layer is nearest to 16x16: 288 MACs * 4 cycles at 64 MHz
    assert np.isclose(estimate.latency_us(model, costs, "cortex-m4", 64), 288 * 4.0 / 64)
    assert estimate.latency_us(model, costs, "xtensa-lx6", 160) is None
    rows = {r["board"]: r for r in estimate.estimate(model, 700, {"micropython": 1000, "circuitpython": 2000}, costs)}
    assert np.isclose(rows["nano33_ble_sense"]["native_us"], 288 * 4.0 / 64)
    assert rows["esp32"]["native_us"] is None
    assert rows["pico"]["flash_bytes"] == 1700 and rows["pico"]["macs"] == 288


def test_cli_estimate_for_one_board(tmp_path, capsys):
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(_model()))
    costs = tmp_path / "kernels.json"
    costs.write_text(json.dumps([{"cpu": "cortex-m0plus", "shape": "64x64", "kernel": "tinyml",
                                  "cycles_per_mac": 6.5, "code_bytes": 700}]))
    assert cli.main(["estimate", str(path), "--board", "pico", "--costs", str(costs)]) == 0
    out = capsys.readouterr().out
    assert "pico" in out and f"{288 * 6.5 / 125:.1f} us" in out
    assert cli.main(["estimate", str(path), "--board", "uno"]) == 1
