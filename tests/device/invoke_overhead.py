"""What running a whole model in one native call saves per invoke(), on the unix port (a
benchmark, not a test; needs a _tinyml build, e.g. TINYML_MPY_PATH=folder of _tinyml.mpy):

    TINYML_MPY_PATH=... .venv/bin/python tests/device/invoke_overhead.py [MODEL.tflite ...]

Default models: the sine model and ../shared/models/ad01_int8.tflite when present. For each,
the same prepared plans run two ways: the Python loop of one _tinyml.fc per layer (what
invoke() did before _tinyml.run), and Model.invoke(), one _tinyml.run for every layer. Each
figure is the fastest of 15 rounds, the two ways timed in turn in each round.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2] / "host")]

import models  # noqa: E402
from mpy import lines_with, run  # noqa: E402
from tinyml_host import export, tmdl  # noqa: E402

AD01 = Path(__file__).resolve().parents[3] / "shared" / "models" / "ad01_int8.tflite"

BENCH = """
import time, tinyml, _tinyml
from array import array
ROUNDS = 15

def time_us(invoke, n):
    t0 = time.ticks_us()
    for _ in range(n):
        invoke()
    return time.ticks_diff(time.ticks_us(), t0) / n

for name, n in [l.split() for l in open('models.txt').read().strip().split('\\n')]:
    n = int(n)
    m = tinyml.load(name, 'native')
    fc = _tinyml.fc
    steps = []
    for i, (plan, dst) in enumerate(m._steps):
        steps.append((plan, m.output if i == len(m._steps) - 1 else array('b', bytes(m.layers[i].n_out))))
    steps = tuple(steps)

    def loop():
        src = m.input
        for plan, dst in steps:
            fc(plan, src, dst)
            src = dst

    loop()
    expected = bytes(m.output)
    m.invoke()
    same = bytes(m.output) == expected
    best = [None, None]
    for _ in range(ROUNDS):
        for k, f in enumerate((loop, m.invoke)):
            us = time_us(f, n)
            best[k] = us if best[k] is None else min(best[k], us)
    print('B', name, len(m.layers), same, best[0], best[1])
"""


def main(paths: list[str]) -> None:
    sources = {Path(p).stem: Path(p).read_bytes() for p in paths}
    if not sources:
        sources["sine"] = models.sine_tflite()
        if AD01.exists():
            sources["ad01"] = AD01.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        counts = []
        for name, data in sources.items():
            encoded = tmdl.encode(export.convert(data))
            (Path(tmp) / f"{name}.tmdl").write_bytes(encoded)
            counts.append(f"{name}.tmdl {max(200, min(20000, 20_000_000 // len(encoded)))}")
        (Path(tmp) / "models.txt").write_text("\n".join(counts))
        out = run(BENCH, cwd=tmp, timeout=3600)
    print(f"{'model':<12}{'layers':>7}{'us loop of fc':>15}{'us one run':>12}{'saved us':>10}{'per layer':>10}{'same':>6}")
    for name, layers, same, loop_us, run_us in (line.split() for line in lines_with("B", out)):
        saved = float(loop_us) - float(run_us)
        print(f"{name:<12}{layers:>7}{float(loop_us):>15.2f}{float(run_us):>12.2f}{saved:>10.2f}"
              f"{saved / int(layers):>10.2f}{same:>6}")


if __name__ == "__main__":
    main(sys.argv[1:])
