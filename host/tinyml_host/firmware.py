"""`tinyml firmware BOARD` (`make firmware BOARD=...`): MicroPython firmware with `_tinyml` built in.

It clones a MicroPython release with the submodules its port needs (or uses MICROPYTHON_DIR),
builds it with native/ as a user C module for a board of boards.json, and leaves the flashable
file in out/firmware/ with a line saying how to flash it. What each board needs comes from
boards.json's "micropython_build". Two traps of the ports are handled here so nobody meets them:
- rp2: CMAKE_ARGS given on make's command line replaces the Makefile's own (it appends with +=),
  which silently drops USER_C_MODULES; so extra CMake arguments go in the environment.
- rp2 ROMFS: the CMake variable MICROPY_HW_ROMFS_BYTES exists only from the commit that moved
  the port to pico-sdk 2.3 (after v1.28.0); before it, CMake ignores the variable and the
  firmware has no ROMFS. There the size goes in as a C define through our micropython.cmake.
ESP32 builds need Espressif's ESP-IDF, which Debian does not package: the command prints the
ESP-IDF line instead of running it.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .boards import ROOT, load as load_boards
from .errors import TinymlError

RELEASE = "v1.28.0"   # the MicroPython release cloned when no MICROPYTHON_DIR is given
GIT_URL = "https://github.com/micropython/micropython.git"
OUT = ROOT / "out" / "firmware"
NATIVE = ROOT / "native"


@dataclass
class Step:
    what: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)   # added to the environment

    def shell(self) -> str:
        env = " ".join(f"{k}={_quote(v)}" for k, v in self.env.items())
        return (env + " " if env else "") + " ".join(_quote(a) for a in self.argv)


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(str(s))


@dataclass
class Plan:
    board_id: str
    steps: list[Step]
    built: Path        # the file the build leaves in the MicroPython tree
    out: Path          # where it is copied
    flash: str         # how to flash it
    esp_idf: bool = False
    romfs_check: bool = False   # rp2 with a ROMFS size: check the firmware stays below it


def _romfs_cmake(mp_dir: Path, romfs_bytes: int) -> str:
    """The CMake argument that gives an rp2 build a ROMFS partition of romfs_bytes."""
    cmake = mp_dir / "ports" / "rp2" / "CMakeLists.txt"
    if cmake.exists() and "MICROPY_HW_ROMFS_BYTES" in cmake.read_text():
        return f"-DMICROPY_HW_ROMFS_BYTES={romfs_bytes}"
    return f"-DTINYML_ROMFS_BYTES={romfs_bytes}"   # native/micropython/micropython.cmake defines it


def plan(board_id: str, mp_dir: Path | None = None, romfs_bytes: int | None = None,
         release: str = RELEASE, out_dir: Path | None = None) -> Plan:
    """The commands that build `board_id`'s firmware, in order; nothing is run."""
    out_dir = out_dir or OUT
    boards = load_boards()
    if board_id not in boards:
        raise TinymlError(f"unknown board {board_id!r}; boards.json has {', '.join(boards)}")
    build = boards[board_id]["micropython_build"]
    port, board = build["port"], build["board"]
    clone = mp_dir is None
    mp_dir = Path(mp_dir) if mp_dir else out_dir / f"micropython-{release}"
    port_dir = mp_dir / "ports" / port
    suffix = Path(build["file"]).suffix
    out = out_dir / f"{board_id}-micropython-{release if clone else 'custom'}-tinyml{suffix}"
    built = port_dir / build["build_dir"] / build["file"]
    flash = build["flash"].replace("FILE", str(out))
    if romfs_bytes is not None:
        if port != "rp2":
            raise TinymlError(f"--romfs-bytes: on {port} the ROMFS partition is set by the board's linker script or "
                              f"partition table, not by a build option ({boards[board_id]['romfs']['custom_build']})")
        if romfs_bytes <= 0 or romfs_bytes % 4096:
            raise TinymlError(f"--romfs-bytes {romfs_bytes}: the rp2 ROMFS size must be a positive multiple of 4096")
    steps = []
    if clone and not (mp_dir / "py").is_dir():
        steps.append(Step(f"clone MicroPython {release}",
                          ["git", "clone", "--depth", "1", "--branch", release, GIT_URL, str(mp_dir)]))
    if port == "esp32":
        return Plan(board_id, steps + [Step("build with ESP-IDF (install it first: the esp32 port's README)",
                                            ["make", "-C", str(port_dir), f"BOARD={board}",
                                             f"USER_C_MODULES={NATIVE / 'micropython' / 'micropython.cmake'}"])],
                    built, out, flash, esp_idf=True)
    steps.append(Step("build mpy-cross", ["make", "-C", str(mp_dir / "mpy-cross")]))
    steps.append(Step(f"fetch the {port} port's submodules", ["make", "-C", str(port_dir), f"BOARD={board}", "submodules"]))
    if port == "nrf":
        sd = build["softdevice"]   # the script's name for it, s140_nrf52_6_1_1; its folder is s140_nrf52_6.1.1
        folder = port_dir / "drivers" / "bluetooth" / ("_".join(sd.split("_")[:2]) + "_" + ".".join(sd.split("_")[2:]))
        if not folder.is_dir():
            steps.append(Step(f"download the {sd} SoftDevice (the port's own script)",
                              ["bash", str(port_dir / "drivers" / "bluetooth" / "download_ble_stack.sh"), sd]))
        steps.append(Step("build", ["make", "-C", str(port_dir), f"BOARD={board}", f"USER_C_MODULES={NATIVE}"]))
    else:  # rp2: CMake; extra arguments in the environment (see the module docstring)
        env = {"CMAKE_ARGS": _romfs_cmake(mp_dir, romfs_bytes)} if romfs_bytes else {}
        steps.append(Step("build", ["make", "-C", str(port_dir), f"BOARD={board}",
                                    f"USER_C_MODULES={NATIVE / 'micropython' / 'micropython.cmake'}"], env))
    return Plan(board_id, steps, built, out, flash, romfs_check=port == "rp2" and bool(romfs_bytes))


XIP_BASE = 0x10000000   # where an RP2040/RP2350's flash appears in its address space


def check_rp2_romfs(image: bytes) -> None:
    """Refuse an rp2 firmware that reaches into its own ROMFS partition. Releases before pico-sdk
    2.3 place ROMFS just below the filesystem with no linker reservation, so a firmware larger
    than the code space left would be overwritten by the first `tinyml deploy --romfs`. The
    partition's place is in the image's binary info: a block device entry named "ROMFS"
    (u16 type, u16 tag, u32 name address, u32 start address, u32 size)."""
    name = image.find(b"ROMFS\0")
    if name < 0:
        raise TinymlError("the firmware has no ROMFS partition entry: the ROMFS size did not reach the build")
    ref = struct.pack("<I", XIP_BASE + name)
    at = image.find(ref)
    while at >= 0:
        start, size = struct.unpack_from("<II", image, at + 4)
        if XIP_BASE <= start and size and size % 4096 == 0:
            break
        at = image.find(ref, at + 1)
    else:
        raise TinymlError("cannot find where the ROMFS partition starts in the firmware's binary info")
    if XIP_BASE + len(image) > start:
        fits = (start - XIP_BASE + size - len(image)) // 4096 * 4096
        raise TinymlError(f"the firmware ({len(image):,} bytes) reaches into the ROMFS partition that starts "
                          f"{start - XIP_BASE:,} bytes into flash; a deploy would overwrite it: build again with "
                          f"--romfs-bytes {fits} or less")


def run(p: Plan, progress=print) -> Path:
    if p.esp_idf:
        raise TinymlError("ESP32 firmware needs Espressif's ESP-IDF, which is not packaged for Debian; with it "
                          f"installed and sourced, run: {p.steps[-1].shell()}")
    for tool in ("git", "make", "cmake", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None and (tool != "cmake" or "rp2" in str(p.built)):
            raise TinymlError(f"{tool} not found: a firmware build needs git, make, cmake (rp2) and "
                              "arm-none-eabi-gcc (`make system-packages` installs them)")
    for step in p.steps:
        progress(f"== {step.what}: {step.shell()}")
        proc = subprocess.run(step.argv, env={**os.environ, **step.env})
        if proc.returncode != 0:
            hint = " (no network? MICROPYTHON_DIR=... uses a MicroPython tree you have)" if step.argv[0] == "git" else ""
            raise TinymlError(f"{step.what} failed (exit {proc.returncode}){hint}: {step.shell()}")
    if not p.built.exists():
        raise TinymlError(f"the build finished but left no {p.built}")
    if p.romfs_check:
        check_rp2_romfs(p.built.with_suffix(".bin").read_bytes())
    p.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(p.built, p.out)
    progress(f"firmware with _tinyml: {p.out} ({p.out.stat().st_size:,} bytes)\nflash it: {p.flash}")
    return p.out
