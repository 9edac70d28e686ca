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


# --- duty cycle: how long the apps sleep between inferences --------------------------------------
# Runs on the board: each app whose model is there runs at its own rate for a short while, then the
# hal's counters (tinyml.hal.power_stats) say how long the board was awake and asleep.
_DUTY = """
import os
from tinyml import apps, hal
rows = []
for name, options in %(apps)r:
    module = __import__('tinyml.apps.' + name, None, None, ('run', 'MODEL'))
    try:
        os.stat(apps.model_path(module.MODEL))
    except OSError:
        continue
    module.run(sleep=%(sleep)r, **options)
    awake, asleep, wakeups, wait = hal.power_stats()
    rows.append({'app': name, 'board': hal.board_id(), 'awake_ms': awake, 'asleep_ms': asleep,
                 'wakeups': wakeups, 'wait': wait, 'options': options})
print(repr(rows))
"""
# motion: 6 inferences (16 + 5 x 8 samples at 50 Hz, about 1.1 s); sine: one sweep (64 x 20 ms)
DUTY_APPS = (("motion", {"inferences": 6}), ("sine", {"cycles": 1}))
SLEEPS = ("auto", "light", "idle")


def duty_on_board(board, sleep: str = "auto") -> list[dict]:
    """The apps' duty cycle on the board (soft reset first); [] when no app's model is there."""
    board.soft_reset()
    return board.eval_repr(_DUTY % {"apps": DUTY_APPS, "sleep": sleep}, timeout=120)


def average_power(row: dict, board_facts: dict) -> dict:
    """Duty cycle of one duty_on_board row and the average power it means on that board: the
    busy current while awake, the current of the wait it used while asleep (boards.json power);
    None, with the reason, where boards.json has no documented figure."""
    power = board_facts[row["board"]]["power"]
    total = row["awake_ms"] + row["asleep_ms"]
    out = dict(row, asleep_fraction=row["asleep_ms"] / total if total else None, avg_mw=None, why_not=None)
    wait = power[row["wait"]] if row["wait"] in ("idle", "lightsleep") else None
    # a wait current that is the datasheet's floor (lower_bound) makes the average one too
    out["avg_is_lower_bound"] = bool(wait and wait.get("lower_bound"))
    if not total:
        out["why_not"] = "the app did not run"
    elif power["active"]["ma"] is None:
        out["why_not"] = "no documented busy-CPU current for " + row["board"]
    elif wait is None or wait["ma"] is None:
        out["why_not"] = f"no documented {row['wait']} current for {row['board']}"
    else:
        awake, asleep = row["awake_ms"] / total, row["asleep_ms"] / total
        out["avg_mw"] = (awake * power["active"]["ma"] + asleep * wait["ma"]) * power["supply_v"]
    return out


def report_duty(rows: list[dict], out_dir: Path, where: str) -> Path | None:
    from rich.console import Console
    from rich.table import Table

    from . import boards

    if not rows:
        print("duty cycle: no app model on the board (deploy sine.tmdl or motion.tmdl)")
        return None
    facts = boards.load()
    rows = [average_power(r, facts) for r in rows]
    table = Table(title=f"duty cycle of the apps ({where}); average power estimated from boards.json")
    for col in ("app", "board", "wait", "awake ms", "asleep ms", "asleep", "average power"):
        table.add_column(col, justify="left" if col in ("app", "board", "wait") else "right")
    for r in rows:
        table.add_row(r["app"], r["board"], str(r["wait"]), str(r["awake_ms"]), str(r["asleep_ms"]),
                      f"{r['asleep_fraction']:.1%}" if r["asleep_fraction"] is not None else "-",
                      (">= " if r["avg_is_lower_bound"] else "") + f"{r['avg_mw']:.2f} mW"
                      if r["avg_mw"] is not None else "-")
    Console().print(table)
    for r in rows:
        if r["why_not"]:
            print(f"{r['app']}: no average power: {r['why_not']}")
    if "virtual" in where:
        print("on the virtual board the time awake is the PC's, far shorter than a board's: "
              "the fraction asleep is the app's pacing, not a board's")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "duty.json"
    path.write_text(json.dumps(rows, indent=2))
    return path
