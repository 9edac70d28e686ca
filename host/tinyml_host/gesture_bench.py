"""Gesture accuracy from a few takes, measured the way issue 27 states its goal: recording
sessions from the virtual board, each with three takes per gesture as a new user records them
(`tinyml record --port sim --label L --seconds 6 --takes 3`), trained with `tinyml train
gesture` (its own held-out take per gesture and cross-validation), then scored on more takes of
each gesture drawn wider than any training take could be: gentler, bigger, slower and faster.

The takes come from the virtual board's motion model computed in CPython (gesture.synthesize:
the same tinyml_sim/gestures.py the virtual board's IMU fakes play, rounded to the LSM9DS1's
counts), not through a pseudo-terminal: the same numbers, without waiting 6 s per take.

    PYTHONPATH=host python -m tinyml_host.gesture_bench --out out/gesture_bench [--sessions 5] [--compress]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import dataset, gesture

TAKES = 3            # per gesture and session, as recorded
SECONDS = 6.0
WIDE_TAKES = 4       # per gesture and session, held out, drawn from the wide ranges
WIDE_SPEED = (0.55, 1.6)    # the virtual board's own: sim.SPEED_RANGE (0.75, 1.3)
WIDE_AMPLITUDE = (0.45, 1.6)  # sim.AMPLITUDE_RANGE (0.7, 1.3)
WIDE_FIRST = 500     # take seeds seed * 1000 + 500 + k: apart from the recorded takes'


def session(folder, seed: int) -> tuple[Path, Path]:
    """(recorded, wide): session `seed`'s dataset folders, made if missing."""
    folder = Path(folder)
    recorded, wide = folder / "recorded", folder / "wide"
    if not (recorded / ".done").exists():
        gesture.synthesize(recorded, takes=TAKES, seconds=SECONDS, seed=seed)
        (recorded / ".done").touch()
    if not (wide / ".done").exists():
        gesture.synthesize(wide, takes=WIDE_TAKES, seconds=SECONDS, seed=seed, first=WIDE_FIRST,
                           speed_range=WIDE_SPEED, amplitude_range=WIDE_AMPLITUDE)
        (wide / ".done").touch()
    return recorded, wide


def score(result: gesture.Result, takes: list[dataset.Take]) -> dict:
    """Float and int8 accuracy of a trained model on these takes' windows, and per take."""
    classes = result.report["classes"]
    x, y, names = [], [], []
    for t in takes:
        f = gesture.features(gesture.windows(t.data))
        x.append(f)
        y += [classes.index(t.label)] * len(f)
        names += [t.path.stem] * len(f)
    x, y, names = np.concatenate(x), np.array(y), np.array(names)
    right = np.argmax(gesture.int8_predict(result.tmdl_model, x), axis=1) == y
    return {"float_accuracy": gesture.accuracy(result.model.predict(x, verbose=0), y),
            "int8_accuracy": float(right.mean()),
            "per_take": {n: float(right[names == n].mean()) for n in dict.fromkeys(names)}}


def run_session(folder, seed: int, folds: int = gesture.FOLDS, epochs: int = gesture.EPOCHS) -> dict:
    recorded, wide = session(Path(folder) / f"session{seed}", seed)
    result = gesture.train_gesture(recorded, Path(folder) / f"session{seed}" / "models" / "gesture.tflite",
                                   epochs=epochs, folds=folds)
    r = result.report
    wide_takes = dataset.load(wide)
    s = score(result, wide_takes)
    held = score(result, [t for t in dataset.load(recorded) if t.path.stem in set(r["test_takes"])])
    both = score(result, [t for t in dataset.load(recorded) if t.path.stem in set(r["test_takes"])] + wide_takes)
    # every fold's model (trained on other takes) on the same wide takes
    folds_wide = [score(f, wide_takes)["int8_accuracy"] for f in (result.folds or [result])]
    return {"seed": seed, "held_out": held, "wide": s, "all_held_out": both, "folds_wide_int8": folds_wide,
            "cross_validation": r["cross_validation"], "warnings": r["warnings"], "params": r["params"],
            "speeds": {"recorded": [t.meta["speed"] for t in dataset.load(recorded)],
                       "wide": [t.meta["speed"] for t in wide_takes]},
            "amplitudes": {"recorded": [t.meta["amplitude"] for t in dataset.load(recorded)],
                           "wide": [t.meta["amplitude"] for t in wide_takes]}}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tinyml_host.gesture_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/gesture_bench")
    p.add_argument("--sessions", type=int, default=5)
    p.add_argument("--folds", type=int, default=gesture.FOLDS)
    p.add_argument("--compress", action="store_true", help="also `tinyml compress` each session's recorded takes")
    args = p.parse_args(argv)
    out = Path(args.out)
    rows = []
    for seed in range(args.sessions):
        t0 = time.time()
        row = run_session(out, seed, args.folds)
        if args.compress:
            from . import compress

            rows_c = compress.compress(out / f"session{seed}" / "recorded", out / f"session{seed}" / "compress")
            row["compress"] = [{k: r[k] for k in ("step", "layers", "params", "float_accuracy", "int8_accuracy")}
                               for r in rows_c]
        cv = row["cross_validation"]
        print(f"session {seed}: held-out take float {row['held_out']['float_accuracy']:.1%} int8 "
              f"{row['held_out']['int8_accuracy']:.1%}; wide takes float {row['wide']['float_accuracy']:.1%} "
              f"int8 {row['wide']['int8_accuracy']:.1%} (each fold's model: "
              + ", ".join(f"{a:.1%}" for a in row["folds_wide_int8"]) + "); cross-validation int8 "
              + (f"{cv['int8_min']:.1%}-{cv['int8_max']:.1%}" if cv else "-")
              + (" ; compress " + ", ".join(f"{r['step']} {r['params']} {r['int8_accuracy']:.1%}"
                                            for r in row["compress"]) if args.compress else "")
              + f" ({time.time() - t0:.0f} s)", flush=True)
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gesture_bench.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {out / 'gesture_bench.json'}")


if __name__ == "__main__":
    main()
