"""`tinyml monitor --port sim --app kws --mic CLIP`: TFLM's micro_speech, exported with its front
end and labels, hears TFLM's clip through the virtual board's microphone; the detection reaches the
monitor over the simulated BLE link with the keyword's name."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MICRO_SPEECH = ROOT.parent / "shared" / "models" / "micro_speech"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "host"), "COLUMNS": "200"}


@pytest.mark.skipif(not MICRO_SPEECH.is_dir(), reason="../shared/models/micro_speech (TFLM's model and clips) is absent")
def test_monitor_shows_the_keyword_the_board_hears(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tinyml_host.cli", *args], cwd=tmp_path, env=ENV,
                              capture_output=True, text=True, timeout=300)

    export = cli("export", str(MICRO_SPEECH / "micro_speech_quantized.tflite"), "--frontend", "micro",
                 "--labels", "silence,unknown,yes,no", "-o", "models/kws.tmdl")
    assert export.returncode == 0, export.stderr
    proc = cli("monitor", "--port", "sim", "--app", "kws", "--mic", str(MICRO_SPEECH / "yes_1000ms.wav"),
               "--seconds", "6", "--no-live", "--csv", "frames.csv")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "frames.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seq", "class", "score"]
    detections = [int(float(r[1])) for r in rows[1:]]
    assert detections == [2], rows                       # one detection: class 2, yes
    assert "class yes" in proc.stdout and "silence unknown yes no" in proc.stdout
