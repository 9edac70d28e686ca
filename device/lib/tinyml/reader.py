# The board's reader of the .tmdl format (docs/format.md): checks a file and describes it as a
# Contents: its tensors (shape, zero point, place in the arena) and its operators (named
# fields), then puts each operator's constants where the model will use them: arrays in RAM,
# views of a file that supports the buffer protocol (ROMFS), or (streamed) everything but the
# weights, which tinyml.model reads block by block during invoke(). host/tinyml_host/tmdl.py is the host's writer and reader (its
# decode() makes the same checks); tests keep the two in agreement.
import struct
from array import array
from micropython import const

try:
    from binascii import crc32 as _crc32
except ImportError:  # some ports leave crc32 out of binascii
    _crc32 = None  # type: ignore[assignment]

_MAGIC = b"TMDL"
VERSION = const(4)
# The header's rounding byte: the same codes as the C core's TML_ROUNDING_* (native/core/tinyml.h)
# and host/tinyml_host/tmdl.py's ROUNDING_*; every backend takes the code as it is.
ROUNDING_TFLM = const(0)
ROUNDING_LITERT = const(1)
ROUNDING_NAMES = ("tflm", "litert")  # by code
FLAG_FLOAT_INPUT = const(2)
FLAG_FLOAT_OUTPUT = const(4)
_KNOWN_FLAGS = const(6)
# Operator kinds, the op table's kind byte
FULLY_CONNECTED = const(0)
CONV_2D = const(1)
DEPTHWISE_CONV_2D = const(2)
AVERAGE_POOL_2D = const(3)
MAX_POOL_2D = const(4)
ADD = const(5)
SOFTMAX = const(6)
KIND_NAMES = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SOFTMAX")
_ADD_PARAMS = const(8)
_SOFTMAX_PARAMS = const(4)
_RECORD_HEADER = const(8)  # u16 type, u16 reserved, u32 length (docs/format.md, "Records")
RECORD_FRONTEND = const(1)
RECORD_LABELS = const(2)
_SOFTMAX_MAX_DEPTH = const(4095)  # TFLite sums a row's exps (each <= 1) in 12 integer bits
_NO_TENSOR = const(0xFFFF)
# The weight layout of FULLY_CONNECTED and CONV_2D (docs/format.md): rows in blocks of 8, each
# block walked 4 inputs at a time; every backend reads the weights in this order where they lie.
BLOCK_ROWS = const(8)
HEADER_SIZE = const(16)
_CRC_START = const(4)  # the CRC covers header bytes 4..11, then the body
_MODEL_BLOCK = const(28)
_TENSOR_ENTRY = const(12)
_OP_ENTRY = const(32)


def _pad4(n):
    return n + (-n % 4)


class Tensor:
    """An int8 NHWC tensor of batch 1: h, w, c, zero_point, offset (in the arena), size."""

    def __init__(self, h, w, c, zero_point, offset):
        self.h = h
        self.w = w
        self.c = c
        self.zero_point = zero_point
        self.offset = offset
        self.size = h * w * c


class Op:
    """One operator, from its op table entry: kind, n_channels (quantization channels: 1, or
    one per output channel), x, x2 (second input tensor of ADD, else None), y (tensor
    indices), act_min, act_max, filter_h/_w, stride_h/_w, pad_top/_left, and where its
    constants are in the file (at, length). The shapes it works on, from the tensors: in_h,
    in_w, in_c, out_h, out_w, out_c, input_zp, output_zp (and input2_zp for ADD); for FULLY_CONNECTED and CONV_2D the
    matrix it multiplies by, n_out rows of n_in (a window's filter_h x filter_w x in_c values).

    Once placed: bias (int32), multipliers (int32), shifts (int8), weights (int8, in the
    file's layout for the matrix kinds: docs/format.md), or params (int32, ADD and SOFTMAX).
    These are arrays, or views of the file whose items read as unsigned bytes; the int32 ones
    are always 4-byte aligned."""

    # RAM: an instance's attributes live in a hash table of its own (about 20 bytes an entry on
    # a 64-bit port, 10 on a 32-bit one): the table entry's fields are read from the entry
    # tuple and the shapes from the tensors, through properties; the constants' fields default
    # to the class's. load reads them while it prepares (the plans copy what they use).
    weights = bias = multipliers = shifts = params = None
    weights_signed = True  # False for a view of the file: its items read as unsigned bytes
    n_in = n_out = 0

    def __init__(self, entry, tensors, rounding):
        self._entry = entry
        # LiteRT's reference kernels round twice, as TFLite Micro does, in CONV_2D,
        # DEPTHWISE_CONV_2D and ADD (docs/format.md; host: reference.op_rounding)
        self.rounding = ROUNDING_TFLM if entry[0] in (CONV_2D, DEPTHWISE_CONV_2D, ADD) else rounding

    kind = property(lambda self: self._entry[0])
    n_channels = property(lambda self: self._entry[2])
    x = property(lambda self: self._entry[3])
    x2 = property(lambda self: None if self._entry[4] == _NO_TENSOR else self._entry[4])
    y = property(lambda self: self._entry[5])
    act_min = property(lambda self: self._entry[6])
    act_max = property(lambda self: self._entry[7])
    at = property(lambda self: self._entry[14])
    length = property(lambda self: self._entry[15])

    def shape_from(self, tensors):
        self._xt = x = tensors[self.x]
        self._yt = y = tensors[self.y]
        if self.kind == FULLY_CONNECTED:
            self.n_in, self.n_out = x.size, y.size
        elif self.kind == CONV_2D:
            self.n_in, self.n_out = self.filter_h * self.filter_w * x.c, y.c
        elif self.kind == ADD:
            self._x2t = tensors[self.x2]

    filter_h = property(lambda self: self._entry[8])
    filter_w = property(lambda self: self._entry[9])
    stride_h = property(lambda self: self._entry[10])
    stride_w = property(lambda self: self._entry[11])
    pad_top = property(lambda self: self._entry[12])
    pad_left = property(lambda self: self._entry[13])
    in_h = property(lambda self: self._xt.h)
    in_w = property(lambda self: self._xt.w)
    in_c = property(lambda self: self._xt.c)
    input_zp = property(lambda self: self._xt.zero_point)
    input2_zp = property(lambda self: self._x2t.zero_point)  # ADD's second input
    out_h = property(lambda self: self._yt.h)
    out_w = property(lambda self: self._yt.w)
    out_c = property(lambda self: self._yt.c)
    output_zp = property(lambda self: self._yt.zero_point)

    @property
    def name(self):
        return KIND_NAMES[self.kind]

    @property
    def weighted(self):
        return self.kind <= DEPTHWISE_CONV_2D

    @property
    def bias_count(self):
        return self.out_c if self.kind == DEPTHWISE_CONV_2D else self.n_out

    @property
    def weight_bytes(self):
        if self.kind == DEPTHWISE_CONV_2D:
            return self.filter_h * self.filter_w * self.out_c
        return self.n_in * self.n_out

    def constants_size(self):
        """Bytes of the constants section its kind and shapes need (docs/format.md)."""
        if self.weighted:
            return 4 * self.bias_count + 4 * self.n_channels + _pad4(self.n_channels) + _pad4(self.weight_bytes)
        if self.kind == ADD:
            return 4 * _ADD_PARAMS
        if self.kind == SOFTMAX:
            return 4 * _SOFTMAX_PARAMS
        return 0

    @property
    def quant_bytes(self):
        """Bias, multipliers and shifts: what a weighted op holds besides its weights."""
        return 4 * self.bias_count + 5 * self.n_channels if self.weighted else self.length


class Contents:
    """What a checked .tmdl file holds, before any constants are read into RAM."""

    def __init__(self, rounding, flags, block, tensors, ops, vectors_at, input_scale_halves):
        (self.n_vectors, self.arena_bytes, self.input_scale, self.input_zp, self.output_scale,
         self.output_zp) = block
        self.input_scale_halves = input_scale_halves  # the float32 bits as (low 16, high 16)
        self.rounding = rounding
        self.float_input = bool(flags & FLAG_FLOAT_INPUT)
        self.float_output = bool(flags & FLAG_FLOAT_OUTPUT)
        self.tensors = tensors
        self.ops = ops
        self.vectors_at = vectors_at
        self.n_in = tensors[0].size
        self.n_out = tensors[-1].size
        self.labels = None       # the output classes' names, when the file has them
        self.frontend_at = None  # (offset, length) of the front end's data, when the file has one

    @property
    def softmax(self):
        """True when the graph ends in SOFTMAX (its int8 output is a probability in 1/256ths)."""
        return self.ops[-1].kind == SOFTMAX

    @property
    def is_dense(self):
        return all(op.kind == FULLY_CONNECTED for op in self.ops)


def _crc32_soft(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _crc(data, crc):
    return _crc32(data, crc) if _crc32 is not None else _crc32_soft(data, crc)


def _file_crc(f, start, length, crc):
    """CRC-32 continued over `length` bytes of f from `start`, read 256 bytes at a time."""
    chunk = bytearray(256)
    mv = memoryview(chunk)
    f.seek(start)
    left = length
    while left:
        n = f.readinto(mv[:min(left, 256)])
        if not n:
            raise ValueError("truncated .tmdl: file ends %d bytes early" % left)
        crc = _crc(mv[:n], crc)
        left -= n
    return crc & 0xFFFFFFFF


def _read_at(f, image, at, n):
    if image is not None:
        return image[at:at + n]
    f.seek(at)
    return f.read(n)


def _check_header(f, image, size):
    """(rounding, flags, body length) of a file whose header, length and CRC are right."""
    if size < HEADER_SIZE:
        raise ValueError("truncated .tmdl: %d bytes, header alone is %d" % (size, HEADER_SIZE))
    magic, version, rounding, flags, length, crc = struct.unpack("<4sHBBII", _read_at(f, image, 0, HEADER_SIZE))
    if magic != _MAGIC:
        raise ValueError("not a .tmdl file: magic %r, expected %r" % (magic, _MAGIC))
    if version < VERSION:
        raise ValueError("unsupported .tmdl version %d: made by an older tinyml; re-export it with `tinyml export`"
                         % version)
    if version != VERSION:
        raise ValueError("unsupported .tmdl version %d; this tinyml reads version %d" % (version, VERSION))
    if length != size - HEADER_SIZE:
        raise ValueError("%s .tmdl: body is %d bytes, header says %d"
                         % ("truncated" if size - HEADER_SIZE < length else "oversized", size - HEADER_SIZE, length))
    if image is not None:
        actual = _crc(image[HEADER_SIZE:], _crc(image[_CRC_START:12], 0)) & 0xFFFFFFFF
    else:
        actual = _file_crc(f, HEADER_SIZE, length, _file_crc(f, _CRC_START, 8, 0))
    if actual != crc:
        raise ValueError("corrupt .tmdl: CRC32 0x%08x != 0x%08x in header" % (actual, crc))
    if rounding >= len(ROUNDING_NAMES):
        raise ValueError("unknown .tmdl rounding %d" % rounding)
    if flags & ~_KNOWN_FLAGS:
        raise ValueError("unknown .tmdl flags 0x%02x" % flags)
    return rounding, flags, length


def _need(at, n, end, what):
    if at + n > end:
        raise ValueError("truncated .tmdl: %s needs %d bytes at offset %d, file ends at %d" % (what, n, at, end))


def read(f, image=None):
    """Check the file's header, CRC and structure; return its Contents. `image` is a view of
    the whole file when it supports the buffer protocol, else None. Reads only the header, the
    model block, and the tensor and operator tables one entry at a time (and 256 bytes at a
    time for the CRC); the constants' values are checked when they are placed."""
    size = len(image) if image is not None else f.seek(0, 2)
    rounding, flags, length = _check_header(f, image, size)
    end = HEADER_SIZE + length
    at = HEADER_SIZE
    _need(at, _MODEL_BLOCK, end, "model block")
    block = _read_at(f, image, at, _MODEL_BLOCK)
    n_ops, n_tensors, n_vec, _, arena, in_scale, in_zp, out_scale, out_zp = struct.unpack("<HHHHIfifi", block)
    # the input scale's float32 bits as two halves (small ints everywhere): a Python float
    # may not hold it exactly (CircuitPython drops 2 mantissa bits), and quantize needs it exact
    in_scale_bits = struct.unpack_from("<HH", block, 12)
    if n_ops == 0 or n_tensors < 2:
        raise ValueError("invalid .tmdl: %d operators over %d tensors" % (n_ops, n_tensors))
    at += _MODEL_BLOCK
    tensors = []
    for k in range(n_tensors):
        _need(at, _TENSOR_ENTRY, end, "tensor %d" % k)
        h, w, c, zp, _, offset = struct.unpack("<HHHbBI", _read_at(f, image, at, _TENSOR_ENTRY))
        if not (h and w and c):
            raise ValueError("invalid .tmdl: tensor %d has shape (%d, %d, %d)" % (k, h, w, c))
        tensors.append(Tensor(h, w, c, zp, offset))
        at += _TENSOR_ENTRY
    _need(at, _OP_ENTRY * n_ops, end, "operator table")
    ops = _read_ops(f, image, at, n_ops, tensors, rounding)
    at += _OP_ENTRY * n_ops
    for op in ops:
        at += op.length
    if at > end:
        raise ValueError("truncated .tmdl: operator constants end at %d, file ends at %d" % (at, end))
    check_arena(ops, tensors, arena)
    if in_zp != tensors[0].zero_point or out_zp != tensors[-1].zero_point:
        raise ValueError("invalid .tmdl: the model's zero points (%d, %d) are not its input and output tensors' (%d, %d)"
                         % (in_zp, out_zp, tensors[0].zero_point, tensors[-1].zero_point))
    vectors = _pad4(n_vec * tensors[0].size) + _pad4(n_vec * tensors[-1].size)
    if at + vectors > end:
        raise ValueError("truncated .tmdl: golden vectors need %d bytes, %d left" % (vectors, end - at))
    contents = Contents(rounding, flags, (n_vec, arena, in_scale, in_zp, out_scale, out_zp), tensors, ops, at,
                        in_scale_bits)
    _read_records(f, image, at + vectors, end, contents)
    return contents


def _read_records(f, image, at, end, contents):
    """The records after the golden vectors (docs/format.md, "Records"): where the front end's
    data lies (read when an app sets the front end up) and the labels; types this reader does
    not know are skipped."""
    seen = 0
    while at < end:
        _need(at, _RECORD_HEADER, end, "record header")
        kind, reserved, length = struct.unpack("<HHI", _read_at(f, image, at, _RECORD_HEADER))
        at += _RECORD_HEADER
        _need(at, length, end, "record of type %d" % kind)
        bit = 1 << kind if kind < 16 else 0
        if reserved or seen & bit:
            raise ValueError("invalid .tmdl: a second record of type %d, or a non-zero reserved field" % kind)
        seen |= bit
        if kind == RECORD_FRONTEND:
            contents.frontend_at = (at, length)
        elif kind == RECORD_LABELS:
            labels = str(bytes(_read_at(f, image, at, length)), "utf-8").split("\n")
            if len(labels) != contents.n_out:
                raise ValueError("invalid .tmdl: %d labels for %d outputs" % (len(labels), contents.n_out))
            contents.labels = labels
        at += _pad4(length)


def _read_ops(f, image, at, n_ops, tensors, rounding):
    """The operator table, one 32-byte entry at a time, each checked against the tensors and
    the ops before it."""
    n_tensors = len(tensors)
    written = bytearray(n_tensors)
    written[0] = 1
    constants_at = at + _OP_ENTRY * n_ops  # the first op's constants follow the table
    ops = []
    for i in range(n_ops):
        op = Op(struct.unpack("<BBHHHHbbHHHHHHII", _read_at(f, image, at + _OP_ENTRY * i, _OP_ENTRY)), tensors,
                rounding)
        where = "operator %d (%s)" % (i, KIND_NAMES[op.kind] if op.kind < len(KIND_NAMES)
                                      else "unknown kind %d" % op.kind)
        if op.kind >= len(KIND_NAMES):
            raise ValueError("invalid .tmdl: %s: tinyml knows kinds 0 to %d" % (where, len(KIND_NAMES) - 1))
        for t in (op.x, op.y) if op.x2 is None else (op.x, op.x2, op.y):
            if t >= n_tensors:
                raise ValueError("invalid .tmdl: %s names tensor %d; there are %d" % (where, t, n_tensors))
        if not written[op.x] or (op.x2 is not None and not written[op.x2]) or written[op.y]:
            raise ValueError("invalid .tmdl: %s reads a tensor not yet written, or writes one twice" % where)
        written[op.y] = 1
        if op.n_channels and not op.weighted:
            raise ValueError("invalid .tmdl: %s has quantization channels" % where)
        op.shape_from(tensors)
        need = op.constants_size()
        if op.length != need or op.at != (constants_at if need else 0):
            raise ValueError("invalid .tmdl: %s constants are %d bytes at %d; its shapes need %d at %d"
                             % (where, op.length, op.at, need, constants_at if need else 0))
        _check_op(op, tensors, where)
        constants_at += need
        ops.append(op)
    if ops[-1].y != n_tensors - 1 or not all(written):
        raise ValueError("invalid .tmdl: the last operator must write the last tensor, and every tensor be written")
    return ops


def _check_window(op, where):
    """TFLite's VALID or SAME window along each axis (tmdl.window_geometry_ok on the host, the C
    core's tml_window_ok): every window then overlaps the input (a pool never averages nothing)."""
    for name, f, s, p, n_in, n_out in (("height", op.filter_h, op.stride_h, op.pad_top, op.in_h, op.out_h),
                                       ("width", op.filter_w, op.stride_w, op.pad_left, op.in_w, op.out_w)):
        if f < 1 or s < 1:
            raise ValueError("invalid .tmdl: %s has filter (%d, %d), stride (%d, %d)"
                             % (where, op.filter_h, op.filter_w, op.stride_h, op.stride_w))
        valid = (n_in - f) // s + 1 if n_in >= f else 0
        same = (n_in + s - 1) // s
        same_pad = max((same - 1) * s + f - n_in, 0) // 2
        if not ((p == 0 and n_out == valid) or (n_out == same and p == same_pad)):
            raise ValueError("invalid .tmdl: %s: output %s %d with filter %d, stride %d and padding %d is neither "
                             "TFLite's VALID nor SAME over an input of %s %d" % (where, name, n_out, f, s, p, name, n_in))


def _check_op(op, tensors, where):
    """The shapes and ranges an op of its kind needs (its constants' values: _check_values)."""
    kind = op.kind
    if op.act_min > op.act_max:
        raise ValueError("invalid .tmdl: %s activation range [%d, %d]" % (where, op.act_min, op.act_max))
    if (op.x2 is not None) != (kind == ADD):
        raise ValueError("invalid .tmdl: %s has %d inputs" % (where, 1 if op.x2 is None else 2))
    if CONV_2D <= kind <= MAX_POOL_2D:
        _check_window(op, where)
        if kind != CONV_2D and op.in_c != op.out_c:
            raise ValueError("invalid .tmdl: %s maps %d channels to %d" % (where, op.in_c, op.out_c))
    elif op.filter_h or op.filter_w or op.stride_h or op.stride_w or op.pad_top or op.pad_left:
        raise ValueError("invalid .tmdl: %s has a filter, stride or padding" % where)
    if kind in (AVERAGE_POOL_2D, MAX_POOL_2D) and op.input_zp != op.output_zp:
        raise ValueError("invalid .tmdl: %s changes the zero point (%d -> %d)" % (where, op.input_zp, op.output_zp))
    if kind in (ADD, SOFTMAX):
        y = tensors[op.y]
        for t in (op.x,) if op.x2 is None else (op.x, op.x2):
            x = tensors[t]
            if (x.h, x.w, x.c) != (y.h, y.w, y.c):
                raise ValueError("invalid .tmdl: %s input shape (%d, %d, %d), output (%d, %d, %d)"
                                 % (where, x.h, x.w, x.c, y.h, y.w, y.c))
    if kind == SOFTMAX and (op.output_zp != -128 or op.act_min != -128 or op.act_max != 127
                            or not 1 <= op.out_c <= _SOFTMAX_MAX_DEPTH):
        raise ValueError("invalid .tmdl: %s output zero point %d, range [%d, %d], %d values a row: SOFTMAX gives "
                         "zero point -128, the whole int8 range, and sums at most %d values (TFLite's 12 integer bits)"
                         % (where, op.output_zp, op.act_min, op.act_max, op.out_c, _SOFTMAX_MAX_DEPTH))
    if op.weighted:
        n_out = tensors[op.y].size if kind == FULLY_CONNECTED else op.out_c
        if op.n_channels != 1 and op.n_channels != n_out:
            raise ValueError("invalid .tmdl: %s has %d quantization channels for %d outputs"
                             % (where, op.n_channels, n_out))


def lifetimes(ops, n_tensors):
    """(first, last): per tensor, the op index from which it must keep its bytes (the op that
    writes it) to the last op that reads it; the model's input and output: the whole invoke
    (tmdl.lifetimes on the host: m.input survives invoke())."""
    first = array("H", bytes(2 * n_tensors))
    last = array("H", bytes(2 * n_tensors))
    for i, op in enumerate(ops):
        first[op.y] = i
        if last[op.y] < i:
            last[op.y] = i
        for t in (op.x,) if op.x2 is None else (op.x, op.x2):
            if last[t] < i:
                last[t] = i
    last[0] = last[n_tensors - 1] = len(ops)
    return first, last


def check_arena(ops, tensors, arena_bytes):
    """Every tensor inside the arena at a 4-byte boundary, and no two tensors that are live at
    the same time sharing a byte (so an op's output never overlaps its inputs)."""
    for k, t in enumerate(tensors):
        if t.offset % 4 or t.offset + t.size > arena_bytes:
            raise ValueError("invalid .tmdl: tensor %d (%d bytes at %d) is not inside the %d-byte arena at a 4-byte "
                             "boundary" % (k, t.size, t.offset, arena_bytes))
    first, last = lifetimes(ops, len(tensors))
    for a in range(len(tensors)):
        ta = tensors[a]
        for b in range(a):
            tb = tensors[b]
            if (first[a] <= last[b] and first[b] <= last[a]
                    and ta.offset < tb.offset + tb.size and tb.offset < ta.offset + ta.size):
                raise ValueError("invalid .tmdl: tensors %d and %d are live together and overlap in the arena" % (b, a))


def _i32(buf, k):
    return struct.unpack_from("<i", buf, 4 * k)[0]


def _i8(buf, k):
    s = buf[k]
    return s - 256 if s > 127 else s  # a view of the file reads unsigned bytes


def check_quantization(m, shifts, n, i, name):
    """n multipliers >= 0 and shifts in [-31, 30] (m: int32 items, array('i'), or their bytes)."""
    # a multiplier's sign is its last byte's top bit (little-endian): read that way, the check
    # allocates nothing (a tuple per channel from struct would fill a small heap with garbage
    # while load is placing its arrays)
    k, top = (1, 0) if len(m) == n else (4, 3)
    for c in range(n):
        if (m[k * c] < 0 if k == 1 else m[k * c + top] > 127) or not -31 <= _i8(shifts, c) <= 30:
            raise ValueError("invalid .tmdl: operator %d (%s) multiplier or shift out of range" % (i, name))


def _check_values(op, i):
    """The constants' values an op of its kind needs: multipliers >= 0, shifts in [-31, 30],
    ADD's left shift in [0, 22], SOFTMAX's left shift in [0, 31] and diff_min <= 0."""
    where = "operator %d (%s)" % (i, op.name)
    if op.weighted:
        if op.multipliers is not None:  # None: read and checked a block at a time (place_in_ram)
            check_quantization(op.multipliers, op.shifts, op.n_channels, i, op.name)
    elif op.kind == ADD:
        p = op.params
        for k in (0, 2, 4):
            if _i32(p, k) < 0 or not -31 <= _i32(p, k + 1) <= 30:
                raise ValueError("invalid .tmdl: %s multiplier, shift or left shift out of range" % where)
        if not 0 <= _i32(p, 6) <= 22:
            raise ValueError("invalid .tmdl: %s multiplier, shift or left shift out of range" % where)
    elif op.kind == SOFTMAX:
        p = op.params
        if _i32(p, 0) < 0 or not 0 <= _i32(p, 1) <= 31 or _i32(p, 2) > 0:
            raise ValueError("invalid .tmdl: %s input multiplier, left shift or diff_min out of range" % where)


def _array(f, typecode, count, itemsize, at, raw=False):
    # raw: a bytearray of the section's bytes (no temporary copy as array(typecode, bytes(n))
    # makes; every reader of the constants takes either)
    a = bytearray(count * itemsize) if raw else array(typecode, bytes(count * itemsize))
    f.seek(at)
    if count and f.readinto(a) != count * itemsize:
        raise ValueError("truncated .tmdl: file ends inside a section at %d" % at)
    return a


def place_in_ram(f, contents, weights=True, per_block=False):
    """Read every op's constants into RAM (a file on an ordinary filesystem); the weights into
    int8_buffer()s, so the largest allocation is each op's weights once, not twice. With
    weights=False (load(path, stream=True)) all but the weights: bias, multipliers, shifts and
    params are read, as bytearrays (the weights stay in the file, weights_at says where).
    The ops' constants are read largest first, as load allocates its larger buffers first: a
    large array made after many small ones may find the heap's free bytes only in pieces too
    small for it (a per-channel model on a small heap). per_block (the native backend,
    streamed): a FULLY_CONNECTED's or CONV_2D's per-channel multipliers and shifts are left in
    the file (None) for load to read and check a block at a time, as its plans copy them."""
    raw = not weights
    ops = contents.ops
    for i in sorted(range(len(ops)), key=lambda i: -(ops[i].length if weights else ops[i].quant_bytes)):
        op = ops[i]
        at = op.at
        if op.weighted:
            op.bias = _array(f, "i", op.bias_count, 4, at, raw)
            at += 4 * op.bias_count
            if per_block and op.n_channels > 1 and op.kind <= CONV_2D:
                op.multipliers = op.shifts = None
            else:
                op.multipliers = _array(f, "i", op.n_channels, 4, at, raw)
                op.shifts = _array(f, "b", op.n_channels, 1, at + 4 * op.n_channels, raw)
            if weights:
                op.weights, op.weights_signed = int8_buffer(op.weight_bytes)
                f.seek(weights_at(op))
                if op.weight_bytes and f.readinto(op.weights) != op.weight_bytes:
                    raise ValueError("truncated .tmdl: file ends inside operator %d weights" % i)
        elif op.length:
            op.params = _array(f, "i", op.length // 4, 4, at, raw)
        _check_values(op, i)


def weights_at(op):
    """Where a weighted op's weights start in the file: after its bias, multipliers and shifts."""
    return op.at + 4 * op.bias_count + 4 * op.n_channels + _pad4(op.n_channels)


def image_of(f):
    """A zero-copy view of the whole file when it supports the buffer protocol (a file in
    ROMFS: memoryview(open("/rom/m.tmdl", "rb")) is a view of flash), else None."""
    try:
        return memoryview(f)
    except TypeError:  # an ordinary file: no buffer protocol
        return None


def is_word_aligned(buf):
    """True when buf starts at a 4-byte boundary in memory (False when that cannot be told)."""
    try:
        from uctypes import addressof  # type: ignore[import-not-found]  # MicroPython only
    except ImportError:
        return False
    return addressof(buf) & 3 == 0


def _point_at(op, buf, base, int32_in_place, signed):
    """Point op's sections at their bytes in buf, its constants starting at buf[base]; int32
    sections are copied into arrays unless they can be used in place (word-aligned)."""
    def int32(at, n):
        view = buf[at:at + 4 * n]
        return view if int32_in_place else array("i", bytes(view))

    if op.weighted:
        at = base
        op.bias = int32(at, op.bias_count)
        at += 4 * op.bias_count
        op.multipliers = int32(at, op.n_channels)
        at += 4 * op.n_channels
        op.shifts = buf[at:at + op.n_channels]
        at += _pad4(op.n_channels)
        op.weights = buf[at:at + op.weight_bytes]
        op.weights_signed = signed
    elif op.length:
        op.params = int32(base, op.length // 4)


def place_in_image(image, contents):
    """Use each op's constants where they lie in `image` (views, no copy). The int32 sections
    are used in place only when the file starts at a 4-byte boundary: a Cortex-M0+ cannot load
    words from other addresses, and mpremote's own ROMFS builder does not align file data. In
    a file that does not, bias, multipliers and params are copied into RAM arrays; the weights
    and shifts, bytes, stay in place. Returns whether the int32 sections are in place."""
    aligned = is_word_aligned(image)
    for i, op in enumerate(contents.ops):
        _point_at(op, image, op.at, aligned, False)
        _check_values(op, i)
    return aligned


def int8_buffer(n):
    """A zeroed buffer of n int8 and whether its items read as signed. A bytearray is
    allocated as it is, while array('b', bytes(n)) needs a temporary copy as large; so it is
    a bytearray wherever the pure-Python backend can read it as int8 through uctypes
    (MicroPython), an array('b') elsewhere (CircuitPython)."""
    try:
        import uctypes  # type: ignore[import-not-found]  # noqa: F401  MicroPython only
    except ImportError:
        return array("b", bytes(n)), True
    return bytearray(n), False
