"""Latency of invoke() and RAM of load(), from /rom (weights in place) and from the
filesystem, side by side in one micropython process (a benchmark, not a test):

    .venv/bin/python tests/device/rom_bench.py [MODEL.tflite ...]

Default models: the sine model and ../shared/models/ad01_int8.tflite when present. The
board-side script is `tinyml bench`'s own; /rom is an aligned ROMFS image mounted first, and
each model is measured five times in turn from rom and fs, and the fastest of each kept.
"""

from __future__ import annotations

import ast
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2] / "host")]

import models  # noqa: E402
import romfs  # noqa: E402
from mpy import run  # noqa: E402
from tinyml_host import bench, export, tmdl  # noqa: E402

AD01 = Path(__file__).resolve().parents[3] / "shared" / "models" / "ad01_int8.tflite"
MOUNT = "import vfs\nvfs.mount(vfs.VfsRom(open('image.romfs', 'rb').read()), '/rom')\n"


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
        rows = []
        for name, data in files.items():
            n = max(20, min(2000, 5_000_000 // len(data)))  # about the same time per model
            names = [f"/rom/{name}", name] * 5
            out = run(MOUNT + bench._BENCH % {"models": names, "n": n}, cwd=tmp, timeout=3600)
            rows += ast.literal_eval(out.strip().splitlines()[-1])
    best: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["model"], r["backend"])
        if key not in best or r["us"] < best[key]["us"]:
            best[key] = r
    print(f"{'model':<16}{'backend':<9}{'us /rom':>10}{'us fs':>10}{'rom/fs':>8}{'RAM /rom':>10}{'RAM fs':>10}"
          f"{'alloc':>7}{'vectors':>9}")
    for name in files:
        for backend in dict.fromkeys(r["backend"] for r in rows):
            rom, fs = best.get((f"/rom/{name}", backend)), best.get((name, backend))
            if rom and fs:
                print(f"{name:<16}{backend:<9}{rom['us']:>10.1f}{fs['us']:>10.1f}{rom['us'] / fs['us']:>8.3f}"
                      f"{rom['ram']:>10}{fs['ram']:>10}{rom['alloc'] + fs['alloc']:>7g}{rom['selftest']:>9}")


if __name__ == "__main__":
    main(sys.argv[1:])
