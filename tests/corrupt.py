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


def tflite_boundary_cuts(blob):
    """Yield (kind, data): the file cut at every section boundary of its flatbuffer (each
    table, vtable, vector, string and buffer's data starts and ends there), once each."""
    from flatbuf_map import tflite_map

    for cut in tflite_map(blob).boundaries(len(blob)):
        yield "cut at a section boundary", blob[:cut]


def _retarget(b, pos, target):
    """Make the uoffset at `pos` point at `target` (a uoffset is relative to its position)."""
    b[pos:pos + 4] = ((target - pos) % 2**32).to_bytes(4, "little")


def tflite_mutations(blob, count, seed):
    """Yield (kind, data): `count` damaged copies of a valid .tflite, a fifth of each kind:
    truncated (half of the cuts at a section boundary of the flatbuffer, half at random),
    1-4 bytes flipped, one 4-byte word overwritten with an extreme or random value, one
    offset field pointing out of the file, into the header, or at an extreme value, and
    shuffled tables (two entries of a vector of tables swapped, or the whole vector permuted:
    tensors, operators, buffers, operator codes, subgraphs, metadata). Half the flips and
    overwrites fall in the structure (outside the weights), where a big model's bytes are few."""
    from flatbuf_map import tflite_map

    rng = np.random.default_rng(seed)
    layout = tflite_map(blob)
    boundaries = layout.boundaries(len(blob)) or [len(blob) // 2]
    ranges = tflite_data_ranges(blob)
    in_data = np.zeros(len(blob), bool)
    for a, b in ranges:
        in_data[a:b] = True
    structure = np.flatnonzero(~in_data)
    shufflable = [entries for _, entries in layout.table_vectors if len(entries) >= 2]

    def position():
        if rng.integers(2) and len(structure):
            return int(structure[rng.integers(len(structure))])
        return int(rng.integers(0, len(blob)))

    kinds = ("truncated", "flipped", "word", "offset", "shuffled")
    for n in range(count):
        kind = kinds[n % len(kinds)]
        b = bytearray(blob)
        if kind == "truncated":
            cut = boundaries[rng.integers(len(boundaries))] if rng.integers(2) else rng.integers(0, len(b))
            b = b[:int(cut)]
        elif kind == "flipped":
            for _ in range(int(rng.integers(1, 5))):
                b[position()] ^= int(rng.integers(1, 256))
        elif kind == "word":
            i = min(position() & ~3, len(b) - 4)
            if rng.integers(2):
                word = _EXTREME_WORDS[int(rng.integers(len(_EXTREME_WORDS)))]
            else:
                word = int(rng.integers(0, 2**32))
            b[i:i + 4] = word.to_bytes(4, "little")
        elif kind == "offset":
            pos, _ = layout.offsets[int(rng.integers(len(layout.offsets)))]
            choice = int(rng.integers(4))
            if choice == 0:  # an extreme raw value
                b[pos:pos + 4] = _EXTREME_WORDS[int(rng.integers(len(_EXTREME_WORDS)))].to_bytes(4, "little")
            elif choice == 1:  # at or past the end of the file
                _retarget(b, pos, len(blob) + int(rng.integers(0, 64)))
            elif choice == 2:  # back into the header (root offset, file identifier)
                _retarget(b, pos, int(rng.integers(0, 8)))
            else:  # at another offset field's target: a table read as a vector, or the reverse
                _retarget(b, pos, layout.offsets[int(rng.integers(len(layout.offsets)))][1])
        else:
            entries = shufflable[int(rng.integers(len(shufflable)))]
            targets = [e + int.from_bytes(blob[e:e + 4], "little") for e in entries]
            if rng.integers(2):
                i, j = rng.choice(len(entries), 2, replace=False)
                targets[i], targets[j] = targets[j], targets[i]
            else:
                targets = [targets[k] for k in rng.permutation(len(targets))]
            for e, t in zip(entries, targets):
                _retarget(b, e, t)
        if bytes(b) == blob:
            b = b[:-1]
        yield kind, bytes(b)
