# Pure-Python int8 kernels: run everywhere (CircuitPython included), bit-exact with TFLite,
# and allocation-free on 32-bit ports too.
#
# A 32-bit MicroPython or CircuitPython port keeps an int in the object word ("small int")
# only in [-2**30, 2**30 - 1]; anything larger is a long int on the heap. So nothing here
# ever forms a larger value, not even for an instant, and no literal is larger:
# - mac(): |w x| <= 128 * 128 = 2**14 and a row has n_in <= 65535 terms (16 bits in the
#   file), so every partial sum satisfies |a| <= 65535 * 2**14 = 2**30 - 2**14.
# - The int32 bias and multiplier are long ints on such a port when read from their
#   array('i'); requantize() reads both as 16-bit halves (views of them where they lie: flash,
#   the stream window, an array; copies where uctypes is missing) and splits each multiplier
#   into 15-bit pieces as it goes, so a per-channel layer keeps no table of its own.
# - requantize() rebuilds acc + bias, the 64-bit product and TFLite's roundings from pieces;
#   the bound of each line is stated beside it.
# - prepare() makes the views once, at load; fc() runs mac() then requantize().
# tests/device/test_python_requantize.py runs this very source in CPython with every value
# checked against the small-int range, bit-exact with host/tinyml_host/reference.py.
import struct
from array import array
from micropython import const

# kind: how r, the int32 requantized value, follows from Q = floor(x m / 2**30)
_HALF_UP = const(0)  # r = floor((Q + 2**n) / 2**(n+1)): TFLM shift >= 0 (n = 0), LiteRT shift -n <= 0
_TFLM_RIGHT = const(1)  # TFLM shift -n < 0: as _HALF_UP on Q + 1 (Q >= 0) or Q - 1 (Q < 0)
_LITERT_LEFT = const(2)  # LiteRT shift n + 1 > 0: r = Q 2**n + round((x m mod 2**30) / 2**(30-n)), int32 wrap
# lsh: TFLM shift lsh > 0 shifts x left in int32 first (then _HALF_UP, n = 0)


def mac(x, w, acc, n_in, n_out, at=0):
    # w in the file's layout (docs/format.md): rows in blocks of 8, each block 4 inputs at a
    # time (row o's 4 bytes 32 apart), then each row's last n_in % 4; rows after the last
    # full block row-major (the same walk with a step of 4); row o's sum goes to acc[at + o]
    full = n_out & ~7
    quads = n_in & ~3
    tail = n_in - quads
    for o in range(n_out):
        if o < full:
            base = (o & ~7) * n_in  # the block's first byte: below len(w), a RAM size
            k = base + 4 * (o & 7)
            step = 32
            t = base + 8 * quads + (o & 7) * tail
        else:
            k = o * n_in
            step = 4
            t = k + quads
        a = 0
        for i in range(0, quads, 4):
            # four terms of |w x| <= 2**14, then |a| <= 2**30 - 2**14: small ints
            a += w[k] * x[i] + w[k + 1] * x[i + 1] + w[k + 2] * x[i + 2] + w[k + 3] * x[i + 3]
            k += step
        for i in range(quads, n_in):
            a += w[t] * x[i]
            t += 1
        acc[at + o] = a


_ROUNDING_LITERT = const(1)  # the .tmdl rounding code of single rounding (tinyml.reader)
_acc = array("i")  # the accumulator row every plan shares: only live inside one fc() call


def reserve(acc, cols):
    """Size the shared accumulator row (acc int32) and im2col row (cols int8) before load
    places anything else: made first, they find room a fragmented heap would not give later."""
    global _acc, _cols
    if len(_acc) < acc:
        _acc = array("i", bytes(4 * acc))
    if len(_cols) < cols:
        _cols = array("b", bytes(cols))


def prepare(layer):
    """The plan fc() runs a tinyml.reader.Layer with: signed weights, pieces(), shape, clamp."""
    global _acc
    if len(_acc) < layer.n_out:
        _acc = array("i", bytes(4 * layer.n_out))
    w = layer.weights
    signed = w if layer.weights_signed else _int8_view(w)
    q = pieces(layer.bias, layer.multipliers, layer.shifts, layer.rounding == _ROUNDING_LITERT,
               layer.n_out, layer.n_channels)
    # w, the bias and the multipliers stay referenced: the uctypes views over them hold only addresses
    return (signed, q, layer.n_in, layer.n_out, layer.act_min, layer.act_max, layer.output_zp,
            (w, layer.bias, layer.multipliers))


def fc(plan, x, out):
    """One layer, x (int8) -> out (int8). Allocates nothing."""
    w, q, n_in, n_out, act_min, act_max, out_zp, _ = plan
    acc = _acc
    mac(x, w, acc, n_in, n_out)
    requantize(acc, q, out, n_out, act_min, act_max, out_zp)


def fc_rows(plan, x, out, first, n):
    """Rows first to first + n of a layer whose weights come a block at a time (tinyml.model,
    load(path, stream=True); first a multiple of 8): their sums into the accumulator row, and
    after the layer's last block its requantization into out. plan: prepare()'s, of the whole
    layer with the window as its weights, which holds the block when this runs. Allocates nothing."""
    w, q, n_in, n_out, act_min, act_max, out_zp, _ = plan
    acc = _acc
    mac(x, w, acc, n_in, n, first)
    if first + n == n_out:
        requantize(acc, q, out, n_out, act_min, act_max, out_zp)


# The window kernels. A window's output position (oy, ox) reads input rows oy * stride_h -
# pad_top + ky and columns ox * stride_w - pad_left + kx (docs/format.md, "Operators").
_cols = array("b")  # the im2col row every CONV_2D plan shares: only live inside one conv() call


def _geometry(op):
    return (op.in_h, op.in_w, op.in_c, op.out_h, op.out_w, op.filter_h, op.filter_w, op.stride_h, op.stride_w,
            op.pad_top, op.pad_left, op.input_zp)


def prepare_conv(op):
    """The plan conv() runs a CONV_2D op with: fc's plan of its [out_c, K] matrix, and its
    geometry. mac() bounds a row at 65535 terms."""
    global _cols
    if op.n_in > 65535:
        raise ValueError("CONV_2D window of %d values: the python backend takes at most 65535" % op.n_in)
    if len(_cols) < op.n_in:
        _cols = array("b", bytes(op.n_in))
    return prepare(op), _geometry(op)


def conv(plan, x, out):
    """CONV_2D, x (int8 NHWC) -> out: each output position's window gathered into one row
    (positions outside the input as the input zero point, as the folded bias expects), then
    the fully connected layer's mac and requantize over it. Allocates nothing."""
    matrix, geometry = plan
    w, q, n_in, n_out, act_min, act_max, out_zp, _ = matrix
    in_h, in_w, in_c, out_h, out_w, fh, fw, sh, sw, pt, pl, zp = geometry
    cols = _cols
    acc = _acc
    at = 0
    for oy in range(out_h):
        y0 = oy * sh - pt
        for ox in range(out_w):
            x0 = ox * sw - pl
            k = 0
            for iy in range(y0, y0 + fh):
                for ix in range(x0, x0 + fw):
                    if 0 <= iy < in_h and 0 <= ix < in_w:
                        src = (iy * in_w + ix) * in_c
                        for c in range(in_c):
                            cols[k + c] = x[src + c]
                    else:
                        for c in range(k, k + in_c):
                            cols[c] = zp
                    k += in_c
            mac(cols, w, acc, n_in, n_out)
            requantize(acc, q, out, n_out, act_min, act_max, out_zp, at)
            at += n_out


def prepare_depthwise(op):
    """The plan depthwise() runs a DEPTHWISE_CONV_2D op with: signed weights [fh, fw, C],
    pieces() of its own bias (not folded) and quantization, geometry and clamp."""
    global _acc
    if op.filter_h * op.filter_w > 16384:  # |w (x - zp)| < 2**15 a tap: the sum stays a small int
        raise ValueError("DEPTHWISE_CONV_2D window of %d taps: the python backend takes at most 16384"
                         % (op.filter_h * op.filter_w))
    if len(_acc) < op.out_c:
        _acc = array("i", bytes(4 * op.out_c))
    w = op.weights
    signed = w if op.weights_signed else _int8_view(w)
    q = pieces(op.bias, op.multipliers, op.shifts, op.rounding == _ROUNDING_LITERT, op.out_c, op.n_channels)
    return signed, q, _geometry(op), op.act_min, op.act_max, op.output_zp, (w, op.bias, op.multipliers)


def depthwise(plan, x, out):
    """DEPTHWISE_CONV_2D (depth multiplier 1), x -> out: per channel, the sum of w (x - zp) over
    the window's positions inside the input, then requantize with the bias. Allocates nothing."""
    w, q, geometry, act_min, act_max, out_zp, _ = plan
    in_h, in_w, c_n, out_h, out_w, fh, fw, sh, sw, pt, pl, zp = geometry
    acc = _acc
    at = 0
    for oy in range(out_h):
        y0 = oy * sh - pt
        ky0 = -y0 if y0 < 0 else 0
        ky1 = in_h - y0 if y0 + fh > in_h else fh
        for ox in range(out_w):
            x0 = ox * sw - pl
            kx0 = -x0 if x0 < 0 else 0
            kx1 = in_w - x0 if x0 + fw > in_w else fw
            for c in range(c_n):
                acc[c] = 0
            for ky in range(ky0, ky1):
                for kx in range(kx0, kx1):
                    src = ((y0 + ky) * in_w + x0 + kx) * c_n
                    tap = (ky * fw + kx) * c_n
                    for c in range(c_n):
                        acc[c] += w[tap + c] * (x[src + c] - zp)  # |.| < 2**15 a tap
            requantize(acc, q, out, c_n, act_min, act_max, out_zp, at)
            at += c_n


def prepare_pool(op):
    """The plan average_pool() and max_pool() run with: geometry and clamp."""
    if op.filter_h * op.filter_w > 1 << 22:  # a sum of int8 taps stays a small int
        raise ValueError("pool window of %d taps: the python backend takes at most %d"
                         % (op.filter_h * op.filter_w, 1 << 22))
    return _geometry(op), op.act_min, op.act_max


def average_pool(plan, x, out):
    """AVERAGE_POOL_2D: the mean of the window's positions inside the input, rounded half away
    from zero, clamped (input and output share scale and zero point). Allocates nothing."""
    _pool(plan, x, out, False)


def max_pool(plan, x, out):
    """MAX_POOL_2D: the largest of the window's positions inside the input, clamped."""
    _pool(plan, x, out, True)


def _pool(plan, x, out, largest):
    geometry, act_min, act_max = plan
    in_h, in_w, c_n, out_h, out_w, fh, fw, sh, sw, pt, pl, _ = geometry
    at = 0
    for oy in range(out_h):
        y0 = oy * sh - pt
        ky0 = -y0 if y0 < 0 else 0
        ky1 = in_h - y0 if y0 + fh > in_h else fh
        for ox in range(out_w):
            x0 = ox * sw - pl
            kx0 = -x0 if x0 < 0 else 0
            kx1 = in_w - x0 if x0 + fw > in_w else fw
            count = (ky1 - ky0) * (kx1 - kx0)
            for c in range(c_n):
                v = -128 if largest else 0
                for ky in range(ky0, ky1):
                    src = ((y0 + ky) * in_w + x0 + kx0) * c_n + c
                    for _ in range(kx0, kx1):
                        if largest:
                            if x[src] > v:
                                v = x[src]
                        else:
                            v += x[src]
                        src += c_n
                if not largest:
                    v = (v + (count >> 1)) // count if v > 0 else -((-v + (count >> 1)) // count)
                out[at + c] = act_min if v < act_min else act_max if v > act_max else v
            at += c_n


# ADD, TFLite's int8 add: out = clamp(R((R1((x1 - z1) << left) + R2((x2 - z2) << left)), mo, so) + zo)
# with R the requantization of each input (its multiplier is at most 1/2: a shift <= 0) and of
# the sum. An input's term takes one of 256 values, one per int8: prepare_add tabulates them
# (_rescale, at load), so a run adds two table entries per element and requantizes the sums a
# chunk at a time through requantize() with a zero bias. A table entry is refused from
# 2**28 on (TFLite's left shift 20 gives |entry| <= 255 2**19), so every sum is a small int.
_ADD_CHUNK = const(64)
_ADD_LIMIT = const(0x10000000)


def _rescale(x, p):
    """TFLite's requantization of one value x, |x| < 2**30, by the multiplier split() gave (p)
    with a shift <= 0, unclamped: the int32 result (ValueError from 2**28 on)."""
    m0, m1, m2, kind, n, lsh = p
    if kind == _LITERT_LEFT or lsh:
        raise ValueError("ADD: an input multiplier above 1/2 (TFLite's are at most 1/2)")
    x0 = x & 0x7FFF
    xh = x >> 15  # |xh| < 2**15
    x2 = xh >> 15  # 0 or -1
    x1 = xh & 0x7FFF
    # Q = floor(x m / 2**30) = qh 2**15 + ql, as in requantize()
    c0 = x0 * m0
    c1 = x0 * m1 + x1 * m0 + (c0 >> 15)
    c2 = x0 * m2 + x1 * m1 + x2 * m0 + (c1 >> 15)
    qh = xh * m2 + x2 * m1 + (c2 >> 15)  # |qh| < 2**17
    ql = c2 & 0x7FFF
    if kind == _TFLM_RIGHT:
        ql += 1 if qh >= 0 else -1
    if n >= 15:
        r = ((qh + (ql >> 15) >> (n - 15)) + 1) >> 1
    elif -(1 << (13 + n)) <= qh < 1 << (13 + n):  # then |r| <= 2**28
        r = ((qh << (15 - n)) + (ql >> n) + 1) >> 1
    else:
        r = _ADD_LIMIT
    if not -_ADD_LIMIT < r < _ADD_LIMIT:
        raise ValueError("ADD: a scaled input beyond 2**28 (left shift too large for this backend)")
    return r


def add_tables(op):
    """ADD's two tables of scaled inputs (array('i') indexed by the int8 value's low byte, so a
    signed value indexes them directly) and the output's multiplier and shift as (mult bytes,
    array('b')): what the python and viper backends share."""
    raw = bytes(op.params)[:32]
    left = struct.unpack_from("<i", raw, 24)[0]  # in [0, 22]: checked at load
    single = op.rounding == _ROUNDING_LITERT
    tables = []
    for k, zp in ((0, op.input_zp), (8, op.input2_zp)):
        lo, hi = struct.unpack_from("<Hh", raw, k)
        p = split(lo, hi, struct.unpack_from("<i", raw, k + 4)[0], single)
        t = array("i", bytes(1024))
        for v in range(-128, 128):
            t[v & 0xFF] = _rescale((v - zp) << left, p)
        tables.append(t)
    return tables[0], tables[1], raw[16:20], array("b", (struct.unpack_from("<i", raw, 20)[0],))


def prepare_add(op, x2):
    """The plan add() runs an ADD op with: the two tables, the output's pieces() over a zero
    bias of one chunk, the second input's view, size and clamp."""
    global _acc
    if len(_acc) < _ADD_CHUNK:
        _acc = array("i", bytes(4 * _ADD_CHUNK))
    t1, t2, mult, shift = add_tables(op)
    zero = array("i", bytes(4 * _ADD_CHUNK))
    q = pieces(zero, mult, shift, op.rounding == _ROUNDING_LITERT, _ADD_CHUNK, 1)
    return t1, t2, q, x2, op.out_h * op.out_w * op.out_c, op.act_min, op.act_max, op.output_zp, (zero, mult)


def add(plan, x, out):
    """ADD, x + the plan's second input -> out, element by element (same shapes). out may be
    either input: each chunk is read before it is written. Allocates nothing."""
    t1, t2, q, x2, n, act_min, act_max, out_zp, _ = plan
    acc = _acc
    for at in range(0, n, _ADD_CHUNK):
        m = n - at if n - at < _ADD_CHUNK else _ADD_CHUNK
        for j in range(m):
            acc[j] = t1[x[at + j]] + t2[x2[at + j]]
        requantize(acc, q, out, m, act_min, act_max, out_zp, at)


def _int8_view(buf):
    # weights used in place (a view of a ROMFS file) read as unsigned bytes: index them
    # through a signed uctypes array at the same address instead (as fast as an array).
    # MicroPython only: CircuitPython has no ROMFS, so it never gets here.
    import uctypes  # type: ignore[import-not-found]

    return uctypes.struct(uctypes.addressof(buf), {"v": (uctypes.ARRAY | 0, uctypes.INT8 | len(buf))}).v


def pieces(bias, mult, shift, single_rounding, n_out=None, n_ch=None):
    """A layer's bias (int32), multipliers (int32) and shifts (int8), arrays or views of the
    file (give n_out and n_ch for views, whose len() counts bytes), as requantize() takes
    them: (bias_lo, bias_hi, mult_h, shift, n_ch, single_rounding), every entry a small int;
    per channel nothing is copied where uctypes is (MicroPython).

    bias[o] = bias_hi[2 o + 1] 2**16 + bias_lo[2 o]: its 16-bit halves, lo unsigned, hi signed
    (views of the bias where it lies, or copies: _halves()). mult[c] = mult_h[2 c + 1] 2**16 +
    mult_h[2 c]: its 16-bit halves, both unsigned, as a multiplier is never negative (views for
    a per-channel layer; a per-tensor one's two halves are copied, smaller than a view), split
    into pieces by requantize() as split() does. shift as given (a view reads bytes unsigned).
    """
    if n_out is None:
        n_out = len(bias)
        n_ch = len(mult)
    bias_lo, bias_hi = _halves(bias, n_out)
    mult_h = _halves(mult, n_ch, True)[0] if n_ch > 1 else array("H", bytes(mult)[:4])
    for c in range(n_ch):
        if mult_h[2 * c + 1] >= 0x8000:
            raise ValueError("negative multiplier")
    return bias_lo, bias_hi, mult_h, shift, n_ch, single_rounding


def split(lo, hi, s, single_rounding):
    """A multiplier (its 16-bit halves: lo unsigned, hi signed, >= 0) and shift as
    (m0, m1, m2, kind, n, lsh): mult = m2 2**30 + m1 2**15 + m0 with m0, m1 in [-2**14, 2**14),
    m2 in {0, 1, 2} (balanced pieces, so that a product with a 15-bit piece of x is at most
    2**29 in size); kind, n and lsh as the constants above say. requantize() does the same
    inline, per channel (a call per output would cost a frame each)."""
    m0 = lo & 0x7FFF
    m1 = (lo >> 15) + ((hi & 0x3FFF) << 1)
    m2 = hi >> 14
    if m0 >= 0x4000:
        m0 -= 0x8000
        m1 += 1
    if m1 >= 0x4000:
        m1 -= 0x8000
        m2 += 1
    if s > 127:  # a view of the file reads unsigned bytes
        s -= 256
    kind = _HALF_UP
    n = lsh = 0
    if single_rounding:
        if s > 0:
            kind = _LITERT_LEFT
            n = s - 1
        else:
            n = -s
    elif s > 0:
        lsh = s
    elif s < 0:
        kind = _TFLM_RIGHT
        n = -s
    return m0, m1, m2, kind, n, lsh


def _halves(bias, n_out, unsigned_only=False):
    """The 16-bit halves of n_out int32 as (unsigned, signed) sequences, both indexed by half
    (unsigned_only: (unsigned, None)). On MicroPython, uctypes arrays over the int32 where they
    lie (flash, the stream window, an array: no copy, no long int: 2 bytes a read); elsewhere
    (CircuitPython), copies."""
    try:
        import uctypes  # type: ignore[import-not-found]  # MicroPython only
    except ImportError:
        raw = bytes(bias)[:4 * n_out]
        return array("H", raw), None if unsigned_only else array("h", raw)
    at = uctypes.addressof(bias)
    n = 2 * n_out
    return (uctypes.struct(at, {"v": (uctypes.ARRAY | 0, uctypes.UINT16 | n)}, uctypes.LITTLE_ENDIAN).v,
            None if unsigned_only else
            uctypes.struct(at, {"v": (uctypes.ARRAY | 0, uctypes.INT16 | n)}, uctypes.LITTLE_ENDIAN).v)


def requantize(acc, q, out, n_out, act_min, act_max, out_zp, at=0):
    """out[at + o] = clamp(requantized(acc[o] + bias[o]) + out_zp), bit-exact with TFLite:
    TFLM's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT, or LiteRT's single
    rounding, per split()'s kinds. q = pieces(...); acc[o] a small int (mac's are);
    act_min - out_zp and act_max - out_zp in [-255, 255] (int8 values)."""
    bias_lo, bias_hi, mult_h, shifts, n_ch, single = q
    per_channel = n_ch > 1
    lo = act_min - out_zp  # clamp before adding the zero point: |lo|, |hi| <= 255
    hi = act_max - out_zp
    m0 = m1 = m2 = kind = n = lsh = 0
    k = 0  # bias[o]'s low half, and channel o's multiplier's
    for o in range(n_out):
        if per_channel or o == 0:
            # split(mult_h[k], mult_h[k + 1], shifts[o], single), inline
            ml = mult_h[k]  # < 2**16
            mh = mult_h[k + 1]  # < 2**15: pieces() refused negative multipliers
            m0 = ml & 0x7FFF
            m1 = (ml >> 15) + ((mh & 0x3FFF) << 1)
            m2 = mh >> 14
            if m0 >= 0x4000:
                m0 -= 0x8000
                m1 += 1
            if m1 >= 0x4000:
                m1 -= 0x8000
                m2 += 1
            s = shifts[o]
            if s > 127:
                s -= 256
            kind = _HALF_UP
            n = lsh = 0
            if single:
                if s > 0:
                    kind = _LITERT_LEFT
                    n = s - 1
                else:
                    n = -s
            elif s > 0:
                lsh = s
            elif s < 0:
                kind = _TFLM_RIGHT
                n = -s
        # x = acc + bias = x1 2**15 + x0, not yet wrapped: x0 < 2**16, |x1| < 2**17
        # with bias = b1 2**15 + b0: b0 = lo & 0x7FFF in [0, 2**15), b1 = 2 hi + (lo >> 15) in
        # [-2**16, 2**16), lo and hi its 16-bit halves
        a = acc[o]
        b = bias_lo[k]  # < 2**16
        x0 = (a & 0x7FFF) + (b & 0x7FFF)
        x1 = (a >> 15) + (bias_hi[k + 1] << 1) + (b >> 15) + (x0 >> 15)
        x0 &= 0x7FFF
        k += 2
        if lsh:  # TFLM: x << lsh wraps in int32 (only x mod 2**(32-lsh) matters)
            x1 = ((x1 & ((1 << (17 - lsh)) - 1)) << lsh) if lsh < 17 else 0  # < 2**17
            if lsh < 15:
                x0 <<= lsh  # < 2**29
                x1 += x0 >> 15
                x0 &= 0x7FFF
            else:
                x1 += (x0 & ((1 << (32 - lsh)) - 1)) << (lsh - 15)  # < 2**17
                x0 = 0
        # wrapped to int32: x = xh 2**15 + x0 = x2 2**30 + x1 2**15 + x0, xh in [-2**16, 2**16)
        xh = ((x1 + 0x10000) & 0x1FFFF) - 0x10000
        x2 = xh >> 15  # in [-2, 1]
        x1 = xh & 0x7FFF
        # Q = floor(x m / 2**30) = qh 2**15 + ql, column by column (products <= 2**29 - 2**14)
        c0 = x0 * m0
        c1 = x0 * m1 + x1 * m0 + (c0 >> 15)  # |c1| <= 2**30 - 2**14
        c2 = x0 * m2 + x1 * m1 + x2 * m0 + (c1 >> 15)  # |c2| < 2**29 + 2**17
        qh = xh * m2 + x2 * m1 + (c2 >> 15)  # |qh| < 2**17 + 2**16: |Q| <= 2**32
        ql = c2 & 0x7FFF
        if kind == _LITERT_LEFT:
            # low = round(L / 2**(30-n)) <= 2**n, L = x m mod 2**30 < 2**30; r = Q 2**n + low
            low = ((c1 & 0x7FFF) << 15) + (c0 & 0x7FFF)
            low = (low >> (30 - n)) + ((low >> (29 - n)) & 1)
            # r mod 2**32 = rh 2**15 + rl: only Q mod 2**(32-n) matters
            rh = ((qh & ((1 << (17 - n)) - 1)) << n) if n < 17 else 0  # < 2**17
            if n < 15:
                rl = (ql << n) + low  # < 2**29 + 2**14
                rh += rl >> 15
                rl &= 0x7FFF
            else:
                rh += ((ql & ((1 << (32 - n)) - 1)) << (n - 15)) + (low >> 15)  # < 2**17 + 2**17 + 2**14
                rl = low & 0x7FFF
            rh = ((rh + 0x10000) & 0x1FFFF) - 0x10000  # TFLite's int32 narrowing
            if rh >= 0x4000:  # r >= 2**29
                r = hi
            elif rh < -0x4000:
                r = lo
            else:
                r = (rh << 15) + rl
        else:
            if kind == _TFLM_RIGHT:
                # TFLM rounds twice: high = floor((Q + 1) / 2), then half away from zero by n
                # bits; as one step: floor((Q + 1 + 2**n - 2 [high < 0]) / 2**(n+1)), where
                # high < 0 iff Q <= -2 (Q = -1 gives 0 either way, so the test is Q < 0)
                if qh >= 0:
                    ql += 1  # ql in [-1, 2**15] from here: floor shifts below still hold
                else:
                    ql -= 1
            # r = floor((Q + 2**n) / 2**(n+1)) = ((Q >> n) + 1) >> 1
            if n >= 15:
                r = ((qh + (ql >> 15) >> (n - 15)) + 1) >> 1  # |r| < 2**17
            elif qh >= 0x4000:  # Q >= 2**29 - 1, n < 15: r >= 2**14
                r = hi
            elif qh < -0x4000:
                r = lo
            else:
                r = ((qh << (15 - n)) + (ql >> n) + 1) >> 1  # |qh << (15-n)| <= 2**29
        if r < lo:
            r = lo
        elif r > hi:
            r = hi
        out[at + o] = r + out_zp


# SOFTMAX, bit-exact with TFLite Micro's int8 softmax (gemmlowp's fixed-point exp and
# reciprocal over int32 raw values). Those int32 values are held as 16-bit halves
# v = h 2**16 + l (h signed, l in [0, 2**16)), in a small array of "registers", never as one
# int; the helpers below read halves and write halves. The exp of every possible difference
# from the row's maximum (an int8 difference: 256 values) is computed once, at prepare; each
# run sums those exps, takes the sum's reciprocal (Newton's method, as gemmlowp) and scales.
# The bound of each line is stated beside it; tests/device/test_python_requantize.py runs
# this source in CPython with every value checked against the small-int range.
_MAX_SOFTMAX_ROW = const(4095)  # TFLite sums exps (each <= 1) in 12 integer bits: 4096 would overflow
# gemmlowp's exp barrel shifter: exp(-2**k) for k = -2 .. 4 as int32 halves (bits 24..30 of the remainder)
_EXP_H = (25519, 19874, 12054, 4434, 600, 10, 0)
_EXP_L = (48763, 52210, 44140, 43684, 10935, 65041, 242)


def _srdhm(r, d, ah, al, bh, bl):
    """r[d], r[d+1] = the halves of SaturatingRoundingDoublingHighMul(a, b): the int32 nearest
    a b / 2**31, ties away from zero, INT32_MAX for INT32_MIN squared."""
    if ah == bh == -0x8000 and al == bl == 0:
        r[d] = 0x7FFF
        r[d + 1] = 0xFFFF
        return
    neg = 1 if (ah < 0) != (bh < 0) else 0
    if ah < 0:  # magnitudes, |a| <= 2**31: 15-bit limbs a = a2 2**30 + a1 2**15 + a0, a2 <= 2
        ah = -ah - (1 if al else 0)
        al = -al & 0xFFFF
    if bh < 0:
        bh = -bh - (1 if bl else 0)
        bl = -bl & 0xFFFF
    a0 = al & 0x7FFF
    a1 = (al >> 15) | ((ah & 0x3FFF) << 1)
    a2 = ah >> 14
    b0 = bl & 0x7FFF
    b1 = (bl >> 15) | ((bh & 0x3FFF) << 1)
    b2 = bh >> 14
    # floor((|a b| + 2**30 - neg) / 2**31), column by column in base 2**15; every limb
    # product of a0, a1, b0, b1 is below 2**30, those with a2 or b2 below 2**17
    c0 = a0 * b0 - neg
    p = a0 * b1
    q = a1 * b0
    c1 = (p & 0x7FFF) + (q & 0x7FFF) + (c0 >> 15)  # < 2**17
    t = a1 * b1
    c2 = (p >> 15) + (q >> 15) + (c1 >> 15) + (t & 0x7FFF) + a0 * b2 + a2 * b0 + 1  # + 2**30; < 2**19
    c3 = (t >> 15) + (c2 >> 15) + a1 * b2 + a2 * b1  # < 2**18
    c4 = a2 * b2 + (c3 >> 15)  # < 2**4
    u = c3 & 0x7FFF
    lo = ((u & 3) << 14) | ((c2 & 0x7FFF) >> 1)
    hi = (c4 << 13) + (u >> 2)  # the result c4 2**29 + u 2**14 + ... is below 2**31
    if neg:  # C's division truncates: the negative product rounds to -floor(...)
        hi = -hi - (1 if lo else 0)
        lo = -lo & 0xFFFF
    r[d] = hi
    r[d + 1] = lo


def _add(r, d, ah, al, bh, bl):
    """r[d], r[d+1] = the halves of a + b, wrapped to int32."""
    lo = al + bl
    hi = ah + bh + (lo >> 16)
    r[d] = ((hi + 0x8000) & 0xFFFF) - 0x8000
    r[d + 1] = lo & 0xFFFF


def _sub(r, d, ah, al, bh, bl):
    """r[d], r[d+1] = the halves of a - b, wrapped to int32."""
    lo = al - bl
    hi = ah - bh + (lo >> 16)  # lo >> 16 is -1 on a borrow
    r[d] = ((hi + 0x8000) & 0xFFFF) - 0x8000
    r[d + 1] = lo & 0xFFFF


def _shl_saturating(r, d, ah, al, e):
    """r[d], r[d+1] = gemmlowp's SaturatingRoundingMultiplyByPOT<e> (a 2**e, saturated), 0 < e < 15."""
    limit = 1 << (15 - e)  # |a| >= 2**(31-e) saturates
    if ah >= limit:
        r[d] = 0x7FFF
        r[d + 1] = 0xFFFF
    elif ah < -limit or (ah == -limit and al == 0):
        r[d] = -0x8000
        r[d + 1] = 0
    else:
        lo = al << e  # < 2**30
        r[d] = (ah << e) + (lo >> 16)
        r[d + 1] = lo & 0xFFFF


def _rounding_shift(x, e):
    """gemmlowp's RoundingDivideByPOT of a small int x: x / 2**e, ties away from zero."""
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _mul_small(r, a, b):
    """SaturatingRoundingDoublingHighMul of small ints whose result is known to be small."""
    _srdhm(r, 0, a >> 16, a & 0xFFFF, b >> 16, b & 0xFFFF)
    return (r[0] << 16) + r[1]


def _exp_near_zero(r, d, x):
    """r[d], r[d+1] = exp(x) in Q0.31 for x in [-1/4, 0) in Q0.31 (x a small int in
    [-2**29, 0)): gemmlowp's Taylor expansion around -1/8."""
    x = x + 0x10000000  # |x| <= 2**28
    x2 = _mul_small(r, x, x)  # <= 2**25
    x3 = _mul_small(r, x2, x)  # <= 2**22
    x4 = _mul_small(r, x2, x2)  # <= 2**19
    poly = _mul_small(r, _rounding_shift(x4, 2) + x3, 715827883) + x2  # 1/3; |poly| < 2**26
    s = x + _rounding_shift(poly, 1)
    _srdhm(r, d, 28917, 43156, s >> 16, s & 0xFFFF)  # 1895147668 = exp(-1/8) in Q0.31
    _add(r, d, 28917, 43156, r[d], r[d + 1])


def _exp_on_negative(r, d, ah, al):
    """r[d], r[d+1] = gemmlowp's exp_on_negative_values of a <= 0 in Q5.26, in Q0.31."""
    below_quarter = (((ah & 0xFF) << 16) | al) - 0x1000000  # (a mod 1/4) - 1/4: in [-2**24, 0)
    _sub(r, 2, below_quarter >> 16, below_quarter & 0xFFFF, ah, al)  # the remainder: whole quarters
    remainder_h = r[2]
    _exp_near_zero(r, d, below_quarter << 5)  # to Q0.31: |.| <= 2**29
    for k in range(7):
        if remainder_h & (0x100 << k):
            _srdhm(r, d, r[d], r[d + 1], _EXP_H[k], _EXP_L[k])
    if ah == 0 and al == 0:
        r[d] = 0x7FFF
        r[d + 1] = 0xFFFF


def prepare_softmax(op):
    """The plan softmax() runs a SOFTMAX op with: the exp of every int8 difference from the
    row's maximum down to diff_min, as int32 halves (array('h'), array('H')), and the shapes."""
    p = op.params
    mult_l, mult_h = struct.unpack_from("<Hh", p, 0)
    left_shift = struct.unpack_from("<i", p, 4)[0]  # in [0, 31]: checked at load
    dmin_l, dmin_h = struct.unpack_from("<Hh", p, 8)
    diff_min = -256 if dmin_h < -1 else (dmin_h << 16) + dmin_l  # <= 0: checked at load
    if op.out_c > _MAX_SOFTMAX_ROW:
        raise ValueError("SOFTMAX over %d values: TFLite's int8 softmax sums at most %d"
                         % (op.out_c, _MAX_SOFTMAX_ROW))
    exp_h = array("h", bytes(512))
    exp_l = array("H", bytes(512))
    r = array("i", bytes(32))
    for k in range(256):
        if -k < diff_min:
            break
        # MultiplyByQuantizedMultiplierGreaterThanOne(-k, mult, left_shift): -k << left_shift wraps in int32
        if left_shift < 16:
            v = -k << left_shift  # |v| < 2**23
            xh = v >> 16
            xl = v & 0xFFFF
        else:
            xh = (((-k << (left_shift - 16)) + 0x8000) & 0xFFFF) - 0x8000
            xl = 0
        _srdhm(r, 4, xh, xl, mult_h, mult_l)
        _exp_on_negative(r, 6, r[4], r[5])
        exp_h[k] = r[6]
        exp_l[k] = r[7]
    return exp_h, exp_l, diff_min, op.out_h * op.out_w, op.out_c, op.act_min, op.act_max, array("i", bytes(32))


def _reciprocal(r, d, ah, al):
    """r[d], r[d+1] = gemmlowp's one_over_one_plus_x_for_x_in_0_1 of a in [0, 2**31) (Q0.31):
    1 / (1 + a) in Q0.31, by three Newton steps from 48/17 - 32/17 (a + 1) / 2."""
    hh = 0x4000 + (ah >> 1)  # (1 + a) / 2 = (a + 2**31) >> 1, in [2**30, 2**31)
    hl = ((ah & 1) << 15) | (al >> 1)
    _srdhm(r, d, hh, hl, -15421, 50116)  # -32/17 in Q2.29
    _add(r, d, 23130, 23130, r[d], r[d + 1])  # + 48/17 in Q2.29
    for _ in range(3):
        _srdhm(r, 2, hh, hl, r[d], r[d + 1])
        _sub(r, 2, 0x2000, 0, r[2], r[3])  # 1 - half_denominator x, 1 = 2**29 in Q2.29
        _srdhm(r, 2, r[d], r[d + 1], r[2], r[3])
        _shl_saturating(r, 2, r[2], r[3], 2)  # Q4.27 to Q2.29
        _add(r, d, r[d], r[d + 1], r[2], r[3])
    _shl_saturating(r, d, r[d], r[d + 1], 1)  # Q2.29 halved is Q1.30, to Q0.31


def softmax(plan, x, out):
    """SOFTMAX over the last dimension, x (int8) -> out (int8, scale 1/256, zero point -128).
    Allocates nothing."""
    exp_h, exp_l, diff_min, rows, depth, act_min, act_max, r = plan
    low = -128 if act_min < -128 else act_min
    for row in range(rows):
        start = row * depth
        end = start + depth
        top = -128
        for i in range(start, end):
            if x[i] > top:
                top = x[i]
        # the sum of exps in Q12.19, as halves: each term (exp rescaled to Q12.19) < 2**19
        sum_h = 0
        sum_l = 0
        for i in range(start, end):
            k = top - x[i]
            if -k >= diff_min:
                sum_l += (((exp_h[k] << 5) + (exp_l[k] >> 11)) + 1) >> 1
                sum_h += sum_l >> 16
                sum_l &= 0xFFFF
        # GetReciprocal: 2**19 <= sum < 2**31 (at most 4096 terms), so 1 <= leading zeros <= 12
        zeros = 1
        while not (sum_h << zeros) & 0x8000:
            zeros += 1
        shifted_l = sum_l << zeros  # < 2**28
        shifted_h = ((sum_h << zeros) + (shifted_l >> 16)) & 0x7FFF  # minus 2**31: in [0, 2**31)
        _reciprocal(r, 4, shifted_h, shifted_l & 0xFFFF)
        # out = exp x reciprocal / 2**(31 - 8 + bits over one), rounded; its top half suffices
        # as the shift is at least 23: floor((p + 2**(e-1)) / 2**e) = ((p >> (e-1)) + 1) >> 1
        e_minus_17 = 12 - zeros + 23 - 17
        for i in range(start, end):
            k = top - x[i]
            if -k >= diff_min:
                _srdhm(r, 0, r[4], r[5], exp_h[k], exp_l[k])
                v = ((r[0] >> e_minus_17) + 1 >> 1) - 128
                out[i] = act_max if v > act_max else low if v < low else v
            else:
                out[i] = low
