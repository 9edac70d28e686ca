"""`make demo`: train, quantize, export, deploy to the virtual board, run, measure, plot."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import time
from pathlib import Path

import numpy as np

from . import bench, deploy, export, reference, tmdl
from .board import Board
from .boards import ROOT
from .errors import TinymlError

MODELS = ROOT / "models"


def _read_trace(path: Path) -> np.ndarray:
    """pwm.trace records: (uint32 ticks_us, uint32 duty_u16) -> array [n, 2] (ms, duty)."""
    data = path.read_bytes() if path.exists() else b""
    rows = np.array(list(struct.iter_unpack("<II", data[: len(data) // 8 * 8])), dtype=np.float64).reshape(-1, 2)
    if len(rows):
        ticks = np.unwrap(rows[:, 0], period=2**32)  # ticks_us wraps at 2**32 on the unix port's mask
        rows[:, 0] = (ticks - ticks[0]) / 1000.0
    return rows


def _parse_run(out: str):
    xs, ys, duties = [], [], []
    for line in out.splitlines():
        if line.startswith("x="):
            fields = dict(f.split("=") for f in line.split())
            xs.append(float(fields["x"]))
            ys.append(float(fields["y"]))
            duties.append(int(fields["duty"]))
    return np.array(xs), np.array(ys), np.array(duties)


def plot(path: Path, xs, ys, trace, grid_x, grid_ref):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), constrained_layout=True)
    top.plot(grid_x, np.sin(grid_x), color="0.6", lw=2, label="sin(x)")
    top.plot(grid_x, grid_ref, color="tab:blue", lw=1, label="int8 model, host reference")
    top.plot(xs, ys, "o", ms=3, color="tab:orange", label="int8 model on the virtual board")
    top.set_xlabel("x (radians)")
    top.set_ylabel("y")
    top.set_title("TinyML hello world: sine model, int8, on MicroPython")
    top.legend(loc="lower left")
    top.grid(alpha=0.3)
    if len(trace):
        bottom.step(trace[:, 0], trace[:, 1], where="post", color="tab:red")
    bottom.set_xlabel("time on the board (ms)")
    bottom.set_ylabel("LED duty_u16")
    bottom.set_ylim(-2000, 67535)
    bottom.set_title("LED PWM duty recorded by the simulated board's HAL")
    bottom.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(retrain: bool = False, out_dir: str = "out", models_dir: Path = MODELS) -> int:
    from . import term
    from rich.table import Table

    from .sim import VirtualBoard

    console = term.console()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tflite_path, tmdl_path = Path(models_dir) / "sine.tflite", Path(models_dir) / "sine.tmdl"

    if retrain or not tflite_path.exists():
        from . import train

        console.print("[bold]1/4[/] training the sine model and quantizing it to int8 (TFLite converter) ...")
        t0 = time.time()
        train.write_sine(tflite_path)
        console.print(f"    done in {time.time() - t0:.0f} s: {tflite_path}")
    else:
        console.print(f"[bold]1/4[/] using {tflite_path} (make clean or --retrain to train again)")

    console.print("[bold]2/4[/] exporting to .tmdl with golden vectors from the TFLite Micro interpreter ...")
    model = export.export(tflite_path, tmdl_path)
    no_vectors = dataclasses.replace(model, vectors_in=model.vectors_in[:0], vectors_out=model.vectors_out[:0])
    tmdl_size = len(tmdl.encode(no_vectors))
    grid_x = np.linspace(0, 2 * math.pi, 1000)
    grid_ref = reference.predict(model, grid_x).reshape(-1)

    console.print("[bold]3/4[/] starting the virtual board and deploying device/ and the model ...")
    flash = out / "sim" / "flash"
    with VirtualBoard(flash, board="nano33_ble_sense") as vb:
        trace_path = Path(vb.sim_dir) / "pwm.trace"
        trace_path.unlink(missing_ok=True)
        with Board(vb.port) as board:
            deploy.deploy(board, deploy.DEVICE, [tmdl_path], progress=lambda line: None)
            console.print("[bold]4/4[/] running on the board: selftest, latency per backend, then main.py ...")
            rows = bench.run_on_board(board, ["sine.tmdl"])
            run_out = board.exec("import main\nmain.run(cycles=2, verbose=True, period_ms=5)",
                                 soft_reset=True, timeout=120)
    trace = _read_trace(trace_path)
    xs, ys, duties = _parse_run(run_out)
    if not len(xs):
        raise TinymlError("main.py printed no results on the virtual board:\n" + run_out)
    board_err = float(np.max(np.abs(ys - np.sin(xs))))
    ref_err = float(np.max(np.abs(grid_ref - np.sin(grid_x))))
    png = out / "sine_demo.png"
    plot(png, xs, ys, trace, grid_x, grid_ref)

    table = Table(title="sine demo, virtual board (unix port, simulated Nano 33 BLE Sense)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(".tflite size (TFLite converter, int8)", f"{tflite_path.stat().st_size} B")
    table.add_row(".tmdl size (no vectors / 16 vectors)", f"{tmdl_size} B / {tmdl_path.stat().st_size} B")
    table.add_row(".tmdl / .tflite", f"{tmdl_size / tflite_path.stat().st_size:.0%}")
    table.add_row("max |y - sin(x)|, host reference, 1000 x", f"{ref_err:.4f}")
    table.add_row(f"max |y - sin(x)|, on the board, {len(xs)} x", f"{board_err:.4f}")
    for r in rows:
        table.add_row(f"{r['backend']}: latency per invoke()", f"{r['us']:.1f} us")
        table.add_row(f"{r['backend']}: bytes allocated per invoke()", f"{r['alloc']:g}")
        table.add_row(f"{r['backend']}: golden vectors passed", r["selftest"])
    table.add_row("LED duty updates recorded", f"{len(trace)} (min {duties.min()}, max {duties.max()})")
    console.print(table)
    console.print(f"plot: {png}")
    results = {"tflite_bytes": tflite_path.stat().st_size, "tmdl_bytes": tmdl_size,
               "max_error_host": ref_err, "max_error_board": board_err, "backends": rows,
               "led_updates": len(trace),
               "board_samples": [[float(x), float(y), int(d)] for x, y, d in zip(xs, ys, duties)]}
    (out / "sine_demo.json").write_text(json.dumps(results, indent=2))
    failed = [r["backend"] for r in rows if r["selftest"].split("/")[0] != r["selftest"].split("/")[1]]
    if failed:
        raise TinymlError(f"golden vectors failed on backend(s) {', '.join(failed)}")
    return 0
