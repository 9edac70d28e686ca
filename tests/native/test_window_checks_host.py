"""check.c's buffer checks for the convolution family on the host (64-bit pointers and size_t):
the layer check once, the O(1) call check before each call, and tml_*_run_checked, which runs
both and the kernel. Damaged arguments (window_fuzz.py) get a status the contract allows with
every byte as it was, or the reference's answer; also under ASan and UBSan."""

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import window_fuzz
import window_ops
from window_fuzz import ALIGN, NULL, OK, OVERLAP, QUANT, SHAPE, SIZE

# tml_buffer (tinyml.h)
BUF_NONE, BUF_X, BUF_W, BUF_BIAS, BUF_MULT, BUF_SHIFT, BUF_OUT, BUF_SCRATCH, BUF_X2 = range(9)


class OpBuffers(ctypes.Structure):
    _fields_ = [(f, t) for name in window_fuzz.BUFFERS for f, t in ((name, ctypes.c_void_p), (name + "_len", ctypes.c_size_t))]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    import harness

    return harness.build(tmp_path_factory.mktemp("window_checks"))


@pytest.fixture(scope="module")
def dll(lib):
    dll = window_fuzz.load(lib)
    for name in ("tml_conv_check_layer", "tml_conv_check_call", "tml_dwconv_check_layer", "tml_dwconv_check_call",
                 "tml_pool_check_call", "tml_add_check_call", "tml_softmax_check_call"):
        fn = getattr(dll, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p] * 3
    return dll


def test_damaged_arguments_get_a_status_or_the_right_answer(lib):
    outcomes = window_fuzz.fuzz(lib, 250, seed=2024)
    for kind, seen in outcomes.items():
        assert seen.get(OK, 0) >= 50 and sum(v for s, v in seen.items() if s != OK) >= 40, (kind, seen)
    everything = set().union(*outcomes.values())
    assert everything >= {OK, NULL, SHAPE, QUANT, SIZE, ALIGN, OVERLAP, -4}, outcomes
    for kind in ("conv", "dwconv"):
        assert {ALIGN, OVERLAP, SIZE, QUANT} <= set(outcomes[kind]), (kind, outcomes[kind])
    assert OVERLAP in outcomes["add"] and OVERLAP in outcomes["softmax"], outcomes


def _runtime(name):
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def test_damaged_arguments_under_asan_and_ubsan(tmp_path):
    import harness

    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    assert asan and ubsan, "gcc's libasan/libubsan are needed (Debian: libgcc-12-dev)"
    lib = harness.build(tmp_path, sanitize=True)
    env = dict(os.environ, LD_PRELOAD=f"{asan}:{ubsan}", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    proc = subprocess.run([sys.executable, window_fuzz.__file__, str(lib), "150", "77"], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]


def _ptr(a):
    return a.ctypes.data if a is not None else None


def _conv(depthwise=False):
    """A 5x5x4 -> 3x3 SAME stride-2 3x3 layer, per channel, with exactly sized buffers (scratch:
    two 36-input patches as int16 and 4 bytes to align them)."""
    out_c = 4 if depthwise else 6
    p = dict(in_h=5, in_w=5, in_c=4, out_h=3, out_w=3, out_c=out_c, filter_h=3, filter_w=3, stride_h=2, stride_w=2,
             pad_top=1, pad_left=1, input_zp=-3, n_channels=out_c, act_min=-128, act_max=127, output_zp=2, rounding=0)
    arrays = dict(x=np.arange(100, dtype=np.int8), w=np.ones(36 if depthwise else 216, np.int8),
                  bias=np.zeros(out_c, np.int32), mult=np.full(out_c, 1 << 30, np.int32), shift=np.zeros(out_c, np.int8),
                  out=np.zeros(36 if depthwise else 54, np.int8), scratch=None if depthwise else np.zeros(148, np.int8))
    return window_ops.ConvParams(*(p[f] for f in window_ops.CONV_FIELDS)), arrays


def _buffers(arrays, **replace):
    """tml_op_buffers of `arrays`; replace: name -> (address, length) or None."""
    b = OpBuffers()
    for name, a in arrays.items():
        if a is not None:
            setattr(b, name, a.ctypes.data)
            setattr(b, name + "_len", a.nbytes)
    for name, value in replace.items():
        setattr(b, name, None if value is None else value[0])
        setattr(b, name + "_len", 0 if value is None else value[1])
    return b


def _check(fn, p, b):
    bad = ctypes.c_int(-1)
    return fn(ctypes.byref(p), ctypes.byref(b), ctypes.byref(bad)), bad.value


def test_conv_checks_name_the_buffer(dll):
    """Each refusal names its buffer (the binding's message depends on it)."""
    p, a = _conv()
    call, layer = dll.tml_conv_check_call, dll.tml_conv_check_layer
    assert _check(layer, p, _buffers(a)) == (OK, BUF_NONE)
    assert _check(call, p, _buffers(a)) == (OK, BUF_NONE)
    x, out, w, scratch = (a[k].ctypes.data for k in ("x", "out", "w", "scratch"))
    assert _check(call, p, _buffers(a, x=(x, 99))) == (SIZE, BUF_X)
    assert _check(call, p, _buffers(a, out=(out, 53))) == (SIZE, BUF_OUT)
    assert _check(call, p, _buffers(a, scratch=(scratch, 147))) == (SIZE, BUF_SCRATCH)
    assert _check(call, p, _buffers(a, scratch=None)) == (NULL, BUF_SCRATCH)
    assert _check(layer, p, _buffers(a, w=(w, 215))) == (SIZE, BUF_W)
    assert _check(call, p, _buffers(a, w=(w, 215))) == (SIZE, BUF_W)  # a RAM buffer may shrink after prepare
    bias = np.zeros(7, np.int32)
    assert _check(layer, p, _buffers(a, bias=(bias.ctypes.data + 1, 24))) == (ALIGN, BUF_BIAS)
    assert _check(call, p, _buffers(a, bias=(bias.ctypes.data + 1, 24))) == (ALIGN, BUF_BIAS)
    assert _check(layer, p, _buffers(a, mult=(a["mult"].ctypes.data, 20))) == (SIZE, BUF_MULT)
    assert _check(call, p, _buffers(a, out=(x + 46, 54))) == (OVERLAP, BUF_X)  # x's last 54 bytes
    assert _check(call, p, _buffers(a, out=(x + 100, 54))) == (OK, BUF_NONE)  # just after x (its array is 100)
    assert _check(call, p, _buffers(a, out=(w, 54))) == (OVERLAP, BUF_W)
    assert _check(call, p, _buffers(a, scratch=(x + 64, 148))) == (OVERLAP, BUF_SCRATCH)
    assert _check(call, p, _buffers(a, scratch=(out + 18, 148))) == (OVERLAP, BUF_SCRATCH)
    p.out_h = 2  # SAME needs 3 rows here, VALID 2 without padding
    assert _check(call, p, _buffers(a)) == (SHAPE, BUF_NONE)
    p.out_h, p.filter_h, p.filter_w, p.pad_top, p.pad_left = 3, 1, 1, 0, 0  # 1x1, stride 2: 5 -> 3
    # a 1x1 filter needs a scratch too now (arm-dsp stages its pixels as int16): 4 x 4 + 4 bytes
    assert _check(call, p, _buffers(a, scratch=None)) == (NULL, BUF_SCRATCH)
    assert _check(call, p, _buffers(a, scratch=(scratch, 20))) == (OK, BUF_NONE)
    assert _check(call, p, _buffers(a, scratch=(scratch, 19))) == (SIZE, BUF_SCRATCH)


def test_dwconv_and_elementwise_checks(dll):
    p, a = _conv(depthwise=True)
    assert _check(dll.tml_dwconv_check_layer, p, _buffers(a)) == (OK, BUF_NONE)
    assert _check(dll.tml_dwconv_check_call, p, _buffers(a)) == (OK, BUF_NONE)
    assert _check(dll.tml_dwconv_check_call, p, _buffers(a, shift=(a["shift"].ctypes.data, 3))) == (SIZE, BUF_SHIFT)
    assert _check(dll.tml_dwconv_check_call, p, _buffers(a, out=(a["bias"].ctypes.data, 36))) == (OVERLAP, BUF_BIAS)
    assert _check(dll.tml_dwconv_check_layer, p, _buffers(a, w=(a["w"].ctypes.data, 35))) == (SIZE, BUF_W)
    p.n_channels = 3
    assert _check(dll.tml_dwconv_check_layer, p, _buffers(a)) == (SHAPE, BUF_NONE)

    buf = np.zeros(128, np.int8)
    base = buf.ctypes.data
    add = window_ops.AddParams(10, 20, 3, 1 << 30, -1, -5, 1 << 30, -2, 1 << 30, -18, 1, -128, 127, 0)
    b = lambda x, x2, out, n=10: _buffers({}, x=(base + x, n), x2=(base + x2, n), out=(base + out, n))  # noqa: E731
    assert _check(dll.tml_add_check_call, add, b(0, 20, 40)) == (OK, BUF_NONE)
    assert _check(dll.tml_add_check_call, add, b(0, 20, 0)) == (OK, BUF_NONE)    # in place over x1
    assert _check(dll.tml_add_check_call, add, b(0, 20, 20)) == (OK, BUF_NONE)   # in place over x2
    assert _check(dll.tml_add_check_call, add, b(0, 0, 0)) == (OK, BUF_NONE)     # x + x, in place
    assert _check(dll.tml_add_check_call, add, b(0, 20, 1)) == (OVERLAP, BUF_X)
    assert _check(dll.tml_add_check_call, add, b(0, 20, 15)) == (OVERLAP, BUF_X2)
    assert _check(dll.tml_add_check_call, add, b(0, 5, 0)) == (OVERLAP, BUF_X2)  # out == x1 shifted over x2
    assert _check(dll.tml_add_check_call, add, b(0, 20, 40, n=9)) == (SIZE, BUF_X)
    add.left_shift = 23
    assert _check(dll.tml_add_check_call, add, b(0, 20, 40)) == (QUANT, BUF_NONE)

    soft = window_ops.SoftmaxParams(2, 10, 1 << 30, 20, -100)
    s = lambda x, out, nx=20, no=20: _buffers({}, x=(base + x, nx), out=(base + out, no))  # noqa: E731
    assert _check(dll.tml_softmax_check_call, soft, s(0, 20)) == (OK, BUF_NONE)
    assert _check(dll.tml_softmax_check_call, soft, s(0, 0)) == (OVERLAP, BUF_X)
    assert _check(dll.tml_softmax_check_call, soft, s(0, 20, nx=19)) == (SIZE, BUF_X)
    assert _check(dll.tml_softmax_check_call, soft, _buffers({}, out=(base, 20))) == (NULL, BUF_X)

    pool = window_ops.PoolParams(5, 5, 2, 3, 3, 3, 3, 2, 2, 1, 1, -128, 127)  # 50 bytes in, 18 out
    assert _check(dll.tml_pool_check_call, pool, _buffers({}, x=(base, 50), out=(base + 50, 18))) == (OK, BUF_NONE)
    assert _check(dll.tml_pool_check_call, pool, _buffers({}, x=(base, 50), out=(base + 40, 18))) == \
        (OVERLAP, BUF_X)
    assert _check(dll.tml_pool_check_call, pool, _buffers({}, x=(base, 50), out=(base + 50, 17))) == \
        (SIZE, BUF_OUT)
