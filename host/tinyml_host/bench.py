"""`tinyml bench`: latency, RAM and allocations per inference on a board, per backend and model."""

from __future__ import annotations

import json
from pathlib import Path

INVOKES = 300


def run_on_board(board, models: list[str], invokes: int = INVOKES) -> list[dict]:
    """models: file names on the board. Soft reset first, so the heap starts clean."""
    board.soft_reset()
    return board.call("tinyml.bench", f"models({list(models)!r}, {int(invokes)})", timeout=600)


def report(rows: list[dict], out_dir: Path, title: str) -> Path:
    from . import term
    from rich.table import Table

    table = Table(title=title)
    for col in ("model", "backend", "weights", "us / invoke", "alloc / invoke", "RAM for model (B)", "vectors"):
        table.add_column(col, justify="left" if col in ("model", "backend", "weights") else "right")
    for r in rows:
        table.add_row(r["model"], r["backend"], r.get("way", ""), f"{r['us']:.1f}", f"{r['alloc']:g}", str(r["ram"]),
                      r["selftest"])
    term.console().print(table)
    for r in rows:
        if "reads" in r:  # counted on the board during one invoke()
            term.say(f"{r['model']} {r['backend']} streamed: {r['reads']:,} file reads, {r['read_bytes']:,} B read "
                     "per invoke", indent="  ")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "board.json"
    path.write_text(json.dumps(rows, indent=2))
    return path


# --- duty cycle: how long the apps sleep between inferences --------------------------------------
# On the board (device/lib/tinyml/bench.py duty): each app whose model is there runs at its own
# rate for a short while, then the hal's counters (tinyml.hal.power_stats) say how long the board
# was awake and asleep.
# motion: 6 inferences (16 + 5 x 8 samples at 50 Hz, about 1.1 s); sine: one sweep (64 x 20 ms)
DUTY_APPS = (("motion", {"inferences": 6}), ("sine", {"cycles": 1}))
SLEEPS = ("auto", "light", "idle")


def duty_on_board(board, sleep: str = "auto") -> list[dict]:
    """The apps' duty cycle on the board (soft reset first); [] when no app's model is there."""
    board.soft_reset()
    return board.call("tinyml.bench", f"duty({DUTY_APPS!r}, {sleep!r})", timeout=120)


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
    from . import term
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
    term.console().print(table)
    for r in rows:
        if r["why_not"]:
            term.say(f"{r['app']}: no average power: {r['why_not']}", indent="  ")
    if "virtual" in where:
        term.say("on the virtual board the time awake is the PC's, far shorter than a board's: "
                 "the fraction asleep is the app's pacing, not a board's")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "duty.json"
    path.write_text(json.dumps(rows, indent=2))
    return path
