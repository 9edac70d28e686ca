"""`tinyml bench`: latency, RAM and allocations per inference on a board, per backend and model."""

from __future__ import annotations

import json
from pathlib import Path

INVOKES = 300

# Runs on the board.
_BENCH = """
import gc, time, tinyml

def load(name, backend):
    try:
        return tinyml.load(name, backend)
    except OSError:
        raise ValueError('%%s is not on the board: `tinyml deploy --model %%s` copies it' %% (name, name))
    except ValueError as e:
        raise ValueError('%%s on the board: %%s' %% (name, e))

def measure(m, n):
    invoke = m.invoke
    invoke()
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(n):
        invoke()
    allocated = gc.mem_alloc() - a0
    # timed apart from the allocation count: ticks_us() itself may allocate on some ports
    t0 = time.ticks_us()
    for _ in range(n):
        invoke()
    return time.ticks_diff(time.ticks_us(), t0) / n, allocated / n

rows = []
for name in %(models)r:
    for backend in tinyml.available_backends():
        gc.collect()
        free0 = gc.mem_free()
        m = load(name, backend)
        gc.collect()
        ram = free0 - gc.mem_free()
        passed, total = m.selftest()
        us, alloc = measure(m, %(n)d)
        rows.append({'model': name, 'backend': backend, 'us': us, 'alloc': alloc, 'ram': ram,
                     'selftest': '%%d/%%d' %% (passed, total)})
        del m
print(repr(rows))
"""


def run_on_board(board, models: list[str], invokes: int = INVOKES) -> list[dict]:
    """models: file names on the board. Soft reset first, so the heap starts clean."""
    board.soft_reset()
    return board.eval_repr(_BENCH % {"models": list(models), "n": invokes}, timeout=600)


def report(rows: list[dict], out_dir: Path, title: str) -> Path:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("model", "backend", "us / invoke", "bytes alloc / invoke", "RAM for model (B)", "golden vectors"):
        table.add_column(col, justify="left" if col in ("model", "backend") else "right")
    for r in rows:
        table.add_row(r["model"], r["backend"], f"{r['us']:.1f}", f"{r['alloc']:g}", str(r["ram"]), r["selftest"])
    Console().print(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "board.json"
    path.write_text(json.dumps(rows, indent=2))
    return path
