# The audio front end on the board: TensorFlow's micro frontend (docs/features.md), frame for
# frame what tinyml_host.features computes, fed hop by hop into preallocated buffers.
#
# The config (tables that need float math to build) comes from the host as bytes, packed by
# tinyml_host.features.pack_config() (format: docs/features.md, "Packed config"). Frontend(cfg)
# unpacks it once; push() then allocates nothing, on MicroPython and CircuitPython alike.
#
# Pure Python on a 32-bit port: an int outside [-2**30, 2**30 - 1] is a heap object, so every
# intermediate here stays inside that range. Where the definition works in 32 or 64 bits (the
# energies, the filterbank sums, the noise estimate, PCAN's product, the log's scaling) the
# values are carried in 14- or 16-bit limbs. tests/device/test_features_device.py runs this
# source in CPython with every operation range-checked. Known limit: a filterbank sum that
# wraps negative in the definition's u64 (only when a bin's real and imaginary parts are both
# -32768) is not reproduced; nor sums of 2**54 and above (a channel over ~2,000 full-scale bins).
#
# Frontend(config) picks the fastest backend this board has, as tinyml.load does for models:
# native (_tinyml.frontend, the C core), viper (tinyml._fe_viper), then this module's pure
# Python. All three give the same frames and offer the same: push(samples, start, end),
# ready, frame (array 'H'), frame_int8(out, divisor, zero_point), reset(), num_channels, step.
from array import array

from micropython import const

MAGIC = b"TFE1"
_N_INTS = const(15)
_GAIN_LUT = const(125)
_W = const(0)    # scalar indexes in the packed header, tml_fe_config's order
_S = const(1)
_FFT = const(2)
_CH = const(3)
_START = const(4)
_END = const(5)
_SB = const(6)
_EVEN = const(7)
_ODD = const(8)
_MIN = const(9)
_PCAN = const(10)
_SNR = const(11)
_LOG = const(12)
_CB = const(13)
_SCALE = const(14)


def _log2_table():
    # round((log2(1 + i/128) - i/128) * 2**16), i = 0..128, then 0: as native/core/features.c
    return array("H", (0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646,
                       2797, 2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368,
                       4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326,
                       5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640,
                       5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406,
                       5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697,
                       4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575,
                       3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090,
                       1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142,
                       0, 0))


def _bits(x):
    # bit length of 0 <= x < 2**30
    n = 0
    while x >= 256:
        x >>= 8
        n += 8
    while x:
        x >>= 1
        n += 1
    return n


def _table(code, buf, at, count, size):
    return array(code, buf[at:at + count * size]), at + count * size


def unpack(buf):
    """The scalars (array 'i') and tables of a packed config; ValueError if it is not one."""
    if bytes(buf[0:4]) != MAGIC or len(buf) < 4 + 4 * _N_INTS:
        raise ValueError("not a packed front-end config (TFE1)")
    ints = array("i", buf[4:4 + 4 * _N_INTS])
    n, h, nb = ints[_W], ints[_FFT] // 2, ints[_END] - ints[_START]
    at = 4 + 4 * _N_INTS
    window, at = _table("h", buf, at, n, 2)
    twiddles, at = _table("h", buf, at, 2 * h, 2)
    split, at = _table("h", buf, at, h, 2)
    band, at = _table("H", buf, at, nb, 2)
    weight, at = _table("h", buf, at, nb, 2)
    unweight, at = _table("h", buf, at, nb, 2)
    lut, at = _table("h", buf, at, _GAIN_LUT if ints[_PCAN] else 0, 2)
    order, at = _table("H", buf, at, h, 2)
    if at != len(buf):
        raise ValueError("packed front-end config: %d bytes, expected %d" % (len(buf), at))
    return ints, window, twiddles, split, band, weight, unweight, lut, order


BACKENDS = ("native", "viper", "python")  # fastest first


def int8_of(frame, out, divisor=666, zero_point=-128):
    """A frame as a model's int8 input: clamp((v * 256 + divisor // 2) // divisor + zero_point)
    into out (array 'b' or bytearray, read as int8); micro_speech's is 666, -128
    (docs/features.md, "To a model's int8 input"). Allocates nothing."""
    if divisor < 1 or not -128 <= zero_point <= 127:
        raise ValueError("divisor must be >= 1, zero_point in -128..127")
    half = divisor // 2
    mask = 0xFF if isinstance(out, bytearray) else -1   # a bytearray holds the int8's bits
    for c in range(len(frame)):
        q = (frame[c] * 256 + half) // divisor + zero_point
        out[c] = (-128 if q < -128 else (127 if q > 127 else q)) & mask
    return out


class _Native:
    """The C core through _tinyml (ABI 5): the config checked once in C, each push one call."""

    def __init__(self, config):
        from tinyml import _native   # ImportError, with the reason, where there is no _tinyml
        t = _native._tinyml
        self._fe = t.frontend(config)   # ValueError naming what is wrong with the config
        self._push = t.fe_push
        self._read = t.fe_frame
        self._read_s8 = t.fe_frame_s8
        self._reset = t.fe_reset
        ints = array("i", bytes(config[4:4 + 4 * _N_INTS]))
        self.ints = ints   # the packed scalars, as the Python backend has them (apps read ints[1], the hop)
        self.num_channels = ints[_CH]
        self.step = ints[_S]
        self.frame = array("H", bytes(2 * ints[_CH]))
        self.ready = False

    def reset(self):
        self._reset(self._fe)
        self.ready = False

    def push(self, samples, start=0, end=-1):
        taken = self._push(self._fe, samples, start, end)
        self.ready = self._read(self._fe, self.frame)
        return taken

    def frame_int8(self, out, divisor=666, zero_point=-128):
        self._read_s8(self._fe, out, divisor, zero_point)
        return out


def _viper_class():
    from tinyml import _fe_viper   # noqa: F401  ImportError or SyntaxError without viper
    return ViperFrontend


def Frontend(config, backend=None):
    """A front end on `backend` ("native", "viper", "python"; None: the first this board runs).
    ValueError for a damaged config or an unknown or unavailable backend."""
    problems = []
    for name in BACKENDS if backend is None else (backend,):
        try:
            if name == "native":
                return _Native(config)
            if name == "viper":
                return _viper_class()(config)
            if name == "python":
                return PythonFrontend(config)
            raise ValueError("unknown backend %r; choose one of %s" % (name, ", ".join(BACKENDS)))
        except (ImportError, SyntaxError, AttributeError) as e:
            problems.append("%s: %s" % (name, e))
    raise ValueError("front-end backend not available: " + "; ".join(problems))


def available_backends():
    """Front-end backends this firmware can run, fastest first. Asking compiles no viper front end
    (tens of KB of heap at import): viper is there when the port has the viper emitter, as for
    the model's backends (model._runs_here)."""
    from tinyml import model

    names = ["python"]
    if model._runs_here("viper"):
        names.insert(0, "viper")
    try:
        from tinyml import _native
        if hasattr(_native._tinyml, "frontend"):
            names.insert(0, "native")
    except ImportError:
        pass
    return tuple(names)


class PythonFrontend:
    """One stream: push() int16 samples (any array or memoryview of them) in chunks of any size;
    each time the window fills, `frame` (array 'H', num_channels) gets the next frame."""

    def __init__(self, config):
        (self.ints, self.window, self.twiddles, self.split, self.band, self.weight, self.unweight,
         self.lut, self.order) = unpack(config)
        ints = self.ints
        if ints[_SB] < 2:
            raise ValueError("front end: smoothing_bits below 2 is not supported on the board")
        n, h, ch = ints[_W], ints[_FFT] // 2, ints[_CH]
        self.num_channels = ch
        self.step = ints[_S]
        self.ready = False
        self.samples = array("h", bytes(2 * n))
        self.filled = 0
        self.lin = array("h", bytes(2 * ints[_FFT]))   # windowed samples, zero-padded
        self.re = array("h", bytes(2 * h))
        self.im = array("h", bytes(2 * h))
        self.e_hi = array("i", bytes(4 * (h + 1)))      # energies: hi * 2**14 + lo
        self.e_lo = array("H", bytes(2 * (h + 1)))
        self.signal = array("i", bytes(4 * ch))
        self.noise_hi = array("H", bytes(2 * ch))       # noise estimate, u32 in 16-bit halves
        self.noise_lo = array("H", bytes(2 * ch))
        self.log_lut = _log2_table()
        self.radix2 = (_bits(h) - 1) & 1   # kissfft: radix 4 while it divides, then one radix 2
        self.frame = array("H", bytes(2 * ch))

    def reset(self):
        self.filled = 0
        self.ready = False
        for c in range(self.num_channels):
            self.noise_hi[c] = 0
            self.noise_lo[c] = 0

    def push(self, samples, start=0, end=-1):
        """Take samples[start:end] (end -1: to the end) until the window is full; returns how
        many were taken. When the window filled, self.frame holds a new frame and self.ready
        is True (until the next push)."""
        if end < 0:
            end = len(samples)
        n = self.ints[_W]
        buf = self.samples
        f = self.filled
        take = n - f
        if take > end - start:
            take = end - start
        for i in range(take):
            buf[f + i] = samples[start + i]
        self.filled = f + take
        self.ready = False
        if self.filled == n:
            self._frame()
            step = self.ints[_S]
            for i in range(n - step):
                buf[i] = buf[i + step]
            self.filled = n - step
            self.ready = True
        return take

    def frame_int8(self, out, divisor=666, zero_point=-128):
        """The latest frame as a model's int8 input (int8_of) into out."""
        return int8_of(self.frame, out, divisor, zero_point)

    # --- one frame ---

    def _frame(self):
        shift = self._window()
        self._fft(shift)
        self._energies()
        self._filterbank(shift)
        self._noise()
        if self.ints[_PCAN]:
            self._pcan()
        self._log()

    def _window(self):
        ints = self.ints
        n, size = ints[_W], ints[_FFT]
        x, c, lin = self.samples, self.window, self.lin
        bits = 0
        for i in range(n):
            v = (x[i] * c[i]) >> 12
            v = ((v + 32768) & 0xFFFF) - 32768
            lin[i] = v
            bits |= (-v if v < 0 else v) & 0x7FFF
        for i in range(n, size):
            lin[i] = 0
        return 15 - _bits(bits)

    def _fft(self, shift):
        h = self.ints[_FFT] // 2
        lin = self.lin
        order = self.order
        re = self.re
        im = self.im
        tw = self.twiddles
        for i in range(h):
            j = 2 * order[i]
            re[i] = (((lin[j] << shift) + 32768) & 0xFFFF) - 32768
            im[i] = (((lin[j + 1] << shift) + 32768) & 0xFFFF) - 32768
        # the innermost radix first: the radix 2, when there is one, then the 4s
        span = 1
        if self.radix2:
            _radix2(re, im, tw, h, 1, h // 2)
            span = 2
        while span < h:
            _radix4(re, im, tw, h, span, h // (4 * span))
            span *= 4

    def _energies(self):
        # the real split, then |X[k]|^2 as an int32 (wrapping) in two limbs
        h = self.ints[_FFT] // 2
        re = self.re
        im = self.im
        sp = self.split
        eh = self.e_hi
        el = self.e_lo
        dr = (re[0] * 16383 + 16384) >> 15
        di = (im[0] * 16383 + 16384) >> 15
        _energy(eh, el, 0, ((dr + di + 32768) & 0xFFFF) - 32768, 0)
        _energy(eh, el, h, ((dr - di + 32768) & 0xFFFF) - 32768, 0)
        for k in range(1, h // 2 + 1):
            ar = (re[k] * 16383 + 16384) >> 15
            ai = (im[k] * 16383 + 16384) >> 15
            br = (re[h - k] * 16383 + 16384) >> 15
            bi = ((((32768 - im[h - k]) & 0xFFFF) - 32768) * 16383 + 16384) >> 15
            sr = ((ar + br + 32768) & 0xFFFF) - 32768
            si = ((ai + bi + 32768) & 0xFFFF) - 32768
            xr = ((ar - br + 32768) & 0xFFFF) - 32768
            xi = ((ai - bi + 32768) & 0xFFFF) - 32768
            wr = sp[2 * k - 2]
            wi = sp[2 * k - 1]
            # (x * w + 2**14) >> 15 with |x * w| up to 2**30 each: by 15-bit parts
            p = xr * wr
            q = xi * wi
            tr = (p >> 15) - (q >> 15) + (((p & 0x7FFF) - (q & 0x7FFF) + 16384) >> 15)
            p = xr * wi
            q = xi * wr
            ti = (p >> 15) + (q >> 15) + (((p & 0x7FFF) + (q & 0x7FFF) + 16384) >> 15)
            tr = ((tr + 32768) & 0xFFFF) - 32768
            ti = ((ti + 32768) & 0xFFFF) - 32768
            _energy(eh, el, k, (sr + tr) >> 1, (si + ti) >> 1)
            _energy(eh, el, h - k, (sr - tr) >> 1, (ti - si) >> 1)

    def _filterbank(self, shift):
        # channel sums in three 14-bit limbs (< 2**42 each limb's share), then rounded roots
        ints = self.ints
        start, nb, ch = ints[_START], ints[_END] - ints[_START], ints[_CH]
        band = self.band
        w = self.weight
        u = self.unweight
        eh = self.e_hi
        el = self.e_lo
        sig = self.signal
        j = 0
        o0 = o1 = o2 = 0   # the previous band's unweighted sum, owed to the channel above
        for b in range(ch + 1):
            w0 = w1 = w2 = u0 = u1 = u2 = 0
            while j < nb and band[j] == b:
                hi = eh[start + j]
                lo = el[start + j]
                k = w[j]
                w0 += k * lo
                w1 += k * hi + (w0 >> 14)
                w0 &= 0x3FFF
                w2 += w1 >> 14
                w1 &= 0x3FFF
                k = u[j]
                u0 += k * lo
                u1 += k * hi + (u0 >> 14)
                u0 &= 0x3FFF
                u2 += u1 >> 14
                u1 &= 0x3FFF
                j += 1
            if b >= 1:
                s0 = o0 + w0
                s1 = o1 + w1 + (s0 >> 14)
                s2 = o2 + w2 + (s1 >> 14)
                sig[b - 1] = _sqrt(s2, s1 & 0x3FFF, s0 & 0x3FFF) >> shift
            o0, o1, o2 = u0, u1, u2

    def _noise(self):
        ints = self.ints
        sb = ints[_SB]
        even = ints[_EVEN]
        odd = ints[_ODD]
        keep = ints[_MIN]
        sig, nh, nl = self.signal, self.noise_hi, self.noise_lo
        for c in range(self.num_channels):
            k = odd if c & 1 else even
            s = sig[c]
            # up = u32(s << sb) in 16-bit halves
            if sb >= 16:
                uh = (s & ((1 << (32 - sb)) - 1)) << (sb - 16) if sb < 32 else 0
                ul = 0
            else:
                uh = (s >> (16 - sb)) & 0xFFFF
                ul = (s & ((1 << (16 - sb)) - 1)) << sb
            eh = nh[c]
            hh = uh * k + eh * (16384 - k)
            ll = ul * k + nl[c] * (16384 - k)
            # est = (hh * 2**16 + ll) >> 14
            lo = ((hh & 0x3FFF) << 2) + (ll >> 14)
            eh = (hh >> 14) + (lo >> 16)
            el = lo & 0xFFFF
            nh[c] = eh
            nl[c] = el
            floor = (s >> 14) * keep + (((s & 0x3FFF) * keep) >> 14)
            # (up - min(est, up)) >> sb
            if eh < uh or (eh == uh and el < ul):
                dh = uh - eh
                dl = ul - el
                if dl < 0:
                    dl += 0x10000
                    dh -= 1
                if sb >= 16:
                    kept = dh >> (sb - 16)
                else:
                    kept = (dh << (16 - sb)) + (dl >> sb)
            else:
                kept = 0
            sig[c] = kept if kept > floor else floor

    def _pcan(self):
        ints = self.ints
        snr_shift = ints[_SNR]
        lut = self.lut
        sig = self.signal
        nh = self.noise_hi
        nl = self.noise_lo
        for c in range(self.num_channels):
            eh = nh[c]
            el = nl[c]
            if eh == 0 and el <= 2:
                gain = lut[el]
            else:
                j = _bits(eh) + 16 if eh else _bits(el)
                r = j - 11
                if r < 0:
                    frac = (el << -r) & 0x3FF
                elif r >= 16:
                    frac = (eh >> (r - 16)) & 0x3FF
                else:
                    frac = (((eh & 0x3FF) << (16 - r)) | (el >> r)) & 0x3FF
                y = 4 * j - 6
                g = ((lut[y + 2] * frac) >> 5) + (lut[y + 1] << 5)
                g = (g * frac + 16384) >> 15
                gain = ((g + lut[y] + 32768) & 0xFFFF) - 32768
            s = sig[c]
            # snr = u32((s * gain) >> snr_shift), gain >= 0 from the plan; p = ph * 2**15 + pl
            ph = (s >> 15) * gain
            p0 = (s & 0x7FFF) * gain
            ph += p0 >> 15
            pl = p0 & 0x7FFF
            if snr_shift >= 15:
                sh = 0
                sl = ph >> (snr_shift - 15)
                sh = sl >> 16
                sl &= 0xFFFF
            else:
                sl = (((ph & ((1 << (1 + snr_shift)) - 1)) << (15 - snr_shift)) + (pl >> snr_shift)) & 0xFFFF
                sh = (ph >> (1 + snr_shift)) & 0xFFFF
            if sh == 0 and sl < 8192:
                sig[c] = (sl * sl) >> 20
            else:
                sig[c] = ((sh << 10) | (sl >> 6)) - 64

    def _log(self):
        ints = self.ints
        cb = ints[_CB]
        scale = ints[_SCALE]
        out = self.frame
        sig = self.signal
        lut = self.log_lut
        for c in range(self.num_channels):
            s = sig[c]
            if not ints[_LOG]:
                out[c] = s if s < 0xFFFF else 0xFFFF
                continue
            # v = u32(s << cb) (or s >> -cb), never formed: its exponent and mantissa from s
            if cb >= 0:
                if _bits(s) + cb > 32:
                    s &= (1 << (32 - cb)) - 1
                up = cb
            else:
                s >>= -cb
                up = 0
            if s == 0 or (up == 0 and s == 1):
                out[c] = 0
                continue
            t = _bits(s) - 1
            f = s - (1 << t)
            f = f << (16 - t) if t < 16 else f >> (t - 16)
            seg = f >> 9
            c0 = lut[seg]
            f += c0 + (((lut[seg + 1] - c0) * (f - (seg << 9))) >> 16)
            # ln = (45426 * ((e << 16) + f) + 2**15) >> 16, by parts
            ln = 45426 * (t + up) + ((45426 * (f >> 8) + ((45426 * (f & 0xFF) + 32768) >> 8)) >> 8)
            # ((u32(ln << scale) + 2**15) mod 2**32) >> 16
            th = (ln >> (16 - scale)) & 0xFFFF
            tl = (ln & (0xFFFF >> scale)) << scale
            out[c] = (th + ((tl + 32768) >> 16)) & 0xFFFF


class ViperFrontend(PythonFrontend):
    """The same stream with every stage in viper (tinyml._fe_viper): the Python here only
    sequences the stages. Allocates nothing per push."""

    def __init__(self, config, kernels=None):
        if kernels is None:   # (the tests give a 32-bit twin of the module)
            from tinyml import _fe_viper as kernels   # ImportError or SyntaxError where there is no viper
        PythonFrontend.__init__(self, config)
        ints = self.ints
        h = ints[_FFT] // 2
        self._v = kernels
        self.xre = array("h", bytes(2 * (h + 1)))   # the real spectrum
        self.xim = array("h", bytes(2 * (h + 1)))
        self._fb = array("i", (ints[_START], ints[_END] - ints[_START], ints[_CH], 0))
        self._nr = array("i", (ints[_SB], ints[_EVEN], ints[_ODD], ints[_MIN]))

    def push(self, samples, start=0, end=-1):
        if end < 0:
            end = len(samples)
        n = self.ints[_W]
        f = self.filled
        take = n - f
        if take > end - start:
            take = end - start
        copy16 = self._v.copy16
        copy16(self.samples, f, samples, start, take)
        self.filled = f + take
        self.ready = False
        if self.filled == n:
            self._frame()
            step = self.ints[_S]
            copy16(self.samples, 0, self.samples, step, n - step)
            self.filled = n - step
            self.ready = True
        return take

    def _frame(self):
        v = self._v
        ints = self.ints
        h = ints[_FFT] // 2
        re = self.re
        im = self.im
        tw = self.twiddles
        shift = v.window(self.samples, self.window, self.lin, ints[_W], ints[_FFT])
        v.gather(self.lin, self.order, re, im, h, shift)
        span = 1
        if self.radix2:
            v.radix2(re, im, tw, h, 1, h // 2)
            span = 2
        while span < h:
            v.radix4(re, im, tw, h, span, h // (4 * span))
            span *= 4
        v.split(re, im, self.split, self.xre, self.xim, h)
        v.energies(self.xre, self.xim, self.e_hi, self.e_lo, ints[_START], ints[_END])
        self._fb[3] = shift
        v.filterbank(self.e_hi, self.e_lo, self.band, self.weight, self.unweight, self.signal, self._fb)
        v.noise(self.signal, self.noise_hi, self.noise_lo, ints[_CH], self._nr)
        if ints[_PCAN]:
            v.pcan(self.signal, self.noise_hi, self.noise_lo, self.lut, ints[_CH], ints[_SNR])
        v.log(self.signal, self.frame, self.log_lut, ints[_CH], ints[_CB], ints[_SCALE], ints[_LOG])


def _energy(eh, el, k, r, i):
    # r*r + i*i as an int32 (wrapping at 2**31), stored as eh * 2**14 + el, 0 <= el < 2**14
    if r < 0:
        r = -r
    if i < 0:
        i = -i
    if r == 32768:
        hi = 65536
        lo = 0
    else:
        p = r * r
        hi = p >> 14
        lo = p & 0x3FFF
    if i == 32768:
        hi += 65536
    else:
        p = i * i
        hi += p >> 14
        lo += p & 0x3FFF
    hi += lo >> 14
    if hi >= 131072:   # 2**31: the int32 wraps to -2**31
        hi -= 262144
    eh[k] = hi
    el[k] = lo & 0x3FFF


def _sqrt(v2, v1, v0):
    # rounded square root of v2 * 2**28 + v1 * 2**14 + v0 (v1, v0 < 2**14), digit by digit
    # on 2-bit digits; the remainder stays below 8 * root + 4 (below 2**30 for sums < 2**54)
    if v2 < 0:
        return 0x3FFFFFFF   # a wrapped (negative) sum: not reproduced (see the top)
    root = 0
    if v2 == 0:
        # below 2**28: one small int
        rest = (v1 << 14) | v0
        bit = 1 << ((_bits(rest) - 1) & ~1) if rest else 0
        while bit:
            t = root + bit
            if rest >= t:
                rest -= t
                root = (root >> 1) + bit
            else:
                root >>= 1
            bit >>= 2
    else:
        rest = 0
        digits = (_bits(v2) + 1) >> 1
        for m in range(3):
            limb = v2 if m == 0 else (v1 if m == 1 else v0)
            while digits:
                digits -= 1
                rest = (rest << 2) | ((limb >> (2 * digits)) & 3)
                t = (root << 2) | 1
                root <<= 1
                if rest >= t:
                    rest -= t
                    root |= 1
            digits = 7
    # saturation at 16 bits below 2**32 (v2 < 16); the 32-bit one is out of reach here
    if rest > root and (v2 >= 16 or root != 0xFFFF):
        root += 1
    return root


def _radix4(re, im, tw, n, span, step):
    group = 4 * span
    for k in range(span):
        t1 = 2 * k * step
        t2 = 2 * t1
        t3 = t1 + t2
        w1r = tw[t1]
        w1i = tw[t1 + 1]
        w2r = tw[t2]
        w2i = tw[t2 + 1]
        w3r = tw[t3]
        w3i = tw[t3 + 1]
        g = k
        while g < n:
            i1 = g + span
            i2 = i1 + span
            i3 = i2 + span
            a0r = (re[g] * 8191 + 16384) >> 15
            a0i = (im[g] * 8191 + 16384) >> 15
            a1r = (re[i1] * 8191 + 16384) >> 15
            a1i = (im[i1] * 8191 + 16384) >> 15
            a2r = (re[i2] * 8191 + 16384) >> 15
            a2i = (im[i2] * 8191 + 16384) >> 15
            a3r = (re[i3] * 8191 + 16384) >> 15
            a3i = (im[i3] * 8191 + 16384) >> 15
            if k:
                # |a| <= 8191: each product and sum stays below 2**29
                s0r = (a1r * w1r - a1i * w1i + 16384) >> 15
                s0i = (a1r * w1i + a1i * w1r + 16384) >> 15
                s1r = (a2r * w2r - a2i * w2i + 16384) >> 15
                s1i = (a2r * w2i + a2i * w2r + 16384) >> 15
                s2r = (a3r * w3r - a3i * w3i + 16384) >> 15
                s2i = (a3r * w3i + a3i * w3r + 16384) >> 15
            else:
                # twiddle (32767, 0) is the identity on values within [-8191, 8191]
                s0r = a1r
                s0i = a1i
                s1r = a2r
                s1i = a2i
                s2r = a3r
                s2i = a3i
            # sums wrap in 16 bits; wrapping once at the end gives the same
            s3r = s0r + s2r
            s3i = s0i + s2i
            s4r = s0r - s2r
            s4i = s0i - s2i
            f0r = a0r + s1r
            f0i = a0i + s1i
            s5r = a0r - s1r
            s5i = a0i - s1i
            re[g] = ((f0r + s3r + 32768) & 0xFFFF) - 32768
            im[g] = ((f0i + s3i + 32768) & 0xFFFF) - 32768
            re[i2] = ((f0r - s3r + 32768) & 0xFFFF) - 32768
            im[i2] = ((f0i - s3i + 32768) & 0xFFFF) - 32768
            re[i1] = ((s5r + s4i + 32768) & 0xFFFF) - 32768
            im[i1] = ((s5i - s4r + 32768) & 0xFFFF) - 32768
            re[i3] = ((s5r - s4i + 32768) & 0xFFFF) - 32768
            im[i3] = ((s5i + s4r + 32768) & 0xFFFF) - 32768
            g += group


def _radix2(re, im, tw, n, span, step):
    g = 0
    while g < n:   # (range with a computed step is an object: it would allocate)
        for k in range(span):
            i0 = g + k
            i1 = i0 + span
            a0r = (re[i0] * 16383 + 16384) >> 15
            a0i = (im[i0] * 16383 + 16384) >> 15
            a1r = (re[i1] * 16383 + 16384) >> 15
            a1i = (im[i1] * 16383 + 16384) >> 15
            w = 2 * k * step
            wr = tw[w]
            wi = tw[w + 1]
            # |a| <= 16384: each sum below 2**30
            tr = (a1r * wr - a1i * wi + 16384) >> 15
            ti = (a1r * wi + a1i * wr + 16384) >> 15
            tr = ((tr + 32768) & 0xFFFF) - 32768
            ti = ((ti + 32768) & 0xFFFF) - 32768
            re[i0] = ((a0r + tr + 32768) & 0xFFFF) - 32768
            im[i0] = ((a0i + ti + 32768) & 0xFFFF) - 32768
            re[i1] = ((a0r - tr + 32768) & 0xFFFF) - 32768
            im[i1] = ((a0i - ti + 32768) & 0xFFFF) - 32768
        g += 2 * span


# --- the model file's front end record (docs/features.md, "In the model file") ---

def split_record(data):
    """(packed config, thresholds) of a .tmdl's front end record (Model.frontend_config()): the
    thresholds convert a frame's uint16 values to the model's int8 input (to_int8)."""
    mv = memoryview(data)
    n = mv[0] | mv[1] << 8 | mv[2] << 16 | mv[3] << 24
    at = 4 + n + (-n % 4)
    if at + 4 > len(mv):
        raise ValueError("damaged front end record: %d bytes for a %d-byte config" % (len(mv), n))
    count = mv[at] | mv[at + 1] << 8
    end = at + 4 + 2 * count
    # then the settings as JSON, for the host: u32 length, the text, padded to 4
    tail = end + (-end % 4)
    if count > 255 or tail + 4 > len(mv):
        raise ValueError("damaged front end record: %d bytes for a %d-byte config and %d thresholds"
                         % (len(mv), n, count))
    m = mv[tail] | mv[tail + 1] << 8 | mv[tail + 2] << 16 | mv[tail + 3] << 24
    if tail + 4 + m + (-m % 4) != len(mv):
        raise ValueError("damaged front end record: %d bytes, its parts end at %d" % (len(mv), tail + 4 + m))
    thresholds = array("H", bytes(mv[at + 4:end]))
    return bytes(mv[4:4 + n]), thresholds


def to_int8(frame, thresholds, out, at=0):
    """out[at + c] = the model's int8 for frame[c]: -128 + how many thresholds are <= it (a
    binary search; integers only, nothing allocated)."""
    n = len(thresholds)
    for c in range(len(frame)):
        v = frame[c]
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if thresholds[mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        out[at + c] = lo - 128
