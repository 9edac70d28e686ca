"""Gesture classification from a dataset folder (dataset.py): features, a split by take,
augmented copies of the training takes, a small Keras MLP, full-int8 by the TFLite converter,
the .tmdl, and a report with the spread over folds of whole takes.

    from tinyml_host import gesture
    result = gesture.train_gesture("data/gestures", "models/gesture.tflite")
    result.report["int8_accuracy"], result.report["cross_validation"], result.report["warnings"]

Features (what the board computes from its last WINDOW samples, so they fit the dense kernels):
for each of the six channels (accel in g, gyro in GYRO_UNIT_DPS), its mean, log standard
deviation, minimum, maximum and log mean absolute change between samples, then the log
deviation of the accelerometer's magnitude and the log mean of the gyro's: 32 numbers. No
window of a take is in both the training and the test set: whole takes are held out, and a
take's augmented copies train with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dataset
from .errors import TinymlError
from .files import atomic_write

RATE_HZ = 50            # device/lib/tinyml/record.py RATE_HZ
WINDOW = 50             # samples per classification: one second
HOP = 10                # windows start every HOP samples within a take
GYRO_UNIT_DPS = 100.0   # gyro features in units of 100 deg/s: the same range as accel in g
FLOOR = 0.001           # added before the log: 1 mg, 0.1 deg/s, below any IMU's noise
STATS = ("mean", "log_std", "min", "max", "log_change")
EXTRA = ("log_std_accel_norm", "log_mean_gyro_norm")
FEATURES = len(STATS) * len(dataset.CHANNELS) + len(EXTRA)
SEED = 12
HIDDEN = (32, 16)
EPOCHS = 40             # of the augmented training set: (1 + copies) times the takes' windows
FOLDS = 4               # at most: leave one take of each label out when a label has fewer takes
FEW_TAKES = 5           # fewer takes of a label than this: the report says the figure rests on few
ALIKE = 1.25            # takes of a label whose motion sizes all lie within this ratio are "alike"


def features(window: np.ndarray) -> np.ndarray:
    """(..., WINDOW, 6) samples in g and deg/s -> (..., FEATURES) features: per statistic the
    six channels (gyro in GYRO_UNIT_DPS), then EXTRA.

    The sizes of motion (standard deviation, mean absolute change between samples, and the two
    rotation-free ones: the deviation of the accelerometer's magnitude, the gyro's mean
    magnitude) enter as log(x + FLOOR): a gesture half as big moves every one of them by the
    same log(2), wherever it lies, while a still board sits at the floor, several such steps
    below the gentlest motion. Linear, one int8 step of the model's input spans a big share
    of a small motion's size and a still board's all of it."""
    w = np.asarray(window, np.float64).copy()
    w[..., 3:] /= GYRO_UNIT_DPS
    change = np.abs(np.diff(w, axis=-2)).mean(axis=-2)
    accel_norm = np.sqrt((w[..., :3] ** 2).sum(axis=-1))
    gyro_norm = np.sqrt((w[..., 3:] ** 2).sum(axis=-1))
    return np.concatenate([w.mean(axis=-2), np.log(w.std(axis=-2) + FLOOR), w.min(axis=-2), w.max(axis=-2),
                           np.log(change + FLOOR), np.log(accel_norm.std(axis=-1, keepdims=True) + FLOOR),
                           np.log(gyro_norm.mean(axis=-1, keepdims=True) + FLOOR)], axis=-1).astype(np.float32)


def windows(data: np.ndarray, window: int = WINDOW, hop: int = HOP) -> np.ndarray:
    starts = range(0, len(data) - window + 1, hop)
    return np.stack([data[s:s + window] for s in starts]) if len(data) >= window else np.zeros((0, window, 6))


# --- augmentation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Augment:
    """What training does to each copy of a training take: the take as a person would do it
    another time, bigger or smaller, faster or slower, the board held a little differently.
    Held-out takes are never augmented, and a take's copies train with it."""
    copies: int = 8                    # augmented copies of each training take, beside the take
    scale: tuple = (0.5, 1.6)          # motion size: deviations from the take's mean times this, log-uniform
    tempo: tuple = (0.6, 1.7)          # speed: resampled this much faster, log-uniform; gyro deviations
                                       # times it, accelerometer deviations times its square
    rotate_deg: float = 20.0           # the sensor frame turned up to this about a random axis (accel and gyro)
    noise: tuple = (0.01, 0.5)         # added white noise up to (g, deg/s), standard deviation
    bias: tuple = (0.03, 2.0)          # a constant offset per channel up to +- (g, deg/s)

    def report(self) -> dict:
        return {"copies": self.copies, "scale": list(self.scale), "tempo": list(self.tempo),
                "rotate_deg": self.rotate_deg, "noise_g_dps": list(self.noise), "bias_g_dps": list(self.bias)}


NO_AUGMENT = Augment(copies=0, scale=(1.0, 1.0), tempo=(1.0, 1.0), rotate_deg=0.0, noise=(0.0, 0.0), bias=(0.0, 0.0))
KINDS = ("scale", "tempo", "rotate", "noise", "bias")


def augment_without(kinds) -> Augment:
    """Augment() with the named kinds (KINDS) turned off; all of them: NO_AUGMENT."""
    kinds = set(kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise TinymlError(f"no augmentation {', '.join(sorted(unknown))}; the kinds are {', '.join(KINDS)}")
    if kinds == set(KINDS):
        return NO_AUGMENT
    off = {"scale": {"scale": (1.0, 1.0)}, "tempo": {"tempo": (1.0, 1.0)}, "rotate": {"rotate_deg": 0.0},
           "noise": {"noise": (0.0, 0.0)}, "bias": {"bias": (0.0, 0.0)}}
    fields: dict = {}
    for k in kinds:
        fields.update(off[k])
    from dataclasses import replace

    return replace(Augment(), **fields)


def _log_uniform(rng, lo_hi) -> float:
    lo, hi = lo_hi
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if lo != hi else float(lo)


def _rotation(rng, max_deg: float) -> np.ndarray:
    """A rotation matrix about a uniformly random axis by up to max_deg."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(rng.uniform(0, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def augment_take(data: np.ndarray, rng, a: Augment) -> np.ndarray:
    """One augmented copy of a take (samples x 6, g and deg/s)."""
    x = np.asarray(data, np.float64)
    mean = x.mean(axis=0)
    tempo = _log_uniform(rng, a.tempo)
    if tempo != 1.0:   # the same path in 1/tempo of the time: the turn rate rises with the tempo,
        # the hand's acceleration with its square (the part of the accelerometer that is gravity
        # turned with the board does not change, so this overshoots it: scale covers the rest)
        n = max(2, int(len(x) / tempo))
        t = np.arange(n) * tempo
        x = np.stack([np.interp(t, np.arange(len(x)), x[:, c]) for c in range(x.shape[1])], axis=1)
        x = mean + (x - mean) * np.array([tempo * tempo] * 3 + [tempo] * 3)
    x = mean + (x - mean) * _log_uniform(rng, a.scale)
    if a.rotate_deg:
        r = _rotation(rng, a.rotate_deg)
        x = np.concatenate([x[:, :3] @ r.T, x[:, 3:] @ r.T], axis=1)
    noise = np.repeat(rng.uniform(0, 1) * np.array(a.noise), 3)
    bias = rng.uniform(-1, 1, size=6) * np.repeat(np.array(a.bias), 3)
    x = x + bias + rng.normal(size=x.shape) * noise
    return x.astype(np.float32)


# --- the split: whole takes held out -----------------------------------------------------------

@dataclass
class Split:
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_takes: list[str]
    test_takes: list[str]


def usable_takes(takes: list[dataset.Take]) -> tuple[list[str], list[dataset.Take]]:
    """(classes, the takes long enough for a window), or a TinymlError saying what is wrong."""
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
    for label in classes:
        n = sum(t.label == label for t in usable)
        if n < 2:
            raise TinymlError(f"label {label!r} has {n} usable take: need 2 or more to hold one out")
    return classes, usable


def fold_count(takes: list[dataset.Take], folds: int = FOLDS) -> int:
    """Folds of the cross-validation: `folds`, or fewer when a label has fewer takes (then each
    fold holds out one take of each label)."""
    _, usable = usable_takes(takes)
    fewest = min(sum(t.label == label for t in usable) for label in {t.label for t in usable})
    return max(1, min(folds, fewest))


def split_by_take(takes: list[dataset.Take], fold: int = 0, folds: int = FOLDS, seed: int = SEED,
                  augment: Augment = NO_AUGMENT) -> Split:
    """Features of every window. Each label's takes are shuffled (seeded) and dealt into
    fold_count() groups; group `fold` of every label is held out whole for the test. The
    training takes are augmented (`augment`: copies of each, beside it); the test takes never."""
    classes, usable = usable_takes(takes)
    k = fold_count(takes, folds)
    if not 0 <= fold < k:
        raise TinymlError(f"fold {fold} of {k}")
    rng = np.random.default_rng(seed)
    parts = {"train": ([], [], []), "test": ([], [], [])}
    aug_rng = np.random.default_rng(seed + 1 + fold)
    for label in classes:
        mine = [t for t in usable if t.label == label]
        order = rng.permutation(len(mine))
        groups = np.array_split(order[::-1], k)  # group 0: the last takes in the shuffled order
        held = set(groups[fold].tolist())
        for i, take in enumerate(mine):
            side = "test" if i in held else "train"
            x, y, names = parts[side]
            datas = [take.data]
            if side == "train":
                datas += [augment_take(take.data, aug_rng, augment) for _ in range(augment.copies)]
            for d in datas:
                f = features(windows(d))
                x.append(f)
                y.append(np.full(len(f), classes.index(label)))
            names.append(take.path.stem)
    cat = {k_: (np.concatenate(v[0]), np.concatenate(v[1]), v[2]) for k_, v in parts.items()}
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


REPRESENTATIVE = 600    # training windows the converter sees to set the int8 ranges


def representative(x: np.ndarray, n: int = REPRESENTATIVE) -> np.ndarray:
    """Every k-th training window, n at most: the converter runs each through the model, and the
    augmented training set's ranges are in any even sample of it."""
    return x[::max(1, -(-len(x) // n))]


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
    folds: list | None = None   # train_gesture: every fold's Result, this one first


def train_split(split: Split, hidden=HIDDEN, epochs: int = EPOCHS, seed: int = SEED) -> Result:
    model = fit(build_mlp(len(split.classes), hidden, seed), split.x_train, split.y_train, epochs, seed)
    return evaluate(model, split)


def evaluate(model, split: Split) -> Result:
    float_scores = model.predict(split.x_test, verbose=0)
    data, m, encoded = int8_model(model, representative(split.x_train))
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
                     "extra": list(EXTRA), "gyro_unit_dps": GYRO_UNIT_DPS, "log_floor": FLOOR},
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


def take_motion(data: np.ndarray) -> tuple[float, float]:
    """(size, tempo) of a take: the deviation of its accelerometer's magnitude plus its gyro's
    mean magnitude in GYRO_UNIT_DPS (how much it moves), and the mean absolute change over
    the deviation (how fast), each a median over its windows."""
    f = features(windows(data))
    if not len(f):
        return 0.0, 0.0
    size = np.exp(f[:, -2]) + np.exp(f[:, -1])
    n = len(dataset.CHANNELS)
    log_std, log_change = f[:, n:2 * n], f[:, 4 * n:5 * n]
    return float(np.median(size)), float(np.median(np.exp(log_change - log_std).mean(axis=1)))


def warnings_of(takes: list[dataset.Take], cv: dict | None) -> list[str]:
    """What a user should know before trusting the figures: labels with few takes, labels whose
    takes are all alike (the model has seen one way of doing it), takes the cross-validation
    got mostly wrong."""
    classes, usable = usable_takes(takes)
    out = []
    for label in classes:
        mine = [t for t in usable if t.label == label]
        if len(mine) < FEW_TAKES:
            out.append(f"{label}: {len(mine)} takes, few to judge by: each held-out figure rests on one or two "
                       f"of them; record {FEW_TAKES} or more, as differently as you will do it")
        motion = np.array([take_motion(t.data) for t in mine])
        size, tempo = motion[:, 0], motion[:, 1]
        if size.min() > 0 and size.max() / size.min() < ALIKE and tempo.max() / max(tempo.min(), 1e-9) < ALIKE:
            out.append(f"{label}: its takes are alike (size within {size.max() / size.min():.2f}x, tempo within "
                       f"{tempo.max() / max(tempo.min(), 1e-9):.2f}x of each other): vary speed, size and grip "
                       "between takes, or a gentler or faster one may be misread")
    for name, acc in (cv or {}).get("per_take", {}).items():
        if acc < 0.8:
            out.append(f"take {name}: {acc:.0%} of its windows right when it was held out: look at it "
                       "(`tinyml data`), or record more like it")
    return out


def cross_validate(takes: list[dataset.Take], k: int, hidden=HIDDEN, epochs: int = EPOCHS, seed: int = SEED,
                   augment: Augment = Augment(), first: Result | None = None) -> tuple[dict, list[Result]]:
    """Every fold trained and scored (fold 0's Result may be given): the spread of the held-out
    accuracy, per fold and per held-out take."""
    results = [first] if first is not None else []
    for fold in range(len(results), k):
        results.append(train_split(split_by_take(takes, fold, k, seed, augment), hidden, epochs, seed))
    per_take = {}
    for r in results:
        sp = r.split
        scores = np.argmax(int8_predict(r.tmdl_model, sp.x_test), axis=1) == sp.y_test
        at = 0
        for take in sp.test_takes:
            n = len(windows(next(t.data for t in takes if t.path.stem == take)))
            per_take[take] = float(scores[at:at + n].mean())
            at += n
    int8 = [r.report["int8_accuracy"] for r in results]
    flt = [r.report["float_accuracy"] for r in results]
    return {
        "folds": k,
        "how": ("leave one take of each label out" if {sum(t.label == c for t in takes)
                                                        for c in {t.label for t in takes}} == {k}
                else f"{k} folds of whole takes"),
        "float_accuracy": flt, "int8_accuracy": int8,
        "int8_mean": float(np.mean(int8)), "int8_min": float(np.min(int8)), "int8_max": float(np.max(int8)),
        "float_mean": float(np.mean(flt)),
        "per_take": per_take,
    }, results


def train_gesture(data_dir, output="models/gesture.tflite", epochs: int = EPOCHS, seed: int = SEED,
                  hidden=HIDDEN, augment: Augment = Augment(), folds: int = FOLDS) -> Result:
    """`tinyml train gesture DIR -o OUTPUT`: writes OUTPUT (.tflite), its .tmdl, .report.json and
    .confusion.png beside it; returns the Result. The model is fold 0's (its held-out takes are
    the report's test_takes); with folds > 1 the other folds train too, for the spread
    (report["cross_validation"]). folds=1: fold 0 of FOLDS only."""
    output = Path(output)
    if output.suffix != ".tflite":
        raise TinymlError(f"-o {output}: give the .tflite path; the .tmdl and the report go beside it")
    if folds < 1:
        raise TinymlError(f"folds must be 1 or more, got {folds}")
    takes = dataset.load(data_dir)
    _, usable = usable_takes(takes)
    k = fold_count(usable, folds if folds > 1 else FOLDS)
    split = split_by_take(usable, 0, k, seed, augment)
    result = train_split(split, hidden, epochs, seed)
    cv = None
    if folds > 1:
        cv, result.folds = cross_validate(usable, k, hidden, epochs, seed, augment, first=result)
    result.report["epochs"] = epochs
    result.report["augment"] = augment.report() if augment.copies else None
    result.report["cross_validation"] = cv
    result.report["warnings"] = warnings_of(usable, cv)
    tmdl_path, report_path, png_path = report_paths(output)
    from . import tmdl

    atomic_write(output, result.tflite)
    atomic_write(tmdl_path, tmdl.encode(result.tmdl_model))
    atomic_write(classes_path(output), "".join(c + "\n" for c in split.classes).encode())
    result.report["dataset"] = str(data_dir)
    result.report["model"] = {"tflite": str(output), "tmdl": str(tmdl_path)}
    atomic_write(report_path, json.dumps(result.report, indent=1).encode() + b"\n")
    plot_confusion(result.report, png_path)
    return result


# --- a dataset without a board ---------------------------------------------------------------

def synthesize(data_dir, labels=("still", "wave", "circle", "shake"), takes: int = 8, seconds: float = 2.0,
               seed: int = 0, board: str = "nano33_ble_sense", speed_range=None, amplitude_range=None,
               first: int = 0) -> Path:
    """Takes of the virtual board's gestures computed here in CPython from its motion model
    (virtual_board/tinyml_sim/gestures.py), rounded and clipped as the board's IMU would
    (LSM9DS1 at the ranges tinyml's driver sets: 16393 counts/g, 114.3 counts/(deg/s)), in the
    same files `tinyml record --port sim` writes. For notebooks and tests: `tinyml record`
    takes real time, this takes none. speed_range, amplitude_range: where each take's tempo
    and size are drawn from (default: the virtual board's, gestures.SPEED_RANGE and
    AMPLITUDE_RANGE). Take k of each label is seeded seed * 1000 + first + k."""
    from .virtual_board.tinyml_sim import gestures

    accel_lsb, gyro_lsb = 1000 / 0.061, 1000 / 8.75
    n = int(seconds * RATE_HZ)
    for label in labels:
        for k in range(takes):
            take_seed = seed * 1000 + first + k
            g = gestures.Gesture(label, take_seed, speed_range, amplitude_range)
            raw = np.array([g.sample(i / RATE_HZ) for i in range(n)])
            raw[:, :3] = np.clip(np.round(raw[:, :3] * accel_lsb), -32768, 32767) / accel_lsb
            raw[:, 3:] = np.clip(np.round(raw[:, 3:] * gyro_lsb), -32768, 32767) / gyro_lsb
            path = dataset.new_take_name(data_dir, label)
            dataset.write_take(path, raw, {
                "label": label, "board": board, "sensor": "LSM9DS1 (computed on the host)", "rate_hz": RATE_HZ,
                "window": WINDOW, "expected_samples": n, "complete": True, "reason": None, "lost": 0,
                "late": 0, "time": None, "gesture": label, "seed": take_seed,
                "speed": g.speed, "amplitude": g.amplitude,
                "accel_lsb_per_g": accel_lsb, "gyro_lsb_per_dps": gyro_lsb})
    return Path(data_dir)
