"""The .tmdl format: round trip, size goal, and a clear ValueError for every bad file."""

import re
import struct
from pathlib import Path

import numpy as np
import pytest

import models
from corrupt import mutations
from tinyml_host import export, tmdl


@pytest.fixture(scope="module")
def sine_model():
    data = models.sine_tflite()
    model = export.convert(data)
    export.add_vectors(model, data, 16)
    return model


def test_roundtrip(sine_model):
    blob = tmdl.encode(sine_model)
    back = tmdl.decode(blob)
    assert tmdl.encode(back) == blob
    assert back.rounding == "tflm" and len(back.vectors_in) == 16
    for a, b in zip(sine_model.layers, back.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)


def test_sections_are_4_byte_aligned(sine_model):
    blob = tmdl.encode(sine_model)
    assert len(blob) % 4 == 0


def test_size_at_most_quarter_of_tflite(sine_model):
    data = models.sine_tflite()
    sine_model.vectors_in = sine_model.vectors_in[:0]
    sine_model.vectors_out = sine_model.vectors_out[:0]
    size = len(tmdl.encode(sine_model))
    assert size <= 0.25 * len(data), (size, len(data))


def test_rounding_is_recorded():
    data = models.sine_tflite()
    assert tmdl.decode(tmdl.encode(export.convert(data, "litert"))).rounding == "litert"


def _rewrite_header(blob, **fields):
    """The blob with some header fields changed and the CRC left as it was."""
    magic, version, rounding, flags, length, crc = tmdl.HEADER.unpack_from(blob)
    values = dict(magic=magic, version=version, rounding=rounding, flags=flags, length=length, crc=crc) | fields
    return tmdl.HEADER.pack(*values.values()) + blob[tmdl.HEADER.size:]


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:10], "truncated"),
    (lambda b: b[:-4], "truncated"),
    (lambda b: b + b"\0\0\0\0", "oversized"),
    (lambda b: b"TFL3" + b[4:], "not a .tmdl"),
    (lambda b: _rewrite_header(b, version=5), "version 5; this tinyml reads version 4"),
    (lambda b: _rewrite_header(b, version=1), "made by an older tinyml; re-export it with `tinyml export`"),
    (lambda b: _rewrite_header(b, version=3), "made by an older tinyml; re-export it with `tinyml export`"),
    (lambda b: _rewrite_header(b, version=2), "made by an older tinyml; re-export it with `tinyml export`"),
    (lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], "CRC32"),
])
def test_bad_files_name_the_problem(sine_model, mutate, message):
    with pytest.raises(ValueError, match=message):
        tmdl.decode(mutate(tmdl.encode(sine_model)))


@pytest.mark.parametrize("byte", range(4, 12))
def test_crc_covers_every_header_field(sine_model, byte):
    """A bit flip in the version, rounding, flags or length is a CRC error (or the version's or
    the length's own error), never a file that loads as something else."""
    blob = tmdl.encode(sine_model)
    for bit in range(8):
        bad = bytearray(blob)
        bad[byte] ^= 1 << bit
        with pytest.raises(ValueError, match="CRC32|version|truncated|oversized"):
            tmdl.decode(bytes(bad))
    flipped = bytearray(blob)
    flipped[6] ^= 1  # the rounding byte: tflm <-> litert
    with pytest.raises(ValueError, match="CRC32"):
        tmdl.decode(bytes(flipped))


def test_rounding_codes_are_the_c_cores():
    """One name per rounding: the header byte's codes are native/core's TML_ROUNDING_* values."""
    header = (Path(__file__).resolve().parents[2] / "native" / "core" / "tinyml.h").read_text()
    enum = dict(re.findall(r"TML_ROUNDING_(\w+) = (\d+)", header))
    assert {name.lower(): int(v) for name, v in enum.items()} == tmdl.ROUNDING
    assert (tmdl.ROUNDING_TFLM, tmdl.ROUNDING_LITERT) == (tmdl.ROUNDING["tflm"], tmdl.ROUNDING["litert"])


def _with_crc(body_bytes, flags=0, rounding=0):
    return tmdl.pack_header(body_bytes, rounding, flags) + body_bytes


def _op_entry(model, index: int) -> int:
    """Where operator `index`'s 32-byte entry starts in the body."""
    return tmdl.MODEL.size + tmdl.TENSOR.size * len(model.tensors) + tmdl.OP.size * index


def test_structural_errors_behind_a_valid_crc(sine_model):
    body = bytes(tmdl.encode(sine_model)[tmdl.HEADER.size:])

    def changed(offset, fmt, value):
        bad = bytearray(body)
        struct.pack_into(fmt, bad, offset, value)
        return _with_crc(bytes(bad))

    with pytest.raises(ValueError, match="0 operators"):
        tmdl.decode(changed(0, "<H", 0))
    with pytest.raises(ValueError, match=r"operator 1 \(FULLY_CONNECTED\) names tensor 9; there are 4"):
        tmdl.decode(changed(_op_entry(sine_model, 1) + 4, "<H", 9))
    with pytest.raises(ValueError, match="operator 1 .* reads a tensor not yet written"):
        tmdl.decode(changed(_op_entry(sine_model, 1) + 4, "<H", 3))
    with pytest.raises(ValueError, match=r"operator 0 \(unknown kind 9\)"):
        tmdl.decode(changed(_op_entry(sine_model, 0), "B", 9))
    with pytest.raises(ValueError, match="operator 0 .* activation range"):
        tmdl.decode(_with_crc(bytes(_set(body, _op_entry(sine_model, 0) + 10, "<bb", 5, 4))))
    with pytest.raises(ValueError, match="constants are"):
        tmdl.decode(changed(_op_entry(sine_model, 0) + 28, "<I", 4))
    with pytest.raises(ValueError, match="not inside the 4-byte arena"):
        tmdl.decode(changed(8, "<I", 4))   # the model block's arena bytes
    with pytest.raises(ValueError, match="unknown .tmdl rounding 2"):
        tmdl.decode(_with_crc(body, rounding=2))
    with pytest.raises(ValueError, match="flags 0x08"):
        tmdl.decode(_with_crc(body, flags=0x08))
    with pytest.raises(ValueError, match="flags 0x01"):  # version 3's float softmax is gone
        tmdl.decode(_with_crc(body, flags=0x01))


def _set(body: bytes, offset: int, fmt: str, *values) -> bytearray:
    bad = bytearray(body)
    struct.pack_into(fmt, bad, offset, *values)
    return bad


def test_int32_sections_are_4_byte_aligned_in_the_file():
    """Every int32 section starts at a multiple of 4 from the start of the file, so a file placed
    at a 4-byte boundary (the ROMFS image tinyml builds) can be used in place."""
    model = export.convert(models.random_mlp_tflite(3))  # 4 -> ... odd widths, per-tensor
    blob = tmdl.encode(model)
    at = tmdl.HEADER.size + _op_entry(model, len(model.ops))
    for k, (op, layer) in enumerate(zip(model.ops, model.layers)):
        n_out, n_in = layer.weights.shape
        bias, mult, shifts, weights = tmdl.section_sizes(n_in, n_out, len(layer.multiplier))
        entry = tmdl.OP.unpack_from(blob, tmdl.HEADER.size + _op_entry(model, k))
        assert entry[-2:] == (at, bias + mult + shifts + weights)
        assert at % 4 == 0 and blob[at:at + bias] == layer.bias.astype("<i4").tobytes()
        assert (at + bias) % 4 == 0
        assert blob[at + bias:at + bias + 4 * len(layer.multiplier)] == layer.multiplier.astype("<i4").tobytes()
        at += bias + mult + shifts + weights
    assert at == len(blob)


def test_fuzz_1000_corrupt_files_all_rejected(sine_model):
    blob = tmdl.encode(sine_model)
    for bad in mutations(blob, 1000, seed=1, fix_crc=False):
        with pytest.raises(ValueError):
            tmdl.decode(bad)


def test_fuzz_1000_crc_valid_mutations_never_crash(sine_model):
    # With the CRC fixed up, a mutation may yield another valid model; never anything but ValueError.
    blob = tmdl.encode(sine_model)
    rejected = 0
    for bad in mutations(blob, 1000, seed=2, fix_crc=True):
        try:
            tmdl.decode(bad)
        except ValueError:
            rejected += 1
    assert rejected > 500
