"""native/core/features.c on the host (gcc + ctypes), bit-exact with tinyml_host.features, under
ASan/UBSan too; damaged configs and arguments get status codes."""

import ctypes
import struct
import os
import subprocess
import sys

import numpy as np
import pytest

import fe_harness as fh
import harness
from tinyml_host import features as F


@pytest.fixture(scope="module")
def dll(tmp_path_factory):
    return fh.load(harness.build(tmp_path_factory.mktemp("fe")))


def test_bit_exact_on_every_config_and_signal_in_random_chunks(dll, tmp_path):
    lib = harness.build(tmp_path)
    assert fh.check(lib, seed=1) == 0


def test_fsdd_clip_upsampled(dll):
    path = fh.ROOT.parent / "shared" / "audio" / "fsdd" / "recordings" / "4_lucas_20.wav"
    if not path.exists():
        pytest.skip(f"{path} not present")
    audio = F.upsample(F.read_wav(path)[1], 2)
    want = F.Frontend(F.MICRO_SPEECH).feed(audio)
    assert np.array_equal(fh.NativeFrontend(dll, F.plan(F.MICRO_SPEECH)).feed(audio), want)


def _runtime(name):
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) else None


def test_under_asan_and_ubsan(tmp_path):
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    assert asan and ubsan, "gcc's libasan/libubsan are needed (Debian: libgcc-12-dev)"
    lib = harness.build(tmp_path, sanitize=True)
    env = dict(os.environ, LD_PRELOAD=f"{asan}:{ubsan}", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    proc = subprocess.run([sys.executable, fh.__file__, str(lib), "3"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _status(dll, values, arrays):
    return dll.tml_fe_check(ctypes.byref(fh.make_config(values, arrays)))


def test_damaged_configs_are_refused(dll):
    plan = F.plan(F.MICRO_SPEECH)
    good, arrays = fh.scalars(plan), fh.tables(plan)
    assert _status(dll, good, arrays) == fh.TML_OK
    assert dll.tml_fe_check(None) == fh.TML_ERR_NULL
    for name in fh._TABLES:
        assert _status(dll, good, dict(arrays, **{name: None})) == fh.TML_ERR_NULL, name
    shape = dict(window_samples=[3, 4097, 600], step_samples=[0, 481], fft_size=[500, 256, 1024, 0],
                 num_channels=[0, 257, -1], start_bin=[0, 300], end_bin=[257, 1])
    for name, values in shape.items():
        for v in values:
            assert _status(dll, dict(good, **{name: v}), arrays) == fh.TML_ERR_SHAPE, (name, v)
    ranges = dict(smoothing_bits=[-1, 32], even_smoothing=[-1, 16385], odd_smoothing=[20000],
                  min_signal_remaining=[-5], enable_pcan=[2], enable_log=[-1], snr_shift=[-1, 32],
                  log_correction_bits=[32, -32], scale_shift=[-1, 17])
    for name, values in ranges.items():
        for v in values:
            assert _status(dll, dict(good, **{name: v}), arrays) == fh.TML_ERR_RANGE, (name, v)
    bands = arrays["bin_band"].copy()
    bands[7] = 41
    assert _status(dll, good, dict(arrays, bin_band=bands)) == fh.TML_ERR_SHAPE
    bands = arrays["bin_band"].copy()
    bands[20] = bands[19] - 1          # bands out of bin order
    assert _status(dll, good, dict(arrays, bin_band=bands)) == fh.TML_ERR_SHAPE
    assert dll.tml_fe_scratch_bytes(ctypes.byref(fh.make_config(dict(good, num_channels=0), arrays))) == 0
    no_pcan = dict(good, enable_pcan=0, snr_shift=-1)
    assert _status(dll, no_pcan, dict(arrays, gain_lut=None)) == fh.TML_OK


def test_damaged_push_arguments_are_refused(dll):
    plan = F.plan(F.MICRO_SPEECH)
    fe = fh.NativeFrontend(dll, plan)
    audio = np.ones(100, np.int16)
    consumed = ctypes.c_int32(-7)

    def push(cfg=None, state=None, samples=audio.ctypes.data, n=100, used=ctypes.byref(consumed),
             frame=fe.frame.ctypes.data, scratch=fe.scratch.ctypes.data):
        return dll.tml_fe_push(cfg or ctypes.byref(fe.cfg), state or ctypes.byref(fe.state), samples, n, used,
                               frame, scratch)

    assert push(samples=None) == fh.TML_ERR_NULL
    assert push(used=None) == fh.TML_ERR_NULL
    assert push(frame=None) == fh.TML_ERR_NULL
    assert push(scratch=None) == fh.TML_ERR_NULL
    assert push(n=-1) == fh.TML_ERR_SHAPE
    assert push(scratch=fe.scratch.ctypes.data + 4) == fh.TML_ERR_ALIGN
    fe.state.filled = 481
    assert push() == fh.TML_ERR_SHAPE
    fe.state.filled = 0
    assert consumed.value == -7 and not fe.samples.any()   # nothing taken on a refusal
    assert push(samples=None, n=0) == 0 and consumed.value == 0
    assert push() == 0 and consumed.value == 100 and fe.state.filled == 100


# --- the packed config read in place, and the binding's checks (fe_config.c) ---

def test_unpacked_config_points_into_the_bytes_and_runs_exact(dll):
    for name, config in fh.configs().items():
        plan = F.plan(config)
        packed = F.pack_config(plan)
        for offset in (0, 2, 6):   # ROMFS data may start at 2 mod 4
            status, cfg, buf = fh.unpack(dll, packed, offset)
            assert status == fh.TML_OK, (name, offset)
            want = fh.scalars(plan)
            assert {n: getattr(cfg, n) for n in fh._INTS} == want, name
            base = buf.ctypes.data + offset
            assert cfg.window == base + 64 and cfg.fft_order == base + len(packed) - plan.fft_size, name
            assert (cfg.gain_lut is not None) == bool(config.enable_pcan), name
        audio = fh.audio_cases(2)["chirp"]
        assert np.array_equal(fh.NativeFrontend(dll, plan, packed).feed(audio), F.Frontend(config).feed(audio)), name


def test_damaged_packed_configs_are_refused(dll):
    packed = F.pack_config(F.plan(F.MICRO_SPEECH))

    def status(data, offset=0):
        st, cfg, _ = fh.unpack(dll, data, offset)
        if st != fh.TML_OK:
            assert cfg.window is None and cfg.fft_order is None   # nothing half-set
        return st

    def scalar(k, v):
        return packed[:4 + 4 * k] + struct.pack("<i", v) + packed[8 + 4 * k:]

    assert dll.tml_fe_unpack(None, 100, ctypes.byref(fh.Config())) == fh.TML_ERR_NULL
    assert dll.tml_fe_unpack(packed, len(packed), None) == fh.TML_ERR_NULL
    assert status(b"TFE2" + packed[4:]) == fh.TML_ERR_FORMAT
    assert status(packed[:63]) == fh.TML_ERR_FORMAT
    assert status(packed, offset=1) == fh.TML_ERR_ALIGN
    assert status(packed[:-2]) == fh.TML_ERR_SIZE
    assert status(packed + b"\0\0") == fh.TML_ERR_SIZE
    assert status(packed[:-1]) == fh.TML_ERR_SIZE
    for k, v, want in [(0, 3, fh.TML_ERR_SHAPE), (0, 1 << 30, fh.TML_ERR_SHAPE), (0, -5, fh.TML_ERR_SHAPE),
                       (2, (1 << 31) - 1, fh.TML_ERR_SHAPE), (2, 4, fh.TML_ERR_SHAPE), (4, 0, fh.TML_ERR_SHAPE),
                       (5, 1000, fh.TML_ERR_SHAPE), (5, 1, fh.TML_ERR_SHAPE), (10, 7, fh.TML_ERR_RANGE),
                       (10, 0, fh.TML_ERR_SIZE), (3, 0, fh.TML_ERR_SHAPE), (6, 40, fh.TML_ERR_RANGE),
                       (14, 17, fh.TML_ERR_RANGE), (1, 0, fh.TML_ERR_SHAPE)]:
        assert status(scalar(k, v)) == want, (k, v)
    order_at = len(packed) - 512
    bad_order = packed[:order_at] + struct.pack("<H", 256) + packed[order_at + 2:]
    assert status(bad_order) == fh.TML_ERR_SHAPE
    no_pcan = F.pack_config(F.plan(F.replace(F.MICRO_SPEECH, enable_pcan=False)))
    assert status(no_pcan) == fh.TML_OK


def test_push_span_frame_checks_and_int8(dll):
    a = np.zeros(8, np.int16)
    p = a.ctypes.data
    assert dll.tml_fe_span(p, 16, 0, -1) == 8
    assert dll.tml_fe_span(p, 16, 3, 5) == 2
    assert dll.tml_fe_span(p, 16, 8, 8) == 0
    assert dll.tml_fe_span(p, 17, 0, -1) == 8
    for start, end in [(-1, 4), (5, 4), (0, 9), (0, -2), (9, -1)]:
        assert dll.tml_fe_span(p, 16, start, end) == fh.TML_ERR_SIZE, (start, end)
    assert dll.tml_fe_span(p + 1, 16, 0, 4) == fh.TML_ERR_ALIGN
    assert dll.tml_fe_span(p + 1, 16, 4, 4) == 0
    plan = F.plan(F.MICRO_SPEECH)
    cfg = fh.make_config(fh.scalars(plan), fh.tables(plan))
    out = np.zeros(64, np.int16)
    o = out.ctypes.data
    assert dll.tml_fe_check_frame(ctypes.byref(cfg), o, 80, 2) == fh.TML_OK
    assert dll.tml_fe_check_frame(ctypes.byref(cfg), o, 79, 2) == fh.TML_ERR_SIZE
    assert dll.tml_fe_check_frame(ctypes.byref(cfg), o + 1, 80, 2) == fh.TML_ERR_ALIGN
    assert dll.tml_fe_check_frame(ctypes.byref(cfg), o + 1, 40, 1) == fh.TML_OK
    assert dll.tml_fe_check_frame(ctypes.byref(cfg), o, 39, 1) == fh.TML_ERR_SIZE
    assert dll.tml_fe_check_frame(ctypes.byref(cfg), o, 80, 4) == fh.TML_ERR_SIZE
    assert dll.tml_fe_check_frame(None, o, 80, 2) == fh.TML_ERR_NULL
    frame = np.concatenate([np.arange(0, 65536, 97), [65535, 0, 1, 332, 333, 334, 665, 666, 667]]).astype(np.uint16)
    got = np.zeros(len(frame), np.int8)
    for divisor, zp in [(666, -128), (1, 0), (1000, 5), (2 ** 30, 127), (257, -128), (3, 127)]:
        assert dll.tml_fe_frame_s8(frame.ctypes.data, len(frame), divisor, zp, got.ctypes.data) == fh.TML_OK
        assert np.array_equal(got, F.int8_by_divisor(frame, divisor, zp)), (divisor, zp)
    assert np.array_equal(F.int8_by_divisor(frame, 666, -128), F.micro_speech_int8(frame))
    for divisor, zp in [(0, 0), (-1, 0), (666, 128), (666, -129)]:
        assert dll.tml_fe_frame_s8(frame.ctypes.data, 4, divisor, zp, got.ctypes.data) == fh.TML_ERR_RANGE
    assert dll.tml_fe_frame_s8(None, 4, 666, 0, got.ctypes.data) == fh.TML_ERR_NULL
