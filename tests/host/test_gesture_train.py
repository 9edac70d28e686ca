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
    f = gesture.features(w)
    assert f.shape == (32,)
    mean, log_std, lo, hi, log_change = f[:30].reshape(len(gesture.STATS), 6)
    floor = np.log(0.001)                      # a channel that does not move: log(0 + FLOOR)
    assert mean.tolist() == pytest.approx([0, 0, 1, 0.5, 0, 0])          # gyro in 100 deg/s
    assert log_std.tolist() == pytest.approx([floor, floor, floor, np.log(0.501), floor, floor])
    assert lo.tolist() == pytest.approx([0, 0, 1, 0, 0, 0]) and hi.tolist() == pytest.approx([0, 0, 1, 1, 0, 0])
    assert log_change.tolist() == pytest.approx([floor, floor, floor, np.log(1.001), floor, floor])
    # |a| is 1 g throughout; |gyro| is 1 or 0 (in 100 deg/s), 0.5 on average
    assert f[30:].tolist() == pytest.approx([floor, np.log(0.501)])


def test_a_smaller_motion_moves_the_size_features_by_its_log():
    """Half the motion: every size feature about log(2) lower (less the floor's share: the
    smallest here, ax's mean change, is 0.03 g against the floor's 0.001), far above a still
    board's."""
    t = np.arange(gesture.WINDOW) / gesture.RATE_HZ
    big = np.zeros((gesture.WINDOW, 6))
    big[:, 0] = 0.4 * np.sin(2 * np.pi * t)
    big[:, 2] = 1.0
    big[:, 5] = 60 * np.cos(2 * np.pi * t)
    small = big.copy()
    small[:, [0, 5]] /= 2
    fb, fs = gesture.features(big), gesture.features(small)
    moving = [6, 11, 24, 29]                     # log std and log change of ax and gz
    assert (fb[moving] - fs[moving]) == pytest.approx(np.log(2), abs=0.04)
    still = gesture.features(np.tile([0, 0, 1.0, 0, 0, 0], (gesture.WINDOW, 1)))
    assert (fs[moving] - still[moving]).min() > 3 * np.log(2)


def test_augmented_copies_of_a_take():
    """Each augmentation alone, against what it should do to a known take."""
    t = np.arange(300) / gesture.RATE_HZ
    take = np.zeros((300, 6))
    take[:, 0] = 0.3 * np.sin(2 * np.pi * t)
    take[:, 2] = 1.0
    take[:, 4] = 50 * np.cos(2 * np.pi * t)
    rng = np.random.default_rng(0)
    only = {k: gesture.augment_without(set(gesture.KINDS) - {k}) for k in gesture.KINDS}
    scaled = gesture.augment_take(take, rng, only["scale"])
    factor = scaled[:, 4].std() / take[:, 4].std()
    assert 0.5 <= factor <= 1.6 and scaled[:, 0].std() / take[:, 0].std() == pytest.approx(factor, rel=1e-4)
    assert scaled[:, 2] == pytest.approx(1.0)                     # gravity is not motion
    faster = gesture.augment_take(take, rng, only["tempo"])
    tempo = len(take) / len(faster)
    assert 0.6 <= tempo * 1.01 and tempo * 0.99 <= 1.7
    # one period is 50 / tempo samples now; the gyro's swing times the tempo, the accel's its square
    assert faster[:, 4].std() / take[:, 4].std() == pytest.approx(tempo, rel=0.03)
    assert faster[:, 0].std() / take[:, 0].std() == pytest.approx(tempo ** 2, rel=0.03)
    turned = gesture.augment_take(take, rng, only["rotate"])
    assert np.linalg.norm(turned[:, :3], axis=1) == pytest.approx(np.linalg.norm(take[:, :3], axis=1), rel=1e-5)
    cos = np.dot(turned[0, :3], take[0, :3]) / np.linalg.norm(take[0, :3]) / np.linalg.norm(turned[0, :3])
    assert np.degrees(np.arccos(min(1.0, cos))) <= 20.0 + 1e-3
    biased = gesture.augment_take(take, rng, only["bias"])
    offset = biased - take
    assert offset.std(axis=0) == pytest.approx(0, abs=1e-4)
    assert (np.abs(offset[0, :3]) <= 0.03 + 1e-6).all() and (np.abs(offset[0, 3:]) <= 2.0 + 1e-5).all()
    noisy = gesture.augment_take(take, rng, only["noise"]) - take
    assert (noisy[:, :3].std(axis=0) <= 0.012).all() and (noisy[:, 3:].std(axis=0) <= 0.6).all()
    assert gesture.augment_take(take, rng, gesture.augment_without(gesture.KINDS)) == pytest.approx(take, rel=1e-6, abs=1e-6)
    with pytest.raises(TinymlError, match="no augmentation wobble"):
        gesture.augment_without(["wobble"])


def test_copies_of_a_take_stay_on_its_side_of_the_split(tmp_path):
    gesture.synthesize(tmp_path, labels=("wave", "still"), takes=3, seconds=2.0)
    takes = dataset.load(tmp_path)
    plain = gesture.split_by_take(takes, augment=gesture.NO_AUGMENT)
    a = gesture.Augment(copies=2)
    augmented = gesture.split_by_take(takes, augment=a)
    assert augmented.test_takes == plain.test_takes and augmented.train_takes == plain.train_takes
    assert augmented.x_test == pytest.approx(plain.x_test)       # held-out takes: never augmented
    assert len(augmented.x_train) > 2 * len(plain.x_train)
    # leave one take of each label out: three folds, every take held out once
    assert gesture.fold_count(takes) == 3
    held = [t for fold in range(3) for t in gesture.split_by_take(takes, fold).test_takes]
    assert sorted(held) == sorted(t.path.stem for t in takes)


def test_the_report_gives_the_spread_over_folds_and_the_augmentation(run):
    _, report = run
    cv = report["cross_validation"]
    assert cv["folds"] == len(cv["int8_accuracy"]) == len(cv["float_accuracy"]) == gesture.FOLDS
    assert cv["int8_min"] == min(cv["int8_accuracy"]) <= cv["int8_mean"] <= cv["int8_max"] == max(cv["int8_accuracy"])
    assert cv["int8_accuracy"][0] == report["int8_accuracy"]       # fold 0 is the exported model
    assert len(cv["per_take"]) == models.GESTURE_TAKES * 4           # every take held out once
    assert cv["int8_min"] >= 0.95
    a = report["augment"]
    assert a["copies"] == 8 and a["scale"] == [0.5, 1.6] and a["tempo"] == [0.6, 1.7] and a["rotate_deg"] == 20.0
    assert report["warnings"] == []                                   # 10 varied takes per gesture


def test_alike_takes_are_reported(tmp_path):
    """Three takes of each label that are one take repeated: too alike to judge by."""
    gesture.synthesize(tmp_path, labels=("wave", "still"), takes=1, seconds=2.0)
    for path in list(tmp_path.glob("*/*.json")):
        for k in (1, 2):
            path.with_name(f"{path.stem}-copy{k}.npy").write_bytes(path.with_suffix(".npy").read_bytes())
            path.with_name(f"{path.stem}-copy{k}.json").write_text(path.read_text())
    w = gesture.warnings_of(dataset.load(tmp_path), None)
    assert any(x.startswith("wave: its takes are alike") for x in w), w
    assert any(x.startswith("still: 3 takes, few to judge by") for x in w), w


def test_training_needs_two_labels_and_two_takes_each(tmp_path):
    gesture.synthesize(tmp_path / "one", labels=("wave",), takes=3)
    with pytest.raises(TinymlError, match="at least 2 labels"):
        gesture.train_gesture(tmp_path / "one", tmp_path / "m.tflite")
    gesture.synthesize(tmp_path / "few", labels=("wave", "still"), takes=1)
    with pytest.raises(TinymlError, match="label 'still' has 1 usable take"):
        gesture.train_gesture(tmp_path / "few", tmp_path / "m.tflite")
    with pytest.raises(TinymlError, match="give the .tflite path"):
        gesture.train_gesture(tmp_path / "few", tmp_path / "m.tmdl")


def test_epochs_and_augment_options(tmp_path, capsys):
    from tinyml_host import cli

    gesture.synthesize(tmp_path / "data", labels=("wave", "still"), takes=2, seconds=1.2)
    assert cli.main(["train", "gesture", str(tmp_path / "data"), "-o", str(tmp_path / "m.tflite"), "--epochs", "3",
                     "--no-augment", "--folds", "1"]) == 0
    out = capsys.readouterr().out
    assert "(3 epochs; no augmentation)" in out and "cross-validation" not in out
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["epochs"] == 3 and report["augment"] is None and report["cross_validation"] is None
    assert cli.main(["train", "gesture", str(tmp_path / "data"), "-o", str(tmp_path / "m.tflite"), "--epochs", "2",
                     "--augment-off", "rotate,bias"]) == 0
    out = capsys.readouterr().out
    assert "turned up to 0 deg" in out and "bias up to 0 g / 0 deg/s" in out
    assert "cross-validation, leave one take of each label out: int8" in out
    assert "warning: still: 2 takes, few to judge by" in out
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["augment"]["rotate_deg"] == 0 and report["augment"]["scale"] == [0.5, 1.6]
    assert report["cross_validation"]["folds"] == 2
    assert cli.main(["train", "gesture", str(tmp_path / "data"), "--no-augment", "--augment-off", "tempo"]) == 1
    assert "--no-augment turns every augmentation off" in capsys.readouterr().err
    assert cli.main(["train", "gesture", str(tmp_path / "data"), "--augment-off", "wobble"]) == 1
    assert "no augmentation wobble; the kinds are scale, tempo, rotate, noise, bias" in capsys.readouterr().err


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
