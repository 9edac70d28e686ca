"""ROMFS images for device tests: one whose file data starts at 4-byte boundaries (as a model
used in place needs), and mpremote's own builder's (which does not align file data).

The ROMFS layout (MicroPython's VfsRom, as mpremote writes it): the bytes D2 CD 31, the
length of what follows as a varuint, then records, each a varuint kind, a varuint payload
length and the payload. A file record (kind 5) holds the name's length and the name, then a
data record (kind 2) with the file's bytes; a directory record (kind 4) holds its name's
length and name, then its entries' records. A varuint is big-endian 7-bit groups, 0x80 set
on all but the last; leading 0x80 bytes add nothing, which is how data is moved to a boundary.
"""

from __future__ import annotations

_IMAGE_KIND = b"\xd2\xcd\x31"
_FILE = 5
_DIRECTORY = 4
_DATA = 2
_LENGTH_WIDTH = 4  # fixed-width varuints for record lengths: up to 2**28 bytes


def _varuint(value: int, width: int = 0) -> bytes:
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    if width and len(groups) > width:
        raise ValueError(f"{value} does not fit a {width}-byte varuint")
    return bytes([0x80] * (width - len(groups)) + groups)


def aligned_image(files: dict, align: int = 4, shift: int = 0) -> bytes:
    """A ROMFS image of `files` ({name: bytes, or name: {...} for a directory}) whose file
    data each start at `shift` past a multiple of `align` from the start of the image."""
    head = len(_IMAGE_KIND) + _LENGTH_WIDTH + 1
    body = _records(files, head, align, shift)
    return _IMAGE_KIND + _varuint(len(body), _LENGTH_WIDTH + 1) + body


def _records(files: dict, at: int, align: int, shift: int) -> bytes:
    """The records of `files`, their first byte at offset `at` of the image."""
    body = bytearray()
    for name, data in files.items():
        named = _varuint(len(name)) + name.encode()
        start = at + len(body) + 1 + _LENGTH_WIDTH + len(named)  # kind, payload length, name
        if isinstance(data, dict):
            payload = named + _records(data, start, align, shift)
            body += _varuint(_DIRECTORY) + _varuint(len(payload), _LENGTH_WIDTH) + payload
            continue
        before_length = named + _varuint(_DATA)
        start += 1
        natural = len(_varuint(len(data)))
        width = natural + (shift - start - natural) % align
        payload = before_length + _varuint(len(data), width) + data
        body += _varuint(_FILE) + _varuint(len(payload), _LENGTH_WIDTH) + payload
    return bytes(body)


def mpremote_image(files: dict[str, bytes]) -> bytes:
    """The image mpremote's `romfs build` makes of the same files (its builder, as a library)."""
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()
    for name, data in files.items():
        writer.mkfile(name, data)
    return writer.finalise()


def data_offsets(image: bytes, files: dict[str, bytes]) -> dict[str, int]:
    """Where each file's bytes start in `image` (found by content: the files must differ)."""
    return {name: image.index(data) for name, data in files.items()}
