"""`tinyml compress DIR`: the three compression techniques of TinyML on the gesture model,
measured on the same held-out takes.

- baseline: the model `tinyml train gesture` makes (gesture.HIDDEN).
- pruned: structured pruning. Each hidden neuron's importance is its mean activation on the
  training windows times the L2 norm of its outgoing weights (what it contributes downstream);
  the least important are removed, a narrower dense network is rebuilt from the kept rows and
  columns, and fine-tuned. Removing whole neurons shrinks the dense kernels' matrices, so the
  board does fewer multiply-accumulates; zeroed weights (unstructured pruning) would not.
  Written here: tensorflow-model-optimization's pruning is unstructured (or m-by-n sparsity),
  and its 0.8 release needs Keras 2 (tf-keras) where this project runs Keras 3.
- distilled: knowledge distillation with Keras 3's own keras.distillation.Distiller: a wider
  teacher (TEACHER_HIDDEN) trained first, then a student of the pruned width trained on the
  labels and on the teacher's temperature-softened outputs (LogitsDistillation).
- int8 quantization, for every row: the TFLite converter (full int8), exported to .tmdl; the
  float32 size is params * 4 bytes.

Each row: step, params, float32_bytes, tmdl_bytes, ram_bytes, macs, float_accuracy,
int8_accuracy and latency_us (estimated, per board, from `tinyml estimate`'s kernel costs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import dataset, estimate, gesture
from .errors import TinymlError
from .files import atomic_write

TEACHER_HIDDEN = (64, 32)
KEEP = 0.5             # fraction of each hidden layer's neurons that pruning keeps
FINE_TUNE_EPOCHS = 20   # the pruned network, starting from the kept weights; fewer when epochs is lower
TEMPERATURE = 4.0
STUDENT_LOSS_WEIGHT = 0.3


def neuron_importance(model, x: np.ndarray) -> list[np.ndarray]:
    """Per hidden Dense layer: mean activation on x times the norm of the outgoing weights."""
    dense = model.layers
    scores = []
    h = x
    for i, layer in enumerate(dense[:-1]):
        h = layer(h).numpy()
        outgoing = dense[i + 1].get_weights()[0]            # (this layer's units, next units)
        scores.append(np.abs(h).mean(axis=0) * np.linalg.norm(outgoing, axis=1))
    return scores


def prune(model, x: np.ndarray, keep: float = KEEP, seed: int = gesture.SEED):
    """A narrower copy of `model` (Dense layers only) keeping the most important neurons of
    each hidden layer, with the kept weights; (new model, kept indices per hidden layer)."""
    kept = [np.sort(np.argsort(-s)[:max(1, int(round(keep * len(s))))]) for s in neuron_importance(model, x)]
    widths = [len(k) for k in kept]
    small = gesture.build_mlp(model.layers[-1].units, widths, seed)
    rows = np.arange(model.input_shape[-1])
    for i, (big, little) in enumerate(zip(model.layers, small.layers)):
        w, b = big.get_weights()
        cols = kept[i] if i < len(kept) else np.arange(w.shape[1])
        little.set_weights([w[np.ix_(rows, cols)], b[cols]])
        rows = cols
    return small, kept


def _logits(hidden, n_classes, seed):
    tf = gesture._tf()
    tf.keras.utils.set_random_seed(seed)
    layers = [tf.keras.Input(shape=(gesture.FEATURES,))]
    layers += [tf.keras.layers.Dense(h, activation="relu") for h in hidden]
    layers.append(tf.keras.layers.Dense(n_classes))
    return tf.keras.Sequential(layers)


def _with_softmax(logit_model, seed):
    """The same Dense layers and weights with softmax on the last: what the board runs."""
    hidden = [l.units for l in logit_model.layers[:-1]]
    model = gesture.build_mlp(logit_model.layers[-1].units, hidden, seed)
    for src, dst in zip(logit_model.layers, model.layers):
        dst.set_weights(src.get_weights())
    return model


def distil(split: gesture.Split, hidden, epochs: int = gesture.EPOCHS, seed: int = gesture.SEED):
    """(teacher, student): the teacher trained on the labels, the student by keras.distillation."""
    tf = gesture._tf()
    import keras

    n = len(split.classes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    teacher = _logits(TEACHER_HIDDEN, n, seed)
    gesture.fit(teacher, split.x_train, split.y_train, epochs, seed, loss=loss)
    student = _logits(hidden, n, seed + 1)
    distiller = keras.distillation.Distiller(
        teacher=teacher, student=student,
        distillation_losses=keras.distillation.LogitsDistillation(temperature=TEMPERATURE),
        student_loss_weight=STUDENT_LOSS_WEIGHT)
    tf.keras.utils.set_random_seed(seed)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    data, steps = gesture.batches(split.x_train, split.y_train, seed)
    distiller.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False)
    return _with_softmax(teacher, seed), _with_softmax(student, seed)


def row(step: str, result: gesture.Result, costs: list[dict], package_bytes: dict) -> dict:
    r = result.report
    boards = estimate.estimate(result.tmdl_model, r["tmdl_bytes"], package_bytes, costs)
    return {
        "step": step,
        "layers": r["layers"],
        "params": r["params"],
        "float32_bytes": 4 * r["params"],
        "tmdl_bytes": r["tmdl_bytes"],
        "ram_bytes": r["ram_bytes"],
        "macs": sum(int(l.weights.size) for l in result.tmdl_model.layers),
        "float_accuracy": r["float_accuracy"],
        "int8_accuracy": r["int8_accuracy"],
        "latency_us": {b["board"]: b["native_us"] for b in boards},
    }


def compress(data_dir, out_dir, epochs: int = gesture.EPOCHS, seed: int = gesture.SEED,
             costs_path: Path = estimate.KERNEL_COSTS, augment: gesture.Augment = gesture.Augment()) -> list[dict]:
    """Baseline, pruned, distilled (and the teacher, for reference): rows as described above,
    written to OUT_DIR/compress.json with each model's .tflite and .tmdl beside it. The split
    and the augmentation are `tinyml train gesture`'s (fold 0): the baseline is its model."""
    from . import tmdl

    out_dir = Path(out_dir)
    split = gesture.split_by_take(dataset.load(data_dir), seed=seed, augment=augment)
    costs = estimate.load_costs(Path(costs_path))
    package_bytes = estimate.package_sizes()
    n = len(split.classes)

    results = {}
    baseline = gesture.fit(gesture.build_mlp(n, gesture.HIDDEN, seed), split.x_train, split.y_train, epochs, seed)
    results["baseline"] = gesture.evaluate(baseline, split)
    pruned, _ = prune(baseline, split.x_train, KEEP, seed)
    gesture.fit(pruned, split.x_train, split.y_train, min(FINE_TUNE_EPOCHS, epochs), seed)
    results["pruned"] = gesture.evaluate(pruned, split)
    student_hidden = [l.units for l in pruned.layers[:-1]]
    teacher, student = distil(split, student_hidden, epochs, seed)
    results["teacher"] = gesture.evaluate(teacher, split)
    results["distilled"] = gesture.evaluate(student, split)

    rows = [row(step, res, costs, package_bytes) for step, res in results.items()]
    out_dir.mkdir(parents=True, exist_ok=True)
    for step, res in results.items():
        atomic_write(out_dir / f"gesture-{step}.tflite", res.tflite)
        atomic_write(out_dir / f"gesture-{step}.tmdl", tmdl.encode(res.tmdl_model))
    atomic_write(out_dir / "compress.json", json.dumps(rows, indent=1) + "\n")
    if not costs:
        print(f"no kernel measurements at {costs_path}: latency columns are empty; `make bench` measures them")
    return rows


BOARD = "nano33_ble_sense"


def print_table(rows: list[dict], board: str = BOARD, console=None):
    from . import term

    if not rows:
        raise TinymlError("nothing to show")
    term.say(f"gesture model compressed (accuracy on held-out takes; latency estimated on {board}):",
             file=console.file if console else None)
    t = term.table()
    for c in ("step", "layers", "params", "float32 B", ".tmdl B", "RAM B", "MACs", "float acc", "int8 acc",
              "latency us"):
        t.add_column(c, justify="left" if c in ("step", "layers") else "right")
    for r in rows:
        lat = r["latency_us"].get(board)
        t.add_row(r["step"], "-".join(map(str, r["layers"])), str(r["params"]), str(r["float32_bytes"]),
                  str(r["tmdl_bytes"]), str(r["ram_bytes"]), str(r["macs"]), f"{r['float_accuracy']:.1%}",
                  f"{r['int8_accuracy']:.1%}", "-" if lat is None else f"{lat:.1f}")
    term.show(t, console=console)
