"""The convolution-family kernels of native/core on the host, against TFLite Micro itself.

Golden outputs come from tflite-micro's interpreter running single-operator models that the
TFLite converter quantized (tflite_ops.py); the kernels' parameters are computed from those
flatbuffers as TFLite computes them. Then random layers: each optimized path equals its
reference, also under ASan and UBSan with exactly sized buffers.
"""

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import harness
import tflite_ops
import window_ops

CONV = [
    dict(shape=(9, 7, 3), filters=5, kernel=(3, 3), strides=(2, 2), padding="same", act="relu"),
    dict(shape=(13, 10, 1), filters=8, kernel=(10, 4), strides=(2, 2), padding="same", act="relu"),  # KWS's first
    dict(shape=(6, 5, 7), filters=9, kernel=(1, 1), strides=(1, 1), padding="valid", act="relu6"),
    dict(shape=(7, 7, 4), filters=3, kernel=(3, 3), strides=(1, 1), padding="valid", act=None, per_channel=False),
    dict(shape=(5, 6, 2), filters=16, kernel=(1, 1), strides=(2, 2), padding="same", act=None),
    dict(shape=(8, 5, 3), filters=10, kernel=(2, 3), strides=(1, 2), padding="same", act="relu6"),
]
DWCONV = [
    dict(shape=(9, 9, 8), kernel=(3, 3), strides=(1, 1), padding="same", act="relu"),
    dict(shape=(10, 7, 5), kernel=(3, 3), strides=(2, 2), padding="same", act="relu6"),
    dict(shape=(6, 6, 3), kernel=(3, 3), strides=(2, 2), padding="valid", act=None),
    dict(shape=(12, 1, 7), kernel=(5, 1), strides=(2, 1), padding="same", act="relu"),  # streaming-wake-word-like
    dict(shape=(7, 8, 13), kernel=(2, 2), strides=(1, 1), padding="valid", act="relu", per_channel=False),
]
POOL = [
    dict(shape=(7, 5, 3), kernel=(3, 3), strides=(2, 2), padding="same"),
    dict(shape=(6, 6, 4), kernel=(2, 2), strides=(2, 2), padding="valid"),
    dict(shape=(5, 5, 8), kernel=(5, 5), strides=(1, 1), padding="valid"),  # global, as KWS and IC end
    dict(shape=(9, 7, 2), kernel=(3, 2), strides=(1, 1), padding="same"),
    dict(shape=(25, 5, 8), kernel=(25, 5), strides=(25, 5), padding="valid"),  # KWS's
    dict(shape=(15, 17, 5), kernel=(15, 17), strides=(1, 1), padding="valid"),  # 255 taps
    dict(shape=(16, 16, 4), kernel=(16, 16), strides=(1, 1), padding="valid"),  # 256 taps
]
ADD = [dict(shape=(5, 4, 3), act=None, spans=[2.0, 0.5]), dict(shape=(6, 6, 8), act="relu", spans=[1.0, 3.0])]
SOFTMAX = [dict(shape=(12,), spans=[3.0]), dict(shape=(10,), spans=[12.0]), dict(shape=(4, 7), spans=[0.2])]


def _ids(recipes):
    return ["-".join(str(v).replace(" ", "") for v in r.values()) for r in recipes]


@pytest.fixture(scope="module")
def dll(tmp_path_factory):
    return window_ops.load(harness.build(tmp_path_factory.mktemp("window")))


def _inputs(shape, seed, count=4):
    """random int8 tensors, and the two constant edges"""
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=shape).astype(np.int8) for _ in range(count)]
    return xs + [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]


@pytest.mark.parametrize("depthwise,recipe", [(False, r) for r in CONV] + [(True, r) for r in DWCONV],
                         ids=_ids(CONV) + _ids(DWCONV))
def test_conv_bit_exact_with_tflite_micro(dll, depthwise, recipe):
    data = tflite_ops.op_model(dict(recipe, op="dwconv" if depthwise else "conv"))
    layer = tflite_ops.conv_layer(data, depthwise)
    name = "tml_dwconv_s8" if depthwise else "tml_conv_s8"
    for k, x in enumerate(_inputs(recipe["shape"], seed=len(str(recipe)))):
        want = tflite_ops.run_tflm(data, [x])
        for kernel in (name, name + "_ref"):
            status, got = window_ops.run_conv(dll, layer, x, kernel)
            assert status == 0 and np.array_equal(got, want), (kernel, k, np.flatnonzero(got != want)[:5])
    assert layer.params["n_channels"] == (1 if recipe.get("per_channel") is False else layer.params["out_c"])


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("recipe", POOL, ids=_ids(POOL))
def test_pool_bit_exact_with_tflite_micro(dll, kind, recipe):
    data = tflite_ops.op_model(dict(recipe, op=f"{kind}pool"))
    params = tflite_ops.pool_params(data, kind)
    for k, x in enumerate(_inputs(recipe["shape"], seed=3)):
        want = tflite_ops.run_tflm(data, [x])
        status, got = window_ops.run_pool(dll, params, x, kind)
        assert status == 0 and np.array_equal(got, want), (k, np.flatnonzero(got != want)[:5])


@pytest.mark.parametrize("recipe", ADD, ids=_ids(ADD))
def test_add_bit_exact_with_tflite_micro(dll, recipe):
    data = tflite_ops.op_model(dict(recipe, op="add"))
    params = tflite_ops.add_params(data)
    first, second = tflite_ops.add_input_order(data)
    xs = _inputs(recipe["shape"], seed=4)
    for k, pair in enumerate(zip(xs, xs[1:] + xs[:1])):
        want = tflite_ops.run_tflm(data, list(pair))
        status, got = window_ops.run_add(dll, params, pair[first], pair[second])
        assert status == 0 and np.array_equal(got, want), (k, np.flatnonzero(got != want)[:5])


def test_add_fast_path_equals_tflite_arithmetic_on_every_int8_pair(dll):
    """add_s8.c's TFLite Micro path (the rescale in fewer steps) against TFLite's arithmetic in
    int64, on all 65,536 input pairs, for 40 random scale sets and the int8 and shift edges."""
    rng = np.random.default_rng(12)
    a, b = window_ops.every_int8_pair()
    sets = [window_ops.add_params_tflm(rng) for _ in range(40)]
    edge = dict(sets[0], left_shift=22, input1_offset=128, input2_offset=-127, input1_shift=-31, input2_shift=0,
                output_shift=-31)
    for params in sets + [edge, dict(edge, left_shift=0, input1_shift=0, output_shift=0)]:
        status, got = window_ops.run_add(dll, params, a, b)
        assert status == 0 and np.array_equal(got, window_ops.tflm_add(params, a, b)), params


@pytest.mark.parametrize("recipe", SOFTMAX, ids=_ids(SOFTMAX))
def test_softmax_bit_exact_with_tflite_micro(dll, recipe):
    data = tflite_ops.op_model(dict(recipe, op="softmax"))
    params = tflite_ops.softmax_params(data)
    rng = np.random.default_rng(5)
    # wide rows reach diff_min (exp 0) and narrow ones the interesting roundings
    xs = _inputs(recipe["shape"], seed=5, count=20) + [rng.integers(-3, 3, size=recipe["shape"]).astype(np.int8)
                                                     for _ in range(10)]
    for k, x in enumerate(xs):
        want = tflite_ops.run_tflm(data, [x])
        status, got = window_ops.run_softmax(dll, params, x)
        assert status == 0 and np.array_equal(got, want), (k, x, got, want)


def test_softmax_constants_are_exp_of_powers_of_two():
    """softmax_s8.c's table: exp(-2^k) for k = -2..4 in Q0.31, rounded, as gemmlowp has them."""
    import re

    src = (harness.CORE / "softmax_s8.c").read_text()
    body = re.sub(r"/\*.*?\*/", "", src.split("exp_minus_pow2[7] = {")[1].split("};")[0], flags=re.S)
    table = [int(v) for v in body.split(",")]
    assert table == [round(np.exp(-2.0 ** k) * 2 ** 31) for k in range(-2, 5)]


def test_optimized_paths_equal_references_on_random_layers(tmp_path):
    lib = harness.build(tmp_path)
    assert window_ops.compare_paths(lib, 600, seed=31) == 0


def test_depthwise_3x3_paths_equal_the_reference(dll):
    for k, (layer, x) in enumerate(window_ops.depthwise_3x3_layers(np.random.default_rng(34), 300)):
        s_ref, want = window_ops.run_conv(dll, layer, x, "tml_dwconv_s8_ref")
        status, got = window_ops.run_conv(dll, layer, x, "tml_dwconv_s8")
        assert s_ref == 0 and status == 0 and np.array_equal(got, want), (k, layer.params)


def _runtime(name):
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def test_random_layers_under_asan_and_ubsan(tmp_path):
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    assert asan and ubsan, "gcc's libasan/libubsan are needed (Debian: libgcc-12-dev)"
    lib = harness.build(tmp_path, sanitize=True)
    env = dict(os.environ, LD_PRELOAD=f"{asan}:{ubsan}", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    proc = subprocess.run([sys.executable, window_ops.__file__, str(lib), "400", "32"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_checks_name_bad_parameters(dll):
    ok = dict(in_h=5, in_w=5, in_c=3, out_h=3, out_w=3, out_c=4, filter_h=3, filter_w=3, stride_h=2, stride_w=2,
              pad_top=1, pad_left=1, input_zp=0, n_channels=4, act_min=-128, act_max=127, output_zp=0, rounding=0)
    mult, shift = np.full(4, 1 << 30, np.int32), np.zeros(4, np.int8)

    def conv(check="tml_conv_check", **change):
        p = window_ops.ConvParams(*(int(dict(ok, **change)[f]) for f in window_ops.CONV_FIELDS))
        return getattr(dll, check)(ctypes.byref(p), window_ops._ptr(mult), window_ops._ptr(shift))

    assert conv() == 0
    assert conv(pad_top=0) == harness.TML_ERR_SHAPE  # SAME needs 1 here, VALID gives 2 rows
    assert conv(out_h=2) == harness.TML_ERR_SHAPE
    assert conv(out_h=2, pad_top=0) == 0             # VALID
    assert conv(stride_w=0) == harness.TML_ERR_SHAPE
    assert conv(n_channels=3) == harness.TML_ERR_SHAPE
    assert conv(input_zp=128) == harness.TML_ERR_RANGE
    assert conv(act_min=10, act_max=5) == harness.TML_ERR_RANGE
    assert conv(rounding=2) == harness.TML_ERR_QUANT
    assert conv(in_c=8000) == harness.TML_ERR_SHAPE  # a 72,000-byte patch: wider than a row may be
    assert conv("tml_dwconv_check") == harness.TML_ERR_SHAPE  # depthwise needs out_c == in_c
    assert conv("tml_dwconv_check", out_c=3, n_channels=3) == 0
    shift[2] = 31
    assert conv() == harness.TML_ERR_QUANT
    pool = window_ops.PoolParams(5, 5, 3, 3, 3, 3, 3, 2, 2, 1, 1, -128, 127)
    assert dll.tml_pool_check(ctypes.byref(pool)) == 0
    pool.out_w = 4
    assert dll.tml_pool_check(ctypes.byref(pool)) == harness.TML_ERR_SHAPE
    add = dict(size=10, left_shift=20, input1_offset=3, input1_multiplier=1 << 30, input1_shift=-1,
               input2_offset=-5, input2_multiplier=1 << 30, input2_shift=-2, output_multiplier=1 << 30,
               output_shift=-18, output_zp=1, act_min=-128, act_max=127, rounding=0)
    a = np.zeros(10, np.int8)
    assert window_ops.run_add(dll, add, a, a)[0] == 0
    assert window_ops.run_add(dll, dict(add, input1_shift=1), a, a)[0] == harness.TML_ERR_QUANT
    assert window_ops.run_add(dll, dict(add, input2_offset=-128), a, a)[0] == harness.TML_ERR_QUANT
    soft = dict(rows=1, depth=10, input_multiplier=1 << 30, input_left_shift=20, diff_min=-100)
    assert window_ops.run_softmax(dll, soft, a)[0] == 0
    assert window_ops.run_softmax(dll, dict(soft, depth=512, rows=1), np.zeros(512, np.int8))[0] == \
        harness.TML_ERR_SHAPE
    assert window_ops.run_softmax(dll, dict(soft, diff_min=1), a)[0] == harness.TML_ERR_QUANT
