# What a board and its firmware are, and what its files hold: `tinyml info` and `tinyml deploy`
# ask through host/tinyml_host/board.py, which runs this file's source from the host's checkout
# (so a board without tinyml yet, or with an older one, answers the same way). At the REPL:
#   from tinyml import info; info.board()
import gc
import os
import sys

from micropython import const

_CHUNK = const(256)  # bytes hashed per read: a file of any size with one small buffer


def board():
    """{implementation, version, mpy, platform, machine, free_ram, free_flash (-1: unknown),
    native (_tinyml's variant or None), native_builtin, board_id (boards.json id or None)}.
    free_ram is what was free before this looked at anything; the Python modules it imports to
    find out (tinyml's package) are dropped again, so the commands that follow on the same heap
    (a deploy's) have it as it was."""
    gc.collect()
    free_ram = gc.mem_free()
    try:
        fs = os.statvfs("/")
        free_flash = fs[0] * fs[3]
    except (AttributeError, OSError):
        free_flash = -1
    loaded = list(sys.modules)
    try:
        native, native_builtin, board_id = _native_and_board()
    finally:
        _unload(loaded)
    machine = getattr(sys.implementation, "_machine", None) or os.uname().machine
    return {"implementation": sys.implementation.name, "version": tuple(sys.implementation.version[:3]),
            "mpy": getattr(sys.implementation, "_mpy", 0), "platform": sys.platform,
            "machine": machine, "free_ram": free_ram, "free_flash": free_flash,
            "native": native, "native_builtin": native_builtin, "board_id": board_id}


def _native_and_board():
    try:
        import _tinyml

        native = _tinyml.variant()
        native_builtin = not hasattr(_tinyml, "__file__")  # frozen into the firmware, not a .mpy file
    except ImportError:
        native = None
        native_builtin = False
    try:
        from tinyml import hal

        board_id = hal.board_id()
    except (ImportError, ValueError, OSError):  # tinyml not deployed yet, a board not in boards.json
        board_id = None
    return native, native_builtin, board_id


def _unload(loaded):
    """Drop the modules imported since sys.modules held `loaded`, and their names from the
    packages that stay, so that the GC can take them back. _tinyml stays: a port that places
    native code outside the heap (esp32) frees it only at a soft reset, so loading it again
    would take that memory again."""
    for name in [n for n in sys.modules if n not in loaded and n != "_tinyml"]:
        del sys.modules[name]
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            try:
                delattr(sys.modules[parent], child)
            except (AttributeError, TypeError):
                pass
    gc.collect()


def _sha256():
    import hashlib

    make = getattr(hashlib, "sha256", None)
    return make() if make else hashlib.new("sha256")  # CircuitPython: only new(name)


def _hex(digest):
    import binascii

    return binascii.hexlify(digest).decode()


def file_sha256(path, buf=None):
    """sha256 hex of the file at `path`, None when there is none."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    buf = buf or bytearray(_CHUNK)
    digest = _sha256()
    try:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(buf if n == len(buf) else memoryview(buf)[:n])
    finally:
        f.close()
    return _hex(digest.digest())


def file_hashes(paths):
    """{path: sha256 hex, or None for a missing file} for each path."""
    buf = bytearray(_CHUNK)
    return {p: file_sha256(p, buf) for p in paths}


def models():
    """The .tmdl files at the top of the filesystem, then those in /rom (ROMFS) as /rom/NAME."""
    found = [f for f in os.listdir("/") if f.endswith(".tmdl")]
    try:
        found += ["/rom/" + f for f in os.listdir("/rom") if f.endswith(".tmdl")]
    except OSError:  # no /rom mounted
        pass
    return found


def _romfs_device():
    """ROMFS partition 0 as vfs.rom_ioctl gives it; None: firmware without ROMFS support,
    0: support but no partition."""
    try:
        vfs = __import__("vfs")  # MicroPython only; CircuitPython has none
    except ImportError:
        return None
    if not hasattr(vfs, "rom_ioctl"):
        return None
    if vfs.rom_ioctl(1) <= 0:  # number of partitions
        return 0
    dev = vfs.rom_ioctl(2, 0)  # partition 0: a buffer, a block device, or an error code
    return 0 if isinstance(dev, int) else dev


def romfs():
    """{"size": bytes of ROMFS partition 0 (None: no ROMFS in this firmware, 0: no partition),
    "mounted": /rom is mounted}; the partition is sized the way mpremote's `romfs query` does."""
    dev = _romfs_device()
    if dev is None or dev == 0:
        size = dev
    elif hasattr(dev, "ioctl"):
        size = dev.ioctl(4, 0) * dev.ioctl(5, 0)  # block count * block size
    else:
        size = len(dev)
    try:
        os.stat("/rom")
        mounted = True
    except OSError:
        mounted = False
    return {"size": size, "mounted": mounted}


def romfs_sha256(n):
    """sha256 hex of the first n bytes of ROMFS partition 0, read in place."""
    dev = _romfs_device()
    if dev is None or dev == 0:
        raise ValueError("this board has no ROMFS partition")
    digest = _sha256()
    digest.update(memoryview(dev)[:n])
    return _hex(digest.digest())
