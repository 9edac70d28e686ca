"""The .tmdl file format: the one contract between host and device (docs/format.md).

This module is the host's only reader and writer of it. The device's reader is
device/lib/tinyml/model.py; tests keep the two in agreement.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"TMDL"
VERSION = 3

# The rounding of TFLite's requantization, stored as a code in the header's rounding byte.
# The codes are the C core's TML_ROUNDING_* (native/core/tinyml.h); the device passes the
# byte to every backend unchanged, and tests/host/test_tmdl.py holds the two lists equal.
ROUNDING_TFLM = 0     # TFLite Micro / CMSIS-NN: double rounding
ROUNDING_LITERT = 1   # LiteRT reference kernels / XNNPACK: single rounding
ROUNDING = {"tflm": ROUNDING_TFLM, "litert": ROUNDING_LITERT}

FLAG_SOFTMAX = 0x01           # apply softmax (in float, after dequantization) to the output
FLAG_FLOAT_INPUT = 0x02       # the .tflite took float input through a QUANTIZE op
FLAG_FLOAT_OUTPUT = 0x04      # the .tflite gave float output through a DEQUANTIZE op
KNOWN_FLAGS = 0x07

LAYER_FULLY_CONNECTED = 0     # the layer table's kind byte

# The layer table's weight layout code (docs/format.md, "Weight layout"). The only one: rows in
# blocks of BLOCK_ROWS, each block walked 4 inputs at a time, so that one weight pointer serves
# every row of a block and a 32-bit load holds 4 weights of one row (native/core/tinyml.h).
LAYOUT_BLOCKS8 = 1
BLOCK_ROWS = 8

HEADER = struct.Struct("<4sHBBII")         # magic, version, rounding, flags, body length, crc32
CRC_START = 4                              # the CRC covers header bytes 4..11, then the body
MODEL = struct.Struct("<HHHHfifi")         # layers, vectors, in size, out size, in scale, in zp,
                                           # out scale, out zp
LAYER = struct.Struct("<HHHbbbBH")         # in, out, quant channels, act min, act max, out zp, kind, layout


def checksum(header_fields: bytes, body: bytes) -> int:
    """CRC-32 of the header's version, rounding, flags and length (bytes 4..11), then the body."""
    return zlib.crc32(body, zlib.crc32(header_fields))


def pack_header(body: bytes, rounding: int, flags: int, version: int = VERSION) -> bytes:
    """The 16-byte header of `body`, with its CRC."""
    covered = HEADER.pack(MAGIC, version, rounding, flags, len(body), 0)[CRC_START:12]
    return MAGIC + covered + struct.pack("<I", checksum(covered, body))


def weight_order(n_out: int, n_in: int) -> np.ndarray:
    """Where each weight goes in the file: order[k] is the row-major index (o * n_in + i) of
    the weight stored k-th. Rows in full blocks of BLOCK_ROWS: for each 4 inputs, the block's
    rows one after another (4 bytes each), then the last n_in % 4 inputs of each row in turn;
    the rows after the last full block in row-major order."""
    full = n_out // BLOCK_ROWS * BLOCK_ROWS
    quads, tail = n_in // 4 * 4, n_in % 4
    idx = np.arange(n_out * n_in).reshape(n_out, n_in)
    parts = []
    for b in range(0, full, BLOCK_ROWS):
        block = idx[b:b + BLOCK_ROWS]
        # [rows, quads, 4] -> [quads, rows, 4]
        parts.append(block[:, :quads].reshape(BLOCK_ROWS, quads // 4, 4).transpose(1, 0, 2).reshape(-1))
        parts.append(block[:, quads:].reshape(-1))
    parts.append(idx[full:].reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def interleave(weights: np.ndarray) -> bytes:
    """Row-major int8 [n_out, n_in] weights in the file's layout (weight_order)."""
    n_out, n_in = weights.shape
    return np.ascontiguousarray(weights, "i1").reshape(-1)[weight_order(n_out, n_in)].tobytes()


def deinterleave(data: bytes, n_out: int, n_in: int) -> np.ndarray:
    """The file's weight bytes back to row-major int8 [n_out, n_in]."""
    w = np.empty(n_out * n_in, np.int8)
    w[weight_order(n_out, n_in)] = np.frombuffer(data, "i1")
    return w.reshape(n_out, n_in)


def section_sizes(n_in: int, n_out: int, n_channels: int) -> tuple[int, int, int, int]:
    """Bytes of a layer's bias, multipliers, shifts and weights sections, padding included."""
    return 4 * n_out, 4 * n_channels, n_channels + (-n_channels % 4), n_in * n_out + (-(n_in * n_out) % 4)


@dataclass
class Layer:
    """One int8 fully connected layer, ready for integer-only evaluation.

    bias already holds bias - input_zp * sum(weights of the row), so a kernel computes
    acc = bias[o] + sum(w[o, i] * x[i]) with no per-element offset.
    """

    weights: np.ndarray       # int8 [out, in]
    bias: np.ndarray          # int32 [out], input offset folded in
    multiplier: np.ndarray    # int32 [1 or out]
    shift: np.ndarray         # int8 [1 or out], TFLite convention (>0 is a left shift)
    act_min: int
    act_max: int
    output_zp: int

    @property
    def shape(self):
        return self.weights.shape


@dataclass
class TmdlModel:
    layers: list[Layer]
    input_scale: float
    input_zp: int
    output_scale: float
    output_zp: int
    rounding: str = "tflm"
    softmax: bool = False
    float_input: bool = False
    float_output: bool = False
    vectors_in: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    vectors_out: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))

    @property
    def input_size(self) -> int:
        return self.layers[0].weights.shape[1]

    @property
    def output_size(self) -> int:
        return self.layers[-1].weights.shape[0]

    @property
    def flags(self) -> int:
        return ((FLAG_SOFTMAX if self.softmax else 0)
                | (FLAG_FLOAT_INPUT if self.float_input else 0)
                | (FLAG_FLOAT_OUTPUT if self.float_output else 0))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def encode(model: TmdlModel) -> bytes:
    if not model.layers:
        raise ValueError("model has no layers")
    if model.rounding not in ROUNDING:
        raise ValueError(f"unknown rounding {model.rounding!r}; use one of {', '.join(ROUNDING)}")
    n_vec = len(model.vectors_in)
    body = [MODEL.pack(len(model.layers), n_vec, model.input_size, model.output_size,
                       model.input_scale, model.input_zp, model.output_scale, model.output_zp)]
    for l in model.layers:
        n_out, n_in = l.weights.shape
        body.append(LAYER.pack(n_in, n_out, len(l.multiplier), l.act_min, l.act_max, l.output_zp,
                               LAYER_FULLY_CONNECTED, LAYOUT_BLOCKS8))
    for l in model.layers:
        body.append(np.asarray(l.bias, "<i4").tobytes())
        body.append(np.asarray(l.multiplier, "<i4").tobytes())
        body.append(_pad4(np.asarray(l.shift, "i1").tobytes()))
        body.append(_pad4(interleave(l.weights)))
    if n_vec:
        body.append(_pad4(np.asarray(model.vectors_in, "i1").tobytes()))
        body.append(_pad4(np.asarray(model.vectors_out, "i1").tobytes()))
    data = b"".join(body)
    return pack_header(data, ROUNDING[model.rounding], model.flags) + data


class _Reader:
    def __init__(self, body: bytes):
        self.body = body
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n + (-n % 4)   # sections are padded to 4 bytes
        if end > len(self.body):
            raise ValueError(f"truncated .tmdl: {what} needs {n} bytes at offset "
                             f"{HEADER.size + self.pos}, file ends at {HEADER.size + len(self.body)}")
        chunk = self.body[self.pos:self.pos + n]
        self.pos = end
        return chunk


def decode(data: bytes) -> TmdlModel:
    """Parse and validate; every problem is a ValueError that names it."""
    if len(data) < HEADER.size:
        raise ValueError(f"truncated .tmdl: {len(data)} bytes, header alone is {HEADER.size}")
    magic, version, rounding, flags, body_len, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"not a .tmdl file: magic {magic!r}, expected {MAGIC!r}")
    if version < VERSION:
        raise ValueError(f"unsupported .tmdl version {version}: made by an older tinyml; "
                         "re-export it with `tinyml export`")
    if version != VERSION:
        raise ValueError(f"unsupported .tmdl version {version}; this tinyml reads version {VERSION}")
    body = data[HEADER.size:]
    if len(body) != body_len:
        kind = "truncated" if len(body) < body_len else "oversized"
        raise ValueError(f"{kind} .tmdl: body is {len(body)} bytes, header says {body_len}")
    actual = checksum(data[CRC_START:12], body)
    if actual != crc:
        raise ValueError(f"corrupt .tmdl: CRC32 0x{actual:08x} != 0x{crc:08x} in header")
    names = {code: name for name, code in ROUNDING.items()}
    if rounding not in names:
        raise ValueError(f"unknown .tmdl rounding {rounding}")
    if flags & ~KNOWN_FLAGS:
        raise ValueError(f"unknown .tmdl flags 0x{flags:02x}")

    r = _Reader(body)
    (n_layers, n_vec, in_size, out_size, in_scale, in_zp, out_scale, out_zp) = MODEL.unpack(
        r.take(MODEL.size, "model block"))
    if n_layers == 0:
        raise ValueError("invalid .tmdl: no layers")
    heads = [LAYER.unpack(r.take(LAYER.size, f"layer {i} header")) for i in range(n_layers)]
    layers = []
    width = in_size
    for i, (n_in, n_out, n_q, act_min, act_max, l_out_zp, kind, layout) in enumerate(heads):
        if kind != LAYER_FULLY_CONNECTED or layout != LAYOUT_BLOCKS8:
            raise ValueError(f"invalid .tmdl: layer {i} has kind {kind}, weight layout {layout} "
                             f"(expected {LAYER_FULLY_CONNECTED}, {LAYOUT_BLOCKS8})")
        if n_in != width or n_out == 0:
            raise ValueError(f"invalid .tmdl: layer {i} is {n_in}->{n_out}, previous output is {width}")
        if n_q not in (1, n_out):
            raise ValueError(f"invalid .tmdl: layer {i} has {n_q} quantization channels for {n_out} outputs")
        if act_min > act_max:
            raise ValueError(f"invalid .tmdl: layer {i} activation range [{act_min}, {act_max}]")
        bias = np.frombuffer(r.take(4 * n_out, f"layer {i} bias"), "<i4")
        mult = np.frombuffer(r.take(4 * n_q, f"layer {i} multipliers"), "<i4")
        shift = np.frombuffer(r.take(n_q, f"layer {i} shifts"), "i1")
        weights = deinterleave(r.take(n_in * n_out, f"layer {i} weights"), n_out, n_in)
        if (mult < 0).any() or (shift < -31).any() or (shift > 30).any():
            raise ValueError(f"invalid .tmdl: layer {i} multiplier or shift out of range")
        layers.append(Layer(weights, bias, mult, shift, act_min, act_max, l_out_zp))
        width = n_out
    if width != out_size:
        raise ValueError(f"invalid .tmdl: last layer gives {width} outputs, header says {out_size}")
    vin = np.frombuffer(r.take(n_vec * in_size, "test vector inputs"), "i1").reshape(n_vec, in_size)
    vout = np.frombuffer(r.take(n_vec * out_size, "test vector outputs"), "i1").reshape(n_vec, out_size)
    if r.pos != len(body):
        raise ValueError(f"invalid .tmdl: {len(body) - r.pos} unexpected bytes after the last section")
    return TmdlModel(layers, in_scale, in_zp, out_scale, out_zp,
                     rounding=names[rounding],
                     softmax=bool(flags & FLAG_SOFTMAX), float_input=bool(flags & FLAG_FLOAT_INPUT),
                     float_output=bool(flags & FLAG_FLOAT_OUTPUT), vectors_in=vin, vectors_out=vout)


def read(path) -> TmdlModel:
    with open(path, "rb") as f:
        return decode(f.read())
