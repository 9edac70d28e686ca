"""`tinyml estimate` on a keyword model: the keyword app's CPU share per board (front end every
hop, model every second hop, native backend), checked against the arithmetic done here from the
front end's measured cycles and the boards' clocks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import models
from tinyml_host import boards, estimate, features, tmdl

ROOT = Path(__file__).resolve().parents[2]
TINYML = [sys.executable, "-m", "tinyml_host.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "host")}


@pytest.fixture(scope="module")
def kws_tmdl():
    return models.kws_run() / "models" / "kws.tmdl"


def test_cpu_share_is_front_end_per_hop_plus_model_every_second_hop(kws_tmdl):
    proc = subprocess.run(TINYML + ["estimate", str(kws_tmdl), "--json"], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    fe = json.loads((ROOT / "host" / "tinyml_host" / "data" / "frontend_costs.json").read_text())
    core = {"cortex-m4f": "cortex-m4"}
    facts = boards.load()
    checked = 0
    for row in rows:
        if row["backend"] != "native":   # the same board figure rides on every backend's row
            assert row["kws_app"] == next(r["kws_app"] for r in rows
                                          if r["board"] == row["board"] and r["backend"] == "native")
            continue
        app, board = row["kws_app"], facts[row["board"]]
        cycles = fe["cores"].get(core.get(board["cpu"], board["cpu"]), {}).get("median")
        assert app["frontend_cycles_per_hop"] == cycles
        if cycles is None:          # the ESP32s' Xtensa: no front end figure
            assert app["share"] is None and app["why"]
            continue
        # 20 ms hops: 50 front end runs and 25 inferences a second
        assert app["frontend_share"] == pytest.approx(cycles * 50 / (board["cpu_mhz"] * 1e6))
        assert app["model_share"] == pytest.approx(row["latency_us"] * 25 / 1e6)
        assert app["share"] == pytest.approx(app["frontend_share"] + app["model_share"])
        checked += 1
    assert checked >= 5   # both Nanos, the three Picos


def test_the_table_is_shown_narrow_and_only_for_keyword_models(kws_tmdl, model_file):
    proc = subprocess.run(TINYML + ["estimate", str(kws_tmdl)], env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout[proc.stdout.index("Keyword app, native backend"):]
    assert "nano33_ble_sense" in table and "pico2_w" in table
    assert max(len(line) for line in table.splitlines()) <= 100
    proc = subprocess.run(TINYML + ["estimate", str(model_file), "--json"], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and all("kws_app" not in r for r in json.loads(proc.stdout))


def test_a_front_end_measured_at_other_settings_is_not_priced(kws_tmdl):
    model = tmdl.decode(kws_tmdl.read_bytes())
    other = features.replace(features.MICRO_SPEECH, num_channels=20)
    model.frontend = features.frontend_record(other, lambda v: features.to_int8(v, 0.1, -128, 10 / 256))
    rows = [{"cpu": "cortex-m4f", "cpu_mhz": 64, "native_us": 1000.0}]
    estimate.keyword_app_cpu(model, rows)
    assert rows[0]["kws_app"]["share"] is None
    assert "micro_speech's settings" in rows[0]["kws_app"]["why"]
