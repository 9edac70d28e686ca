"""The .tmdl file format: the one contract between host and device (docs/format.md).

Version 4 describes a graph: tensors (shape, zero point, place in the arena), then operators in
the order they run, each with its constants. This module is the host's only reader and writer
of it; the device's reader is device/lib/tinyml/reader.py, and tests keep the two in agreement.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"TMDL"
VERSION = 4

# The rounding of TFLite's requantization, stored as a code in the header's rounding byte.
# The codes are the C core's TML_ROUNDING_* (native/core/tinyml.h); the device passes the
# byte to every backend unchanged, and tests/host/test_tmdl.py holds the two lists equal.
ROUNDING_TFLM = 0     # TFLite Micro / CMSIS-NN: double rounding
ROUNDING_LITERT = 1   # LiteRT reference kernels / XNNPACK: single rounding
ROUNDING = {"tflm": ROUNDING_TFLM, "litert": ROUNDING_LITERT}

FLAG_FLOAT_INPUT = 0x02       # the .tflite took float input through a QUANTIZE op
FLAG_FLOAT_OUTPUT = 0x04      # the .tflite gave float output through a DEQUANTIZE op
KNOWN_FLAGS = 0x06            # 0x01 (version 3's float softmax) is gone: SOFTMAX is an operator

# Operator kinds: the op table's kind byte (docs/format.md, "Operators").
OP_FULLY_CONNECTED = 0
OP_CONV_2D = 1
OP_DEPTHWISE_CONV_2D = 2
OP_AVERAGE_POOL_2D = 3
OP_MAX_POOL_2D = 4
OP_ADD = 5
OP_SOFTMAX = 6
OP_NAMES = {OP_FULLY_CONNECTED: "FULLY_CONNECTED", OP_CONV_2D: "CONV_2D",
            OP_DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D", OP_AVERAGE_POOL_2D: "AVERAGE_POOL_2D",
            OP_MAX_POOL_2D: "MAX_POOL_2D", OP_ADD: "ADD", OP_SOFTMAX: "SOFTMAX"}
MATRIX_OPS = (OP_FULLY_CONNECTED, OP_CONV_2D)     # weights [out, K] in the blocks-of-8 layout
WEIGHTED_OPS = MATRIX_OPS + (OP_DEPTHWISE_CONV_2D,)
WINDOW_OPS = (OP_CONV_2D, OP_DEPTHWISE_CONV_2D, OP_AVERAGE_POOL_2D, OP_MAX_POOL_2D)
ADD_PARAMS = 8        # int32: in1 mult, in1 shift, in2 mult, in2 shift, out mult, out shift, left shift, 0
SOFTMAX_PARAMS = 4    # int32: input multiplier, input left shift, diff_min, 0
SOFTMAX_MAX_DEPTH = 4095  # TFLite sums a row's exps (each <= 1) in 12 integer bits
NO_TENSOR = 0xFFFF    # an op's second input when it has one input
# Records after the golden vectors (docs/format.md, "Records"): what the model needs around it.
RECORD = struct.Struct("<HHI")   # type, reserved (0), data length in bytes (then the data, padded to 4)
RECORD_FRONTEND = 1   # the feature front end the model was trained on (tinyml_host.features packs it)
RECORD_LABELS = 2     # the output classes' names, UTF-8, one per line, in output order
RECORD_NAMES = {RECORD_FRONTEND: "front end", RECORD_LABELS: "labels"}

# The weight layout of FULLY_CONNECTED and CONV_2D matrices (docs/format.md, "Weight layout"):
# rows in blocks of BLOCK_ROWS, each block walked 4 inputs at a time, so that one weight
# pointer serves every row of a block and a 32-bit load holds 4 weights of one row.
BLOCK_ROWS = 8
ALIGN = 4             # every section and every tensor in the arena starts at a multiple of 4

HEADER = struct.Struct("<4sHBBII")         # magic, version, rounding, flags, body length, crc32
CRC_START = 4                              # the CRC covers header bytes 4..11, then the body
MODEL = struct.Struct("<HHHHIfifi")        # ops, tensors, vectors, reserved, arena bytes,
                                           # in scale, in zp, out scale, out zp
TENSOR = struct.Struct("<HHHbBI")          # h, w, c, zero point, reserved, arena offset
OP = struct.Struct("<BBHHHHbbHHHHHHII")    # kind, reserved, quant channels, input, input 2, output,
                                           # act min, act max, filter h, w, stride h, w, pad top,
                                           # left, constants offset (from the file's start), length


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
    quads = n_in // 4 * 4
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


def _pad(n: int) -> int:
    return n + (-n % ALIGN)


def section_sizes(n_in: int, n_out: int, n_channels: int) -> tuple[int, int, int, int]:
    """Bytes of a matrix op's bias, multipliers, shifts and weights sections, padding included."""
    return 4 * n_out, 4 * n_channels, _pad(n_channels), _pad(n_in * n_out)


@dataclass
class Layer:
    """One int8 fully connected layer, ready for integer-only evaluation: the payload of a
    FULLY_CONNECTED op, and what dense code (compress, estimate, the C tests) works with.

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
class Tensor:
    """An int8 activation tensor, NHWC with batch 1 (a vector is 1 x 1 x n)."""

    shape: tuple[int, int, int]   # h, w, c
    zero_point: int
    offset: int = 0               # where it lies in the arena (plan_arena)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Op:
    """One operator. Which fields it uses depends on its kind (docs/format.md, "Operators"):

    FULLY_CONNECTED, CONV_2D: weights int8 [out, K] row-major (K = inputs, or filter_h x
    filter_w x in_c in TFLite's OHWI order), bias int32 [out] with the input offset folded in
    (padded positions of a convolution count as the input zero point), multiplier int32 and
    shift int8 [1 or out]. DEPTHWISE_CONV_2D: weights int8 [filter_h, filter_w, c], bias
    int32 [c] as TFLite has it (not folded), multiplier, shift [1 or c]. AVERAGE_POOL_2D,
    MAX_POOL_2D: no constants. ADD: params int32 [ADD_PARAMS]. SOFTMAX: params int32
    [SOFTMAX_PARAMS]."""

    kind: int
    inputs: tuple[int, ...]
    output: int
    act_min: int = -128
    act_max: int = 127
    filter: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (0, 0)
    padding: tuple[int, int] = (0, 0)   # top, left
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    shift: np.ndarray | None = None
    params: np.ndarray | None = None

    @property
    def name(self) -> str:
        return OP_NAMES.get(self.kind, f"kind {self.kind}")

    @property
    def channels(self) -> int:
        """Quantization channels: 1 (per-tensor) or the output channels; 0 without weights."""
        return 0 if self.multiplier is None else len(self.multiplier)

    def constants(self) -> bytes:
        """The op's constants section, padded to 4 bytes (docs/format.md)."""
        if self.kind in WEIGHTED_OPS:
            w = (interleave(self.weights) if self.kind in MATRIX_OPS
                 else np.ascontiguousarray(self.weights, "i1").tobytes())
            return b"".join(_pad_bytes(s) for s in (np.asarray(self.bias, "<i4").tobytes(),
                                                     np.asarray(self.multiplier, "<i4").tobytes(),
                                                     np.asarray(self.shift, "i1").tobytes(), w))
        if self.kind in (OP_ADD, OP_SOFTMAX):
            return np.asarray(self.params, "<i4").tobytes()
        return b""


def _pad_bytes(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % ALIGN)


@dataclass
class TmdlModel:
    """A graph of int8 operators over tensors. Tensor 0 is the model's input, the last tensor
    its output; ops run in list order; arena_bytes holds every tensor at its offset."""

    ops: list[Op]
    tensors: list[Tensor]
    input_scale: float
    input_zp: int
    output_scale: float
    output_zp: int
    rounding: str = "tflm"
    float_input: bool = False
    float_output: bool = False
    vectors_in: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    vectors_out: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    arena_bytes: int = 0
    frontend: bytes | None = None              # RECORD_FRONTEND's data
    labels: list[str] = field(default_factory=list)

    @classmethod
    def dense(cls, layers: list[Layer], input_scale: float, input_zp: int, output_scale: float,
              output_zp: int, **kw) -> "TmdlModel":
        """A chain of fully connected layers as a graph, its arena planned."""
        tensors = [Tensor((1, 1, layers[0].weights.shape[1]), input_zp)]
        ops = []
        for layer in layers:
            ops.append(Op(OP_FULLY_CONNECTED, (len(tensors) - 1,), len(tensors), layer.act_min, layer.act_max,
                          weights=layer.weights, bias=layer.bias, multiplier=layer.multiplier, shift=layer.shift))
            tensors.append(Tensor((1, 1, layer.weights.shape[0]), layer.output_zp))
        model = cls(ops, tensors, input_scale, input_zp, output_scale, output_zp, **kw)
        model.arena_bytes = plan_arena(model.ops, model.tensors)
        return model

    @property
    def input_size(self) -> int:
        return self.tensors[0].size

    @property
    def output_size(self) -> int:
        return self.tensors[-1].size

    @property
    def layers(self) -> list[Layer]:
        """The FULLY_CONNECTED ops as Layers (all of a dense model's ops)."""
        return [Layer(op.weights, op.bias, op.multiplier, op.shift, op.act_min, op.act_max,
                      self.tensors[op.output].zero_point)
                for op in self.ops if op.kind == OP_FULLY_CONNECTED]

    @property
    def is_dense(self) -> bool:
        return all(op.kind == OP_FULLY_CONNECTED for op in self.ops)

    @property
    def softmax(self) -> bool:
        """True when the graph ends in SOFTMAX (its int8 output is a probability in 1/256ths)."""
        return self.ops[-1].kind == OP_SOFTMAX

    @property
    def flags(self) -> int:
        return (FLAG_FLOAT_INPUT if self.float_input else 0) | (FLAG_FLOAT_OUTPUT if self.float_output else 0)


def lifetimes(ops: list[Op], n_tensors: int) -> list[tuple[int, int]]:
    """(first, last) op index during which each tensor must keep its bytes: from the op that
    writes it to the last op that reads it; the model's input and output for the whole invoke,
    so that m.input still holds what was written after invoke() and can be run again."""
    first = [0] * n_tensors
    last = [0] * n_tensors
    for i, op in enumerate(ops):
        first[op.output] = i
        last[op.output] = max(last[op.output], i)
        for t in op.inputs:
            last[t] = max(last[t], i)
    last[0] = last[n_tensors - 1] = len(ops)
    return list(zip(first, last))


def plan_arena(ops: list[Op], tensors: list[Tensor]) -> int:
    """Place every tensor in one arena, sharing bytes between tensors that are never live at
    the same time, as TFLite Micro's greedy planner does (largest first, each at the lowest
    4-aligned offset clear of the live tensors placed so far). Sets each tensor's offset and
    returns the arena's size."""
    live = lifetimes(ops, len(tensors))
    placed: list[int] = []
    end = 0
    for t in sorted(range(len(tensors)), key=lambda k: (-tensors[k].size, k)):
        a0, a1 = live[t]
        busy = sorted((tensors[p].offset, tensors[p].offset + tensors[p].size) for p in placed
                      if live[p][0] <= a1 and a0 <= live[p][1])
        offset = 0
        for lo, hi in busy:
            if offset + tensors[t].size <= lo:
                break
            offset = max(offset, _pad(hi))
        tensors[t].offset = offset
        placed.append(t)
        end = max(end, offset + tensors[t].size)
    return _pad(end)


def constants_size(op: Op, tensors: list[Tensor]) -> int:
    """Bytes of an op's constants section, from its kind and shapes alone (what a reader checks
    an op entry's length against)."""
    out = tensors[op.output]
    n_q = op.channels
    if op.kind in MATRIX_OPS:
        k = tensors[op.inputs[0]].size if op.kind == OP_FULLY_CONNECTED else op.filter[0] * op.filter[1] * \
            tensors[op.inputs[0]].shape[2]
        n = out.size if op.kind == OP_FULLY_CONNECTED else out.shape[2]
        return sum(section_sizes(k, n, n_q))
    if op.kind == OP_DEPTHWISE_CONV_2D:
        c = out.shape[2]
        return 4 * c + 4 * n_q + _pad(n_q) + _pad(op.filter[0] * op.filter[1] * c)
    return {OP_ADD: 4 * ADD_PARAMS, OP_SOFTMAX: 4 * SOFTMAX_PARAMS}.get(op.kind, 0)


def encode_records(model: TmdlModel) -> list[bytes]:
    if model.labels and len(model.labels) != model.output_size:
        raise ValueError(f"{len(model.labels)} labels for {model.output_size} outputs")
    if any(not l or "\n" in l for l in model.labels):
        raise ValueError("a label is empty or holds a line break")
    records = []
    if model.frontend is not None:
        records.append((RECORD_FRONTEND, bytes(model.frontend)))
    if model.labels:
        records.append((RECORD_LABELS, "\n".join(model.labels).encode()))
    return [RECORD.pack(kind, 0, len(data)) + _pad_bytes(data) for kind, data in records]


def decode_records(r: "_Reader", n_out: int) -> dict[int, bytes]:
    """The records up to the end of the body, by type; a type this reader does not know is
    skipped (it adds something optional), the same type twice or a label count that is not the
    output count refused."""
    records: dict[int, bytes] = {}
    while r.pos < len(r.body):
        kind, reserved, length = RECORD.unpack(r.take(RECORD.size, "record header"))
        data = r.take(length, f"record of type {kind}")
        if kind in records or reserved:
            raise ValueError(f"invalid .tmdl: a second record of type {kind}, or a non-zero reserved field")
        records[kind] = data
    if RECORD_LABELS in records:
        try:
            labels = records[RECORD_LABELS].decode().split("\n")
        except UnicodeDecodeError:
            raise ValueError("invalid .tmdl: the labels are not UTF-8 text") from None
        if len(labels) != n_out:
            raise ValueError(f"invalid .tmdl: {len(labels)} labels for {n_out} outputs")
    return records


def encode(model: TmdlModel) -> bytes:
    if not model.ops:
        raise ValueError("model has no operators")
    if model.rounding not in ROUNDING:
        raise ValueError(f"unknown rounding {model.rounding!r}; use one of {', '.join(ROUNDING)}")
    if not model.arena_bytes:
        model.arena_bytes = plan_arena(model.ops, model.tensors)
    n_vec = len(model.vectors_in)
    head = [MODEL.pack(len(model.ops), len(model.tensors), n_vec, 0, model.arena_bytes,
                       model.input_scale, model.input_zp, model.output_scale, model.output_zp)]
    for t in model.tensors:
        head.append(TENSOR.pack(*t.shape, t.zero_point, 0, t.offset))
    sections = [op.constants() for op in model.ops]
    at = HEADER.size + sum(map(len, head)) + OP.size * len(model.ops)
    for op, data in zip(model.ops, sections):
        second = op.inputs[1] if len(op.inputs) > 1 else NO_TENSOR
        head.append(OP.pack(op.kind, 0, op.channels, op.inputs[0], second, op.output, op.act_min, op.act_max,
                            *op.filter, *op.stride, *op.padding, at if data else 0, len(data)))
        at += len(data)
    body = head + sections
    if n_vec:
        body.append(_pad_bytes(np.asarray(model.vectors_in, "i1").tobytes()))
        body.append(_pad_bytes(np.asarray(model.vectors_out, "i1").tobytes()))
    body += encode_records(model)
    data = b"".join(body)
    return pack_header(data, ROUNDING[model.rounding], model.flags) + data


class _Reader:
    def __init__(self, body: bytes):
        self.body = body
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + _pad(n)   # sections are padded to 4 bytes
        if end > len(self.body):
            raise ValueError(f"truncated .tmdl: {what} needs {n} bytes at offset "
                             f"{HEADER.size + self.pos}, file ends at {HEADER.size + len(self.body)}")
        chunk = self.body[self.pos:self.pos + n]
        self.pos = end
        return chunk


def _check_header(data: bytes) -> tuple[int, int, bytes]:
    """(rounding, flags, body) of a file whose header, length and CRC are right."""
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
    if rounding not in ROUNDING.values():
        raise ValueError(f"unknown .tmdl rounding {rounding}")
    if flags & ~KNOWN_FLAGS:
        raise ValueError(f"unknown .tmdl flags 0x{flags:02x}")
    return rounding, flags, body


def window_geometry_ok(n_in: int, n_out: int, f: int, s: int, p: int) -> bool:
    """TFLite's VALID (no padding) or SAME (output ceil(in / stride), padding before half the
    total, rounded down) along one axis: the only windows a converted model has, and what the C
    core checks (native/core/conv_check.c, tml_window_ok). Every window then overlaps the input."""
    valid = (n_in - f) // s + 1 if n_in >= f else 0
    same = -(-n_in // s)
    same_pad = max((same - 1) * s + f - n_in, 0) // 2
    return (p == 0 and n_out == valid) or (n_out == same and p == same_pad)


def _check_window(op: Op, where: str, x: Tensor, y: Tensor) -> None:
    for axis, name in ((0, "height"), (1, "width")):
        f, s, p = op.filter[axis], op.stride[axis], op.padding[axis]
        if f < 1 or s < 1:
            raise ValueError(f"invalid .tmdl: {where} has filter {op.filter}, stride {op.stride}")
        if not window_geometry_ok(x.shape[axis], y.shape[axis], f, s, p):
            raise ValueError(f"invalid .tmdl: {where}: output {name} {y.shape[axis]} with filter {f}, stride {s} "
                             f"and padding {p} is neither TFLite's VALID nor SAME over an input of {name} "
                             f"{x.shape[axis]}")


def check_op(op: Op, tensors: list[Tensor], where: str) -> None:
    """The shapes, ranges and quantization an op of its kind needs; ValueError names the problem."""
    x, y = tensors[op.inputs[0]], tensors[op.output]
    if op.act_min > op.act_max:
        raise ValueError(f"invalid .tmdl: {where} activation range [{op.act_min}, {op.act_max}]")
    if (len(op.inputs) == 2) != (op.kind == OP_ADD):
        raise ValueError(f"invalid .tmdl: {where} has {len(op.inputs)} inputs")
    if op.kind in WINDOW_OPS:
        _check_window(op, where, x, y)
        if op.kind != OP_CONV_2D and x.shape[2] != y.shape[2]:
            raise ValueError(f"invalid .tmdl: {where} maps {x.shape[2]} channels to {y.shape[2]}")
    elif op.filter != (0, 0) or op.stride != (0, 0) or op.padding != (0, 0):
        raise ValueError(f"invalid .tmdl: {where} has a filter, stride or padding")
    if op.kind in (OP_AVERAGE_POOL_2D, OP_MAX_POOL_2D) and x.zero_point != y.zero_point:
        raise ValueError(f"invalid .tmdl: {where} changes the zero point ({x.zero_point} -> {y.zero_point})")
    if op.kind in (OP_ADD, OP_SOFTMAX) and any(tensors[t].shape != y.shape for t in op.inputs):
        raise ValueError(f"invalid .tmdl: {where} input shapes {[tensors[t].shape for t in op.inputs]}, "
                         f"output {y.shape}")
    if op.kind == OP_SOFTMAX and (y.zero_point != -128 or (op.act_min, op.act_max) != (-128, 127)
                                  or not 1 <= y.shape[2] <= SOFTMAX_MAX_DEPTH):
        raise ValueError(f"invalid .tmdl: {where} output zero point {y.zero_point}, range [{op.act_min}, "
                         f"{op.act_max}], {y.shape[2]} values a row: SOFTMAX gives zero point -128, the whole "
                         f"int8 range, and sums at most {SOFTMAX_MAX_DEPTH} values (TFLite's 12 integer bits)")
    if op.kind in WEIGHTED_OPS:
        n_out = y.size if op.kind == OP_FULLY_CONNECTED else y.shape[2]
        if op.channels not in (1, n_out):
            raise ValueError(f"invalid .tmdl: {where} has {op.channels} quantization channels for {n_out} outputs")
        if (op.multiplier < 0).any() or (op.shift < -31).any() or (op.shift > 30).any():
            raise ValueError(f"invalid .tmdl: {where} multiplier or shift out of range")
    elif op.channels:
        raise ValueError(f"invalid .tmdl: {where} has quantization channels")
    if op.kind == OP_ADD:
        mults, shifts, left = op.params[0:6:2], op.params[1:6:2], int(op.params[6])
        if (mults < 0).any() or (shifts < -31).any() or (shifts > 30).any() or not 0 <= left <= 22:
            raise ValueError(f"invalid .tmdl: {where} multiplier, shift or left shift out of range")
    if op.kind == OP_SOFTMAX:
        mult, left, diff_min = (int(v) for v in op.params[:3])
        if mult < 0 or not 0 <= left <= 31 or diff_min > 0:
            raise ValueError(f"invalid .tmdl: {where} input multiplier, left shift or diff_min out of range")


def check_arena(ops: list[Op], tensors: list[Tensor], arena_bytes: int) -> None:
    """Every tensor inside the arena at a 4-byte boundary, and no two tensors that are live at
    the same time sharing a byte (an op's output never overlaps its inputs)."""
    for k, t in enumerate(tensors):
        if t.offset % ALIGN or t.offset + t.size > arena_bytes:
            raise ValueError(f"invalid .tmdl: tensor {k} ({t.size} bytes at {t.offset}) is not inside the "
                             f"{arena_bytes}-byte arena at a 4-byte boundary")
    live = lifetimes(ops, len(tensors))
    for a in range(len(tensors)):
        for b in range(a):
            ta, tb = tensors[a], tensors[b]
            if (live[a][0] <= live[b][1] and live[b][0] <= live[a][1]
                    and ta.offset < tb.offset + tb.size and tb.offset < ta.offset + ta.size):
                raise ValueError(f"invalid .tmdl: tensors {b} and {a} are live together and overlap in the arena")


def _constants(op: Op, data: bytes, tensors: list[Tensor]) -> None:
    """Fill an op's constant fields from its section."""
    y = tensors[op.output]
    if op.kind in WEIGHTED_OPS:
        n = y.size if op.kind == OP_FULLY_CONNECTED else y.shape[2]
        n_q = op.channels
        r = _Reader(data)
        op.bias = np.frombuffer(r.take(4 * n, "bias"), "<i4")
        op.multiplier = np.frombuffer(r.take(4 * n_q, "multipliers"), "<i4")
        op.shift = np.frombuffer(r.take(n_q, "shifts"), "i1")
        if op.kind == OP_DEPTHWISE_CONV_2D:
            op.weights = np.frombuffer(r.take(op.filter[0] * op.filter[1] * n, "weights"), "i1").reshape(
                op.filter[0], op.filter[1], n)
        else:
            k = (tensors[op.inputs[0]].size if op.kind == OP_FULLY_CONNECTED
                 else op.filter[0] * op.filter[1] * tensors[op.inputs[0]].shape[2])
            op.weights = deinterleave(r.take(n * k, "weights"), n, k)
    elif op.kind in (OP_ADD, OP_SOFTMAX):
        op.params = np.frombuffer(data, "<i4")


def decode(data: bytes) -> TmdlModel:
    """Parse and validate; every problem is a ValueError that names it."""
    rounding, flags, body = _check_header(data)
    r = _Reader(body)
    (n_ops, n_tensors, n_vec, _, arena, in_scale, in_zp, out_scale, out_zp) = MODEL.unpack(
        r.take(MODEL.size, "model block"))
    if n_ops == 0 or n_tensors < 2:
        raise ValueError(f"invalid .tmdl: {n_ops} operators over {n_tensors} tensors")
    tensors = []
    for k in range(n_tensors):
        h, w, c, zp, _, offset = TENSOR.unpack(r.take(TENSOR.size, f"tensor {k}"))
        if not (h and w and c):
            raise ValueError(f"invalid .tmdl: tensor {k} has shape {(h, w, c)}")
        tensors.append(Tensor((h, w, c), zp, offset))
    entries = [OP.unpack(r.take(OP.size, f"operator {i}")) for i in range(n_ops)]
    written = {0}
    ops = []
    at = HEADER.size + r.pos
    for i, (kind, _, n_q, x, x2, y, lo, hi, fh, fw, sh, sw, pt, pl, c_at, c_len) in enumerate(entries):
        where = f"operator {i} ({OP_NAMES.get(kind, f'unknown kind {kind}')})"
        if kind not in OP_NAMES:
            raise ValueError(f"invalid .tmdl: {where}: tinyml knows kinds 0 to {max(OP_NAMES)}")
        inputs = (x,) if x2 == NO_TENSOR else (x, x2)
        for t in inputs + (y,):
            if t >= n_tensors:
                raise ValueError(f"invalid .tmdl: {where} names tensor {t}; there are {n_tensors}")
        if any(t not in written for t in inputs) or y in written:
            raise ValueError(f"invalid .tmdl: {where} reads a tensor not yet written, or writes one twice")
        written.add(y)
        op = Op(kind, inputs, y, lo, hi, (fh, fw), (sh, sw), (pt, pl))
        if kind in WEIGHTED_OPS:  # the channel count, checked by check_op once read
            op.multiplier = np.zeros(n_q, np.int32)
        elif n_q:
            raise ValueError(f"invalid .tmdl: {where} has quantization channels")
        need = constants_size(op, tensors)
        if c_len != need or c_at != (at if need else 0):
            raise ValueError(f"invalid .tmdl: {where} constants are {c_len} bytes at {c_at}; "
                             f"its shapes need {need} at {at if need else 0}")
        _constants(op, r.take(c_len, f"{where} constants"), tensors)
        check_op(op, tensors, where)
        at += c_len
        ops.append(op)
    if ops[-1].output != n_tensors - 1 or len(written) != n_tensors:
        raise ValueError("invalid .tmdl: the last operator must write the last tensor, and every tensor be written")
    check_arena(ops, tensors, arena)
    if (in_zp, out_zp) != (tensors[0].zero_point, tensors[-1].zero_point):
        raise ValueError(f"invalid .tmdl: the model's zero points ({in_zp}, {out_zp}) are not its input and output "
                         f"tensors' ({tensors[0].zero_point}, {tensors[-1].zero_point})")
    n_in, n_out = tensors[0].size, tensors[-1].size
    vin = np.frombuffer(r.take(n_vec * n_in, "test vector inputs"), "i1").reshape(n_vec, n_in)
    vout = np.frombuffer(r.take(n_vec * n_out, "test vector outputs"), "i1").reshape(n_vec, n_out)
    records = decode_records(r, n_out)
    names = {code: name for name, code in ROUNDING.items()}
    labels = records[RECORD_LABELS].decode().split("\n") if RECORD_LABELS in records else []
    return TmdlModel(ops, tensors, in_scale, in_zp, out_scale, out_zp, rounding=names[rounding],
                     float_input=bool(flags & FLAG_FLOAT_INPUT), float_output=bool(flags & FLAG_FLOAT_OUTPUT),
                     vectors_in=vin, vectors_out=vout, arena_bytes=arena,
                     frontend=records.get(RECORD_FRONTEND), labels=labels)


def read(path) -> TmdlModel:
    with open(path, "rb") as f:
        return decode(f.read())
