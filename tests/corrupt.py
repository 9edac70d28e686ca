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


# Extreme values a damaged length, offset or index field may take.
_EXTREME_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def tflite_data_ranges(blob):
    """(start, end) of every constant buffer's bytes in a .tflite: weights and biases, where a
    change only changes numbers. Everything else is the flatbuffer's structure."""
    import tflite

    model = tflite.Model.GetRootAsModel(blob, 0)
    ranges = []
    for k in range(model.BuffersLength()):
        tab = model.Buffers(k)._tab
        field = tab.Offset(4)  # Buffer.data, the table's first field
        if field:
            start = tab.Vector(field)
            ranges.append((start, start + tab.VectorLen(field)))
    return sorted(r for r in ranges if r[1] > r[0])


def tflite_mutations(blob, count, seed):
    """Yield (kind, data): `count` damaged copies of a valid .tflite, a third each truncated,
    with 1-4 bytes flipped, and with one 4-byte word overwritten (extreme or random values).
    Half the cuts fall on a constant buffer's first or last byte, and half the flips and
    overwrites in the structure (outside the weights), where a big model's bytes are few."""
    rng = np.random.default_rng(seed)
    ranges = tflite_data_ranges(blob)
    boundaries = sorted({p for r in ranges for p in r if p < len(blob)}) or [len(blob) // 2]
    in_data = np.zeros(len(blob), bool)
    for a, b in ranges:
        in_data[a:b] = True
    structure = np.flatnonzero(~in_data)

    def position():
        if rng.integers(2) and len(structure):
            return int(structure[rng.integers(len(structure))])
        return int(rng.integers(0, len(blob)))

    kinds = ("truncated", "flipped", "word")
    for n in range(count):
        kind = kinds[n % 3]
        b = bytearray(blob)
        if kind == "truncated":
            cut = boundaries[rng.integers(len(boundaries))] if rng.integers(2) else rng.integers(0, len(b))
            b = b[:int(cut)]
        elif kind == "flipped":
            for _ in range(int(rng.integers(1, 5))):
                b[position()] ^= int(rng.integers(1, 256))
        else:
            i = min(position() & ~3, len(b) - 4)
            if rng.integers(2):
                word = _EXTREME_WORDS[int(rng.integers(len(_EXTREME_WORDS)))]
            else:
                word = int(rng.integers(0, 2**32))
            b[i:i + 4] = word.to_bytes(4, "little")
        if bytes(b) == blob:
            b = b[:-1]
        yield kind, bytes(b)
