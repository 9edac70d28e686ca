"""The prebuilt `_tinyml.mpy` files shipped in native/prebuilt/, one per architecture.

    make natmods MPY_DIR=/path/to/micropython      (or: python native/tools/natmods.py build MPY_DIR)

builds the natmod (native/micropython/Makefile) for every architecture whose cross compiler is
here, from a MicroPython source tree, and writes native/prebuilt/ARCH/_tinyml.mpy and
native/prebuilt/manifest.json: for each file its architecture, .mpy version, size and sha256,
and for all of them the ABI and a hash of the C sources they were built from. A test
(tests/native/test_prebuilt.py) compares that hash with the sources in the tree, so a C change
cannot land with stale binaries.

xtensawin (ESP32, ESP32-S3) needs Espressif's xtensa-esp32-elf-gcc, which no package registry
reachable here has: those boards run viper, or firmware with _tinyml built in (docs/firmware.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host"))

from tinyml_host.prebuilt import MANIFEST, MPY_ARCHS, PREBUILT, for_board, manifest, mpy_header  # noqa: E402,F401

NATIVE = ROOT / "native"
# architecture -> the compiler dynruntime.mk calls for it
ARCHS = {"x64": "gcc", "armv6m": "arm-none-eabi-gcc", "armv7m": "arm-none-eabi-gcc",
         "armv7emsp": "arm-none-eabi-gcc", "rv32imc": "riscv64-unknown-elf-gcc"}
NOT_BUILDABLE = {"xtensawin": "needs Espressif's xtensa-esp32-elf-gcc, which no registry here packages"}
REBUILD = "make natmods MPY_DIR=/path/to/micropython"


def source_files() -> list[Path]:
    """Everything the natmod is compiled from: the C core, the binding and its Makefile."""
    # pdm_nrf52.c is firmware-only (the Makefile leaves it out); its header is included
    core = sorted(p for p in (NATIVE / "core").iterdir() if p.suffix in (".c", ".h") and p.name != "pdm_nrf52.c")
    return core + [NATIVE / "micropython" / "modtinyml.c", NATIVE / "micropython" / "Makefile"]


def sources_sha256() -> str:
    h = hashlib.sha256()
    for p in source_files():
        h.update(p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def mip_package() -> str:
    """native/prebuilt/ARCH/package.json: `mpremote mip install github:OWNER/tinyml/native/prebuilt/ARCH/package.json`
    puts that architecture's _tinyml.mpy in the board's /lib (the URL is relative to the file)."""
    return json.dumps({"urls": [["_tinyml.mpy", "_tinyml.mpy"]], "version": f"abi{abi()}"}, indent=2) + "\n"


def abi() -> int:
    """The binding's ABI number, as modtinyml.c declares it."""
    m = re.search(r"TINYML_ABI_VERSION\s+\((\d+)", (NATIVE / "micropython" / "modtinyml.c").read_text())
    if not m:
        raise RuntimeError("modtinyml.c does not define TINYML_ABI_VERSION")
    return int(m[1])


def build_one(mpy_dir: Path, arch: str, work: Path) -> bytes:
    """One architecture's _tinyml.mpy, built in a copy of native/ so the tree stays clean."""
    copy = work / arch
    shutil.copytree(NATIVE, copy, ignore=shutil.ignore_patterns("prebuilt", "build-*", "*.mpy", "__pycache__"))
    proc = subprocess.run(["make", "-C", str(copy / "micropython"), f"MPY_DIR={mpy_dir}", f"ARCH={arch}",
                           f"PYTHON={sys.executable}"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{arch}: the natmod build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return (copy / "micropython" / "_tinyml.mpy").read_bytes()


def micropython_commit(mpy_dir: Path) -> str:
    proc = subprocess.run(["git", "-C", str(mpy_dir), "describe", "--always", "--tags", "--dirty"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def build(mpy_dir: Path, progress=print) -> dict:
    if not (mpy_dir / "py" / "dynruntime.mk").exists():
        raise SystemExit(f"{mpy_dir} is not a MicroPython source tree (no py/dynruntime.mk)")
    modules = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch, cc in ARCHS.items():
            if shutil.which(cc) is None:
                progress(f"skipped {arch}: {cc} not found (`make system-packages` installs it)")
                continue
            data = build_one(mpy_dir, arch, Path(tmp))
            header = mpy_header(data)
            if header["arch"] != arch:
                raise RuntimeError(f"{arch}: the build made a .mpy for {header['arch']}")
            out = PREBUILT / arch / "_tinyml.mpy"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            (out.parent / "package.json").write_text(mip_package())
            modules[arch] = {**header, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            progress(f"built {arch}: {len(data)} bytes, .mpy v{header['mpy_version']}.{header['mpy_sub_version']}")
    manifest = {"abi": abi(), "sources_sha256": sources_sha256(), "micropython": micropython_commit(mpy_dir),
                "not_buildable": NOT_BUILDABLE, "modules": modules}
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    progress(f"wrote {MANIFEST.relative_to(ROOT)} ({len(modules)} architectures)")
    return manifest


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "build":
        print(__doc__)
        return 2
    build(Path(argv[1]).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
