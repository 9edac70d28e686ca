"""Corrupted copies of a .tmdl file, for fuzzing the host and device readers."""

import zlib

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
            b[:tmdl.HEADER.size] = tmdl.HEADER.pack(tmdl.MAGIC, tmdl.VERSION, blob[6], len(body), zlib.crc32(body))
        yield bytes(b)


# Extreme values a damaged length, offset or index field may take.
_EXTREME_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def tflite_mutations(blob, count, seed):
    """Yield (kind, data): `count` damaged copies of a .tflite, a third each truncated,
    with 1-4 bytes flipped, and with one 4-byte word overwritten (extreme or random values)."""
    rng = np.random.default_rng(seed)
    kinds = ("truncated", "flipped", "word")
    for n in range(count):
        kind = kinds[n % 3]
        b = bytearray(blob)
        if kind == "truncated":
            b = b[:int(rng.integers(0, len(b)))]
        elif kind == "flipped":
            for _ in range(int(rng.integers(1, 5))):
                b[int(rng.integers(0, len(b)))] ^= int(rng.integers(1, 256))
        else:
            i = 4 * int(rng.integers(0, len(b) // 4))
            if rng.integers(2):
                word = _EXTREME_WORDS[int(rng.integers(len(_EXTREME_WORDS)))]
            else:
                word = int(rng.integers(0, 2**32))
            b[i:i + 4] = word.to_bytes(4, "little")
        if bytes(b) == blob:
            b = b[:-1]
        yield kind, bytes(b)
