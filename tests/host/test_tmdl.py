"""The .tmdl format: round trip, size goal, and a clear ValueError for every bad file."""

import struct
import zlib

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
    magic, version, flags, length, crc = tmdl.HEADER.unpack_from(blob)
    values = dict(magic=magic, version=version, flags=flags, length=length, crc=crc) | fields
    return tmdl.HEADER.pack(*values.values()) + blob[tmdl.HEADER.size:]


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:10], "truncated"),
    (lambda b: b[:-4], "truncated"),
    (lambda b: b + b"\0\0\0\0", "oversized"),
    (lambda b: b"TFL3" + b[4:], "not a .tmdl"),
    (lambda b: _rewrite_header(b, version=2), "version 2"),
    (lambda b: _rewrite_header(b, flags=0x100), "flags"),
    (lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], "CRC32"),
])
def test_bad_files_name_the_problem(sine_model, mutate, message):
    with pytest.raises(ValueError, match=message):
        tmdl.decode(mutate(tmdl.encode(sine_model)))


def _with_crc(body_bytes, flags=0):
    return tmdl.HEADER.pack(tmdl.MAGIC, tmdl.VERSION, flags, len(body_bytes), zlib.crc32(body_bytes)) + body_bytes


def test_structural_errors_behind_a_valid_crc(sine_model):
    body = bytearray(tmdl.encode(sine_model)[tmdl.HEADER.size:])
    zero_layers = bytearray(body)
    struct.pack_into("<H", zero_layers, 0, 0)
    with pytest.raises(ValueError, match="no layers"):
        tmdl.decode(_with_crc(bytes(zero_layers)))
    chain = bytearray(body)
    struct.pack_into("<H", chain, tmdl.MODEL.size + tmdl.LAYER.size, 7)  # layer 1 input width
    with pytest.raises(ValueError, match="layer 1"):
        tmdl.decode(_with_crc(bytes(chain)))


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
