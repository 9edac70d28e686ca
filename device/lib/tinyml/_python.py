# Pure-Python int8 kernels: run everywhere (CircuitPython included), bit-exact with TFLite,
# and allocation-free on 32-bit ports too.
#
# A 32-bit MicroPython or CircuitPython port keeps an int in the object word ("small int")
# only in [-2**30, 2**30 - 1]; anything larger is a long int on the heap. So nothing here
# ever forms a larger value, not even for an instant, and no literal is larger:
# - mac(): |w x| <= 128 * 128 = 2**14 and a row has n_in <= 65535 terms (16 bits in the
#   file), so every partial sum satisfies |a| <= 65535 * 2**14 = 2**30 - 2**14.
# - The int32 bias and multiplier are long ints on such a port when read from their
#   array('i'); requantize() reads the bias as 16-bit halves (views of it where it lies, or
#   copies), and pieces() (at load) turns the multipliers into 15-bit pieces through struct.
# - requantize() rebuilds acc + bias, the 64-bit product and TFLite's roundings from pieces;
#   the bound of each line is stated beside it.
# - prepare() splits them once, at load; fc() runs mac() then requantize().
# tests/device/test_python_requantize.py runs this very source in CPython with every value
# checked against the small-int range, bit-exact with host/tinyml_host/reference.py.
import struct
from array import array
from micropython import const

_REC = const(6)  # per channel: m0, m1, m2, kind, n, lsh
# kind: how r, the int32 requantized value, follows from Q = floor(x m / 2**30)
_HALF_UP = const(0)  # r = floor((Q + 2**n) / 2**(n+1)): TFLM shift >= 0 (n = 0), LiteRT shift -n <= 0
_TFLM_RIGHT = const(1)  # TFLM shift -n < 0: as _HALF_UP on Q + 1 (Q >= 0) or Q - 1 (Q < 0)
_LITERT_LEFT = const(2)  # LiteRT shift n + 1 > 0: r = Q 2**n + round((x m mod 2**30) / 2**(30-n)), int32 wrap
# lsh: TFLM shift lsh > 0 shifts x left in int32 first (then _HALF_UP, n = 0)


def mac(x, w, acc, n_in, n_out):
    # w in the file's layout (docs/format.md): rows in blocks of 8, each block 4 inputs at a
    # time (row o's 4 bytes 32 apart), then each row's last n_in % 4; rows after the last
    # full block row-major (the same walk with a step of 4)
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
        acc[o] = a


_ROUNDING_LITERT = const(1)  # the .tmdl rounding code of single rounding (tinyml.reader)
_acc = array("i")  # the accumulator row every plan shares: only live inside one fc() call


def prepare(layer):
    """The plan fc() runs a tinyml.reader.Layer with: signed weights, pieces(), shape, clamp."""
    global _acc
    if len(_acc) < layer.n_out:
        _acc = array("i", bytes(4 * layer.n_out))
    w = layer.weights
    signed = w if layer.weights_signed else _int8_view(w)
    q = pieces(layer.bias, layer.multipliers, layer.shifts, layer.rounding == _ROUNDING_LITERT,
               layer.n_out, layer.n_channels)
    # w and the bias stay referenced: the uctypes views over them hold only addresses
    return signed, q, layer.n_in, layer.n_out, layer.act_min, layer.act_max, layer.output_zp, (w, layer.bias)


def fc(plan, x, out):
    """One layer, x (int8) -> out (int8). Allocates nothing."""
    w, q, n_in, n_out, act_min, act_max, out_zp, _ = plan
    acc = _acc
    mac(x, w, acc, n_in, n_out)
    requantize(acc, q, out, n_out, act_min, act_max, out_zp)


def _int8_view(buf):
    # weights used in place (a view of a ROMFS file) read as unsigned bytes: index them
    # through a signed uctypes array at the same address instead (as fast as an array).
    # MicroPython only: CircuitPython has no ROMFS, so it never gets here.
    import uctypes  # type: ignore[import-not-found]

    return uctypes.struct(uctypes.addressof(buf), {"v": (uctypes.ARRAY | 0, uctypes.INT8 | len(buf))}).v


def pieces(bias, mult, shift, single_rounding, n_out=None, n_ch=None):
    """A layer's bias (int32), multipliers (int32) and shifts (int8), arrays or views of the
    file (give n_out and n_ch for views, whose len() counts bytes), as requantize() takes
    them: (bias_lo, bias_hi, rec), every entry a small int.

    bias[o] = bias_hi[2 o + 1] 2**16 + bias_lo[2 o]: its 16-bit halves, lo unsigned, hi signed
    (views of the bias where it lies, or copies: _halves()).
    mult[c] = m2 2**30 + m1 2**15 + m0 with m0, m1 in [-2**14, 2**14), m2 in {0, 1, 2}
    (balanced pieces, so that a product with a 15-bit piece of x is at most 2**29 in size).
    Read as 16-bit halves (struct, little-endian as in the file), never as whole int32s.
    """
    if n_out is None:
        n_out = len(bias)
        n_ch = len(mult)
    bias_lo, bias_hi = _halves(bias, n_out)
    rec = array("h", bytes(2 * _REC * n_ch))
    for c in range(n_ch):
        lo, hi = struct.unpack_from("<Hh", mult, 4 * c)
        if hi < 0:
            raise ValueError("negative multiplier")
        m0 = lo & 0x7FFF
        m1 = (lo >> 15) + ((hi & 0x3FFF) << 1)
        m2 = hi >> 14
        if m0 >= 0x4000:
            m0 -= 0x8000
            m1 += 1
        if m1 >= 0x4000:
            m1 -= 0x8000
            m2 += 1
        s = shift[c]
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
        j = _REC * c
        rec[j] = m0
        rec[j + 1] = m1
        rec[j + 2] = m2
        rec[j + 3] = kind
        rec[j + 4] = n
        rec[j + 5] = lsh
    return bias_lo, bias_hi, rec


def _halves(bias, n_out):
    """The bias's 16-bit halves as (unsigned, signed) sequences, both indexed by half. On
    MicroPython, uctypes arrays over the bias where it lies (flash, the stream window, an
    array: no copy, no long int: 2 bytes a read); elsewhere (CircuitPython), copies."""
    try:
        import uctypes  # type: ignore[import-not-found]  # MicroPython only
    except ImportError:
        raw = bytes(bias)[:4 * n_out]
        return array("H", raw), array("h", raw)
    at = uctypes.addressof(bias)
    n = 2 * n_out
    return (uctypes.struct(at, {"v": (uctypes.ARRAY | 0, uctypes.UINT16 | n)}, uctypes.LITTLE_ENDIAN).v,
            uctypes.struct(at, {"v": (uctypes.ARRAY | 0, uctypes.INT16 | n)}, uctypes.LITTLE_ENDIAN).v)


def requantize(acc, q, out, n_out, act_min, act_max, out_zp):
    """out[o] = clamp(requantized(acc[o] + bias[o]) + out_zp), bit-exact with TFLite:
    TFLM's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT, or LiteRT's single
    rounding, per the kinds pieces() recorded. q = pieces(...); acc[o] a small int (mac's
    are); act_min - out_zp and act_max - out_zp in [-255, 255] (int8 values)."""
    bias_lo, bias_hi, rec = q
    per_channel = len(rec) > _REC
    lo = act_min - out_zp  # clamp before adding the zero point: |lo|, |hi| <= 255
    hi = act_max - out_zp
    m0 = rec[0]
    m1 = rec[1]
    m2 = rec[2]
    kind = rec[3]
    n = rec[4]
    lsh = rec[5]
    j = 0
    k = 0  # bias[o]'s low half
    for o in range(n_out):
        if per_channel:
            m0 = rec[j]
            m1 = rec[j + 1]
            m2 = rec[j + 2]
            kind = rec[j + 3]
            n = rec[j + 4]
            lsh = rec[j + 5]
            j += _REC
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
        out[o] = r + out_zp
