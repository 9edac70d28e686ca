# Viper kernels of the audio front end (tinyml.features.ViperFrontend runs them): the same
# arithmetic as features.py's pure Python, stage for stage, on machine words and typed
# pointers. Imported inside try/except by tinyml.features, so ports without viper
# (CircuitPython) never compile this file.
#
# A viper int is a machine word: 32 bits on boards, 64 on the unix port. As in features.py,
# every intermediate lies in [-2**30, 2**30) and every constant below 2**30, so both word sizes
# compute the same integers and nothing relies on wrap-around, except stores into ptr16,
# which keep the low 16 bits: that is the definition's int16 wrap. ptr16 reads are unsigned:
# (v ^ 0x8000) - 0x8000 sign-extends an int16. ptr32 reads zero-extend on 64-bit ports, so
# the arrays read through ptr32 hold non-negative values only (energies' high limbs carry an
# offset of 2**18 for that).
import micropython

_E_OFFSET = 262144   # 2**18 added to the energies' high limb (-2**17 <= hi < 2**17)


@micropython.viper
def copy16(dst: ptr16, at: int, src: ptr16, start: int, n: int):
    """dst[at:at + n] = src[start:start + n], front to back (dst before src when they overlap)."""
    i = 0
    while i < n:
        dst[at + i] = src[start + i]
        i += 1


@micropython.viper
def window(x: ptr16, c: ptr16, lin: ptr16, n: int, size: int) -> int:
    """lin = the windowed samples, zero-padded to size; returns the FFT input shift."""
    bits = 0
    i = 0
    while i < n:
        v = (((int(x[i]) ^ 0x8000) - 0x8000) * ((int(c[i]) ^ 0x8000) - 0x8000)) >> 12
        lin[i] = v
        v = ((v + 32768) & 0xFFFF) - 32768
        if v < 0:
            v = 0 - v
        bits |= v & 0x7FFF
        i += 1
    while i < size:
        lin[i] = 0
        i += 1
    nb = 0
    while bits:
        bits >>= 1
        nb += 1
    return 15 - nb


@micropython.viper
def gather(lin: ptr16, order: ptr16, re: ptr16, im: ptr16, h: int, shift: int):
    """The FFT's input pairs in kissfft's order, shifted left (wrapping in 16 bits)."""
    i = 0
    while i < h:
        j = 2 * int(order[i])
        re[i] = int(lin[j]) << shift    # < 2**31; the store keeps the low 16 bits
        im[i] = int(lin[j + 1]) << shift
        i += 1


@micropython.viper
def radix4(re: ptr16, im: ptr16, tw: ptr16, n: int, span: int, step: int):
    group = 4 * span
    k = 0
    while k < span:
        t1 = 2 * k * step
        t2 = 2 * t1
        t3 = t1 + t2
        w1r = (int(tw[t1]) ^ 0x8000) - 0x8000
        w1i = (int(tw[t1 + 1]) ^ 0x8000) - 0x8000
        w2r = (int(tw[t2]) ^ 0x8000) - 0x8000
        w2i = (int(tw[t2 + 1]) ^ 0x8000) - 0x8000
        w3r = (int(tw[t3]) ^ 0x8000) - 0x8000
        w3i = (int(tw[t3 + 1]) ^ 0x8000) - 0x8000
        g = k
        while g < n:
            i1 = g + span
            i2 = i1 + span
            i3 = i2 + span
            a0r = (((int(re[g]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a0i = (((int(im[g]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a1r = (((int(re[i1]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a1i = (((int(im[i1]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a2r = (((int(re[i2]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a2i = (((int(im[i2]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a3r = (((int(re[i3]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            a3i = (((int(im[i3]) ^ 0x8000) - 0x8000) * 8191 + 16384) >> 15
            if k:
                # |a| <= 8191: each product and sum below 2**29
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
            s3r = s0r + s2r
            s3i = s0i + s2i
            s4r = s0r - s2r
            s4i = s0i - s2i
            f0r = a0r + s1r
            f0i = a0i + s1i
            s5r = a0r - s1r
            s5i = a0i - s1i
            re[g] = f0r + s3r       # the stores wrap in 16 bits, as the definition's sums
            im[g] = f0i + s3i
            re[i2] = f0r - s3r
            im[i2] = f0i - s3i
            re[i1] = s5r + s4i
            im[i1] = s5i - s4r
            re[i3] = s5r - s4i
            im[i3] = s5i + s4r
            g += group
        k += 1


@micropython.viper
def radix2(re: ptr16, im: ptr16, tw: ptr16, n: int, span: int, step: int):
    g = 0
    while g < n:
        k = 0
        while k < span:
            i0 = g + k
            i1 = i0 + span
            a0r = (((int(re[i0]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
            a0i = (((int(im[i0]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
            a1r = (((int(re[i1]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
            a1i = (((int(im[i1]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
            w = 2 * k * step
            wr = (int(tw[w]) ^ 0x8000) - 0x8000
            wi = (int(tw[w + 1]) ^ 0x8000) - 0x8000
            # |a| <= 16384: each sum below 2**30
            tr = (a1r * wr - a1i * wi + 16384) >> 15
            ti = (a1r * wi + a1i * wr + 16384) >> 15
            tr = ((tr + 32768) & 0xFFFF) - 32768
            ti = ((ti + 32768) & 0xFFFF) - 32768
            re[i0] = a0r + tr
            im[i0] = a0i + ti
            re[i1] = a0r - tr
            im[i1] = a0i - ti
            k += 1
        g += 2 * span


@micropython.viper
def split(re: ptr16, im: ptr16, sp: ptr16, xre: ptr16, xim: ptr16, h: int):
    """The real spectrum X[0..h] (int16 parts) from the packed complex FFT."""
    dr = (((int(re[0]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
    di = (((int(im[0]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
    xre[0] = dr + di
    xim[0] = 0
    xre[h] = dr - di
    xim[h] = 0
    k = 1
    while k <= h // 2:
        ar = (((int(re[k]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
        ai = (((int(im[k]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
        br = (((int(re[h - k]) ^ 0x8000) - 0x8000) * 16383 + 16384) >> 15
        bi = ((((0 - int(im[h - k])) & 0xFFFF) ^ 0x8000) - 0x8000)   # the negation wraps in int16
        bi = (bi * 16383 + 16384) >> 15
        sr = ((ar + br + 32768) & 0xFFFF) - 32768
        si = ((ai + bi + 32768) & 0xFFFF) - 32768
        xr = ((ar - br + 32768) & 0xFFFF) - 32768
        xi = ((ai - bi + 32768) & 0xFFFF) - 32768
        wr = (int(sp[2 * k - 2]) ^ 0x8000) - 0x8000
        wi = (int(sp[2 * k - 1]) ^ 0x8000) - 0x8000
        # (x * w + 2**14) >> 15 with |x * w| up to 2**30 each: by 15-bit parts
        p = xr * wr
        q = xi * wi
        tr = (p >> 15) - (q >> 15) + (((p & 0x7FFF) - (q & 0x7FFF) + 16384) >> 15)
        p = xr * wi
        q = xi * wr
        ti = (p >> 15) + (q >> 15) + (((p & 0x7FFF) + (q & 0x7FFF) + 16384) >> 15)
        tr = ((tr + 32768) & 0xFFFF) - 32768
        ti = ((ti + 32768) & 0xFFFF) - 32768
        xre[k] = (sr + tr) >> 1
        xim[k] = (si + ti) >> 1
        xre[h - k] = (sr - tr) >> 1
        xim[h - k] = (ti - si) >> 1
        k += 1


@micropython.viper
def energies(xre: ptr16, xim: ptr16, eh: ptr32, el: ptr16, start: int, end: int):
    """|X[k]|^2 as the definition's wrapping int32, bins start..end-1, as hi * 2**14 + lo
    (eh holds hi + 2**18, el lo)."""
    k = start
    while k < end:
        r = (int(xre[k]) ^ 0x8000) - 0x8000
        i = (int(xim[k]) ^ 0x8000) - 0x8000
        if r < 0:
            r = 0 - r
        if i < 0:
            i = 0 - i
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
        eh[k] = hi + 262144
        el[k] = lo & 0x3FFF
        k += 1


@micropython.viper
def filterbank(eh: ptr32, el: ptr16, band: ptr16, w: ptr16, u: ptr16, sig: ptr32, p: ptr32):
    """Channel sums in three 14-bit limbs, then their rounded square roots >> shift into sig.
    p: start, n_bins, n_channels, shift (array 'i')."""
    start = int(p[0])
    nb = int(p[1])
    ch = int(p[2])
    shift = int(p[3])
    j = 0
    o0 = 0
    o1 = 0
    o2 = 0
    b = 0
    while b <= ch:
        w0 = 0
        w1 = 0
        w2 = 0
        u0 = 0
        u1 = 0
        u2 = 0
        while j < nb and int(band[j]) == b:
            hi = int(eh[start + j]) - 262144
            lo = int(el[start + j])
            k = (int(w[j]) ^ 0x8000) - 0x8000
            w0 += k * lo
            w1 += k * hi + (w0 >> 14)
            w0 &= 0x3FFF
            w2 += w1 >> 14
            w1 &= 0x3FFF
            k = (int(u[j]) ^ 0x8000) - 0x8000
            u0 += k * lo
            u1 += k * hi + (u0 >> 14)
            u0 &= 0x3FFF
            u2 += u1 >> 14
            u1 &= 0x3FFF
            j += 1
        if b >= 1:
            s0 = o0 + w0
            s1 = o1 + w1 + (s0 >> 14)
            v2 = o2 + w2 + (s1 >> 14)
            v1 = s1 & 0x3FFF
            v0 = s0 & 0x3FFF
            # rounded square root of v2 * 2**28 + v1 * 2**14 + v0, as features._sqrt
            root = 0
            rest = 0
            if v2 < 0:
                root = 0x3FFFFFFF   # a wrapped (negative) sum: not reproduced (features.py)
            elif v2 == 0:
                rest = (v1 << 14) | v0
                t = rest
                nbits = 0
                while t:
                    t >>= 1
                    nbits += 1
                bit = 0
                if rest:
                    bit = 1 << ((nbits - 1) & ~1)
                while bit:
                    t = root + bit
                    if rest >= t:
                        rest -= t
                        root = (root >> 1) + bit
                    else:
                        root >>= 1
                    bit >>= 2
            else:
                t = v2
                nbits = 0
                while t:
                    t >>= 1
                    nbits += 1
                digits = (nbits + 1) >> 1
                m = 0
                while m < 3:
                    limb = v0
                    if m == 0:
                        limb = v2
                    elif m == 1:
                        limb = v1
                    while digits:
                        digits -= 1
                        rest = (rest << 2) | ((limb >> (2 * digits)) & 3)
                        t = (root << 2) | 1
                        root <<= 1
                        if rest >= t:
                            rest -= t
                            root |= 1
                    digits = 7
                    m += 1
            if v2 >= 0 and rest > root and (v2 >= 16 or root != 0xFFFF):
                root += 1
            sig[b - 1] = root >> shift
        o0 = u0
        o1 = u1
        o2 = u2
        b += 1


@micropython.viper
def noise(sig: ptr32, nh: ptr16, nl: ptr16, ch: int, p: ptr32):
    """Noise reduction; p: smoothing_bits, even, odd, min_signal_remaining (array 'i')."""
    sb = int(p[0])
    even = int(p[1])
    odd = int(p[2])
    keep = int(p[3])
    c = 0
    while c < ch:
        k = even
        if c & 1:
            k = odd
        s = int(sig[c])
        if sb >= 16:
            uh = 0
            if sb < 32:
                uh = (s & ((1 << (32 - sb)) - 1)) << (sb - 16)
            ul = 0
        else:
            uh = (s >> (16 - sb)) & 0xFFFF
            ul = (s & ((1 << (16 - sb)) - 1)) << sb
        eh = int(nh[c])
        hh = uh * k + eh * (16384 - k)
        ll = ul * k + int(nl[c]) * (16384 - k)
        lo = ((hh & 0x3FFF) << 2) + (ll >> 14)
        eh = (hh >> 14) + (lo >> 16)
        el = lo & 0xFFFF
        nh[c] = eh
        nl[c] = el
        floor = (s >> 14) * keep + (((s & 0x3FFF) * keep) >> 14)
        kept = 0
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
        if kept > floor:
            sig[c] = kept
        else:
            sig[c] = floor
        c += 1


@micropython.viper
def pcan(sig: ptr32, nh: ptr16, nl: ptr16, lut: ptr16, ch: int, snr_shift: int):
    c = 0
    while c < ch:
        eh = int(nh[c])
        el = int(nl[c])
        if eh == 0 and el <= 2:
            gain = (int(lut[el]) ^ 0x8000) - 0x8000
        else:
            t = eh
            if eh == 0:
                t = el
            j = 0
            while t:
                t >>= 1
                j += 1
            if eh:
                j += 16
            r = j - 11
            if r < 0:
                frac = (el << (0 - r)) & 0x3FF
            elif r >= 16:
                frac = (eh >> (r - 16)) & 0x3FF
            else:
                frac = (((eh & 0x3FF) << (16 - r)) | (el >> r)) & 0x3FF
            y = 4 * j - 6
            g = ((((int(lut[y + 2]) ^ 0x8000) - 0x8000) * frac) >> 5) + (((int(lut[y + 1]) ^ 0x8000) - 0x8000) << 5)
            g = (g * frac + 16384) >> 15
            gain = ((g + ((int(lut[y]) ^ 0x8000) - 0x8000) + 32768) & 0xFFFF) - 32768
        s = int(sig[c])
        ph = (s >> 15) * gain
        p0 = (s & 0x7FFF) * gain
        ph += p0 >> 15
        pl = p0 & 0x7FFF
        if snr_shift >= 15:
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
        c += 1


@micropython.viper
def log(sig: ptr32, out: ptr16, lut: ptr16, ch: int, cb: int, scale: int, enable: int):
    c = 0
    while c < ch:
        s = int(sig[c])
        if not enable:
            if s < 0xFFFF:
                out[c] = s
            else:
                out[c] = 0xFFFF
            c += 1
            continue
        up = 0
        if cb >= 0:
            t = s
            nbits = 0
            while t:
                t >>= 1
                nbits += 1
            if nbits + cb > 32:
                s &= (1 << (32 - cb)) - 1
            up = cb
        else:
            s >>= 0 - cb
        if s == 0 or (up == 0 and s == 1):
            out[c] = 0
            c += 1
            continue
        t = s
        nbits = 0
        while t:
            t >>= 1
            nbits += 1
        t = nbits - 1
        f = s - (1 << t)
        if t < 16:
            f = f << (16 - t)
        else:
            f = f >> (t - 16)
        seg = f >> 9
        c0 = int(lut[seg])
        f += c0 + (((int(lut[seg + 1]) - c0) * (f - (seg << 9))) >> 16)
        ln = 45426 * (t + up) + ((45426 * (f >> 8) + ((45426 * (f & 0xFF) + 32768) >> 8)) >> 8)
        th = (ln >> (16 - scale)) & 0xFFFF
        tl = (ln & (0xFFFF >> scale)) << scale
        out[c] = th + ((tl + 32768) >> 16)
        c += 1
