"""ROMFS images whose every file's data starts at a 4-byte boundary.

mpremote's builder (`mpremote romfs build`) packs records back to back, so file data lands
at any offset; tinyml uses a .tmdl's int32 sections in place from /rom (and a Cortex-M0+
faults on an unaligned word load), so the images tinyml deploys are laid out here. The
record encoding is mpremote's own (mpremote.romfs.VfsRomWriter); the placement uses what
the format allows for it (MicroPython's extmod/vfs_rom.c): a varuint may be padded with
leading 0x80 bytes, and a padding record (kind 1) can hold any bytes. Flash partitions
start on an erase-page boundary, so an offset that is 0 mod 4 in the image is an aligned
address on the board.

Layout: every container record (the filesystem, each directory and file) stores its payload
length as a 4-byte varuint, so a record's position is known before its payload is built;
the data record's length varuint gets 0-3 extra 0x80 bytes to move the data to a multiple
of 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mpremote.romfs import VfsRomWriter

from .errors import TinymlError

ALIGN = 4
_LENGTH_WIDTH = 4            # bytes of every container length varuint (7 bits each)
_MAX_LENGTH = 1 << (7 * _LENGTH_WIDTH)
_W = VfsRomWriter
_ENCODER = VfsRomWriter()    # only its varuint encoding is used


def _uint(value: int) -> bytes:
    return _ENCODER._encode_uint(value)


def _uint_padded(value: int, width: int) -> bytes:
    """value as a varuint of exactly `width` bytes (leading 0x80 bytes pad it)."""
    encoded = _uint(value)
    if len(encoded) > width:
        raise TinymlError(f"ROMFS record of {value} bytes is too large for this image writer")
    return b"\x80" * (width - len(encoded)) + encoded


@dataclass
class FilePlacement:
    path: str      # inside the image, e.g. "lib/x.mpy"
    offset: int    # of the file's data in the image
    size: int


def _tree(files: dict[str, bytes]) -> dict:
    """{"a/b.bin": data} -> nested {"a": {"b.bin": data}}, names checked as ROMFS stores them."""
    root: dict = {}
    for path, data in files.items():
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise TinymlError(f"bad file name for a ROMFS image: {path!r}")
        for p in parts:
            try:
                p.encode("ascii")
            except UnicodeEncodeError:
                raise TinymlError(f"ROMFS names are ASCII: {path!r}") from None
        node = root
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise TinymlError(f"{path!r}: {p!r} is a file and a directory")
        if parts[-1] in node:
            raise TinymlError(f"{path!r} appears twice in the ROMFS image")
        node[parts[-1]] = bytes(data)
    return root


class _Layout:
    def __init__(self):
        self.out = bytearray()
        self.placements: list[FilePlacement] = []

    def container(self, kind: int, header: bytes, fill):
        """A record whose payload is header + what fill() appends; length fixed-width."""
        self.out += _uint(kind)
        at = len(self.out)
        self.out += bytes(_LENGTH_WIDTH)
        start = len(self.out)
        self.out += header
        fill()
        length = len(self.out) - start
        if length >= _MAX_LENGTH:
            raise TinymlError(f"ROMFS image over {_MAX_LENGTH} bytes is not supported")
        self.out[at:start] = _uint_padded(length, _LENGTH_WIDTH)

    def directory(self, node: dict, prefix: str):
        for name in sorted(node):
            entry = node[name]
            header = _uint(len(name)) + name.encode("ascii")
            if isinstance(entry, dict):
                self.container(_W.ROMFS_RECORD_KIND_DIRECTORY, header,
                               lambda e=entry, n=name: self.directory(e, prefix + n + "/"))
            else:
                self.container(_W.ROMFS_RECORD_KIND_FILE, header,
                               lambda e=entry, n=name: self.data(e, prefix + n))

    def data(self, data: bytes, path: str):
        kind = _uint(_W.ROMFS_RECORD_KIND_DATA_VERBATIM)
        length = _uint(len(data))
        pad = -(len(self.out) + len(kind) + len(length)) % ALIGN
        self.out += kind + b"\x80" * pad + length
        self.placements.append(FilePlacement(path, len(self.out), len(data)))
        self.out += data


def build(files: dict[str, bytes]) -> tuple[bytes, list[FilePlacement]]:
    """An image holding `files` ({"path/in/image": data}), each file's data 4-byte aligned.

    Returns the image and where each file's data lies in it."""
    layout = _Layout()
    tree = _tree(files)
    layout.out += _W.ROMFS_HEADER
    at = len(layout.out)
    layout.out += bytes(_LENGTH_WIDTH)
    start = len(layout.out)
    layout.directory(tree, "")
    if (len(layout.out)) % 2:
        # The whole record must be of even size (vfs_rom.c): a 3-byte padding record.
        layout.out += _uint(_W.ROMFS_RECORD_KIND_PADDING) + _uint(1) + b"\x00"
    layout.out[at:start] = _uint_padded(len(layout.out) - start, _LENGTH_WIDTH)
    return bytes(layout.out), layout.placements


def build_from(paths: list[Path], names: list[str] | None = None) -> tuple[bytes, list[FilePlacement]]:
    """An image of these host files, at the top of the image under their own (or the given) names."""
    names = names or [Path(p).name for p in paths]
    return build({n: Path(p).read_bytes() for n, p in zip(names, paths)})


# --- reading an image (checks and verification) --------------------------------------------

def _read_uint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    while True:
        if pos >= end:
            raise TinymlError("corrupt ROMFS image: a varuint runs past its record")
        b = buf[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def image_size(buf: bytes) -> int | None:
    """Bytes the ROMFS record at the start of buf declares (header included), None if buf
    does not start with a ROMFS image (erased or foreign flash)."""
    if not bytes(buf[:3]) == _W.ROMFS_HEADER:
        return None
    length, pos = _read_uint(buf, 3, min(len(buf), 3 + 8))
    return pos + length


def files(buf: bytes) -> list[FilePlacement]:
    """Every file in an image with its data offset and size (verbatim data records)."""
    size = image_size(buf)
    if size is None:
        raise TinymlError("not a ROMFS image (no RM1 header)")
    if size > len(buf):
        raise TinymlError(f"truncated ROMFS image: it declares {size} bytes, {len(buf)} present")
    start = size - _read_uint(buf, 3, size)[0]
    out: list[FilePlacement] = []

    def walk(pos: int, end: int, prefix: str):
        while pos < end:
            kind, pos = _read_uint(buf, pos, end)
            length, pos = _read_uint(buf, pos, end)
            nxt = pos + length
            if nxt > end:
                raise TinymlError("corrupt ROMFS image: a record runs past its parent")
            if kind in (_W.ROMFS_RECORD_KIND_DIRECTORY, _W.ROMFS_RECORD_KIND_FILE):
                n, p = _read_uint(buf, pos, nxt)
                name = bytes(buf[p:p + n]).decode("ascii")
                if kind == _W.ROMFS_RECORD_KIND_DIRECTORY:
                    walk(p + n, nxt, prefix + name + "/")
                else:
                    data_at = _file_data(p + n, nxt)
                    if data_at is not None:
                        out.append(FilePlacement(prefix + name, *data_at))
            pos = nxt

    def _file_data(pos: int, end: int):
        while pos < end:
            kind, pos = _read_uint(buf, pos, end)
            length, pos = _read_uint(buf, pos, end)
            if kind == _W.ROMFS_RECORD_KIND_DATA_VERBATIM:
                return pos, length
            pos += length
        return None

    walk(start, size, "")
    return out
