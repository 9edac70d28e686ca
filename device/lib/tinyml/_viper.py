# Viper int8 kernels: machine-word arithmetic, ~10x the pure-Python speed, no allocation.
# Imported inside try/except by tinyml.model, so ports without viper (CircuitPython)
# never compile this file.
#
# A viper int is a machine word: 32 bits on boards, 64 on the unix port. requantize()
# is written so that every intermediate value lies in [-2**31, 2**31 - 1] and every
# constant below 2**30 (a small int on 32-bit ports), so both word sizes compute the same
# exact integers and nothing relies on wrap-around. tests/device/test_viper_requantize.py
# runs this very source in CPython with every operation range-checked.
from array import array

import micropython
from micropython import const

# SOFTMAX runs once per inference over a handful of values, and a pool once over a small
# tensor: the pure-Python kernels serve
from tinyml._python import average_pool, max_pool, prepare_pool, prepare_softmax, softmax  # noqa: F401,E402
from tinyml._python import add_tables

_ADD_CHUNK = const(64)

BORROWED = {"softmax": "the pure-Python kernel", "average_pool": "the pure-Python kernel",
            "max_pool": "the pure-Python kernel"}

_acc = array("i")  # the accumulator row every plan shares: only live inside one fc() call
_cols = array("b")  # the im2col row every CONV_2D plan shares: only live inside one conv() call


def reserve(acc, cols):
    """Size the shared accumulator row (acc int32) and im2col row (cols int8) before load
    places anything else: made first, they find room a fragmented heap would not give later."""
    global _acc, _cols
    if len(_acc) < acc:
        _acc = array("i", bytes(4 * acc))
    if len(_cols) < cols:
        _cols = array("b", bytes(cols))


def prepare(layer):
    """The plan fc() runs a tinyml.reader.Layer with; params is the layer's tml_fc_params
    (native/core/tinyml.h) as requantize() reads it."""
    global _acc
    if len(_acc) < layer.n_out:
        _acc = array("i", bytes(4 * layer.n_out))
    # the last entry: where requantize() writes its first output (a window op's position)
    params = array("i", (layer.n_in, layer.n_out, layer.n_channels, layer.act_min, layer.act_max,
                         layer.output_zp, layer.rounding, 0))
    return layer.weights, layer.bias, layer.multipliers, layer.shifts, params, layer.n_in, layer.n_out


def fc(plan, x, out):
    """One layer, x (int8) -> out (int8). Allocates nothing."""
    w, bias, mult, shift, params, n_in, n_out = plan
    acc = _acc
    mac(x, w, acc, n_in, n_out, 0)
    requantize(acc, bias, mult, shift, out, params)


def fc_rows(plan, x, out, first, n):
    """tinyml._python.fc_rows: rows first to first + n of a layer streamed a block at a time
    (the plan's weights: the window) into the accumulator row; after the last, the requantization."""
    w, bias, mult, shift, params, n_in, n_out = plan
    acc = _acc
    mac(x, w, acc, n_in, n, first)
    if first + n == n_out:
        requantize(acc, bias, mult, shift, out, params)


def _geometry(op):
    # what _im2col and _depthwise_taps read: the window's origin (entries 5, 6) is set per
    # position; everything stored non-negative (a ptr32 read zero-extends on 64-bit ports)
    return array("i", (op.in_h, op.in_w, op.in_c, op.filter_h, op.filter_w, 0, 0, op.input_zp + 128,
                       op.pad_top, op.pad_left))


def prepare_conv(op):
    """The plan conv() runs a CONV_2D op with: fc's plan of its [out_c, K] matrix, geometry."""
    global _cols
    if len(_cols) < op.n_in:
        _cols = array("b", bytes(op.n_in))
    return prepare(op), _geometry(op), op.out_h, op.out_w, op.stride_h, op.stride_w


def conv(plan, x, out):
    """CONV_2D: each output position's window gathered into one row (outside the input: the
    input zero point), then fc's mac and requantize. Allocates nothing."""
    matrix, geometry, out_h, out_w, sh, sw = plan
    w, bias, mult, shift, params, n_in, n_out = matrix
    cols = _cols
    acc = _acc
    at = 0
    for oy in range(out_h):
        geometry[5] = oy * sh
        for ox in range(out_w):
            geometry[6] = ox * sw
            _im2col(x, cols, geometry)
            mac(cols, w, acc, n_in, n_out, 0)
            params[7] = at
            requantize(acc, bias, mult, shift, out, params)
            at += n_out


def prepare_depthwise(op):
    """The plan depthwise() runs a DEPTHWISE_CONV_2D op with: its own bias (not folded),
    quantization and clamp as requantize() reads them, geometry."""
    global _acc
    if len(_acc) < op.out_c:
        _acc = array("i", bytes(4 * op.out_c))
    params = array("i", (0, op.out_c, op.n_channels, op.act_min, op.act_max, op.output_zp, op.rounding, 0))
    return (op.weights, op.bias, op.multipliers, op.shifts, params, _geometry(op), op.out_h, op.out_w,
            op.stride_h, op.stride_w, op.out_c)


def depthwise(plan, x, out):
    """DEPTHWISE_CONV_2D (depth multiplier 1): per position, the sums of w (x - zp) over the
    window's taps inside the input, then requantize with the bias. Allocates nothing."""
    w, bias, mult, shift, params, geometry, out_h, out_w, sh, sw, c_n = plan
    acc = _acc
    at = 0
    for oy in range(out_h):
        geometry[5] = oy * sh
        for ox in range(out_w):
            geometry[6] = ox * sw
            _depthwise_taps(x, w, acc, geometry)
            params[7] = at
            requantize(acc, bias, mult, shift, out, params)
            at += c_n


def prepare_add(op, x2):
    """The plan add() runs an ADD op with: the pure-Python backend's two tables of scaled inputs
    (tinyml._python.add_tables), each entry stored plus 2**28 (non-negative: a ptr32 read
    zero-extends on 64-bit ports), the output's quantization as requantize() reads it over a
    zero bias of one chunk, the second input's view and size."""
    global _acc
    if len(_acc) < _ADD_CHUNK:
        _acc = array("i", bytes(4 * _ADD_CHUNK))
    t1, t2, mult, shift = add_tables(op)
    for t in (t1, t2):
        for k in range(256):
            t[k] += 0x10000000  # |entry| < 2**28: checked by add_tables
    params = array("i", (0, _ADD_CHUNK, 1, op.act_min, op.act_max, op.output_zp, op.rounding, 0))
    return (t1, t2, array("i", bytes(4 * _ADD_CHUNK)), array("i", bytes(mult)), shift, params, x2,
            op.out_h * op.out_w * op.out_c)


def add(plan, x, out):
    """ADD, x + the plan's second input -> out, a chunk at a time (out may be either input:
    each chunk is read before it is written). Allocates nothing."""
    t1, t2, zero, mult, shift, params, x2, n = plan
    acc = _acc
    for at in range(0, n, _ADD_CHUNK):
        m = n - at if n - at < _ADD_CHUNK else _ADD_CHUNK
        _add_sums(x, x2, t1, t2, acc, at, m)
        params[1] = m
        params[7] = at
        requantize(acc, zero, mult, shift, out, params)


@micropython.viper
def scatter(src: ptr8, dst: ptr8, positions: int, n: int, stride: int, first: int):
    # tinyml.model._scatter: a streamed CONV_2D's block of n channels to its place in dst
    s = 0
    d = first
    for _ in range(positions):
        for c in range(n):
            dst[d + c] = src[s + c]
        s += n
        d += stride


@micropython.viper
def _add_sums(x1: ptr8, x2: ptr8, t1: ptr32, t2: ptr32, acc: ptr32, at: int, n: int):
    # acc[j] = t1[x1[at + j]] + t2[x2[at + j]] (the tables' offsets of 2**28 taken out):
    # ptr8 reads the int8 as its low byte, the tables' index
    for j in range(n):
        acc[j] = int(t1[x1[at + j]]) + int(t2[x2[at + j]]) - 0x20000000


@micropython.viper
def _im2col(x: ptr8, cols: ptr8, g: ptr32):
    in_h = int(g[0])
    in_w = int(g[1])
    in_c = int(g[2])
    fw = int(g[4])
    zp = int(g[7]) - 128
    k = 0
    for ky in range(int(g[3])):
        iy = int(g[5]) + ky - int(g[8])
        for kx in range(fw):
            ix = int(g[6]) + kx - int(g[9])
            if iy >= 0 and iy < in_h and ix >= 0 and ix < in_w:
                src = (iy * in_w + ix) * in_c
                for c in range(in_c):
                    cols[k + c] = x[src + c]
            else:
                for c in range(in_c):
                    cols[k + c] = zp
            k += in_c


@micropython.viper
def _depthwise_taps(x: ptr8, w: ptr8, acc: ptr32, g: ptr32):
    # acc[c] = sum of w[ky, kx, c] (x - zp) over the taps inside the input; ptr8 reads
    # unsigned bytes: (b ^ 0x80) - 0x80 sign-extends int8
    in_h = int(g[0])
    in_w = int(g[1])
    c_n = int(g[2])
    fw = int(g[4])
    zp = int(g[7]) - 128
    for c in range(c_n):
        acc[c] = 0
    for ky in range(int(g[3])):
        iy = int(g[5]) + ky - int(g[8])
        if iy < 0 or iy >= in_h:
            continue
        for kx in range(fw):
            ix = int(g[6]) + kx - int(g[9])
            if ix < 0 or ix >= in_w:
                continue
            src = (iy * in_w + ix) * c_n
            tap = (ky * fw + kx) * c_n
            for c in range(c_n):
                acc[c] = int(acc[c]) + ((int(w[tap + c]) ^ 0x80) - 0x80) * (((int(x[src + c]) ^ 0x80) - 0x80) - zp)


@micropython.viper
def mac(x: ptr8, w: ptr8, acc: ptr32, n_in: int, n_out: int, at: int):
    # w in the file's layout (docs/format.md): rows in blocks of 8, each block 4 inputs at a
    # time (row o's 4 bytes 32 apart), then each row's last n_in % 4; rows after the last
    # full block row-major (the same walk with a step of 4).
    # ptr8 reads unsigned bytes; (b ^ 0x80) - 0x80 sign-extends int8
    full = n_out & ~7
    quads = n_in & ~3
    tail = n_in - quads
    for o in range(n_out):
        if o < full:
            base = (o & ~7) * n_in
            k = base + 4 * (o & 7)
            step = 32
            t = base + 8 * quads + (o & 7) * tail
        else:
            k = o * n_in
            step = 4
            t = k + quads
        a = 0
        i = 0
        while i < quads:
            a += ((int(w[k]) ^ 0x80) - 0x80) * ((int(x[i]) ^ 0x80) - 0x80)
            a += ((int(w[k + 1]) ^ 0x80) - 0x80) * ((int(x[i + 1]) ^ 0x80) - 0x80)
            a += ((int(w[k + 2]) ^ 0x80) - 0x80) * ((int(x[i + 2]) ^ 0x80) - 0x80)
            a += ((int(w[k + 3]) ^ 0x80) - 0x80) * ((int(x[i + 3]) ^ 0x80) - 0x80)
            k += step
            i += 4
        while i < n_in:
            a += ((int(w[t]) ^ 0x80) - 0x80) * ((int(x[i]) ^ 0x80) - 0x80)
            t += 1
            i += 1
        acc[at + o] = a


@micropython.viper
def requantize(acc: ptr32, bias: ptr32, mult: ptr32, shift: ptr8, out: ptr8, params: ptr32):
    """out[o] = clamp(requantized(acc[o] + bias[o]) + out_zp), bit-exact with TFLite.

    mult: array('i'), shift: array('b'), one entry or one per output; params: the layer's
    array('i') (n_in, n_out, n_channels, act_min, act_max, output_zp, rounding, out offset), rounding the
    .tmdl code: 1 litert (single rounding), 0 tflm.

    The 64-bit product x * m is done in 16-bit pieces, x = xh 2**16 + xl (xh signed,
    xl in [0, 2**16)), m = mh 2**16 + ml (0 <= mh < 2**15, ml in [0, 2**16)):
      x m = 2**32 xh mh + 2**16 (c1 + c2) + xl ml,  c1 = xh ml, c2 = xl mh,
    from which y1 = floor(x m / 2**31) and y0 = x m mod 2**31 follow with small carries;
    both roundings are then shifts of (y1, y0). Why every value fits a signed 32-bit word:
    |xh| <= 2**15 and xl, ml < 2**16, mh < 2**15, so |c1| and c2 stay below 2**31 and
    2 xh mh lies in [-2**31 + 2**16, 2**31 - 2**17 + 2]; c1 >> 15 and c2 >> 15 are below 2**16
    in size, so 2 xh mh + (c1 >> 15) + (c2 >> 15) lies in [-2**31 + 1, 2**31 - 4] in any
    order; the carry t >> 15 is >= 0 and the total is y1, which lies in [-2**31 + 1, 2**31 - 2].
    xl ml, up to 2**32, is never formed: 2 p + q with p = (xl >> 1) ml < 2**31.
    """
    # ptr32 reads zero-extend on 64-bit ports: sign-extend the int8 fields by hand
    n_out = int(params[1]) & 0xFFFF
    per_channel = (int(params[2]) & 0xFFFF) != 1
    zp = ((int(params[5]) & 0xFF) ^ 0x80) - 0x80
    lo = ((int(params[3]) & 0xFF) ^ 0x80) - 0x80 - zp  # clamp before adding zp: no overflow
    hi = ((int(params[4]) & 0xFF) ^ 0x80) - 0x80 - zp
    litert = int(params[6]) & 1
    at = int(params[7])  # where the first output goes
    mh = 0
    ml = 0
    s = 0
    for o in range(n_out):
        if o == 0 or per_channel:  # per tensor: entry 0 only
            m = int(mult[o])
            mh = (m >> 16) & 0x7FFF  # m in [0, 2**31): validated at load
            ml = m & 0xFFFF
            s = (int(shift[o]) ^ 0x80) - 0x80
        # x = acc + bias, wrapping like int32, as two 16-bit halves
        a = int(acc[o])
        b = int(bias[o])
        xl = (a & 0xFFFF) + (b & 0xFFFF)
        xh = ((a >> 16) & 0xFFFF) + ((b >> 16) & 0xFFFF) + (xl >> 16)
        xl = xl & 0xFFFF
        xh = ((xh & 0xFFFF) ^ 0x8000) - 0x8000
        if s > 0 and litert == 0:
            # TFLM: x << s wraps in int32
            if s < 16:
                xl = xl << s
                xh = (xh << s) + (xl >> 16)
                xl = xl & 0xFFFF
            else:
                xh = xl << (s - 16)
                xl = 0
            xh = ((xh & 0xFFFF) ^ 0x8000) - 0x8000
        # y1, y0 of x * m; xl ml < 2**32 is taken as 2 p + q to stay below 2**31
        c1 = xh * ml
        c2 = xl * mh
        p = (xl >> 1) * ml
        q = ml if xl & 1 else 0
        t = (c1 & 0x7FFF) + (c2 & 0x7FFF) + ((p + (q >> 1)) >> 15)
        y1 = ((xh * mh) << 1) + (c1 >> 15)
        y1 = y1 + (c2 >> 15)
        y1 = y1 + (t >> 15)
        y0 = ((t & 0x7FFF) << 16) + ((((p & 0x7FFF) << 1) + q) & 0xFFFF)
        if litert == 0:
            # SaturatingRoundingDoublingHighMul: floor((x m + 2**30) / 2**31)
            r = y1 + (y0 >> 30)
            if s < 0:
                # RoundingDivideByPOT: half away from zero
                e = 0 - s
                half = 1 << (e - 1)
                threshold = half - 1
                if r < 0:
                    threshold += 1
                rem = r & (half + (half - 1))
                r = r >> e
                if rem > threshold:
                    r += 1
        elif s <= 0:
            # LiteRT, shift 31 - s >= 31: floor((x m + 2**(30 - s)) / 2**(31 - s)) fits int32
            if s == 0:
                r = y1 + (y0 >> 30)
            else:
                e = 0 - s
                r = (y1 >> e) + ((y1 >> (e - 1)) & 1)
        else:
            # LiteRT, shift 31 - s < 31: y1 2**s + round(y0 / 2**(31 - s)), narrowed to int32
            e = 31 - s
            low = (y0 >> e) + ((y0 >> (e - 1)) & 1)  # <= 2**s
            y1 = y1 + (low >> s)
            low = low & ((1 << s) - 1)
            xl = y1 & 0xFFFF
            xh = y1 >> 16
            if s < 16:
                xl = xl << s
                xh = (xh << s) + (xl >> 16)
                xl = xl & 0xFFFF
            else:
                xh = xl << (s - 16)
                xl = 0
            xh = ((xh & 0xFFFF) ^ 0x8000) - 0x8000
            r = (xh << 16) + xl + low  # low < 2**s, below the zero bits of y1 << s
        if r < lo:
            r = lo
        elif r > hi:
            r = hi
        out[at + o] = r + zp
