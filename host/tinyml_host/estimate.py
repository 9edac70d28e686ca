"""`tinyml estimate`: flash, RAM and latency of a .tmdl model on each board, before deploying.

Flash: the .tmdl file plus the tinyml package as deploy would copy it.
RAM: what `tinyml.load` allocates on a 32-bit board: the model's arrays and working buffers
(exact byte counts) plus a per-object header estimate.
Latency: multiply-accumulates of each layer times the native kernel's measured cycles per MAC
on the board's CPU (`make bench`, out/bench/kernels.json; nearest measured shape), divided by
the clock from boards.json. CPUs without a measurement get none rather than a guess.
"""

from __future__ import annotations

import math
from pathlib import Path

from . import boards as boards_mod
from .tmdl import TmdlModel

KERNEL_COSTS = Path("out/bench/kernels.json")
OBJECT_HEADER = 32   # bytes per array/tuple object on a 32-bit port, an estimate
ARRAYS_PER_LAYER = 6  # weights, bias, multipliers, shifts, params, and the layer tuple
CPU_OF_BOARD = {"cortex-m4f": "cortex-m4"}  # boards.json cpu -> benchmarked core


def model_ram(model: TmdlModel) -> int:
    data = 0
    for l in model.layers:
        n_out, n_in = l.weights.shape
        data += n_in * n_out + 4 * n_out + 5 * len(l.multiplier) + 4 * 7
    widest = max(max(l.weights.shape) for l in model.layers)
    buffers = model.input_size + model.output_size + 2 * widest + 4 * widest + 4 + 8 * model.output_size
    objects = ARRAYS_PER_LAYER * len(model.layers) + 7
    return data + buffers + OBJECT_HEADER * objects


def load_costs(path: Path = KERNEL_COSTS) -> list[dict]:
    from .inputs import read_kernel_costs  # checked: a damaged file is a message naming the row

    return read_kernel_costs(path)


def cycles_per_mac(costs: list[dict], cpu: str, n_in: int, n_out: int) -> float | None:
    """The "tinyml" kernel's cost on `cpu` at the measured shape nearest (n_in, n_out)."""
    rows = [r for r in costs if r["cpu"] == cpu and r["kernel"] == "tinyml"]
    if not rows:
        return None

    def distance(r):
        s_in, s_out = (int(v) for v in r["shape"].split("x"))
        return abs(math.log(n_in / s_in)) + abs(math.log(n_out / s_out))

    return min(rows, key=distance)["cycles_per_mac"]


def latency_us(model: TmdlModel, costs: list[dict], cpu: str, mhz: float) -> float | None:
    total = 0.0
    for l in model.layers:
        n_out, n_in = l.weights.shape
        cpm = cycles_per_mac(costs, cpu, n_in, n_out)
        if cpm is None:
            return None
        total += n_in * n_out * cpm
    return total / mhz


def estimate(model: TmdlModel, tmdl_bytes: int, package_bytes: dict[str, int], costs: list[dict],
             board_facts: dict | None = None) -> list[dict]:
    """package_bytes: {"micropython": n, "circuitpython": n} (.mpy vs .py package sizes)."""
    rows = []
    for board_id, b in (board_facts or boards_mod.load()).items():
        cpu = CPU_OF_BOARD.get(b["cpu"], b["cpu"])
        firmware = "micropython" if "micropython" in b["firmware"] else b["firmware"][0]
        rows.append({
            "board": board_id,
            "flash_bytes": tmdl_bytes + package_bytes[firmware],
            "flash_kb_board": b["flash_kb"],
            "ram_bytes": model_ram(model),
            "ram_kb_board": b["ram_kb"],
            "macs": sum(l.weights.size for l in model.layers),
            "native_us": latency_us(model, costs, cpu, b["cpu_mhz"]),
            "cpu": b["cpu"],
            "cpu_mhz": b["cpu_mhz"],
        })
    return rows


def package_sizes() -> dict[str, int]:
    from . import deploy

    mpy = sum(len(f.data) for f in deploy.plan(deploy.DEVICE, [], compile_to_mpy=True))
    py = sum(len(f.data) for f in deploy.plan(deploy.DEVICE, [], compile_to_mpy=False))
    return {"micropython": mpy, "circuitpython": py}


def print_table(rows: list[dict], model_name: str, costs_found: bool):
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"estimate for {model_name} (not measured on the boards)")
    for c in ("board", "CPU", "flash (model + tinyml)", "RAM for the model", "MACs", "native latency"):
        t.add_column(c, justify="left" if c in ("board", "CPU") else "right")
    for r in rows:
        lat = f"{r['native_us']:.1f} us" if r["native_us"] is not None else "not measured"
        t.add_row(r["board"], f"{r['cpu']} @ {r['cpu_mhz']} MHz",
                  f"{r['flash_bytes']:,} B of {r['flash_kb_board']} KB", f"{r['ram_bytes']:,} B of {r['ram_kb_board']} KB",
                  f"{r['macs']:,}", lat)
    Console().print(t)
    if not costs_found:
        print("native latency needs kernel measurements: run `make bench` (writes out/bench/kernels.json)")
