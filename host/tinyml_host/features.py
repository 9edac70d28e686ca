"""numpy reference of TensorFlow's micro frontend: int16 audio in, uint16 log filterbank frames out.

Bit-exact with `audio_microfrontend` (tensorflow.lite.experimental.microfrontend), the front end
that `speech_commands/train.py --preprocess=micro` trains with and TFLM's micro_speech runs; the
definition, stage by stage, is docs/features.md. Each stage is one function; the stages that keep
state between frames (the window's sample buffer, noise reduction's estimate) keep it in a small
object. `Frontend.feed` takes samples in any chunks and returns the frames they complete, so a
clip fed whole and fed in pieces gives the same frames.

The tables (window, twiddles, filterbank weights, gain lookup) are computed once by `plan()`,
with the float32/float64 arithmetic TensorFlow's C code uses, since a one-off rounding there
changes every frame after it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field, replace  # noqa: F401  (replace: for callers)

import numpy as np

from .errors import TinymlError

WINDOW_BITS = 12            # window coefficients: 1.0 is 1 << 12
FILTERBANK_BITS = 12        # filterbank weights: 1.0 is 1 << 12
NOISE_BITS = 14             # smoothing and min_signal_remaining: 1.0 is 1 << 14
PCAN_SNR_BITS = 12
PCAN_OUTPUT_BITS = 6
GAIN_LUT_INTERVALS = 32     # the gain curve is fitted on each octave of a uint32
LOG_SCALE_BITS = 16         # log2 in 16.16 fixed point
LOG_SEGMENT_BITS = 7        # the log2 mantissa correction: 128 linear segments
LOG_COEFF = 45426           # ln(2) * 2**16, rounded
TWIDDLE_ONE = 32767         # kissfft's Q15 "1.0" (SAMP_MAX)
OUT_TYPES = ("uint16", "float32")


def _log2_correction_table() -> np.ndarray:
    """log2(1 + x) - x on 128 segments of x in [0, 1], in units of 2**-16, plus a trailing 0.

    The table the frontend interpolates to turn a mantissa into its log2."""
    x = np.arange(129) / 128.0
    table = np.floor((np.log2(1.0 + x) - x) * (1 << LOG_SCALE_BITS) + 0.5).astype(np.int64)
    return np.append(table, 0)


LOG_LUT = _log2_correction_table()


@dataclass(frozen=True)
class FrontendConfig:
    """Every parameter of TensorFlow's `audio_microfrontend`, with its defaults."""
    sample_rate: int = 16000
    window_size: int = 25          # ms
    window_step: int = 10          # ms
    num_channels: int = 32
    upper_band_limit: float = 7500.0
    lower_band_limit: float = 125.0
    smoothing_bits: int = 10
    even_smoothing: float = 0.025
    odd_smoothing: float = 0.06
    min_signal_remaining: float = 0.05
    enable_pcan: bool = True
    pcan_strength: float = 0.95
    pcan_offset: float = 80.0
    gain_bits: int = 21
    enable_log: bool = True
    scale_shift: int = 6
    left_context: int = 0
    right_context: int = 0
    frame_stride: int = 1
    zero_padding: bool = False
    out_scale: int = 1
    out_type: str = "uint16"

    def op_kwargs(self) -> dict:
        """The same settings as keyword arguments of TensorFlow's op (for tests and training)."""
        kwargs = {name: getattr(self, name) for name in self.__dataclass_fields__}
        kwargs.pop("out_type")
        return kwargs


# TFLM's micro_speech and speech_commands' `--preprocess=micro`: 30 ms windows every 20 ms, 40 channels
MICRO_SPEECH = FrontendConfig(window_size=30, window_step=20, num_channels=40)


@dataclass
class Plan:
    """What a configuration fixes before the first sample: sizes and integer tables."""
    config: FrontendConfig
    window_samples: int
    step_samples: int
    window: np.ndarray             # int16 coefficients, 1.0 = 1 << WINDOW_BITS
    fft_size: int                  # real FFT length, a power of two >= window_samples
    radices: list                  # kissfft's factorisation of fft_size / 2: 4s, then maybe a 2
    twiddles: np.ndarray           # complex FFT twiddles (fft_size / 2, 2) int16
    split_twiddles: np.ndarray     # real-FFT split twiddles (fft_size / 4, 2) int16
    start_bin: int                 # first FFT bin the filterbank reads (DC is always left out)
    end_bin: int                   # one past the last
    bin_channel: np.ndarray        # per bin in [start_bin, end_bin): its band, 0..num_channels
    bin_weight: np.ndarray         # int16 weight of the bin in its band, 1.0 = 1 << FILTERBANK_BITS
    bin_unweight: np.ndarray       # int16 weight of the bin in the band below
    even_smoothing: int            # NOISE_BITS fixed point
    odd_smoothing: int
    min_signal_remaining: int
    gain_lut: np.ndarray           # int16, 4 * GAIN_LUT_INTERVALS - 3 entries
    snr_shift: int
    log_correction_bits: int       # filterbank output shifted by this before the log
    channel_matrix: np.ndarray = field(repr=False, default=None)  # uint64 (channels, bins)
    fft_order: np.ndarray = field(repr=False, default=None)  # the complex FFT's input order (fft_size / 2)


def _f32(x) -> np.float32:
    return np.float32(x)


def _freq_to_mel(freq: np.float32) -> np.float32:
    # float in, computed in double, float out: as in TensorFlow's filterbank setup
    return _f32(1127.0 * math.log1p(float(freq) / 700.0))


def _window_coefficients(size: int) -> np.ndarray:
    arg = _f32(math.pi * 2.0 / float(_f32(size)))
    out = np.empty(size, np.int16)
    for i in range(size):
        value = _f32(0.5 - 0.5 * math.cos(float(arg) * (i + 0.5)))
        out[i] = math.floor(float(value * _f32(1 << WINDOW_BITS)) + 0.5)
    return out


def _q15(phase: float) -> tuple[int, int]:
    return (math.floor(0.5 + TWIDDLE_ONE * math.cos(phase)), math.floor(0.5 + TWIDDLE_ONE * math.sin(phase)))


def _kissfft_radices(n: int) -> list[int]:
    """kissfft's factorisation (powers of 4 first, then 2); only powers of two reach here."""
    radices = []
    while n > 1:
        p = 4 if n % 4 == 0 else 2
        radices.append(p)
        n //= p
    return radices


def _filterbank(config: FrontendConfig, spectrum_size: int):
    n_bands = config.num_channels + 1
    mel_low = _freq_to_mel(_f32(config.lower_band_limit))
    mel_high = _freq_to_mel(_f32(config.upper_band_limit))
    spacing = _f32(_f32(mel_high - mel_low) / _f32(n_bands))  # n_bands + 1 edges span the range
    centers = [_f32(mel_low + _f32(spacing * _f32(i + 1))) for i in range(n_bands)]
    hz_per_bin = _f32(0.5 * config.sample_rate / float(_f32(spectrum_size) - _f32(1)))
    start = int(1.5 + float(_f32(_f32(config.lower_band_limit) / hz_per_bin)))
    channel, weight, unweight = [], [], []
    b = start
    for band in range(n_bands):
        lower_mel = mel_low if band == 0 else centers[band - 1]
        while True:
            mel = _freq_to_mel(_f32(_f32(b) * hz_per_bin))
            if mel > centers[band]:
                break
            if b >= spectrum_size:
                raise TinymlError(f"filterbank: upper_band_limit {config.upper_band_limit} Hz reaches past the "
                                  f"spectrum of a {config.sample_rate} Hz signal; lower it below the Nyquist frequency")
            w = _f32(_f32(centers[band] - mel) / _f32(centers[band] - lower_mel))
            channel.append(band)
            weight.append(math.floor(float(w * _f32(1 << FILTERBANK_BITS)) + 0.5))
            unweight.append(math.floor((1.0 - float(w)) * (1 << FILTERBANK_BITS) + 0.5))
            b += 1
    end = b
    if end >= spectrum_size:
        raise TinymlError(f"filterbank: upper_band_limit {config.upper_band_limit} Hz reaches the last FFT bin "
                          f"at {config.sample_rate} Hz; lower it")
    return start, end, np.array(channel, np.int64), np.array(weight, np.int16), np.array(unweight, np.int16)


def _pcan_gain(config: FrontendConfig, input_bits: int, x: int) -> int:
    x_float = _f32(_f32(x) / _f32(1 << input_bits))
    with np.errstate(over="ignore"):
        gain = _f32(_f32(1 << config.gain_bits) *
                    np.power(_f32(x_float + _f32(config.pcan_offset)), _f32(-_f32(config.pcan_strength))))
    if gain > _f32(0x7FFF):
        return 0x7FFF
    return int(np.int16(np.trunc(gain + _f32(0.5))))


def _gain_lut(config: FrontendConfig, input_bits: int) -> np.ndarray:
    """Gain = 2**gain_bits * (noise + offset)**-strength as a quadratic per octave of the noise:
    entries 0, 1 the gain at noise 0 and 1, then (y0, a1, a2, unused) per octave 2..32."""
    lut = np.zeros(4 * GAIN_LUT_INTERVALS - 3, np.int16)
    lut[0] = _pcan_gain(config, input_bits, 0)
    lut[1] = _pcan_gain(config, input_bits, 1)
    for interval in range(2, GAIN_LUT_INTERVALS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == GAIN_LUT_INTERVALS else 2 * x0
        y0, y1, y2 = (_pcan_gain(config, input_bits, x) for x in (x0, x1, x2))
        a1 = 4 * (y1 - y0) - (y2 - y0)
        a2 = (y2 - y0) - a1
        base = 4 * interval - 6
        lut[base], lut[base + 1], lut[base + 2] = y0, np.int16(np.int32(a1)), np.int16(np.int32(a2))
    return lut


def validate(config: FrontendConfig) -> None:
    """TinymlError naming the first parameter this front end cannot run."""
    def bad(message):
        raise TinymlError(f"frontend config: {message}")

    if config.sample_rate <= 0:
        bad(f"sample_rate {config.sample_rate} must be positive")
    if config.window_size <= 0 or config.window_step <= 0:
        bad(f"window_size {config.window_size} ms and window_step {config.window_step} ms must be positive")
    size = config.window_size * config.sample_rate // 1000
    step = config.window_step * config.sample_rate // 1000
    if size < 4 or step < 1 or step > size:
        bad(f"a window of {size} samples every {step} samples: need at least 4 samples and a step "
            f"between 1 sample and the window")
    if size > 4096:
        bad(f"a window of {size} samples is longer than 4096")
    if not 1 <= config.num_channels <= 256:
        bad(f"num_channels {config.num_channels} must be 1..256")
    if not 0 <= config.lower_band_limit < config.upper_band_limit:
        bad(f"band limits {config.lower_band_limit}..{config.upper_band_limit} Hz: need 0 <= lower < upper")
    if not 0 <= config.smoothing_bits <= 31:
        bad(f"smoothing_bits {config.smoothing_bits} must be 0..31")
    for name in ("even_smoothing", "odd_smoothing", "min_signal_remaining"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            bad(f"{name} {getattr(config, name)} must be in [0, 1]")
    if not 0 <= config.scale_shift <= 16:
        bad(f"scale_shift {config.scale_shift} must be 0..16")
    if config.enable_pcan:
        if not 0 < config.gain_bits <= 30:
            bad(f"gain_bits {config.gain_bits} must be 1..30")
        if config.pcan_offset <= 0 or config.pcan_strength < 0:
            bad("pcan_offset must be positive and pcan_strength not negative")
    if config.left_context < 0 or config.right_context < 0 or config.frame_stride < 1:
        bad("left_context and right_context must be >= 0 and frame_stride >= 1")
    if config.out_scale < 1:
        bad(f"out_scale {config.out_scale} must be >= 1")
    if config.out_type not in OUT_TYPES:
        bad(f"out_type {config.out_type!r}: use one of {OUT_TYPES}")


def plan(config: FrontendConfig = MICRO_SPEECH) -> Plan:
    """Validate `config` and compute its tables."""
    validate(config)
    size = config.window_size * config.sample_rate // 1000
    step = config.window_step * config.sample_rate // 1000
    fft_size = 1 << (size - 1).bit_length()
    half = fft_size // 2
    twiddles = np.array([_q15(-2 * math.pi * i / half) for i in range(half)], np.int64)
    split = np.array([_q15(-math.pi * ((i + 1) / half + 0.5)) for i in range(half // 2)], np.int64)
    start, end, channel, weight, unweight = _filterbank(config, half + 1)
    correction = fft_size.bit_length() - 1 - FILTERBANK_BITS // 2
    snr_shift = config.gain_bits - correction - PCAN_SNR_BITS
    if config.enable_pcan and (snr_shift < 0 or config.smoothing_bits < correction):
        raise TinymlError(f"frontend config: gain_bits {config.gain_bits} is too small for a {fft_size}-point FFT "
                          f"(needs at least {correction + PCAN_SNR_BITS}), or smoothing_bits {config.smoothing_bits} below {correction}")
    p = Plan(config, size, step, _window_coefficients(size), fft_size, _kissfft_radices(half), twiddles, split,
             start, end, channel, weight, unweight,
             int(_f32(config.even_smoothing) * _f32(1 << NOISE_BITS)),
             int(_f32(config.odd_smoothing) * _f32(1 << NOISE_BITS)),
             int(_f32(config.min_signal_remaining) * _f32(1 << NOISE_BITS)),
             _gain_lut(config, config.smoothing_bits - correction) if config.enable_pcan else np.zeros(0, np.int16),
             snr_shift, correction)
    p.channel_matrix = _channel_matrix(p)
    p.fft_order = _digit_reversed_order(half, p.radices)
    return p


def _channel_matrix(p: Plan) -> np.ndarray:
    """Band b's bins count with their weight in channel b - 1 and their unweight in channel b."""
    n_bins = p.end_bin - p.start_bin
    m = np.zeros((p.config.num_channels, n_bins), np.uint64)
    for k, band in enumerate(p.bin_channel):
        if band >= 1:
            m[band - 1, k] = np.uint64(int(p.bin_weight[k]) % (1 << 64))
        if band < p.config.num_channels:
            m[band, k] = np.uint64(int(p.bin_unweight[k]) % (1 << 64))
    return m


# --- the config for a board: packed bytes -------------------------------------------------------

PACK_MAGIC = b"TFE1"


def pack_config(p: Plan) -> bytes:
    """The plan as the board's front end reads it (device/lib/tinyml/features.py; the layout is
    docs/features.md, "Packed config"): b"TFE1", 15 int32 scalars in tml_fe_config's order, then
    the tables as little-endian 16-bit values, each sized by the scalars."""
    c = p.config
    scalars = [p.window_samples, p.step_samples, p.fft_size, c.num_channels, p.start_bin, p.end_bin,
               c.smoothing_bits, p.even_smoothing, p.odd_smoothing, p.min_signal_remaining, int(c.enable_pcan),
               p.snr_shift if c.enable_pcan else 0, int(c.enable_log), p.log_correction_bits, c.scale_shift]
    tables = [np.asarray(p.window, "<i2"), np.asarray(p.twiddles, "<i2").reshape(-1),
              np.asarray(p.split_twiddles, "<i2").reshape(-1), np.asarray(p.bin_channel, "<u2"),
              np.asarray(p.bin_weight, "<i2"), np.asarray(p.bin_unweight, "<i2"),
              np.asarray(p.gain_lut if c.enable_pcan else np.zeros(0), "<i2"), np.asarray(p.fft_order, "<u2")]
    return PACK_MAGIC + np.asarray(scalars, "<i4").tobytes() + b"".join(t.tobytes() for t in tables)


# --- stage 1: the window ---------------------------------------------------------------------

class WindowState:
    """The last window_samples samples; `filled` counts those that are real."""

    def __init__(self, p: Plan):
        self.buffer = np.zeros(p.window_samples, np.int16)
        self.filled = 0

    def reset(self):
        self.buffer[:] = 0
        self.filled = 0


def window_take(state: WindowState, samples: np.ndarray) -> int:
    """Copy as many samples as the window still needs; returns how many were taken."""
    take = min(len(state.buffer) - state.filled, len(samples))
    state.buffer[state.filled:state.filled + take] = samples[:take]
    state.filled += take
    return take


def window_apply(state: WindowState, p: Plan) -> tuple[np.ndarray, int]:
    """The full window times the coefficients (int16), its largest magnitude, and the buffer
    advanced by one step. -32768 counts as 0 in the magnitude: int16 negation wraps it."""
    out = ((state.buffer.astype(np.int32) * p.window) >> WINDOW_BITS).astype(np.int16)
    magnitude = np.abs(out.astype(np.int32))
    magnitude[magnitude == 32768] = 0
    state.buffer[:-p.step_samples] = state.buffer[p.step_samples:].copy()
    state.filled -= p.step_samples
    return out, int(magnitude.max())


# --- stage 2: the FFT, kissfft's 16-bit fixed point ----------------------------------------------

def _i16(x):
    return np.asarray(x).astype(np.int16).astype(np.int64)


def _round_q15(x):
    return _i16((x + (1 << 14)) >> 15)


def _cmul(ar, ai, br, bi):
    return _round_q15(ar * br - ai * bi), _round_q15(ar * bi + ai * br)


def _div(x, radix):
    return _round_q15(x * (TWIDDLE_ONE // radix))


def _digit_reversed_order(n: int, radices: list[int]) -> np.ndarray:
    """Where kissfft's recursion puts each input before the first butterflies."""
    order = np.arange(n)
    for level, p in enumerate(radices):
        stride = int(np.prod(radices[:level], dtype=np.int64))
        groups = order.reshape(stride, -1) if level else order.reshape(1, -1)
        groups = groups.reshape(groups.shape[0], -1, p).transpose(0, 2, 1)  # decimate by p
        order = groups.reshape(-1)
    return order


def complex_fft(re: np.ndarray, im: np.ndarray, p: Plan) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's forward transform of fft_size / 2 points in Q15, scaled by 1 / n: each
    butterfly divides by its radix first (multiply by 32767 // radix, round half up)."""
    n = len(re)
    re, im = re[p.fft_order].astype(np.int64), im[p.fft_order].astype(np.int64)
    span = 1
    for level in range(len(p.radices) - 1, -1, -1):
        radix = p.radices[level]
        stride = n // (span * radix)          # twiddle step of this stage
        r = re.reshape(-1, radix, span)
        i = im.reshape(-1, radix, span)
        k = np.arange(span)
        if radix == 2:
            r, i = _bfly2(r, i, p.twiddles, k * stride)
        else:
            r, i = _bfly4(r, i, p.twiddles, k * stride)
        re, im = r.reshape(-1), i.reshape(-1)
        span *= radix
    return re, im


def _bfly2(r, i, tw, idx):
    r0, i0, r1, i1 = _div(r[:, 0], 2), _div(i[:, 0], 2), _div(r[:, 1], 2), _div(i[:, 1], 2)
    tr, ti = _cmul(r1, i1, tw[idx, 0], tw[idx, 1])
    return np.stack([_i16(r0 + tr), _i16(r0 - tr)], 1), np.stack([_i16(i0 + ti), _i16(i0 - ti)], 1)


def _bfly4(r, i, tw, idx):
    rs = [_div(r[:, q], 4) for q in range(4)]
    is_ = [_div(i[:, q], 4) for q in range(4)]
    s0 = _cmul(rs[1], is_[1], tw[idx, 0], tw[idx, 1])
    s1 = _cmul(rs[2], is_[2], tw[2 * idx, 0], tw[2 * idx, 1])
    s2 = _cmul(rs[3], is_[3], tw[3 * idx, 0], tw[3 * idx, 1])
    s5 = (_i16(rs[0] - s1[0]), _i16(is_[0] - s1[1]))
    f0 = (_i16(rs[0] + s1[0]), _i16(is_[0] + s1[1]))
    s3 = (_i16(s0[0] + s2[0]), _i16(s0[1] + s2[1]))
    s4 = (_i16(s0[0] - s2[0]), _i16(s0[1] - s2[1]))
    out_r = [_i16(f0[0] + s3[0]), _i16(s5[0] + s4[1]), _i16(f0[0] - s3[0]), _i16(s5[0] - s4[1])]
    out_i = [_i16(f0[1] + s3[1]), _i16(s5[1] - s4[0]), _i16(f0[1] - s3[1]), _i16(s5[1] + s4[0])]
    return np.stack(out_r, 1), np.stack(out_i, 1)


def real_fft(windowed: np.ndarray, shift: int, p: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Bins 0..fft_size/2 (real, imag int16) of the window shifted left by `shift` (in 16 bits,
    wrapping) and zero-padded: the even/odd samples as one complex FFT, then split."""
    x = np.zeros(p.fft_size, np.int64)
    x[:len(windowed)] = _i16((windowed.astype(np.int64) & 0xFFFF) << shift)
    zr, zi = complex_fft(x[0::2], x[1::2], p)
    half = p.fft_size // 2
    out_r, out_i = np.zeros(half + 1, np.int64), np.zeros(half + 1, np.int64)
    dc_r, dc_i = _div(zr[0], 2), _div(zi[0], 2)
    out_r[0], out_r[half] = _i16(dc_r + dc_i), _i16(dc_r - dc_i)
    k = np.arange(1, half // 2 + 1)
    ar, ai = _div(zr[k], 2), _div(zi[k], 2)
    br, bi = _div(zr[half - k], 2), _div(_i16(-zi[half - k]), 2)
    sum_r, sum_i = _i16(ar + br), _i16(ai + bi)
    dr, di = _i16(ar - br), _i16(ai - bi)
    tr, ti = _cmul(dr, di, p.split_twiddles[k - 1, 0], p.split_twiddles[k - 1, 1])
    out_r[k], out_i[k] = _i16((sum_r + tr) >> 1), _i16((sum_i + ti) >> 1)
    out_r[half - k], out_i[half - k] = _i16((sum_r - tr) >> 1), _i16((ti - sum_i) >> 1)
    return out_r, out_i


# --- stage 3: energy, mel filterbank, square root ------------------------------------------------

def energy(re: np.ndarray, im: np.ndarray, p: Plan) -> np.ndarray:
    """|X|^2 of the filterbank's bins, in an int32 (wrapping) read back as uint64 (sign-extended)."""
    r, i = re[p.start_bin:p.end_bin], im[p.start_bin:p.end_bin]
    e32 = (r * r + i * i).astype(np.int32)
    return e32.astype(np.int64).astype(np.uint64)


def filterbank(e: np.ndarray, p: Plan) -> np.ndarray:
    """Each channel's weighted sum of energies, uint64 (wrapping)."""
    return p.channel_matrix @ e


def _rounded_sqrt(n: int) -> int:
    """floor(sqrt(n)), plus one when the remainder exceeds it, saturating at 16 bits for n < 2**32
    and at 32 bits above."""
    root = math.isqrt(n)
    cap = 0xFFFF if n < (1 << 32) else 0xFFFFFFFF
    if n - root * root > root and root != cap:
        root += 1
    return root


def filterbank_sqrt(sums: np.ndarray, shift: int) -> np.ndarray:
    """The rounded square root of each channel, shifted back down by the FFT's input shift: uint32."""
    return np.array([_rounded_sqrt(int(v)) >> shift for v in sums], np.int64)


# --- stage 4: noise reduction --------------------------------------------------------------------

class NoiseState:
    """Per-channel noise estimate, in units of the signal << smoothing_bits."""

    def __init__(self, p: Plan):
        self.estimate = np.zeros(p.config.num_channels, np.int64)

    def reset(self):
        self.estimate[:] = 0


def noise_reduction(signal: np.ndarray, state: NoiseState, p: Plan) -> np.ndarray:
    """Subtract a running average of each channel (even/odd channels smoothed differently),
    keeping at least min_signal_remaining of the signal. Updates the estimate."""
    n = len(signal)
    smoothing = np.where(np.arange(n) % 2 == 0, p.even_smoothing, p.odd_smoothing).astype(np.int64)
    scaled = (signal << p.config.smoothing_bits) & 0xFFFFFFFF
    # below 2**47: int64 holds the sum exactly
    estimate = ((scaled * smoothing + state.estimate * ((1 << NOISE_BITS) - smoothing)) >> NOISE_BITS) & 0xFFFFFFFF
    state.estimate[:] = estimate
    below = np.minimum(estimate, scaled)
    floor = (signal * p.min_signal_remaining) >> NOISE_BITS
    return np.maximum((scaled - below) >> p.config.smoothing_bits, floor)


# --- stage 5: PCAN gain control ------------------------------------------------------------------

def _msb(x: np.ndarray) -> np.ndarray:
    """Position of the highest set bit, counting from 1 (0 for 0)."""
    return np.array([int(v).bit_length() for v in x], np.int64)


def _wide_dynamic_gain(noise: np.ndarray, lut: np.ndarray) -> np.ndarray:
    lut = lut.astype(np.int64)
    interval = np.maximum(_msb(noise), 2)
    base = 4 * interval - 6
    frac = np.where(interval < 11, noise << np.maximum(11 - interval, 0), noise >> np.maximum(interval - 11, 0))
    frac = frac & 0x3FF
    y0, a1, a2 = lut[base], lut[base + 1], lut[base + 2]
    result = (a2 * frac) >> 5
    result = _wrap32(result + _wrap32(a1 << 5))
    result = _wrap32(result * frac)
    result = ((result + (1 << 14)) >> 15) + y0
    small = lut[np.minimum(noise, 2)]
    return _i16(np.where(noise <= 2, small, result))


def _wrap32(x):
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def pcan(signal: np.ndarray, noise_estimate: np.ndarray, p: Plan) -> np.ndarray:
    """Divide each channel by a power of its noise estimate (from the gain table), then compress:
    quadratic below 2.0 (in PCAN_SNR_BITS fixed point), linear above."""
    gain = _wide_dynamic_gain(noise_estimate, p.gain_lut) & 0xFFFFFFFF   # int16 read as uint32
    snr = np.array([(int(s) * int(g) >> p.snr_shift) & 0xFFFFFFFF for s, g in zip(signal, gain)], np.int64)
    quadratic = (snr * snr & 0xFFFFFFFF) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    linear = ((snr >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS)) & 0xFFFFFFFF
    return np.where(snr < (2 << PCAN_SNR_BITS), quadratic, linear)


# --- stage 6: log scale --------------------------------------------------------------------------

def _log2_fraction(x: np.ndarray, log2x: np.ndarray) -> np.ndarray:
    frac = _wrap32(x - (np.int64(1) << log2x))
    frac = np.where(log2x < LOG_SCALE_BITS, _wrap32(frac << np.maximum(LOG_SCALE_BITS - log2x, 0)),
                    frac >> np.maximum(log2x - LOG_SCALE_BITS, 0))
    segment = frac >> (LOG_SCALE_BITS - LOG_SEGMENT_BITS)
    c0, c1 = LOG_LUT[segment], LOG_LUT[segment + 1]
    within = frac - segment * ((1 << LOG_SCALE_BITS) >> LOG_SEGMENT_BITS)
    return (frac + c0 + ((c1 - c0) * within >> LOG_SCALE_BITS)) & 0xFFFFFFFF


def log_scale(signal: np.ndarray, p: Plan) -> np.ndarray:
    """ln(value << correction) * 2**scale_shift, rounded, saturated to uint16; values <= 1 give 0.
    With enable_log off, only the saturation."""
    cfg = p.config
    if not cfg.enable_log:
        return np.minimum(signal, 0xFFFF)
    c = p.log_correction_bits
    value = (signal << c) & 0xFFFFFFFF if c >= 0 else signal >> -c
    safe = np.maximum(value, 2)
    integer = _msb(safe) - 1
    log2 = ((integer << LOG_SCALE_BITS) + _log2_fraction(safe, integer)) & 0xFFFFFFFF
    half = 1 << (LOG_SCALE_BITS - 1)
    loge = ((LOG_COEFF * log2 + half) >> LOG_SCALE_BITS) & 0xFFFFFFFF
    scaled = (((loge << cfg.scale_shift) & 0xFFFFFFFF) + half & 0xFFFFFFFF) >> LOG_SCALE_BITS
    return np.minimum(np.where(value > 1, scaled, 0), 0xFFFF)


# --- the pipeline --------------------------------------------------------------------------------

def process_window(windowed: np.ndarray, max_abs: int, noise: NoiseState, p: Plan) -> np.ndarray:
    """One frame from one windowed block: uint16 channels (before out_scale)."""
    shift = 15 - max_abs.bit_length()
    re, im = real_fft(windowed, shift, p)
    signal = filterbank_sqrt(filterbank(energy(re, im, p), p), shift)
    signal = noise_reduction(signal, noise, p)
    if p.config.enable_pcan:
        signal = pcan(signal, noise.estimate, p)
    return log_scale(signal, p).astype(np.uint16)


class Frontend:
    """Streaming front end: `feed` int16 samples in chunks of any size, get the frames they
    complete (frames, num_channels) uint16, scaled by out_scale as TensorFlow's op does."""

    def __init__(self, config: FrontendConfig = MICRO_SPEECH):
        self.plan = plan(config)
        self.window = WindowState(self.plan)
        self.noise = NoiseState(self.plan)

    def reset(self):
        self.window.reset()
        self.noise.reset()

    def feed(self, samples) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.ndim != 1 or samples.dtype != np.int16:
            raise TinymlError(f"frontend: samples must be a 1-D int16 array, got {samples.dtype} {samples.shape}")
        frames = []
        while len(samples):
            samples = samples[window_take(self.window, samples):]
            if self.window.filled == self.plan.window_samples:
                windowed, max_abs = window_apply(self.window, self.plan)
                frames.append(process_window(windowed, max_abs, self.noise, self.plan))
        return _scale_out(np.array(frames, np.uint16).reshape(-1, self.plan.config.num_channels), self.plan.config)


def _scale_out(frames: np.ndarray, config: FrontendConfig) -> np.ndarray:
    if config.out_type == "float32":
        return frames.astype(np.float32) / np.float32(config.out_scale)
    return (frames // config.out_scale).astype(np.uint16)


def _stack(frames: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """TensorFlow's context stacking: each kept frame with left_context frames before it and
    right_context after, edges repeated (or zeros with zero_padding); every frame_stride-th."""
    if not len(frames) or (config.left_context, config.right_context, config.frame_stride) == (0, 0, 1):
        return frames
    rows = []
    for anchor in range(0, len(frames), config.frame_stride):
        parts = []
        for f in range(anchor - config.left_context, anchor + config.right_context + 1):
            if 0 <= f < len(frames):
                parts.append(frames[f])
            elif config.zero_padding:
                parts.append(np.zeros_like(frames[0]))
            else:
                parts.append(frames[min(max(f, 0), len(frames) - 1)])
        rows.append(np.concatenate(parts))
    return np.array(rows, frames.dtype)


def microfrontend(audio, config: FrontendConfig = MICRO_SPEECH) -> np.ndarray:
    """A whole clip's features, as TensorFlow's `audio_microfrontend` returns them."""
    frames = Frontend(config).feed(np.asarray(audio))
    return _stack(frames, config)


# --- features to a model's int8 input ------------------------------------------------------------

# speech_commands' --preprocess=micro multiplies the uint16 features by 10 / 256 for training;
# micro_speech turns them into int8 as round(v * 256 / 666) - 128, 666 = 25.6 * 26 rounded:
# a 0..26 float range onto 256 steps. That is not the model's input scale (0.10171568), so it
# is kept as the integers it is.
MICRO_SPEECH_DIVISOR = 666
MICRO_SPEECH_FEATURE_SCALE = 10.0 / 256.0


def micro_speech_int8(frames: np.ndarray) -> np.ndarray:
    """micro_speech's conversion: clamp((v * 256 + 333) // 666 - 128, -128, 127)."""
    return int8_by_divisor(frames, MICRO_SPEECH_DIVISOR, -128)


def int8_by_divisor(frames: np.ndarray, divisor: int, zero_point: int) -> np.ndarray:
    """micro_speech's integer conversion with another divisor and zero point (what the board's
    frame_int8 computes): clamp((v * 256 + divisor // 2) // divisor + zero_point, -128, 127)."""
    v = np.asarray(frames).astype(np.int64)
    q = (v * 256 + divisor // 2) // divisor + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def to_int8(frames: np.ndarray, scale: float, zero_point: int,
            feature_scale: float = MICRO_SPEECH_FEATURE_SCALE) -> np.ndarray:
    """The general conversion to a model input quantized with (scale, zero_point), the float
    feature being v * feature_scale: clamp(round(v * feature_scale / scale) + zero_point)."""
    v = np.asarray(frames).astype(np.float64)
    q = np.floor(v * feature_scale / scale + 0.5) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


# --- audio helpers -------------------------------------------------------------------------------

def upsample(audio: np.ndarray, factor: int, taps_per_phase: int = 16) -> np.ndarray:
    """int16 audio at `factor` times its rate: zeros between samples, then a Hann-windowed sinc
    low-pass at the old Nyquist frequency (gain `factor`), rounded and clipped to int16."""
    if factor < 1:
        raise TinymlError(f"upsample factor {factor} must be >= 1")
    x = np.asarray(audio, np.float64)
    if factor == 1:
        return np.asarray(audio, np.int16)
    n = 2 * taps_per_phase * factor + 1
    t = np.arange(n) - n // 2
    h = np.sinc(t / factor) * np.hanning(n + 2)[1:-1]
    stuffed = np.zeros(len(x) * factor)
    stuffed[::factor] = x
    y = np.convolve(stuffed, h * factor / h.sum() * 1.0, mode="same")
    return np.clip(np.floor(y + 0.5), -32768, 32767).astype(np.int16)


def read_wav(path) -> tuple[int, np.ndarray]:
    """Sample rate and int16 mono samples of a 16-bit PCM WAV file."""
    import wave

    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise TinymlError(f"{path}: {8 * w.getsampwidth()}-bit samples; the front end takes 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels())[:, 0]
        return w.getframerate(), data.astype(np.int16)


# --- the model file's front end record -----------------------------------------------------------
# A .tmdl's front end record (docs/format.md, "Records"; layout in docs/features.md, "In the model
# file") holds the packed config and the conversion of uint16 frame values to the model's int8
# input as thresholds: the board counts them instead of doing float arithmetic per value, and
# any monotonic conversion (micro_speech's integer formula, or to_int8 for a model's own scale)
# is reproduced exactly.

def int8_thresholds(convert) -> np.ndarray:
    """For a non-decreasing conversion of uint16 values to int8, t[k] = the smallest v with
    convert(v) >= -127 + k, for the levels some v reaches: convert(v) = -128 + #{k: t[k] <= v}."""
    q = np.asarray(convert(np.arange(65536)), np.int64)
    if (np.diff(q) < 0).any() or q.min() < -128 or q.max() > 127:
        raise TinymlError("the int8 conversion of the front end's values must be non-decreasing int8")
    t = np.searchsorted(q, np.arange(-127, 128), side="left")
    return t[t < 65536].astype(np.uint16)


def frontend_record(config: FrontendConfig, convert) -> bytes:
    """The front end record's data (docs/features.md, "In the model file"): u32 length of the
    packed config, the config padded to 4; u16 count of thresholds, u16 0, the thresholds
    (int8_thresholds(convert)) padded to 4; u32 length of the settings as JSON (what the host
    recomputes the features from: FrontendConfig's fields), the JSON padded to 4."""
    import json

    def padded(part: bytes) -> bytes:
        return part + b"\0" * (-len(part) % 4)

    packed = pack_config(plan(config))
    t = int8_thresholds(convert)
    settings = json.dumps({k: getattr(config, k) for k in config.__dataclass_fields__}, sort_keys=True).encode()
    return (struct.pack("<I", len(packed)) + padded(packed)
            + struct.pack("<HH", len(t), 0) + padded(t.astype("<u2").tobytes())
            + struct.pack("<I", len(settings)) + padded(settings))


def split_record(data: bytes) -> tuple[bytes, np.ndarray, FrontendConfig]:
    """(packed config, thresholds, settings) of a front end record's data."""
    import json

    data = bytes(data)
    try:
        (n,) = struct.unpack_from("<I", data)
        at = 4 + n + (-n % 4)
        (count, _) = struct.unpack_from("<HH", data, at)
        at2 = at + 4 + 2 * count + (-(2 * count) % 4)
        (m,) = struct.unpack_from("<I", data, at2)
        settings = json.loads(data[at2 + 4:at2 + 4 + m])
        if at2 + 4 + m + (-m % 4) != len(data) or count > 255:
            raise ValueError
        return data[4:4 + n], np.frombuffer(data, "<u2", count, at + 4), FrontendConfig(**settings)
    except (struct.error, ValueError, TypeError) as e:
        raise TinymlError(f"damaged front end record ({len(data)} bytes): {e}") from None


def apply_thresholds(frames: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """uint16 frame values to int8 with a record's thresholds, as the board does."""
    return (np.searchsorted(thresholds, np.asarray(frames), side="right") - 128).astype(np.int8)
