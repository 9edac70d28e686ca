"""native/core/features.c through ctypes: its config built from a features.Plan, frames out.

Run as a script (`python fe_harness.py LIB SEED`) it compares random and real audio with the
numpy reference and exits non-zero on a mismatch: the sanitizer test runs it in a subprocess
with libasan/libubsan preloaded."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TML_OK, TML_ERR_NULL, TML_ERR_SHAPE, TML_ERR_RANGE, TML_ERR_SIZE, TML_ERR_ALIGN, TML_ERR_FORMAT = 0, -1, -2, -4, -5, -6, -8
_INTS = ("window_samples", "step_samples", "fft_size", "num_channels", "start_bin", "end_bin", "smoothing_bits",
         "even_smoothing", "odd_smoothing", "min_signal_remaining", "enable_pcan", "snr_shift", "enable_log",
         "log_correction_bits", "scale_shift")
_TABLES = ("window", "twiddles", "split_twiddles", "bin_band", "bin_weight", "bin_unweight", "gain_lut",
           "fft_order")


class Config(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in _INTS] + [(name, ctypes.c_void_p) for name in _TABLES]


class State(ctypes.Structure):
    _fields_ = [("samples", ctypes.c_void_p), ("noise_estimate", ctypes.c_void_p), ("filled", ctypes.c_int32)]


def load(lib: Path):
    dll = ctypes.CDLL(str(lib))
    dll.tml_fe_check.restype = ctypes.c_int
    dll.tml_fe_check.argtypes = [ctypes.c_void_p]
    dll.tml_fe_scratch_bytes.restype = ctypes.c_int32
    dll.tml_fe_scratch_bytes.argtypes = [ctypes.c_void_p]
    dll.tml_fe_reset.restype = ctypes.c_int
    dll.tml_fe_reset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    dll.tml_fe_push.restype = ctypes.c_int
    dll.tml_fe_push.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                                ctypes.POINTER(ctypes.c_int32), ctypes.c_void_p, ctypes.c_void_p]
    dll.tml_fe_unpack.restype = ctypes.c_int
    dll.tml_fe_unpack.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p]
    dll.tml_fe_span.restype = ctypes.c_int32
    dll.tml_fe_span.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    dll.tml_fe_check_frame.restype = ctypes.c_int
    dll.tml_fe_check_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32]
    dll.tml_fe_frame_s8.restype = ctypes.c_int
    dll.tml_fe_frame_s8.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p]
    return dll


def unpack(dll, packed: bytes, offset: int = 0):
    """tml_fe_unpack on `packed` placed at `offset` of a 16-byte aligned buffer: (status, Config,
    the buffer, which the Config points into)."""
    buf = np.zeros((len(packed) + offset + 31) // 16, np.dtype((np.void, 16)))   # 16-byte aligned
    raw = buf.view(np.uint8)
    raw[offset:offset + len(packed)] = np.frombuffer(packed, np.uint8)
    cfg = Config()
    status = dll.tml_fe_unpack(raw.ctypes.data + offset, len(packed), ctypes.byref(cfg))
    return status, cfg, buf


def tables(plan) -> dict[str, np.ndarray]:
    """The integer tables tml_fe_config points to, each an exactly sized array."""
    return {
        "window": np.ascontiguousarray(plan.window, np.int16),
        "twiddles": np.ascontiguousarray(plan.twiddles, np.int16).reshape(-1),
        "split_twiddles": np.ascontiguousarray(plan.split_twiddles, np.int16).reshape(-1),
        "bin_band": np.ascontiguousarray(plan.bin_channel, np.uint16),
        "bin_weight": np.ascontiguousarray(plan.bin_weight, np.int16),
        "bin_unweight": np.ascontiguousarray(plan.bin_unweight, np.int16),
        "gain_lut": np.ascontiguousarray(plan.gain_lut if len(plan.gain_lut) else np.zeros(125), np.int16),
        "fft_order": np.ascontiguousarray(plan.fft_order, np.uint16),
    }


def scalars(plan) -> dict[str, int]:
    c = plan.config
    return dict(window_samples=plan.window_samples, step_samples=plan.step_samples, fft_size=plan.fft_size,
                num_channels=c.num_channels, start_bin=plan.start_bin, end_bin=plan.end_bin,
                smoothing_bits=c.smoothing_bits, even_smoothing=plan.even_smoothing,
                odd_smoothing=plan.odd_smoothing, min_signal_remaining=plan.min_signal_remaining,
                enable_pcan=int(c.enable_pcan), snr_shift=plan.snr_shift if c.enable_pcan else 0,
                enable_log=int(c.enable_log), log_correction_bits=plan.log_correction_bits,
                scale_shift=c.scale_shift)


def make_config(values: dict[str, int], arrays: dict[str, np.ndarray | None]) -> Config:
    cfg = Config()
    for name, v in values.items():
        setattr(cfg, name, v)
    for name in _TABLES:
        a = arrays.get(name)
        setattr(cfg, name, None if a is None else a.ctypes.data)
    return cfg


class NativeFrontend:
    """One tml_fe_state with its buffers, fed like features.Frontend (frames before out_scale).
    packed: a packed config read by tml_fe_unpack instead of the plan's tables."""

    def __init__(self, dll, plan, packed: bytes | None = None):
        self.dll, self.plan = dll, plan
        if packed is None:
            self.arrays = tables(plan)
            self.cfg = make_config(scalars(plan), self.arrays)
        else:
            status, self.cfg, self.arrays = unpack(dll, packed)
            assert status == TML_OK, status
        assert dll.tml_fe_check(ctypes.byref(self.cfg)) == TML_OK
        n_ch = self.cfg.num_channels
        self.samples = np.zeros(self.cfg.window_samples, np.int16)
        self.noise = np.zeros(n_ch, np.uint32)
        self.state = State(self.samples.ctypes.data, self.noise.ctypes.data, 0)
        n = dll.tml_fe_scratch_bytes(ctypes.byref(self.cfg))
        self.scratch = np.zeros((n + 7) // 8, np.uint64)   # 8-byte aligned, exactly n bytes used
        self.frame = np.zeros(n_ch, np.uint16)
        assert dll.tml_fe_reset(ctypes.byref(self.cfg), ctypes.byref(self.state)) == TML_OK

    def feed(self, audio: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(audio, np.int16)
        frames, at, consumed = [], 0, ctypes.c_int32(0)
        while True:
            chunk = audio[at:]
            status = self.dll.tml_fe_push(ctypes.byref(self.cfg), ctypes.byref(self.state),
                                          chunk.ctypes.data if len(chunk) else None, len(chunk),
                                          ctypes.byref(consumed), self.frame.ctypes.data, self.scratch.ctypes.data)
            if status < 0:
                raise RuntimeError(f"tml_fe_push: status {status}")
            at += consumed.value
            if status == 1:
                frames.append(self.frame.copy())
            elif at >= len(audio):
                break
        return np.array(frames, np.uint16).reshape(-1, len(self.frame))


def audio_cases(seed: int):
    """Named int16 signals: noise at several levels, tones, chirp, clipping, silence, real clips."""
    rng = np.random.default_rng(seed)
    t = np.arange(8000) / 16000.0
    cases = {
        "silence": np.zeros(2000),
        "noise_loud": rng.normal(0, 8000, 8000),
        "noise_quiet": rng.normal(0, 3, 8000),
        "uniform_full_scale": rng.integers(-32768, 32768, 8000),
        "tone": 12000 * np.sin(2 * np.pi * 1234 * t),
        "chirp": 20000 * np.sin(2 * np.pi * (60 * t + 0.5 * 15000 * t * t)),
        "square_clipped": np.where(np.sin(2 * np.pi * 300 * t) >= 0, 32767, -32768),
        "all_min": np.full(2000, -32768),
    }
    clips = ROOT.parent / "shared" / "models" / "micro_speech"
    if clips.exists():
        from tinyml_host.features import read_wav
        for name in ("yes_1000ms", "noise_1000ms"):
            cases[name] = read_wav(clips / f"{name}.wav")[1]
    return {k: np.clip(np.round(v), -32768, 32767).astype(np.int16) for k, v in cases.items()}


def configs():
    from tinyml_host import features as F
    return {
        "micro_speech": F.MICRO_SPEECH, "op_defaults": F.FrontendConfig(),
        "pcan_off": F.replace(F.MICRO_SPEECH, enable_pcan=False),
        "log_off": F.replace(F.MICRO_SPEECH, enable_log=False),
        "fft_256": F.replace(F.MICRO_SPEECH, window_size=16, window_step=8),
        "fft_1024": F.replace(F.MICRO_SPEECH, window_size=64, window_step=32, num_channels=64),
        "odd_window": F.replace(F.MICRO_SPEECH, window_size=31, window_step=13, num_channels=23),
        "narrowband_3800": F.replace(F.MICRO_SPEECH, upper_band_limit=3800.0),
        "odd_settings": F.replace(F.MICRO_SPEECH, smoothing_bits=5, even_smoothing=0.3, odd_smoothing=0.9,
                                  min_signal_remaining=0.2, scale_shift=9, pcan_strength=0.5, pcan_offset=3.0,
                                  gain_bits=24),
    }


def check(lib: Path, seed: int) -> int:
    """Every config on every signal, fed in random chunks; returns mismatches."""
    from tinyml_host import features as F

    dll = load(lib)
    rng = np.random.default_rng(seed)
    bad = 0
    for cname, config in configs().items():
        plan = F.plan(config)
        for name, audio in audio_cases(seed).items():
            want = F.Frontend(config).feed(audio)
            native = NativeFrontend(dll, plan)
            got, at = [], 0
            while at < len(audio):
                n = int(rng.integers(0, 700))
                got.append(native.feed(audio[at:at + n]))
                at += n
            got = np.concatenate(got)
            if got.shape != want.shape or not np.array_equal(got, want):
                bad += 1
                print(f"{cname} {name}: {got.shape} vs {want.shape}", file=sys.stderr)
    return bad


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "host"))
    sys.exit(1 if check(Path(sys.argv[1]), int(sys.argv[2])) else 0)
