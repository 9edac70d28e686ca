"""ROMFS images for device tests: tinyml's own builder (host/tinyml_host/romfs.py), whose file
data start at 4-byte boundaries as a model used in place needs, and mpremote's, which does
not align file data."""

from __future__ import annotations

from tinyml_host import romfs


def aligned_image(files: dict[str, bytes]) -> bytes:
    """The image `tinyml deploy --romfs` writes for `files` ({path in the image: bytes})."""
    return romfs.build(files)[0]


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
