"""native/core/features.c on the host (gcc + ctypes), bit-exact with tinyml_host.features, under
ASan/UBSan too; damaged configs and arguments get status codes."""

import ctypes
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
