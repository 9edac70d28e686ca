"""Corrupted copies of a .tmdl file, for fuzzing the host and device readers."""

import numpy as np

from tinyml_host import tmdl


def mutations(blob, count, seed, fix_crc):
    """Yield `count` distinct corruptions: bit flips, byte sets, cuts and splices."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        b = bytearray(blob)
        kind = rng.integers(4)
        start = tmdl.HEADER.size if fix_crc else 0
        if kind == 0:
            i = int(rng.integers(start, len(b)))
            b[i] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            for _ in range(int(rng.integers(1, 5))):
                b[int(rng.integers(start, len(b)))] = int(rng.integers(256))
        elif kind == 2:
            b = b[:int(rng.integers(0, len(b)))]
        else:
            i = int(rng.integers(start, len(b)))
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
        if bytes(b) == blob:
            b = b[:-1]
        if fix_crc and len(b) >= tmdl.HEADER.size:
            body = bytes(b[tmdl.HEADER.size:])
            _, version, rounding, flags, _, _ = tmdl.HEADER.unpack_from(blob)
            b[:tmdl.HEADER.size] = tmdl.pack_header(body, rounding, flags, version)
        yield bytes(b)
