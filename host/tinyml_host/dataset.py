"""A dataset folder of sensor takes, as `tinyml record` writes it and `tinyml train gesture` reads it:

    DIR/<label>/<take>.npy    float32 (samples, channels): the IMU's accel x, y, z in g, gyro x,
                              y, z in deg/s (CHANNELS, UNITS), or another sensor's `channels`
    DIR/<label>/<take>.json   what, where, when: label, board, sensor, kind, channels, units,
                              rate, window, samples, complete (False: cut short, with the
                              reason), lost, time

Both files are written to a temporary name and renamed into place, data first: a take exists
once its .json does, so a crash mid-write leaves no half take (an .npy without .json is ignored).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TinymlError
from .files import atomic_write

FORMAT = "tinyml-take/1"
CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
UNITS = ("g", "g", "g", "deg/s", "deg/s", "deg/s")
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def check_label(label: str) -> str:
    if not _LABEL.match(label or ""):
        raise TinymlError(f"label {label!r} must be 1-40 letters, digits, '_' or '-' (it names a folder)")
    return label


@dataclass
class Take:
    meta: dict
    data: np.ndarray   # (samples, channels) float32
    path: Path         # the .json

    @property
    def label(self) -> str:
        return self.meta["label"]

    @property
    def is_imu(self) -> bool:
        return tuple(self.meta.get("channels", CHANNELS)) == CHANNELS

    @property
    def seconds(self) -> float:
        return len(self.data) / self.meta["rate_hz"]


def new_take_name(data_dir: Path, label: str) -> Path:
    """DIR/label/label-YYYYmmdd-HHMMSS-NNN.json, NNN one more than the label's takes so far."""
    folder = Path(data_dir) / check_label(label)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob("*.json")))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        path = folder / f"{label}-{stamp}-{n:03d}.json"
        if not path.exists():
            return path
        n += 1


def write_take(path: Path, data: np.ndarray, meta: dict) -> Path:
    """Write one take (its samples, then its metadata); `path` is the .json."""
    path = Path(path)
    data = np.asarray(data, dtype=np.float32).reshape(-1, len(meta.get("channels", CHANNELS)))
    meta = {"format": FORMAT, "channels": list(CHANNELS), "units": list(UNITS), **meta,
            "samples": int(len(data)), "file": path.with_suffix(".npy").name}
    atomic_write(path.with_suffix(".npy"), lambda f: np.save(f, data))
    atomic_write(path, json.dumps(meta, indent=1) + "\n")
    return path


def load(data_dir) -> list[Take]:
    """Every take in DIR, sorted by label then name; TinymlError when DIR holds none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TinymlError(f"no dataset folder {data_dir}: record one with `tinyml record --data {data_dir}`")
    takes = []
    for meta_path in sorted(data_dir.glob("*/*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise TinymlError(f"{meta_path}: not a take's metadata ({e})") from None
        if meta.get("format") != FORMAT:
            continue
        npy = meta_path.with_suffix(".npy")
        try:
            data = np.load(npy)
        except (OSError, ValueError) as e:
            raise TinymlError(f"{npy}: cannot read the take's samples ({e})") from None
        width = len(meta.get("channels", CHANNELS))
        if data.ndim != 2 or data.shape[1] != width or len(data) != meta["samples"]:
            raise TinymlError(f"{npy}: expected ({meta['samples']}, {width}) samples, found {data.shape}")
        takes.append(Take(meta, data.astype(np.float32), meta_path))
    if not takes:
        raise TinymlError(f"{data_dir} holds no takes: record some with `tinyml record --data {data_dir} --label NAME`")
    return takes


def summary(takes: list[Take]) -> list[dict]:
    """One row per label: takes (incomplete ones counted apart), seconds, samples, rate(s)."""
    rows = {}
    for t in takes:
        r = rows.setdefault(t.label, {"label": t.label, "takes": 0, "incomplete": 0, "seconds": 0.0,
                                      "samples": 0, "rates": set(), "boards": set()})
        r["takes"] += 1
        r["incomplete"] += not t.meta.get("complete", True)
        r["seconds"] += t.seconds
        r["samples"] += len(t.data)
        r["rates"].add(t.meta["rate_hz"])
        r["boards"].add(t.meta.get("board", "?"))
    return [{**r, "rates": sorted(r["rates"]), "boards": sorted(r["boards"])} for r in rows.values()]


def print_summary(takes: list[Take], data_dir, console=None):
    from . import term
    from rich.table import Table

    table = Table(title=f"dataset {data_dir}: {len(takes)} takes")
    for name in ("label", "takes", "incomplete", "seconds", "samples", "rate Hz", "boards"):
        table.add_column(name, justify="left" if name in ("label", "boards") else "right")
    for r in summary(takes):
        table.add_row(r["label"], str(r["takes"]), str(r["incomplete"]), f"{r['seconds']:.1f}", str(r["samples"]),
                      ", ".join(f"{x:g}" for x in r["rates"]), ", ".join(r["boards"]))
    (console or term.console()).print(table)


def _unit_groups(take: Take) -> list[tuple[str, list[int]]]:
    """The take's channels grouped by unit, in order: (unit, channel indices)."""
    groups: dict[str, list[int]] = {}
    for i, unit in enumerate(take.meta.get("units", UNITS)):
        groups.setdefault(unit, []).append(i)
    return list(groups.items())


def plot(takes: list[Take], path, seconds: float = 2.0) -> Path:
    """A PNG with one row per label, one plot per unit (the IMU: accelerometer and gyroscope) of
    the first take of each, the first `seconds`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    firsts = {}
    for t in takes:
        firsts.setdefault(t.label, t)
    columns = max(len(_unit_groups(t)) for t in firsts.values())
    fig, axes = plt.subplots(len(firsts), columns, figsize=(5 * columns, 2.2 * len(firsts)), squeeze=False)
    for row, (label, take) in enumerate(firsts.items()):
        n = min(len(take.data), int(seconds * take.meta["rate_hz"]))
        x = np.arange(n) / take.meta["rate_hz"]
        names = take.meta.get("channels", CHANNELS)
        groups = _unit_groups(take)
        for col, (unit, channels) in enumerate(groups):
            ax = axes[row][col]
            for c in channels:
                ax.plot(x, take.data[:n, c], label=names[c], linewidth=1)
            ax.set_ylabel(f"{label}\n{unit}")
            ax.legend(loc="upper right", fontsize=7, ncol=3)
        for col in range(len(groups), columns):
            axes[row][col].set_visible(False)
        axes[row][0].set_title(take.path.stem, fontsize=8, loc="left")
    for ax in axes[-1]:
        ax.set_xlabel("s")
    return save_figure(fig, path)


def save_figure(fig, path) -> Path:
    """Lay out, write (folders made as needed) and close a matplotlib figure; its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
