"""`tinyml compress DIR` on a folder of WAV clips: TinyML's three compression techniques on a
keyword model, measured on the same held-out speakers as `tinyml train kws`.

- baseline: `tinyml train kws --model KIND`'s network (dnn: kws.HIDDEN units; cnn:
  kws.CNN_FILTERS filters; tiny_conv: 8 filters), trained on the same split, clips and
  augmentation as training makes them.
- pruned: structured pruning, as compress.py does for the gesture model, over every layer with a
  width (a dense layer's units, a convolution's filters): each unit's importance is its mean
  activation after the ReLU on the training inputs times the L2 norm of the weights that read
  it downstream; the least important are removed, the narrower network (same layers, batch norm
  included) gets the kept weights and is fine-tuned. Whole units and filters go, so the board
  runs smaller matrices and fewer channels.
- distilled: a teacher twice as wide trained first, then a student of the pruned widths trained
  on the labels and the teacher's temperature-softened logits (Keras 3's Distiller).
- int8 for every row: the TFLite converter (full int8), the .tmdl with its front end record,
  scored through its integer arithmetic on the held-out clips (kws.quantized).

Each row: step, model, widths, params, float32_bytes, tmdl_bytes, ram_bytes (the Nano's RAM for
the model loaded from the filesystem), macs, float_accuracy, int8_accuracy, latency_us per board
(`tinyml estimate`'s native figure)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import audio_data, estimate, gesture, kws
from .errors import TinymlError
from .files import atomic_write

KEEP = 0.5             # fraction of each layer's units (or filters) that pruning keeps
FINE_TUNE_EPOCHS = 20  # the pruned network, from the kept weights; fewer when epochs is lower
TEACHER_SCALE = 2      # the teacher's widths, times the baseline's
TEMPERATURE = 4.0
STUDENT_LOSS_WEIGHT = 0.3
KINDS = ("dnn", "cnn")
BOARD = "nano33_ble_sense"


def _widths(kind: str, widths) -> dict:
    """build()'s keyword for a kind's widths."""
    if kind == "dnn":
        return {"hidden": tuple(widths)}
    if kind == "cnn":
        return {"filters": tuple(widths)}
    return {}


def baseline_widths(kind: str) -> tuple:
    return {"dnn": kws.HIDDEN, "cnn": kws.CNN_FILTERS}[kind]


def _width_layers(model):
    """Indexes of the layers with a width (Dense or Conv2D, not the output layer) and of the
    ReLU after each, in order."""
    names = [type(layer).__name__ for layer in model.layers]
    found = []
    for i, name in enumerate(names[:-1]):
        if name in ("Dense", "Conv2D"):
            relu = next(j for j in range(i + 1, len(names)) if names[j] == "ReLU")
            found.append((i, relu))
    return found


def importance(model, x: np.ndarray) -> list[np.ndarray]:
    """Per width layer: mean |activation| after its ReLU on x times the norm of the weights that
    read each unit in the next layer with weights (a dense layer after a convolution reads each
    filter at every position of the flattened map)."""
    layers = model.layers
    width = _width_layers(model)
    outputs, h = {}, x
    for j, layer in enumerate(layers):
        h = layer(h, training=False)
        outputs[j] = h
    scores = []
    for k, (i, relu) in enumerate(width):
        act = np.abs(outputs[relu].numpy()).reshape(-1, outputs[relu].shape[-1]).mean(axis=0)
        nxt = width[k + 1][0] if k + 1 < len(width) else len(layers) - 1
        w = layers[nxt].get_weights()[0]
        units = act.shape[0]
        if w.ndim == 4:              # conv after conv: kernel (kh, kw, in, out)
            norm = np.sqrt((w ** 2).sum(axis=(0, 1, 3)))
        else:                        # dense: rows are the flattened input, channel last
            norm = np.sqrt((w.reshape(-1, units, w.shape[1]) ** 2).sum(axis=(0, 2)))
        scores.append(act * norm)
    return scores


def prune(model, kind: str, x: np.ndarray, frames: int, channels: int, n_classes: int, keep: float = KEEP,
          seed: int = kws.SEED):
    """A narrower copy of a build() model keeping the most important units of each width layer,
    with their weights (batch norm's four vectors included); (model, kept indices per layer)."""
    kept = [np.sort(np.argsort(-s)[:max(1, int(round(keep * len(s))))]) for s in importance(model, x)]
    small = kws.build(kind, frames, channels, n_classes, seed=seed, **_widths(kind, [len(k) for k in kept]))
    width = dict(_width_layers(model))
    which = {i: n for n, i in enumerate(width)}
    prev, prev_units = None, 0   # the kept units of the last width layer seen, and how many it had
    for i, (big, little) in enumerate(zip(model.layers, small.layers)):
        weights = big.get_weights()
        if not weights:
            continue
        if type(big).__name__ == "BatchNormalization":
            little.set_weights([v[prev] for v in weights])
            continue
        w, b = weights
        out = kept[which[i]] if i in which else np.arange(w.shape[-1])
        if prev is not None and w.ndim == 4:     # a convolution reading the last one's filters
            w = w[:, :, prev]
        elif prev is not None:                   # dense: flattened (positions, units), units last
            w = w.reshape(-1, prev_units, w.shape[1])[:, prev, :].reshape(-1, w.shape[1])
        little.set_weights([w[..., out], b[out]])
        if i in which:
            prev, prev_units = out, weights[0].shape[-1]
    return small, kept


def distil(kind: str, widths, f: kws.Features, frames: int, channels: int, n_classes: int, epochs: int,
           seed: int = kws.SEED):
    """(teacher, student) as softmax models: the teacher (TEACHER_SCALE x the baseline's widths)
    trained on the labels, the student (`widths`) by keras.distillation on labels and logits."""
    import keras

    tf = gesture._tf()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    big = [TEACHER_SCALE * w for w in baseline_widths(kind)]
    teacher = kws.fit(kws.build(kind, frames, channels, n_classes, seed=seed, logits=True, **_widths(kind, big)),
                      f.x_train, f.y_train, epochs, seed, loss=loss)
    student = kws.build(kind, frames, channels, n_classes, seed=seed + 1, logits=True, **_widths(kind, widths))
    distiller = keras.distillation.Distiller(
        teacher=teacher, student=student,
        distillation_losses=keras.distillation.LogitsDistillation(temperature=TEMPERATURE),
        student_loss_weight=STUDENT_LOSS_WEIGHT)
    tf.keras.utils.set_random_seed(seed)
    steps = -(-len(f.x_train) // kws.BATCH)
    schedule = tf.keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=max(1, epochs * steps))
    distiller.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss=loss)
    data = tf.data.Dataset.from_tensor_slices((f.x_train, f.y_train)).shuffle(len(f.x_train), seed=seed)
    distiller.fit(data.batch(kws.BATCH).repeat(), epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False)

    def with_softmax(model, w, s):
        twin = kws.build(kind, frames, channels, n_classes, seed=s, **_widths(kind, w))
        twin.set_weights(model.get_weights())
        return twin

    return with_softmax(teacher, big, seed), with_softmax(student, widths, seed + 1)


def _row(step: str, kind: str, widths, t: kws.Trained, package_bytes: dict) -> dict:
    boards = estimate.estimate(t.tmdl_model, t.tmdl_bytes, package_bytes, estimate.load_costs(estimate.SHIPPED_COSTS))
    params = int(t.model.count_params())
    return {
        "step": step, "model": kind, "widths": [int(w) for w in widths], "params": params,
        "float32_bytes": 4 * params, "tmdl_bytes": t.tmdl_bytes,
        "ram_bytes": next(b["ram_bytes"] for b in boards if b["board"] == BOARD),
        "macs": next(b["macs"] for b in boards),
        "float_accuracy": t.float_accuracy, "int8_accuracy": t.int8_accuracy,
        "latency_us": {b["board"]: b["native_us"] for b in boards},
    }


def compress(data_dir, out_dir, kind: str = "dnn", epochs: int = kws.EPOCHS, seed: int = kws.SEED,
             words: list[str] | None = None, frontend: str = "micro", log=print) -> list[dict]:
    """Baseline, pruned, teacher and distilled keyword models: rows as described above, written
    to OUT_DIR/compress.json with each model's .tflite and .tmdl (kws-STEP.*) beside it."""
    from . import tmdl

    if kind not in KINDS:
        raise TinymlError(f"--model {kind}: tinyml compress prunes one of {', '.join(KINDS)}")
    out_dir = Path(out_dir)
    sp = kws.split(audio_data.load(data_dir), words, True, seed=seed)
    log(f"{len(sp.train)} training clips, {len(sp.test)} test clips ({sp.how})")
    log(f"classes: {', '.join(sp.classes)}")
    a = kws.Augment()
    clips, y = kws.augmented_audio(sp, a, seed)
    f = kws.featurize(sp, frontend, clips, y, a, seed)
    frames, channels = f.frames_test.shape[1:]
    n = len(sp.classes)
    package_bytes = estimate.package_sizes()

    def finish(step, model, widths):
        log(f"{step}: quantizing, exporting ...")
        t = kws.quantized(model, kind, frontend, f.x_train, f.frames_test, f.y_test, n, seed=seed,
                          **_widths(kind, widths))
        t.tmdl_model.labels = list(sp.classes)   # the keyword app names what it hears from the file
        t.tmdl_bytes = len(tmdl.encode(t.tmdl_model))
        return t, _row(step, kind, widths, t, package_bytes)

    results = {}
    base_w = baseline_widths(kind)
    log(f"baseline {kind} {base_w}: training ({epochs} epochs) ...")
    baseline = kws.fit(kws.build(kind, frames, channels, n, seed=seed, **_widths(kind, base_w)), f.x_train,
                       f.y_train, epochs, seed)
    results["baseline"] = finish("baseline", baseline, base_w)
    pruned, kept = prune(baseline, kind, f.x_train[:2000], frames, channels, n, KEEP, seed)
    small_w = [len(k) for k in kept]
    log(f"pruned to {small_w}: fine-tuning ({min(FINE_TUNE_EPOCHS, epochs)} epochs) ...")
    kws.fit(pruned, f.x_train, f.y_train, min(FINE_TUNE_EPOCHS, epochs), seed)
    results["pruned"] = finish("pruned", pruned, small_w)
    log(f"distilling: teacher {[TEACHER_SCALE * w for w in base_w]}, student {small_w} ({epochs} epochs each) ...")
    teacher, student = distil(kind, small_w, f, frames, channels, n, epochs, seed)
    results["teacher"] = finish("teacher", teacher, [TEACHER_SCALE * w for w in base_w])
    results["distilled"] = finish("distilled", student, small_w)

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for step, (t, r) in results.items():
        atomic_write(out_dir / f"kws-{step}.tflite", t.tflite)
        atomic_write(out_dir / f"kws-{step}.tmdl", tmdl.encode(t.tmdl_model))
        rows.append(r)
    atomic_write(out_dir / "compress.json", json.dumps(rows, indent=1) + "\n")
    return rows


def print_table(rows: list[dict], board: str = BOARD, console=None) -> None:
    """The rows in the CLI's compact table style (term.py), as compress.print_table shows the
    gesture model's."""
    from . import term

    term.say(f"keyword model compressed (held-out speakers; latency estimated on {board}):",
             file=console.file if console else None)
    t = term.table()
    for c in ("step", "widths", "params", ".tmdl B", "RAM B", "float", "int8", "latency"):
        t.add_column(c, justify="left" if c in ("step", "widths") else "right")
    for r in rows:
        lat = r["latency_us"].get(board)
        t.add_row(r["step"], "-".join(map(str, r["widths"])), f"{r['params']:,}", f"{r['tmdl_bytes']:,}",
                  f"{r['ram_bytes']:,}", f"{r['float_accuracy']:.1%}", f"{r['int8_accuracy']:.1%}",
                  "-" if lat is None else f"{lat / 1000:.1f} ms")
    term.show(t, console=console)
