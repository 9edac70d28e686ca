"""`tinyml monitor --app gesture`: the gesture app's frames (seq,class,score) from the virtual
board, shown with the class names from training."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import models
from tinyml_host.errors import TinymlError
from tinyml_host.monitor import transports

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "host"), "COLUMNS": "200"}


def test_monitor_names_the_classes_the_gesture_app_sends(tmp_path):
    """The board's CLASSES line names the classes of the model it runs: it wins over a host file
    (here one with other names), which only stands in until the line arrives."""
    trained = models.gesture_run() / "models"
    (tmp_path / "models").mkdir()
    for name in ("gesture.tmdl", "gesture.classes"):
        shutil.copy(trained / name, tmp_path / "models" / name)
    (tmp_path / "stale.classes").write_text("one\ntwo\nthree\nfour\n")
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "monitor", "--port", "sim", "--app", "gesture",
                           "--seconds", "4", "--no-live", "--csv", "frames.csv", "--classes", "stale.classes"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "frames.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seq", "class", "score"] and len(rows) > 2
    classes = (trained / "gesture.classes").read_text().split()
    assert all(0 <= int(float(r[1])) < len(classes) and 0 < float(r[2]) <= 1 for r in rows[1:])
    last = rows[-1]
    assert f"class {classes[int(float(last[1]))]}" in proc.stdout
    assert "classes (from the board)" in proc.stdout and " ".join(classes) in proc.stdout
    assert "one" not in proc.stdout.split("last frame")[1].split("\n")[0]


def test_class_names_from_a_classes_file_or_a_report(tmp_path):
    (tmp_path / "g.classes").write_text("still\nwave\n\n")
    (tmp_path / "g.report.json").write_text(json.dumps({"classes": ["a", "b", "c"]}))
    assert transports.read_class_names(tmp_path / "g.classes") == ("still", "wave")
    assert transports.read_class_names(tmp_path / "g.report.json") == ("a", "b", "c")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(TinymlError, match="not a training report with a 'classes' list"):
        transports.read_class_names(tmp_path / "bad.json")
    with pytest.raises(TinymlError, match="cannot read it"):
        transports.read_class_names(tmp_path / "missing.classes")
