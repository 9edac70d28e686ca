# The board's reader of the .tmdl format (docs/format.md): checks a file and describes it
# as a Contents with one Layer (named fields) per layer, then puts each layer's sections
# where the model will use them: arrays in RAM, views of a file that supports the buffer
# protocol (ROMFS), or one buffer the weights are streamed into. host/tinyml_host/tmdl.py is
# the host's writer and reader; tests keep the two in agreement.
import struct
from array import array
from micropython import const

try:
    from binascii import crc32 as _crc32
except ImportError:  # some ports leave crc32 out of binascii
    _crc32 = None  # type: ignore[assignment]

_MAGIC = b"TMDL"
VERSION = const(3)
# The header's rounding byte: the same codes as the C core's TML_ROUNDING_* (native/core/tinyml.h)
# and host/tinyml_host/tmdl.py's ROUNDING_*; every backend takes the code as it is.
ROUNDING_TFLM = const(0)
ROUNDING_LITERT = const(1)
ROUNDING_NAMES = ("tflm", "litert")  # by code
FLAG_SOFTMAX = const(1)
FLAG_FLOAT_INPUT = const(2)
FLAG_FLOAT_OUTPUT = const(4)
_KNOWN_FLAGS = const(7)
_FULLY_CONNECTED = const(0)
# The layer table's weight layout (docs/format.md): rows in blocks of 8, each block walked 4
# inputs at a time; every backend reads the weights in this order where they lie.
LAYOUT_BLOCKS8 = const(1)
BLOCK_ROWS = const(8)
HEADER_SIZE = const(16)
_CRC_START = const(4)  # the CRC covers header bytes 4..11, then the body
_MODEL_BLOCK = const(24)
_LAYER_ENTRY = const(12)


def _pad4(n):
    return n + (-n % 4)


class Layer:
    """One int8 fully connected layer.

    From the layer table: n_in, n_out, n_channels (1, or n_out for per-channel scales),
    act_min, act_max, output_zp, and the model's rounding code. Where its sections start in
    the file: bias_at, weights_at (multipliers and shifts follow the bias). Once placed:
    weights (int8 [n_out * n_in] in the file's layout, rows in blocks of 8: docs/format.md), bias (int32 [n_out], input offset folded in), multipliers
    (int32) and shifts (int8), [n_channels] each. These are arrays, or views of the file
    whose items read as unsigned bytes; the int32 ones are always 4-byte aligned."""

    def __init__(self, n_in, n_out, n_channels, act_min, act_max, output_zp, rounding, at):
        self.n_in = n_in
        self.n_out = n_out
        self.n_channels = n_channels
        self.act_min = act_min
        self.act_max = act_max
        self.output_zp = output_zp
        self.rounding = rounding
        self.bias_at = at
        self.weights_at = at + 4 * n_out + 4 * n_channels + _pad4(n_channels)
        self.end = self.weights_at + _pad4(n_in * n_out)
        self.weights = self.bias = self.multipliers = self.shifts = None
        self.weights_signed = True  # False for a view of the file: its items read as unsigned bytes

    @property
    def weight_bytes(self):
        return self.n_in * self.n_out

    @property
    def quant_bytes(self):
        """Bias, multipliers and shifts: what a layer holds besides its weights."""
        return 4 * self.n_out + 5 * self.n_channels


class Contents:
    """What a checked .tmdl file holds, before any section is read into RAM."""

    def __init__(self, flags, rounding, block, layers, vectors_at, input_scale_halves=(0, 0)):
        (self.n_vectors, self.n_in, self.n_out, self.input_scale, self.input_zp,
         self.output_scale, self.output_zp) = block
        self.input_scale_halves = input_scale_halves  # the float32 bits as (low 16, high 16)
        self.rounding = rounding
        self.softmax = bool(flags & FLAG_SOFTMAX)
        self.layers = layers
        self.vectors_at = vectors_at

    @property
    def widest(self):
        return max(max(l.n_in, l.n_out) for l in self.layers)


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


def read(f, image=None):
    """Check the file's header, CRC and structure; return its Contents. `image` is a view of
    the whole file when it supports the buffer protocol, else None. Reads only the header,
    the model block and the layer table into RAM (and 256 bytes at a time for the CRC)."""
    if image is not None:
        size = len(image)
    else:
        size = f.seek(0, 2)
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

    end = HEADER_SIZE + length
    at = HEADER_SIZE + _MODEL_BLOCK
    if at > end:
        raise ValueError("truncated .tmdl: model block needs %d bytes, %d left" % (_MODEL_BLOCK, length))
    block = _read_at(f, image, HEADER_SIZE, _MODEL_BLOCK)
    n_layers, n_vec, n_in, n_out, in_scale, in_zp, out_scale, out_zp = struct.unpack("<HHHHfifi", block)
    # the input scale's float32 bits as two halves (small ints everywhere): a Python float
    # may not hold it exactly (CircuitPython drops 2 mantissa bits), and quantize needs it exact
    in_scale_bits = struct.unpack_from("<HH", block, 8)
    if not n_layers:
        raise ValueError("invalid .tmdl: no layers")
    if at + _LAYER_ENTRY * n_layers > end:
        raise ValueError("truncated .tmdl: layer table needs %d bytes, %d left" % (_LAYER_ENTRY * n_layers, end - at))
    table = _read_at(f, image, at, _LAYER_ENTRY * n_layers)
    at += _LAYER_ENTRY * n_layers
    layers = []
    width = n_in
    for i in range(n_layers):
        l_in, l_out, n_q, act_min, act_max, zp, kind, layout = struct.unpack_from("<HHHbbbBH", table, i * _LAYER_ENTRY)
        if kind != _FULLY_CONNECTED or layout != LAYOUT_BLOCKS8:
            raise ValueError("invalid .tmdl: layer %d has kind %d, weight layout %d (expected %d, %d)"
                             % (i, kind, layout, _FULLY_CONNECTED, LAYOUT_BLOCKS8))
        if l_in != width or not l_out:
            raise ValueError("invalid .tmdl: layer %d is %d->%d, previous output is %d" % (i, l_in, l_out, width))
        if n_q != 1 and n_q != l_out:
            raise ValueError("invalid .tmdl: layer %d has %d quantization channels for %d outputs" % (i, n_q, l_out))
        if act_min > act_max:
            raise ValueError("invalid .tmdl: layer %d activation range [%d, %d]" % (i, act_min, act_max))
        layer = Layer(l_in, l_out, n_q, act_min, act_max, zp, rounding, at)
        if layer.end > end:
            raise ValueError("truncated .tmdl: layer %d needs %d bytes, %d left" % (i, layer.end - at, end - at))
        layers.append(layer)
        at = layer.end
        width = l_out
    if width != n_out:
        raise ValueError("invalid .tmdl: last layer gives %d outputs, header says %d" % (width, n_out))
    vectors = _pad4(n_vec * n_in) + _pad4(n_vec * n_out)
    if at + vectors != end:
        if at + vectors > end:
            raise ValueError("truncated .tmdl: golden vectors need %d bytes, %d left" % (vectors, end - at))
        raise ValueError("invalid .tmdl: %d unexpected bytes after the last section" % (end - at - vectors))
    return Contents(flags, rounding, (n_vec, n_in, n_out, in_scale, in_zp, out_scale, out_zp), layers, at,
                    in_scale_bits)


def _check_quantization(layer, i):
    mult, shift = layer.multipliers, layer.shifts
    for c in range(layer.n_channels):
        s = shift[c]
        if s > 127:  # a view of the file reads unsigned bytes
            s -= 256
        if struct.unpack_from("<i", mult, 4 * c)[0] < 0 or not -31 <= s <= 30:
            raise ValueError("invalid .tmdl: layer %d multiplier or shift out of range" % i)


def _array(f, typecode, count, itemsize, at):
    a = array(typecode, bytes(count * itemsize))
    f.seek(at)
    if count and f.readinto(a) != count * itemsize:
        raise ValueError("truncated .tmdl: file ends inside a section at %d" % at)
    return a


def _place_quantization(f, layer):
    at = layer.bias_at
    layer.bias = _array(f, "i", layer.n_out, 4, at)
    at += 4 * layer.n_out
    layer.multipliers = _array(f, "i", layer.n_channels, 4, at)
    layer.shifts = _array(f, "b", layer.n_channels, 1, at + 4 * layer.n_channels)


def place_in_ram(f, contents):
    """Read every section into RAM (a file on an ordinary filesystem); the weights into
    int8_buffer()s, so the largest allocation is each layer's weights once, not twice."""
    for i, layer in enumerate(contents.layers):
        _place_quantization(f, layer)
        _check_quantization(layer, i)
        layer.weights, layer.weights_signed = int8_buffer(layer.weight_bytes)
        f.seek(layer.weights_at)
        if layer.weight_bytes and f.readinto(layer.weights) != layer.weight_bytes:
            raise ValueError("truncated .tmdl: file ends inside layer %d weights" % i)


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


def place_in_image(image, contents):
    """Use each layer's sections where they lie in `image` (views, no copy). The int32
    sections are used in place only when the file starts at a 4-byte boundary: a Cortex-M0+
    cannot load words from other addresses, and mpremote's own ROMFS builder does not align
    file data. In a file that does not, bias and multipliers are copied into RAM arrays (4
    bytes per output); the weights and shifts, bytes, stay in place. Returns whether the
    int32 sections are in place."""
    aligned = is_word_aligned(image)
    for i, layer in enumerate(contents.layers):
        at = layer.bias_at
        mult_at = at + 4 * layer.n_out
        shift_at = mult_at + 4 * layer.n_channels
        if aligned:
            layer.bias = image[at:mult_at]
            layer.multipliers = image[mult_at:shift_at]
        else:
            layer.bias = array("i", bytes(image[at:mult_at]))
            layer.multipliers = array("i", bytes(image[mult_at:shift_at]))
        layer.shifts = image[shift_at:shift_at + layer.n_channels]
        layer.weights = image[layer.weights_at:layer.weights_at + layer.weight_bytes]
        layer.weights_signed = False
        _check_quantization(layer, i)
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


def stream_window(contents):
    """The one buffer a streamed model reads each layer's sections into, as large as the
    largest layer's bias, multipliers, shifts and weights together, and whether its bytes
    read as signed (int8_buffer())."""
    return int8_buffer(max(l.end - l.bias_at for l in contents.layers))


def place_in_window(f, layer, window, signed, i):
    """Read `layer`'s sections from f into `window` (a memoryview of stream_window()) and
    point the layer at them. The window's start is word-aligned (an array's data) and every
    section keeps its offset from the layer's 4-aligned start, so the int32 views are aligned."""
    n = layer.end - layer.bias_at
    f.seek(layer.bias_at)
    if f.readinto(window[:n]) != n:
        raise ValueError("truncated .tmdl: file ends inside layer %d" % i)
    mult_at = 4 * layer.n_out
    shift_at = mult_at + 4 * layer.n_channels
    weights_at = layer.weights_at - layer.bias_at
    layer.bias = window[:mult_at]
    layer.multipliers = window[mult_at:shift_at]
    layer.shifts = window[shift_at:shift_at + layer.n_channels]
    layer.weights = window[weights_at:weights_at + layer.weight_bytes]
    layer.weights_signed = signed
    _check_quantization(layer, i)
    return window[:n]
