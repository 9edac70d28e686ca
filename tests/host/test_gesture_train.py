"""`tinyml train gesture DIR`: split by take, features, Keras MLP, full int8 by the TFLite
converter, .tmdl, report. The int8 accuracy is checked again here with TFLite's own interpreter."""

from __future__ import annotations

import json

import numpy as np
import pytest

import models
from tinyml_host import dataset, gesture, tmdl
from tinyml_host.errors import TinymlError


@pytest.fixture(scope="module")
def run():
    folder = models.gesture_run()
    report = json.loads((folder / "models" / "gesture.report.json").read_text())
    return folder, report


def test_report_meets_the_issue_targets(run):
    folder, report = run
    assert report["classes"] == ["circle", "shake", "still", "wave"]
    assert report["int8_accuracy"] >= 0.95
    assert abs(report["float_accuracy"] - report["int8_accuracy"]) <= 0.02
    c = np.array(report["confusion"])
    assert c.sum() == report["test_windows"] and np.trace(c) / c.sum() == pytest.approx(report["int8_accuracy"])
    assert (folder / "models" / "gesture.confusion.png").stat().st_size > 1000


def test_model_files_match_the_report(run):
    folder, report = run
    path = folder / "models" / "gesture.tmdl"
    assert path.stat().st_size == report["tmdl_bytes"]
    m = tmdl.read(path)
    assert m.input_size == gesture.FEATURES and m.output_size == 4
    assert sum(l.weights.size + l.weights.shape[0] for l in m.layers) == report["params"]


def test_takes_are_held_out_whole(run):
    folder, report = run
    takes = dataset.load(folder / "data")
    names = {t.path.stem: t.label for t in takes}
    train, test = set(report["train_takes"]), set(report["test_takes"])
    assert not train & test and train | test == set(names)
    assert {names[t] for t in test} == set(report["classes"])   # every class is tested
    windows_per_take = len(gesture.windows(takes[0].data))
    assert report["test_windows"] == windows_per_take * len(test)


def test_int8_accuracy_again_with_tflites_interpreter(run):
    """Rebuild the test windows from the held-out takes and run the .tflite in TFLite's own
    interpreter: the same accuracy as the report's (bit-exact reference), to a window or two."""
    from ai_edge_litert import interpreter as litert

    folder, report = run
    test = set(report["test_takes"])
    x, y = [], []
    for take in dataset.load(folder / "data"):
        if take.path.stem in test:
            f = gesture.features(gesture.windows(take.data))
            x.append(f)
            y += [report["classes"].index(take.label)] * len(f)
    x = np.concatenate(x)
    interpreter = litert.Interpreter(model_content=(folder / "models" / "gesture.tflite").read_bytes())
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    predicted = []
    for row in x:
        q = np.clip(np.round(row / scale) + zero, -128, 127).astype(np.int8).reshape(1, -1)
        interpreter.set_tensor(inp["index"], q)
        interpreter.invoke()
        predicted.append(int(np.argmax(interpreter.get_tensor(out["index"])[0])))
    accuracy = float(np.mean(np.array(predicted) == np.array(y)))
    assert accuracy == pytest.approx(report["int8_accuracy"], abs=2 / len(y))


def test_features_of_a_known_window():
    w = np.zeros((gesture.WINDOW, 6), np.float32)
    w[:, 2] = 1.0                              # gravity on z
    w[::2, 3] = 100.0                          # gx alternating 100, 0 deg/s
    f = gesture.features(w).reshape(len(gesture.STATS), 6)
    mean, std, lo, hi, change = f
    assert mean.tolist() == pytest.approx([0, 0, 1, 0.5, 0, 0])          # gyro in 100 deg/s
    assert std.tolist() == pytest.approx([0, 0, 0, 0.5, 0, 0])
    assert lo.tolist() == pytest.approx([0, 0, 1, 0, 0, 0]) and hi.tolist() == pytest.approx([0, 0, 1, 1, 0, 0])
    assert change.tolist() == pytest.approx([0, 0, 0, 1, 0, 0])


def test_training_needs_two_labels_and_two_takes_each(tmp_path):
    gesture.synthesize(tmp_path / "one", labels=("wave",), takes=3)
    with pytest.raises(TinymlError, match="at least 2 labels"):
        gesture.train_gesture(tmp_path / "one", tmp_path / "m.tflite")
    gesture.synthesize(tmp_path / "few", labels=("wave", "still"), takes=1)
    with pytest.raises(TinymlError, match="label 'still' has 1 usable take"):
        gesture.train_gesture(tmp_path / "few", tmp_path / "m.tflite")
    with pytest.raises(TinymlError, match="give the .tflite path"):
        gesture.train_gesture(tmp_path / "few", tmp_path / "m.tmdl")


def test_epochs_option_trains_that_many_epochs(tmp_path, capsys):
    from tinyml_host import cli

    gesture.synthesize(tmp_path / "data", labels=("wave", "still"), takes=2, seconds=1.2)
    assert cli.main(["train", "gesture", str(tmp_path / "data"), "-o", str(tmp_path / "m.tflite"), "--epochs", "3"]) == 0
    assert "(3 epochs)" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.report.json").read_text())["epochs"] == 3


def test_cli_train_takes_a_dataset_only_for_gesture(capsys):
    from tinyml_host import cli

    assert cli.main(["train", "sine", "data"]) == 1
    assert "tinyml train: error: tinyml train sine makes its own data" in capsys.readouterr().err
    assert cli.main(["train", "gesture"]) == 1
    assert "needs the dataset folder" in capsys.readouterr().err
    assert cli.main(["train", "gesture", "data", "--epochs", "0"]) == 1
    assert "tinyml train: error: --epochs must be 1 to 10000, got 0" in capsys.readouterr().err
    assert cli.main(["train", "sine", "--epochs", "5"]) == 1
    assert "--epochs is for `train gesture`" in capsys.readouterr().err
