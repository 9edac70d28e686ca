"""`tinyml evaluate MODEL DATA`: score a trained model on a dataset folder of its kind through
the int8 model's integer arithmetic (the bit-exact reference of what the board computes).

MODEL is a .tflite (converted as `tinyml export` would) or a .tmdl, with its .classes beside it
and, for keyword spotting, its .frontend.json (kws.frontend_params). DATA is a folder of WAV
clips (audio.py) for a keyword model, or of IMU takes (dataset.py) for a gesture model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import TinymlError


def read_model(path):
    from . import export
    from .inputs import read_tmdl

    path = Path(path)
    if path.suffix == ".tmdl":
        return read_tmdl(path)
    if path.suffix == ".tflite":
        try:
            return export.convert(path.read_bytes())
        except TinymlError as e:
            raise TinymlError(f"{path}: {e}") from e
    raise TinymlError(f"{path}: give a .tflite or .tmdl model")


def read_classes(model_path) -> list[str]:
    path = Path(model_path).with_suffix(".classes")
    if not path.exists():
        raise TinymlError(f"{path} is missing: `tinyml evaluate` names classes from the .classes file "
                          "`tinyml train` writes beside the model")
    classes = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(classes) < 2:
        raise TinymlError(f"{path}: {len(classes)} class names; a classifier has at least 2")
    return classes


def frontend_path(model_path) -> Path:
    return Path(f"{Path(model_path).with_suffix('')}.frontend.json")


def _audio_inputs(model, model_path, data_dir, classes):
    from . import audio_data, kws

    fpath = frontend_path(model_path)
    if not fpath.exists():
        raise TinymlError(f"{data_dir} holds audio clips, but {model_path} has no {fpath.name} beside it: "
                          "not a keyword model trained by `tinyml train kws`")
    config, params = kws.read_frontend_params(fpath)
    if params["frames"] * params["channels"] != model.input_size:
        raise TinymlError(f"{fpath}: {params['frames']} frames x {params['channels']} channels, but the model "
                          f"takes {model.input_size} inputs")
    ds = audio_data.load(data_dir)
    unknown = sorted({c.label for c in ds.clips} - set(classes))
    if unknown and kws.UNKNOWN not in classes:
        raise TinymlError(f"{data_dir}: labels {', '.join(unknown)} are not among the model's classes "
                          f"({', '.join(classes)}) and it has no {kws.UNKNOWN!r} class")
    y = np.array([classes.index(c.label if c.label in classes else kws.UNKNOWN) for c in ds.clips])
    f = np.stack([features_of(c.audio, config, params["clip_samples"]) for c in ds.clips])
    return kws.int8_input(f, params), y


def features_of(clip, config, clip_samples: int):
    from . import features, kws

    return features.microfrontend(kws.fit_clip(clip, clip_samples), config)


def _imu_inputs(model, data_dir, classes):
    from . import dataset, gesture, reference

    if model.input_size != gesture.FEATURES:
        raise TinymlError(f"{data_dir} holds IMU takes, but the model takes {model.input_size} inputs, not the "
                          f"gesture model's {gesture.FEATURES}")
    takes = dataset.load(data_dir)
    bad = [t for t in takes if not t.is_imu or t.meta["rate_hz"] != gesture.RATE_HZ]
    if bad:
        raise TinymlError(f"{bad[0].path}: not an IMU take at {gesture.RATE_HZ} Hz; the gesture model reads those")
    unknown = sorted({t.label for t in takes} - set(classes))
    if unknown:
        raise TinymlError(f"{data_dir}: labels {', '.join(unknown)} are not among the model's classes "
                          f"({', '.join(classes)})")
    x, y = [], []
    for t in takes:
        f = gesture.features(gesture.windows(t.data))
        x.append(f)
        y += [classes.index(t.label)] * len(f)
    x = np.concatenate(x) if x else np.zeros((0, gesture.FEATURES), np.float32)
    if not len(x):
        raise TinymlError(f"{data_dir}: no take is {gesture.WINDOW} samples long, no window to score")
    # the board's gesture app hands predict() floats, quantized as reference.quantize does
    return reference.quantize(x, model.input_scale, model.input_zp), np.array(y)


def evaluate(model_path, data_dir) -> dict:
    """{"accuracy", "per_class", "confusion", "classes", "kind", "examples"}."""
    from . import audio_data, gesture, kws, reference

    model = read_model(model_path)
    classes = read_classes(model_path)
    if model.output_size != len(classes):
        raise TinymlError(f"{Path(model_path).with_suffix('.classes')}: {len(classes)} classes, the model has "
                          f"{model.output_size} outputs")
    if not Path(data_dir).is_dir():
        raise TinymlError(f"no dataset folder {data_dir}")
    if audio_data.is_audio_folder(data_dir):
        kind = "audio"
        x, y = _audio_inputs(model, model_path, data_dir, classes)
    else:
        kind = "imu"
        x, y = _imu_inputs(model, data_dir, classes)
    scores = reference.run(model, x).reshape(len(x), -1).astype(np.int64)
    return {"accuracy": gesture.accuracy(scores, y), "per_class": kws.per_class(scores, y, classes),
            "confusion": gesture.confusion(scores, y, len(classes)), "classes": classes, "kind": kind,
            "examples": int(len(y))}


def print_result(r: dict, model_path, data_dir, console=None):
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    what = "clips" if r["kind"] == "audio" else "windows"
    print(f"{model_path} on {data_dir}: accuracy {r['accuracy']:.1%} over {r['examples']} {what} "
          "(int8, integer arithmetic)")  # one line, never wrapped: scripts grep it
    table = Table(title="confusion (rows true, columns predicted)")
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for c in r["classes"]:
        table.add_column(c[:8], justify="right")
    for c, row in zip(r["classes"], r["confusion"]):
        acc = r["per_class"][c]
        table.add_row(c, "-" if acc is None else f"{acc:.1%}", *(str(n) for n in row))
    console.print(table)
