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

# SOFTMAX runs once per inference over a handful of values: the pure-Python kernel serves
from tinyml._python import prepare_softmax, softmax  # noqa: F401,E402

BORROWED = {"softmax": "the pure-Python kernel"}

_acc = array("i")  # the accumulator row every plan shares: only live inside one fc() call


def prepare(layer):
    """The plan fc() runs a tinyml.reader.Layer with; params is the layer's tml_fc_params
    (native/core/tinyml.h) as requantize() reads it."""
    global _acc
    if len(_acc) < layer.n_out:
        _acc = array("i", bytes(4 * layer.n_out))
    params = array("i", (layer.n_in, layer.n_out, layer.n_channels, layer.act_min, layer.act_max,
                         layer.output_zp, layer.rounding))
    return layer.weights, layer.bias, layer.multipliers, layer.shifts, params, layer.n_in, layer.n_out


def fc(plan, x, out):
    """One layer, x (int8) -> out (int8). Allocates nothing."""
    w, bias, mult, shift, params, n_in, n_out = plan
    acc = _acc
    mac(x, w, acc, n_in, n_out)
    requantize(acc, bias, mult, shift, out, params)


@micropython.viper
def mac(x: ptr8, w: ptr8, acc: ptr32, n_in: int, n_out: int):
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
        acc[o] = a


@micropython.viper
def requantize(acc: ptr32, bias: ptr32, mult: ptr32, shift: ptr8, out: ptr8, params: ptr32):
    """out[o] = clamp(requantized(acc[o] + bias[o]) + out_zp), bit-exact with TFLite.

    mult: array('i'), shift: array('b'), one entry or one per output; params: the layer's
    array('i') (n_in, n_out, n_channels, act_min, act_max, output_zp, rounding), rounding the
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
        out[o] = r + zp
