"""Gesture classification from a dataset folder (dataset.py): features, a split by take, a small
Keras MLP, full-int8 by the TFLite converter, the .tmdl, and a report.

    from tinyml_host import gesture
    result = gesture.train_gesture("data/gestures", "models/gesture.tflite")
    result.report["int8_accuracy"], result.report["confusion"]

Features (what the board computes from its last WINDOW samples, so they fit the dense kernels):
for each of the six channels (accel in g, gyro in GYRO_UNIT_DPS), its mean, standard deviation,
minimum, maximum and mean absolute change between samples: 30 numbers. No window of a take is
in both the training and the test set: whole takes are held out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dataset
from .errors import TinymlError

RATE_HZ = 50            # device/lib/tinyml/record.py RATE_HZ
WINDOW = 50             # samples per classification: one second
HOP = 10                # windows start every HOP samples within a take
GYRO_UNIT_DPS = 100.0   # gyro features in units of 100 deg/s: the same range as accel in g
STATS = ("mean", "std", "min", "max", "change")
FEATURES = len(STATS) * len(dataset.CHANNELS)
SEED = 12
HIDDEN = (32, 16)
EPOCHS = 80
TEST_FRACTION = 0.25


def features(window: np.ndarray) -> np.ndarray:
    """(..., WINDOW, 6) samples in g and deg/s -> (..., 30) features, channel-major per statistic."""
    w = np.asarray(window, np.float32).copy()
    w[..., 3:] /= GYRO_UNIT_DPS
    change = np.abs(np.diff(w, axis=-2)).mean(axis=-2)
    return np.concatenate([w.mean(axis=-2), w.std(axis=-2), w.min(axis=-2), w.max(axis=-2), change],
                          axis=-1).astype(np.float32)


def windows(data: np.ndarray, window: int = WINDOW, hop: int = HOP) -> np.ndarray:
    starts = range(0, len(data) - window + 1, hop)
    return np.stack([data[s:s + window] for s in starts]) if len(data) >= window else np.zeros((0, window, 6))


@dataclass
class Split:
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_takes: list[str]
    test_takes: list[str]


def split_by_take(takes: list[dataset.Take], test_fraction: float = TEST_FRACTION, seed: int = SEED) -> Split:
    """Features of every window, with each label's takes shuffled (seeded) and the last
    test_fraction of them (at least one) held out whole for the test set."""
    others = [t for t in takes if not t.is_imu]
    if others:
        t = others[0]
        raise TinymlError(f"{t.path}: a take of {', '.join(t.meta['channels'])}, not the IMU's; the gesture model "
                          "reads IMU takes only: keep other sensors' takes in another dataset folder")
    rates = {t.meta["rate_hz"] for t in takes}
    if rates != {RATE_HZ}:
        raise TinymlError(f"takes at {sorted(rates)} Hz: the gesture model reads {RATE_HZ} Hz")
    usable = [t for t in takes if len(t.data) >= WINDOW]
    classes = sorted({t.label for t in usable})
    if len(classes) < 2:
        raise TinymlError(f"need takes of at least 2 labels of >= {WINDOW} samples each; found {classes or 'none'}")
    rng = np.random.default_rng(seed)
    parts = {"train": ([], [], []), "test": ([], [], [])}
    for label in classes:
        mine = [t for t in usable if t.label == label]
        if len(mine) < 2:
            raise TinymlError(f"label {label!r} has {len(mine)} usable take: need 2 or more to hold one out")
        order = rng.permutation(len(mine))
        n_test = max(1, int(round(test_fraction * len(mine))))
        for rank, i in enumerate(order):
            x, y, names = parts["test" if rank >= len(mine) - n_test else "train"]
            f = features(windows(mine[i].data))
            x.append(f)
            y.append(np.full(len(f), classes.index(label)))
            names.append(mine[i].path.stem)
    cat = {k: (np.concatenate(v[0]), np.concatenate(v[1]), v[2]) for k, v in parts.items()}
    return Split(classes, cat["train"][0], cat["train"][1], cat["test"][0], cat["test"][1],
                 cat["train"][2], cat["test"][2])


def _tf():
    from .train import _quiet_tensorflow

    return _quiet_tensorflow()


def build_mlp(n_classes: int, hidden=HIDDEN, seed: int = SEED):
    tf = _tf()
    tf.keras.utils.set_random_seed(seed)
    layers = [tf.keras.Input(shape=(FEATURES,))]
    layers += [tf.keras.layers.Dense(h, activation="relu") for h in hidden]
    layers.append(tf.keras.layers.Dense(n_classes, activation="softmax"))
    return tf.keras.Sequential(layers)


BATCH = 32


def batches(x, y, seed: int = SEED):
    """(dataset, steps per epoch) for Keras fit: what fit(x, y, batch_size=BATCH, shuffle=True)
    feeds (each epoch a new permutation, the last batch short), as one endless tf.data pipeline.
    Fed numpy arrays, Keras makes a tf.data iterator every epoch, which costs more than the few
    batches of an epoch here: three times the CPU time of the whole fit."""
    tf = _tf()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(BATCH).repeat(), -(-len(x) // BATCH)


def fit(model, x, y, epochs: int = EPOCHS, seed: int = SEED, loss="sparse_categorical_crossentropy"):
    tf = _tf()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    data, steps = batches(x, y, seed)
    model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False)  # data shuffles itself
    return model


def params(model) -> int:
    return int(model.count_params())


def int8_model(model, x_representative: np.ndarray):
    """(tflite bytes, TmdlModel, tmdl bytes): the converter quantizes, export reads its output."""
    from . import export, tmdl
    from .train import quantize_int8

    data = quantize_int8(model, x_representative)
    m = export.convert(data)
    export.add_vectors(m, data)
    return data, m, tmdl.encode(m)


def int8_predict(tmdl_model, x: np.ndarray) -> np.ndarray:
    """Class scores through the integer path the board runs (bit-exact numpy reference)."""
    from . import reference

    return reference.predict(tmdl_model, x)


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float((np.argmax(scores, axis=1) == y).mean())


def confusion(scores: np.ndarray, y: np.ndarray, n: int) -> list[list[int]]:
    c = np.zeros((n, n), np.int64)
    for true, pred in zip(y, np.argmax(scores, axis=1)):
        c[true, pred] += 1
    return c.tolist()


@dataclass
class Result:
    model: object          # the Keras model
    tflite: bytes
    tmdl_model: object
    report: dict
    split: Split


def train_split(split: Split, hidden=HIDDEN, epochs: int = EPOCHS, seed: int = SEED) -> Result:
    model = fit(build_mlp(len(split.classes), hidden, seed), split.x_train, split.y_train, epochs, seed)
    return evaluate(model, split)


def evaluate(model, split: Split) -> Result:
    float_scores = model.predict(split.x_test, verbose=0)
    data, m, encoded = int8_model(model, split.x_train)
    int8_scores = int8_predict(m, split.x_test)
    from . import estimate

    report = {
        "classes": split.classes,
        "float_accuracy": accuracy(float_scores, split.y_test),
        "int8_accuracy": accuracy(int8_scores, split.y_test),
        "confusion": confusion(int8_scores, split.y_test, len(split.classes)),
        "confusion_of": "int8 model on held-out takes; rows true class, columns predicted",
        "params": params(model),
        "tmdl_bytes": len(encoded),
        "tflite_bytes": len(data),
        "ram_bytes": estimate.model_ram(m),
        "layers": [int(l.weights.shape[0]) for l in m.layers],
        "features": {"window": WINDOW, "rate_hz": RATE_HZ, "stats": list(STATS), "channels": list(dataset.CHANNELS),
                     "gyro_unit_dps": GYRO_UNIT_DPS},
        "train_windows": int(len(split.y_train)),
        "test_windows": int(len(split.y_test)),
        "train_takes": split.train_takes,
        "test_takes": split.test_takes,
    }
    return Result(model, data, m, report, split)


def plot_confusion(report: dict, path, held_out: str = "takes") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = np.array(report["confusion"])
    classes = report["classes"]
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.1 * len(classes) + 1.5))
    ax.imshow(c, cmap="Blues")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(c[i, j]), ha="center", va="center", color="black" if c[i, j] < c.max() / 2 else "white")
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted (int8)")
    ax.set_ylabel("true")
    ax.set_title(f"int8 {report['int8_accuracy']:.1%}, float {report['float_accuracy']:.1%} (held-out {held_out})",
                 fontsize=9)
    return dataset.save_figure(fig, path)


def report_paths(output) -> tuple[Path, Path, Path]:
    """models/gesture.tflite -> (models/gesture.tmdl, models/gesture.report.json, models/gesture.confusion.png)"""
    out = Path(output)
    stem = out.with_suffix("")
    return out.with_suffix(".tmdl"), Path(f"{stem}.report.json"), Path(f"{stem}.confusion.png")


def classes_path(output) -> Path:
    """models/gesture.tflite -> models/gesture.classes: the class names, one a line, for the
    board's gesture app (deploy it with the .tmdl)."""
    return Path(output).with_suffix(".classes")


def _atomic(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def train_gesture(data_dir, output="models/gesture.tflite", epochs: int = EPOCHS, seed: int = SEED,
                  hidden=HIDDEN) -> Result:
    """`tinyml train gesture DIR -o OUTPUT`: writes OUTPUT (.tflite), its .tmdl, .report.json and
    .confusion.png beside it; returns the Result."""
    output = Path(output)
    if output.suffix != ".tflite":
        raise TinymlError(f"-o {output}: give the .tflite path; the .tmdl and the report go beside it")
    takes = dataset.load(data_dir)
    split = split_by_take(takes, seed=seed)
    result = train_split(split, hidden, epochs, seed)
    result.report["epochs"] = epochs
    tmdl_path, report_path, png_path = report_paths(output)
    from . import tmdl

    _atomic(output, result.tflite)
    _atomic(tmdl_path, tmdl.encode(result.tmdl_model))
    _atomic(classes_path(output), "".join(c + "\n" for c in split.classes).encode())
    result.report["dataset"] = str(data_dir)
    result.report["model"] = {"tflite": str(output), "tmdl": str(tmdl_path)}
    _atomic(report_path, json.dumps(result.report, indent=1).encode() + b"\n")
    plot_confusion(result.report, png_path)
    return result


# --- a dataset without a board ---------------------------------------------------------------

def synthesize(data_dir, labels=("still", "wave", "circle", "shake"), takes: int = 8, seconds: float = 2.0,
               seed: int = 0, board: str = "nano33_ble_sense") -> Path:
    """Takes of the virtual board's gestures computed here in CPython from its motion model
    (virtual_board/tinyml_sim/gestures.py), rounded and clipped as the board's IMU would
    (LSM9DS1 at the ranges tinyml's driver sets: 16393 counts/g, 114.3 counts/(deg/s)), in the
    same files `tinyml record --port sim` writes. For notebooks and tests: `tinyml record`
    takes real time, this takes none."""
    from .virtual_board.tinyml_sim import gestures

    accel_lsb, gyro_lsb = 1000 / 0.061, 1000 / 8.75
    n = int(seconds * RATE_HZ)
    for label in labels:
        for k in range(takes):
            take_seed = seed * 1000 + k
            g = gestures.Gesture(label, take_seed)
            raw = np.array([g.sample(i / RATE_HZ) for i in range(n)])
            raw[:, :3] = np.clip(np.round(raw[:, :3] * accel_lsb), -32768, 32767) / accel_lsb
            raw[:, 3:] = np.clip(np.round(raw[:, 3:] * gyro_lsb), -32768, 32767) / gyro_lsb
            path = dataset.new_take_name(data_dir, label)
            dataset.write_take(path, raw, {
                "label": label, "board": board, "sensor": "LSM9DS1 (computed on the host)", "rate_hz": RATE_HZ,
                "window": WINDOW, "expected_samples": n, "complete": True, "reason": None, "lost": 0,
                "late": 0, "time": None, "gesture": label, "seed": take_seed,
                "accel_lsb_per_g": accel_lsb, "gyro_lsb_per_dps": gyro_lsb})
    return Path(data_dir)
