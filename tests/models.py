"""Test models made by the real TFLite converter, cached under out/cache between runs."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "cache"
RANDOM_MLP_COUNT = 50
_RECIPE_VERSION = "1"  # bump when the recipes below change


def _cached(name: str, make) -> bytes:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(make())
        tmp.replace(path)
    return path.read_bytes()


def _source_digest(*files) -> str:
    h = hashlib.sha256(_RECIPE_VERSION.encode())
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:12]


def sine_tflite() -> bytes:
    from tinyml_host import train

    return _cached(f"sine-{_source_digest(train.__file__)}.tflite", train.sine_tflite)


def mlp_recipe(index: int):
    """Shape, activations and quantization granularity of random MLP number `index`."""
    rng = np.random.default_rng(1000 + index)
    n_layers = int(rng.integers(1, 5))
    # widths from 1 to 256, log-uniform so small and large both show up
    widths = [int(round(math.exp(rng.uniform(0, math.log(256))))) for _ in range(n_layers + 1)]
    acts = [str(rng.choice(["relu", "relu6", "linear"])) for _ in range(n_layers)]
    per_channel = index % 2 == 0
    return widths, acts, per_channel


def random_mlp_tflite(index: int) -> bytes:
    def make():
        import tensorflow as tf
        from tinyml_host.train import quantize_int8

        widths, acts, per_channel = mlp_recipe(index)
        tf.keras.utils.set_random_seed(index)
        layers = [tf.keras.Input(shape=(widths[0],))]
        for w, act in zip(widths[1:], acts):
            layers.append(tf.keras.layers.Dense(w, activation=act,
                                                bias_initializer=tf.keras.initializers.RandomNormal(0, 0.5)))
        model = tf.keras.Sequential(layers)
        rng = np.random.default_rng(index)
        rep = (rng.standard_normal((64, widths[0])) * rng.uniform(0.5, 4)).astype(np.float32)
        return quantize_int8(model, rep, per_channel=per_channel)

    from tinyml_host import train

    return _cached(f"mlp{index:02d}-{_source_digest(__file__, train.__file__)}.tflite", make)


def motion_tflite() -> bytes:
    from tinyml_host import train

    return _cached(f"motion-{_source_digest(train.__file__)}.tflite", train.motion_tflite)


def ad01_shaped_tflite() -> bytes:
    """`tinyml train ad01`: an autoencoder of AD01's shape, trained briefly on synthetic sound."""
    from tinyml_host import train

    return _cached(f"ad01-{_source_digest(train.__file__)}.tflite", train.ad01_tflite)


GESTURE_TAKES = 10      # per label, 2 s each: the virtual board's four gestures


def gesture_run() -> Path:
    """A dataset of the virtual board's gestures (gesture.synthesize) and `tinyml train gesture`
    run on it, cached as a folder under out/cache: data/, models/gesture.{tflite,tmdl,report.json,
    confusion.png}. Rebuilt when the motion model, the recorder's files or the training change."""
    import shutil

    from tinyml_host import cli, dataset, export, gesture, tmdl, train
    from tinyml_host.virtual_board.tinyml_sim import gestures

    # the folder holds .tmdl files too: a format change (tmdl, export) must rebuild it
    digest = _source_digest(__file__, gesture.__file__, dataset.__file__, train.__file__, gestures.__file__,
                            tmdl.__file__, export.__file__)
    folder = CACHE / f"gesture-{digest}"
    if not (folder / "models" / "gesture.report.json").exists():
        tmp = CACHE / f"gesture-{digest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        gesture.synthesize(tmp / "data", takes=GESTURE_TAKES, seed=1)
        if cli.main(["train", "gesture", str(tmp / "data"), "-o", str(tmp / "models" / "gesture.tflite")]) != 0:
            raise RuntimeError("tinyml train gesture failed")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    return folder


# cycles per MAC the compress test's latency estimate uses: one flat figure for the Nano's
# Cortex-M4 at every shape, so the estimate is MACs * CYCLES_PER_MAC / 64 MHz, checkable by hand
CYCLES_PER_MAC = 3.0


def compress_run() -> Path:
    """`tinyml compress` on gesture_run()'s dataset, cached as out/cache/compress-<digest>/."""
    import json
    import shutil

    from tinyml_host import compress, estimate, gesture, train

    data = gesture_run() / "data"
    digest = _source_digest(__file__, compress.__file__, gesture.__file__, train.__file__, estimate.__file__)
    folder = CACHE / f"compress-{digest}"
    if not (folder / "compress.json").exists():
        tmp = CACHE / f"compress-{digest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        costs = tmp / "kernels.json"
        costs.write_text(json.dumps([{"cpu": "cortex-m4", "kernel": "tinyml", "shape": f"{n}x{n}",
                                      "cycles_per_mac": CYCLES_PER_MAC} for n in (16, 64)]))
        compress.compress(data, tmp, costs_path=costs)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    return folder


GESTURE_SESSIONS = 5


def gesture_sessions() -> tuple[Path, list[dict]]:
    """Issue 27's check: gesture_bench's sessions (3 takes of 6 s per gesture, recorded as
    `tinyml record --port sim` would, trained by `tinyml train gesture` with only its model's own
    fold, scored on held-out takes drawn wider), and `tinyml compress` on session 0; cached
    as out/cache/gesture-sessions-<digest>/ (rows.json, compress/compress.json)."""
    import json
    import shutil

    from tinyml_host import compress, dataset, export, gesture, gesture_bench, tmdl, train
    from tinyml_host.virtual_board.tinyml_sim import gestures

    digest = _source_digest(__file__, gesture.__file__, gesture_bench.__file__, compress.__file__, dataset.__file__,
                            train.__file__, gestures.__file__, tmdl.__file__, export.__file__)
    folder = CACHE / f"gesture-sessions-{digest}"
    if not (folder / "rows.json").exists():
        tmp = CACHE / f"gesture-sessions-{digest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        rows = [gesture_bench.run_session(tmp, seed, folds=1) for seed in range(GESTURE_SESSIONS)]
        costs = tmp / "kernels.json"
        costs.write_text(json.dumps([{"cpu": "cortex-m4", "kernel": "tinyml", "shape": f"{n}x{n}",
                                      "cycles_per_mac": CYCLES_PER_MAC} for n in (16, 64)]))
        compress.compress(tmp / "session0" / "recorded", tmp / "compress", costs_path=costs)
        (tmp / "rows.json").write_text(json.dumps(rows))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    return folder, json.loads((folder / "rows.json").read_text())


# keyword spotting on espeak-ng voices: few words and voices, a short training, so the run takes
# well under a minute; the accuracy goals are measured on FSDD by kws_bench.py, not here
KWS_WORDS = ("yes", "no", "left", "right")
KWS_SPEAKERS = 24
KWS_EPOCHS = 20
KWS_COPIES = 2


def kws_run() -> Path:
    """A synthetic-voice dataset (speech_synth) with one extra label, and `tinyml train kws --words
    yes,no,left,right` on it, cached as out/cache/kws-<digest>/: data/, models/kws.*"""
    import shutil

    from tinyml_host import audio_data, cli, cli_loop, export, features, gesture, kws, speech_synth, tmdl

    digest = _source_digest(__file__, audio_data.__file__, kws.__file__, speech_synth.__file__, features.__file__,
                            gesture.__file__, cli_loop.__file__, tmdl.__file__, export.__file__)
    folder = CACHE / f"kws-{digest}"
    if not (folder / "models" / "kws.report.json").exists():
        tmp = CACHE / f"kws-{digest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        speech_synth.synthesize(tmp / "data", KWS_WORDS + ("up",), n_speakers=KWS_SPEAKERS, seed=3)
        if cli.main(["train", "kws", str(tmp / "data"), "-o", str(tmp / "models" / "kws.tflite"),
                     "--words", ",".join(KWS_WORDS), "--epochs", str(KWS_EPOCHS),
                     "--copies", str(KWS_COPIES), "--espeak", "0", "--flite", "0"]) != 0:
            # no synthetic voices beside the data: the data are synthetic voices already, and the
            # default's few hundred clips would make this minute several (test_kws_train tests them)
            raise RuntimeError("tinyml train kws failed")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    return folder


RANDOM_CNN_COUNT = 12


def cnn_recipe(index: int) -> dict:
    """The layers of random CNN number `index`: input (h, w, c), then a list of blocks, each
    (kind, options) with kind conv, depthwise, avgpool, maxpool or residual (a SAME stride-1
    convolution added to its own input), then a dense head (with or without softmax), and
    whether weights are per channel. Odd sizes, both paddings and strides 1 and 2 all occur
    over the recipes (test_graphs.py checks)."""
    rng = np.random.default_rng(5000 + index)
    h, w, c = int(rng.integers(5, 14)), int(rng.integers(4, 12)), int(rng.integers(1, 5))
    blocks = []
    size = min(h, w)
    for _ in range(int(rng.integers(2, 5))):
        kind = str(rng.choice(["conv", "depthwise", "avgpool", "maxpool", "residual"]))
        k = int(rng.integers(1, 4)) if kind != "residual" else 3
        stride = int(rng.integers(1, 3)) if kind != "residual" else 1
        padding = str(rng.choice(["same", "valid"])) if kind != "residual" else "same"
        if padding == "valid" and size - k + 1 < 2:
            padding = "same"
        if kind in ("avgpool", "maxpool"):
            k = max(k, 2)
            padding = "same" if size < k + 1 else padding
        act = str(rng.choice(["relu", "relu6", "linear"]))
        blocks.append((kind, {"k": k, "stride": stride, "padding": padding, "act": act,
                              "filters": int(rng.integers(2, 10))}))
        size = (size + stride - 1) // stride if padding == "same" else (size - k + stride) // stride
    head = {"classes": int(rng.integers(2, 7)), "softmax": bool(index % 2)}
    return {"input": (h, w, c), "blocks": blocks, "head": head, "per_channel": index % 3 != 0}


def _cnn_keras(recipe: dict, seed: int):
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)
    act = {"relu": "relu", "relu6": tf.nn.relu6, "linear": None}
    bias = tf.keras.initializers.RandomNormal(0, 0.3)
    x = inp = tf.keras.Input(shape=recipe["input"], batch_size=1)  # batch 1: Flatten is a plain RESHAPE
    for kind, o in recipe["blocks"]:
        if kind == "conv":
            x = L.Conv2D(o["filters"], o["k"], o["stride"], o["padding"], activation=act[o["act"]],
                         bias_initializer=bias)(x)
        elif kind == "depthwise":
            x = L.DepthwiseConv2D(o["k"], o["stride"], o["padding"], activation=act[o["act"]],
                                  bias_initializer=bias)(x)
        elif kind == "avgpool":
            x = L.AveragePooling2D(o["k"], o["stride"], o["padding"])(x)
        elif kind == "maxpool":
            x = L.MaxPooling2D(o["k"], o["stride"], o["padding"])(x)
        else:
            branch = L.Conv2D(x.shape[-1], 3, 1, "same", activation=act[o["act"]], bias_initializer=bias)(x)
            x = L.Add()([x, branch])
    x = L.Flatten()(x)
    x = L.Dense(recipe["head"]["classes"], activation="softmax" if recipe["head"]["softmax"] else None,
                bias_initializer=bias)(x)
    return tf.keras.Model(inp, x)


def random_cnn_tflite(index: int) -> bytes:
    """Random CNN number `index` (cnn_recipe) made by the real TFLite converter: full int8 with
    a representative dataset, int8 input and output, cached under out/cache. A test generator
    for every .tmdl operator (the device side uses it too)."""
    def make():
        import tensorflow as tf

        from tinyml_host.train import _converter_log

        recipe = cnn_recipe(index)
        model = _cnn_keras(recipe, index)
        rng = np.random.default_rng(index)
        rep = (rng.standard_normal((32,) + recipe["input"]) * rng.uniform(0.5, 3)).astype(np.float32)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([r[None]] for r in rep)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if not recipe["per_channel"]:
            converter._experimental_disable_per_channel = True
        with _converter_log():
            return converter.convert()

    return _cached(f"cnn{index:02d}-{_source_digest(__file__)}.tflite", make)
