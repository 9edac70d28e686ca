"""The example notebook runs from top to bottom (nbclient), on a fresh dataset in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "gesture.ipynb"


def test_gesture_notebook_runs(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="dev extra nbclient not installed (pip install -e .[dev])")
    import nbformat

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "host"), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    report_cell = nb.cells[3].outputs
    text = "".join(o.get("text", "") for o in report_cell if o.get("name") == "stdout")
    assert "int8" in text and "held-out windows" in text
    assert (tmp_path / "models" / "gesture.report.json").exists()
    assert (tmp_path / "data" / "gestures" / "samples.png").exists()
