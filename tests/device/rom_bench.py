"""RAM of load() and latency of invoke(), from /rom (weights in place), from the filesystem
(weights in RAM) and streamed (at the default block size, then at 1, 4 and 16 KB), side by side
in one micropython process (a benchmark, not a test):

    .venv/bin/python tests/device/rom_bench.py [MODEL.tflite ...]

Default models: the sine model and ../shared/models/ad01_int8.tflite when present. /rom is
an aligned ROMFS image mounted first. RAM is gc.mem_alloc() after load minus before (both
after gc.collect()); latency is the fastest of 15 rounds, each round timing every placement
in turn, so a busy machine slows all of them alike.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2] / "host")]

import models  # noqa: E402
import romfs  # noqa: E402
from mpy import lines_with, run  # noqa: E402
from tinyml_host import export, tmdl  # noqa: E402

AD01 = Path(__file__).resolve().parents[3] / "shared" / "models" / "ad01_int8.tflite"

BENCH = """
import vfs
vfs.mount(vfs.VfsRom(open('image.romfs', 'rb').read()), '/rom')
import gc, time, tinyml
PLACES = (('rom', '/rom/', False), ('fs', '', False), ('stream', '', True),
          ('1024', '', 1024), ('4096', '', 4096), ('16384', '', 16384))  # the last: other block sizes
ROUNDS = 15

def time_us(invoke, n):
    t0 = time.ticks_us()
    for _ in range(n):
        invoke()
    return time.ticks_diff(time.ticks_us(), t0) / n

for name, n in [l.split() for l in open('models.txt').read().strip().split('\\n')]:
    n = int(n)
    for backend in tinyml.available_backends():
        tinyml.ram_needed(name, backend)  # imports the backend (load's first does): not the model's RAM
        loaded = {}
        for label, where, stream in PLACES:
            gc.collect()
            before = gc.mem_alloc()
            m = tinyml.load(where + name, backend, stream=stream)
            gc.collect()
            ram = gc.mem_alloc() - before
            invoke = m.invoke
            invoke()
            gc.collect()
            a0 = gc.mem_alloc()
            for _ in range(n):
                invoke()
            loaded[label] = (m, ram, gc.mem_alloc() - a0, '%d/%d' % m.selftest())
        best = {label: None for label in loaded}
        for _ in range(ROUNDS):
            for label in loaded:
                us = time_us(loaded[label][0].invoke, n)
                best[label] = us if best[label] is None else min(best[label], us)
        for label, (m, ram, alloc, vectors) in loaded.items():
            print('B', name, backend, label, ram, m.ram_needed['buffers'], alloc, vectors, best[label],
                  m.stream_reads[0])
            m.close()
        loaded = m = invoke = None
"""


def main(paths: list[str]) -> None:
    sources = {Path(p).stem: Path(p).read_bytes() for p in paths}
    if not sources:
        sources["sine"] = models.sine_tflite()
        if AD01.exists():
            sources["ad01"] = AD01.read_bytes()
    files = {}
    for name, data in sources.items():
        model = export.convert(data)
        export.add_vectors(model, data, 4)
        files[f"{name}.tmdl"] = tmdl.encode(model)
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        (Path(tmp) / "image.romfs").write_bytes(romfs.aligned_image(files))
        (Path(tmp) / "models.txt").write_text(
            "\n".join(f"{name} {max(20, min(2000, 5_000_000 // len(data)))}" for name, data in files.items()))
        out = run(BENCH, cwd=tmp, timeout=3600)
    rows = [line.split() for line in lines_with("B", out)]
    print(f"{'model':<11}{'backend':<8}{'load RAM /rom':>14}{'fs':>10}{'stream':>10}{'buffers':>9}"
          f"{'us /rom':>10}{'fs':>10}{'stream':>10}{'rom/fs':>8}{'alloc':>6}{'vectors':>8}")
    table: dict[tuple[str, str], dict[str, list[str]]] = {}
    for name, backend, label, *rest in rows:
        table.setdefault((name, backend), {})[label] = rest
    for (name, backend), r in table.items():
        ram = [int(r[p][0]) for p in ("rom", "fs", "stream")]
        us = [float(r[p][4]) for p in ("rom", "fs", "stream")]
        alloc = sum(int(r[p][2]) for p in r)
        vectors = {r[p][3] for p in r}
        print(f"{name:<11}{backend:<8}{ram[0]:>14,}{ram[1]:>10,}{ram[2]:>10,}{int(r['rom'][1]):>9,}"
              f"{us[0]:>10.1f}{us[1]:>10.1f}{us[2]:>10.1f}{us[0] / us[1]:>8.3f}{alloc:>6}{'/'.join(sorted(vectors)):>8}")
    print(f"\nstreamed by block size: load RAM / file reads per invoke / us per invoke")
    for (name, backend), r in table.items():
        cells = [f"{p}: {int(r[p][0]):,} B / {r[p][5]} / {float(r[p][4]):.1f}" for p in ("1024", "4096", "stream", "16384")]
        print(f"{name:<11}{backend:<8}" + "; ".join(cells).replace("stream:", "default:"))


if __name__ == "__main__":
    main(sys.argv[1:])
