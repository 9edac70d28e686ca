# Pure-Python int8 kernels: run everywhere (CircuitPython included), bit-exact with TFLite.
#
# acc[o] = sum(w[o, i] * x[i]) is computed here; bias, requantization and the
# activation clamp are in requantize(), shared with the viper backend.
# Intermediates stay small ints on 64-bit ports; on 32-bit ports the 64-bit
# product in requantize() is a long int (correct, but it allocates per invoke).
# The viper backend has its own requantize, in 32-bit pieces, that does not.


def mac(x, w, acc, n_in, n_out):
    k = 0
    for o in range(n_out):
        a = 0
        for i in range(n_in):
            a += w[k] * x[i]
            k += 1
        acc[o] = a


def requantize(acc, bias, mult, shift, out, n_out, act_min, act_max, out_zp, single_rounding):
    """out[o] = clamp(round(acc[o] + bias[o]) * M * 2**(shift-31)) + out_zp), TFLite's way."""
    per_channel = len(mult) > 1
    m = mult[0]
    s = shift[0]
    for o in range(n_out):
        if per_channel:
            m = mult[o]
            s = shift[o]
        v = acc[o] + bias[o]
        if v > 0x7FFFFFFF or v < -0x80000000:  # the int32 accumulator wraps, as in TFLite
            v = ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if single_rounding:
            # LiteRT reference: one round-half-up shift of the 64-bit product
            v = (v * m + (1 << (30 - s))) >> (31 - s)
            if v > 0x7FFFFFFF or v < -0x80000000:  # TFLite narrows with an int32 cast
                v = ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        else:
            # TFLM / CMSIS-NN: SaturatingRoundingDoublingHighMul then RoundingDivideByPOT
            if s > 0:
                v = ((v << s) + 0x80000000 & 0xFFFFFFFF) - 0x80000000  # C int32 wraps
            p = v * m
            if p >= 0:
                v = (p + 0x40000000) >> 31
            else:
                v = -((0x3FFFFFFF - p) >> 31)  # C division truncates toward zero
            if s < 0:
                mask = (1 << -s) - 1
                threshold = mask >> 1
                if v < 0:
                    threshold += 1
                rem = v & mask
                v >>= -s
                if rem > threshold:
                    v += 1
        v += out_zp
        if v < act_min:
            v = act_min
        elif v > act_max:
            v = act_max
        out[o] = v
