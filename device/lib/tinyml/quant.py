"""Float to int8 exactly as TFLite's QUANTIZE does it, on every float a VM may have.

TFLite computes q = round(x / scale) + zero_point in float32 (x and scale float32, the
quotient rounded to float32, then rounded half away from zero) and clamps to int8. Python
floats differ by port: doubles (unix), float32 (most boards), or CircuitPython's 30-bit
floats stored in the object word, which drop the two lowest mantissa bits after every
operation (read back as zeros up to CircuitPython 10.1, as a copy of the two bits above from
10.2 on). Float arithmetic here would round differently near the ties. Instead, load
computes, with integers only, the float32 thresholds t_k (k = 0, 1, ...): the smallest
x >= 0 whose quotient rounds to k + 1 or more. A call stores x as float32 bits (exact for
30-bit and float32 values; a double rounds to nearest, as when TFLite is handed it), and
counts the thresholds at or below |x| by comparing bit patterns: q = zero_point +- count.
Only small ints and no allocation per call.
"""

import struct
from array import array


def thresholds(scale_halves, zero_point):
    """(high, low): array('H') pair holding the float32 bits of each threshold t_k, for as
    many k as an int8 output with this zero point can reach. scale_halves: the input scale's
    float32 bits as (low 16, high 16). Runs once at load (it may use long ints)."""
    bits = scale_halves[1] << 16 | scale_halves[0]
    exp = bits >> 23 & 0xFF
    if bits >> 31 or exp == 0 or exp == 0xFF:
        raise ValueError("input scale must be a positive normal float32")
    s_mant, s_exp = bits & 0x7FFFFF | 0x800000, exp - 150  # scale = s_mant * 2^s_exp
    count = max(127 - zero_point, 128 + zero_point)
    high, low = array("H", bytes(2 * count)), array("H", bytes(2 * count))
    for k in range(count):
        # c = k + 0.5 as a float32: c_mant * 2^c_exp with a 24-bit mantissa
        c_mant, c_exp = 2 * k + 1, -1
        while c_mant < 0x800000:
            c_mant, c_exp = c_mant << 1, c_exp - 1
        # the float32 just below c, and the midpoint between them: a quotient rounds to c
        # or above when it exceeds the midpoint, or equals it and c's mantissa is even
        p_mant, p_exp = (0xFFFFFF, c_exp - 1) if c_mant == 0x800000 else (c_mant - 1, c_exp)
        mid = (c_mant << (c_exp - p_exp)) + p_mant  # midpoint = mid * 2^(p_exp - 1)
        n, e = mid * s_mant, p_exp - 1 + s_exp     # x must reach n * 2^e (midpoint * scale)
        strict = c_mant & 1
        # round n * 2^e up to the float32 grid (x >= it), or just past it when strict
        length = 0
        while n >> length:
            length += 1
        if length > 24:
            shift = length - 24
            m = n >> shift
            exact = m << shift == n
            if not exact:
                m += 1
            e += shift
        else:
            m, e, exact = n << (24 - length), e - (24 - length), True
        if exact and strict:
            m += 1
        if m == 0x1000000:
            m, e = m >> 1, e + 1
        biased = e + 150
        if biased >= 0xFF:
            t = 0x7F800000  # beyond every finite float: only infinity reaches it
        elif biased < 1:
            t = 0x00800000  # below the normal floats: no real scale gets here
        else:
            t = biased << 23 | (m & 0x7FFFFF)
        high[k], low[k] = t >> 16, t & 0xFFFF
    return high, low


def quantize(value, scratch, high, low, zero_point):
    """TFLite's int8 for float `value`; scratch: a bytearray(4). Allocates nothing."""
    struct.pack_into("<f", scratch, 0, value)
    h = scratch[3] << 8 | scratch[2]
    l = scratch[1] << 8 | scratch[0]
    negative = h & 0x8000
    h &= 0x7FFF
    a, b = 0, len(high)
    while a < b:  # how many thresholds are at or below |value|
        m = (a + b) >> 1
        if high[m] < h or (high[m] == h and low[m] <= l):
            a = m + 1
        else:
            b = m
    q = zero_point - a if negative else zero_point + a
    return -128 if q < -128 else 127 if q > 127 else q
