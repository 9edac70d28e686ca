"""The user's loop end to end on the virtual board, as commands: tinyml record (the board acts
out each gesture) -> tinyml train gesture -> tinyml compress -> tinyml deploy (the pruned model)
-> the gesture app classifying what the board acts out next."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "host")}
GESTURES = ("still", "wave", "circle", "shake")


def tinyml(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"tinyml {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_record_train_compress_deploy_classify(tmp_path):
    for seed, label in enumerate(GESTURES):
        tinyml("record", "--port", "sim", "--label", label, "--takes", "4", "--seconds", "1.5",
               "--seed", str(100 * seed), "--countdown", "0", "--data", "data", cwd=tmp_path)
    out = tinyml("data", "data", cwd=tmp_path)
    assert all(label in out for label in GESTURES)
    tinyml("train", "gesture", "data", "-o", "models/gesture.tflite", cwd=tmp_path)
    report = json.loads((tmp_path / "models" / "gesture.report.json").read_text())
    assert report["classes"] == sorted(GESTURES)
    assert report["int8_accuracy"] >= 0.9, report   # 4 takes a label, one held out: a small test set

    out = tinyml("compress", "data", "-o", "out/compress", cwd=tmp_path)
    rows = {r["step"]: r for r in json.loads((tmp_path / "out" / "compress" / "compress.json").read_text())}
    assert {"baseline", "pruned", "distilled"} <= set(rows) and all(step in out for step in rows)
    pruned = rows["pruned"]
    assert pruned["params"] <= rows["baseline"]["params"] / 2 and pruned["int8_accuracy"] >= 0.9, rows
    # the user picks the pruned model: the app loads gesture.tmdl, the classes stay the same
    shutil.copy(tmp_path / "out" / "compress" / "gesture-pruned.tmdl", tmp_path / "models" / "gesture.tmdl")
    tinyml("deploy", "--port", "sim", "--model", "models/gesture.tmdl", "--model", "models/gesture.classes",
           cwd=tmp_path)
    (tmp_path / "act.py").write_text(
        "import tinyml\nfrom tinyml_sim import devices as simdevices\nfrom tinyml.apps import gesture\n"
        "print('LAYERS', *[l.n_out for l in tinyml.load(gesture.MODEL).layers if l.kind == 0])\n"  # the dense ops
        "for seed, name in enumerate(('still', 'wave', 'circle', 'shake')):\n"
        "    simdevices.perform(name, 7000 + seed)\n"
        "    print('ACT', name)\n"
        "    gesture.run(inferences=2, verbose=True)\n")
    out = tinyml("run", "act.py", "--port", "sim", cwd=tmp_path)
    assert [line.split()[1:] for line in out.splitlines() if line.startswith("LAYERS")] == \
        [[str(n) for n in pruned["layers"]]]   # the board runs the pruned model
    acted = out.split("ACT ")[1:]
    assert len(acted) == 4, out
    for part in acted:
        name = part.split()[0]
        classes = [line.split("class=")[1].split()[0] for line in part.splitlines() if "class=" in line]
        assert len(classes) == 2 and name in classes, (name, classes)
