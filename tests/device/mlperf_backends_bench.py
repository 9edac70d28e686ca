"""invoke() latency of MLPerf Tiny's convolutional models on the viper and python backends, on
the virtual board (MicroPython's unix port: host speed, not an MCU's), and the heap's growth
over one more invoke() (a benchmark, not a test; docs/benchmarks.md has its table):

    .venv/bin/python tests/device/mlperf_backends_bench.py [--rounds N]

Each model of ../shared/models is exported as `tinyml export` does, loaded from the filesystem
with tinyml.load(..., backend=...), run once to warm up, then the fastest of N rounds is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2] / "host")]

from mpy import lines_with, run  # noqa: E402
from tinyml_host import export, tmdl  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "models"
MODELS = [("KWS", "kws_ref_model.tflite"), ("IC", "pretrainedResnet_quant.tflite"),
          ("VWW", "vww_96_int8.tflite"), ("StrWW", "str_ww_ref_model.tflite")]

SCRIPT = """
import gc, time, tinyml
for name in NAMES:
    for backend in ('viper', 'python'):
        m = tinyml.load(name + '.tmdl', backend=backend)
        m.invoke()
        best = None
        for _ in range(ROUNDS):
            t0 = time.ticks_us()
            m.invoke()
            dt = time.ticks_diff(time.ticks_us(), t0)
            best = dt if best is None or dt < best else best
        gc.collect()
        before = gc.mem_alloc()
        m.invoke()
        print('ROW', name, backend, best, gc.mem_alloc() - before)
        del m
        gc.collect()
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    found = [(n, SHARED / f) for n, f in MODELS if (SHARED / f).exists()]
    for n, f in MODELS:
        if not (SHARED / f).exists():
            print(f"{n} left out: {SHARED / f} is not there")
    if not found:
        return 1
    with tempfile.TemporaryDirectory() as d:
        for name, path in found:
            (Path(d) / f"{name}.tmdl").write_bytes(tmdl.encode(export.convert(path.read_bytes())))
        out = run(f"NAMES = {[n for n, _ in found]!r}\nROUNDS = {args.rounds}\n" + SCRIPT, cwd=d, timeout=3600,
                  args=("-X", "heapsize=8m"))
    print("| model | backend | invoke() ms (fastest) | heap growth over one invoke() |")
    print("|---|---|---:|---:|")
    for row in lines_with("ROW", out):
        name, backend, us, grew = row.split()
        print(f"| {name} | {backend} | {int(us) / 1000:.1f} | {grew} B |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
