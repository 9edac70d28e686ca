"""The convolution-family kernels cross-compiled for Cortex-M0+, M4, M33 and rv32imac and run
under Unicorn (native/tools/crossrun.py), bit for bit against the host build, whose results
test_window_ops_host.py ties to TFLite Micro. Buffers at every alignment; guard bytes after
out and scratch must stay untouched."""

import sys
from pathlib import Path

import numpy as np
import pytest

import harness
import window_ops

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    return window_ops.load(harness.build(tmp_path_factory.mktemp("host")))


@pytest.fixture(scope="module", params=list(crossrun.CPUS))
def machine(request, tmp_path_factory):
    cpu = request.param
    try:
        crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    return crossrun.Machine(crossrun.build(cpu, tmp_path_factory.mktemp(f"emu-{cpu}")), cpu)


def _conv_matches_the_host(machine, host, k, layer, x):
    """tml_conv_s8 on the emulated core, its buffers misaligned by k % 4, against the host's
    reference kernel, byte for byte."""
    _, want = window_ops.run_conv(host, layer, x, "tml_conv_s8_ref")
    params, inputs, scratch = window_ops.conv_args(layer, x)
    status, got = machine.kernel("tml_conv_s8", params, inputs, layer.out_size(), misalign=k % 4, scratch=scratch)
    assert status == 0 and np.array_equal(got, want), (machine.cpu.name, k, layer.params)


def _dwconv_matches_the_host(machine, host, k, layer, x):
    """tml_dwconv_s8 on the emulated core, its buffers misaligned by k % 4, against the host's
    reference kernel, byte for byte."""
    _, want = window_ops.run_conv(host, layer, x, "tml_dwconv_s8_ref")
    params, inputs, _ = window_ops.conv_args(layer, x)
    status, got = machine.kernel("tml_dwconv_s8", params, inputs, layer.out_size(), misalign=k % 4)
    assert status == 0 and np.array_equal(got, want), (machine.cpu.name, k, layer.params)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "dwconv"])
def test_random_convolutions_match_the_host(machine, host, depthwise):
    rng = np.random.default_rng(77 + depthwise)
    name = "tml_dwconv_s8" if depthwise else "tml_conv_s8"
    for k in range(60):
        layer, x = window_ops.random_conv(rng, depthwise, max_hw=9, max_c=12)
        _, want = window_ops.run_conv(host, layer, x, name + "_ref")
        params, inputs, scratch = window_ops.conv_args(layer, x)
        for kernel in (name, name + "_ref"):
            status, got = machine.kernel(kernel, params, inputs, layer.out_size(), misalign=k % 4,
                                         scratch=scratch if kernel == "tml_conv_s8" else None)
            assert status == 0 and np.array_equal(got, want), (machine.cpu.name, kernel, k, layer.params)


def test_shapes_of_the_mlperf_models_match_the_host(machine, host):
    """KWS's 10x4 stride-2 first layer, depthwise 3x3 and pointwise layers with channel counts
    of 64 (every full block and DSP path), a stride-2 3x3 as VWW starts."""
    rng = np.random.default_rng(5)
    shapes = [(False, dict(in_h=13, in_w=10, in_c=1, filter_h=10, filter_w=4, stride_h=2, stride_w=2, out_c=16)),
              (False, dict(in_h=5, in_w=5, in_c=64, filter_h=1, filter_w=1, stride_h=1, stride_w=1, out_c=64)),
              (True, dict(in_h=6, in_w=5, in_c=64, filter_h=3, filter_w=3, stride_h=1, stride_w=1, out_c=64)),
              (False, dict(in_h=12, in_w=12, in_c=3, filter_h=3, filter_w=3, stride_h=2, stride_w=2, out_c=8))]
    for depthwise, g in shapes:
        layer, _ = window_ops.random_conv(rng, depthwise)
        oh, pt = window_ops.window(rng, g["in_h"], g["filter_h"], g["stride_h"], True)
        ow, pl = window_ops.window(rng, g["in_w"], g["filter_w"], g["stride_w"], True)
        layer.params.update(g, out_h=oh, out_w=ow, pad_top=pt, pad_left=pl, n_channels=1, rounding=0)
        k_len = g["filter_h"] * g["filter_w"] * g["in_c"]
        layer.weights = rng.integers(-128, 128, size=(g["filter_h"], g["filter_w"], g["in_c"]) if depthwise
                                     else (g["out_c"], k_len)).astype(np.int8)
        layer.bias = rng.integers(-5000, 5000, size=g["out_c"]).astype(np.int32)
        layer.mult, layer.shift = np.array([1518500250], np.int32), np.array([-9], np.int8)
        x = rng.integers(-128, 128, size=(g["in_h"], g["in_w"], g["in_c"])).astype(np.int8)
        name = "tml_dwconv_s8" if depthwise else "tml_conv_s8"
        _, want = window_ops.run_conv(host, layer, x, name + "_ref")
        params, inputs, scratch = window_ops.conv_args(layer, x)
        status, got = machine.kernel(name, params, inputs, layer.out_size(),
                                     scratch=scratch if not depthwise else None)
        assert status == 0 and np.array_equal(got, want), (machine.cpu.name, name, g)


def test_conv_pair_path_matches_the_host(machine, host):
    """conv_s8.c's two-pixel path (arm-dsp; the other cores' fully connected path on the same
    layers): 1x1 in place and staged patches, every K % 4, partial blocks, odd pixel counts,
    buffers at every alignment."""
    for k, (layer, x) in enumerate(window_ops.pair_conv_layers(np.random.default_rng(41), 48)):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_conv_pair_rows_match_the_host(machine, host):
    """conv_s8.c's call for every full block of a pixel pair (arm-dsp, K % 4 == 0): several
    blocks, every K / 4 mod 8, clamped and full-range outputs, buffers at every alignment."""
    layers = window_ops.pair_rows_conv_layers(np.random.default_rng(47), 48)
    assert any(layer.params["act_min"] != -128 or layer.params["act_max"] != 127 for layer, _ in layers)
    assert {layer.params["filter_h"] * layer.params["filter_w"] * layer.params["in_c"] // 4 % 8
            for layer, _ in layers} == set(range(8))
    for k, (layer, x) in enumerate(layers):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_conv_k8_rows_match_the_host(machine, host):
    """conv_s8.c's K = 8 records (arm-dsp, k8_pair): 1x1, 1x2 and 2x1 filters, 8 to 23 rows
    (past 16 through pair_rows), clamped and full-range outputs, buffers at every alignment."""
    layers = window_ops.k8_conv_layers(np.random.default_rng(59), 36)
    assert any(layer.params["act_min"] == -128 and layer.params["act_max"] == 127 for layer, _ in layers)
    assert any(layer.params["act_min"] != -128 or layer.params["act_max"] != 127 for layer, _ in layers)
    for k, (layer, x) in enumerate(layers):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_conv_wide_staging_matches_the_host(machine, host):
    """conv_s8.c's patches widened straight into the int16 groups (arm-dsp, filter_w in_c % 4 ==
    0): padded rows and columns, groups partly inside the input, buffers at every alignment."""
    for k, (layer, x) in enumerate(window_ops.wide_stage_conv_layers(np.random.default_rng(53), 40)):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_conv_small_k_restaged_matches_the_host(machine, host):
    """conv_s8.c's small K % 4 != 0 layers (arm-dsp: weights restaged with a zero tail for
    pair_rows, patches staged contiguous; RGB 3x3 first layers among them): in_c 1 to 7, filters
    1x3 to 3x3, strides 1 and 2, SAME and VALID, out_c on and off a block of 8, the usual
    requantization and the rest, buffers at every alignment."""
    rng = np.random.default_rng(57)
    k = 0
    while k < 36:
        fh, fw, c = int(rng.integers(1, 4)), int(rng.integers(2, 4)), int(rng.integers(1, 8))
        if fh * fw * c % 4 == 0:
            continue
        layer, _ = window_ops.random_conv(rng, False)
        stride = int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(fh, 9)), int(rng.integers(fw, 9))
        same = bool(rng.integers(2))
        oh, pt = window_ops.window(rng, in_h, fh, stride, same)
        ow, pl = window_ops.window(rng, in_w, fw, stride, same)
        out_c = int(rng.choice([8, 11, 16, 19, 24]))
        layer.params.update(in_h=in_h, in_w=in_w, in_c=c, out_h=oh, out_w=ow, out_c=out_c, filter_h=fh, filter_w=fw,
                            stride_h=stride, stride_w=stride, pad_top=pt, pad_left=pl, n_channels=out_c)
        usual = k % 4 != 3
        if usual:
            layer.params.update(rounding=0)
        layer.weights = rng.integers(-128, 128, size=(out_c, fh * fw * c)).astype(np.int8)
        layer.bias = rng.integers(-5000, 5000, size=out_c).astype(np.int32)
        layer.mult = rng.integers(1 << 30, (1 << 31) - 1, size=out_c).astype(np.int32)
        layer.shift = rng.integers(-9, -5, size=out_c).astype(np.int8) if usual else \
            rng.integers(-3, 1, size=out_c).astype(np.int8)
        x = rng.integers(-128, 128, size=(in_h, in_w, c)).astype(np.int8)
        _conv_matches_the_host(machine, host, k, layer, x)
        k += 1


def test_conv_dead_rows_match_the_host(machine, host):
    """conv_s8.c's rows of all-zero weights (a constant each, row pairs skipped on arm-dsp),
    beside live rows in and outside the requantization shortcut."""
    for k, (layer, x) in enumerate(window_ops.dead_row_conv_layers(np.random.default_rng(43), 60)):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_conv_k8_pairs_match_the_host(machine, host):
    """conv_s8.c's K = 8 records walked by both pixels of a pair (k8_pair8, k8_pair16) and a
    1x1 stride-1 layer's every pair in one call (k8_run16), on arm-dsp."""
    for k, (layer, x) in enumerate(window_ops.k8_pair_conv_layers(np.random.default_rng(67), 48)):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_conv_rgb_first_layers_match_the_host(machine, host):
    """3x3 convolutions on 3 channels: pixel pairs inside the input staged by stage_rgb (arm-dsp),
    the others through patch_bytes, buffers at every alignment."""
    for k, (layer, x) in enumerate(window_ops.rgb_conv_layers(np.random.default_rng(71), 40)):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_live_row_convolutions_match_the_host(machine, host):
    """conv_s8.c's live rows in pairs (live_rows on arm-dsp) over the dead rows' constants: any
    number of live rows from none to all but one, K from 4 to 384, up to 256 rows."""
    for k, (layer, x) in enumerate(window_ops.live_row_conv_layers(np.random.default_rng(61), 50)):
        _conv_matches_the_host(machine, host, k, layer, x)


def test_depthwise_3x3_paths_match_the_host(machine, host):
    """dwconv_s8.c's 3x3 paths (interior runs and edge columns in assembly on arm-dsp, the
    requantization shortcut and its fallback), buffers at every alignment."""
    for k, (layer, x) in enumerate(window_ops.depthwise_3x3_layers(np.random.default_rng(33), 48)):
        _dwconv_matches_the_host(machine, host, k, layer, x)


def test_depthwise_3x3_row_pairs_match_the_host(machine, host):
    """Stride 1 on inputs up to 14 rows: the middle rows two at a time (pair3_dsp on arm-dsp),
    segment by segment, an odd row after them through row3_dsp."""
    for k, (layer, x) in enumerate(window_ops.depthwise_3x3_layers(np.random.default_rng(35), 40, max_h=14,
                                                                    max_stride=1)):
        _dwconv_matches_the_host(machine, host, k, layer, x)


def test_depthwise_3x3_stride2_row_pairs_match_the_host(machine, host):
    """Stride 2 on inputs up to 16 rows and 14 columns: two output rows per pass sharing an input
    row (pair3s2_dsp on arm-dsp), an odd row after them through row3_dsp."""
    for k, (layer, x) in enumerate(window_ops.depthwise_3x3_layers(np.random.default_rng(37), 40, max_h=16,
                                                                    max_stride=2, min_stride=2, max_w=14)):
        _dwconv_matches_the_host(machine, host, k, layer, x)


def test_depthwise_small_outputs_match_the_host(machine, host):
    """Depthwise 3x3 layers of at most 40 output pixels (VWW's 6x6 and 3x3 ones; dw_small on
    arm-dsp: the groups of 4 channels innermost, windows of 1 to 3 rows and columns), buffers at
    every alignment."""
    for k, (layer, x) in enumerate(window_ops.depthwise_small_layers(np.random.default_rng(51), 60)):
        _dwconv_matches_the_host(machine, host, k, layer, x)


def test_pools_add_softmax_match_the_host(machine, host):
    rng = np.random.default_rng(91)
    for k in range(40):
        params, x = window_ops.random_pool(rng)
        for kind in ("avg", "max"):
            _, want = window_ops.run_pool(host, params, x, kind)
            status, got = machine.kernel(f"tml_{kind}pool_s8", tuple(params[f] for f in window_ops.POOL_FIELDS), [x],
                                         len(want), misalign=k % 4)
            assert status == 0 and np.array_equal(got, want), (machine.cpu.name, kind, k, params)
        params, a, b = window_ops.random_add(rng)
        _, want = window_ops.run_add(host, params, a, b)
        status, got = machine.kernel("tml_add_s8", tuple(params[f] for f in window_ops.ADD_FIELDS), [a, b], len(want),
                                     misalign=k % 4)
        assert status == 0 and np.array_equal(got, want), (machine.cpu.name, "add", k, params)
        params, x = window_ops.random_softmax(rng)
        _, want = window_ops.run_softmax(host, params, x)
        status, got = machine.kernel("tml_softmax_s8", tuple(params[f] for f in window_ops.SOFTMAX_FIELDS), [x],
                                     len(want), misalign=k % 4)
        assert status == 0 and np.array_equal(got, want), (machine.cpu.name, "softmax", k, params)


def test_depthwise_column_filters_match_the_host(machine, host):
    """dwconv_s8.c's Nx1 filters on one-column inputs (StrWW's; 1xN rows on arm-dsp), buffers at
    every alignment."""
    for k, (layer, x) in enumerate(window_ops.depthwise_column_layers(np.random.default_rng(35), 60)):
        _dwconv_matches_the_host(machine, host, k, layer, x)


def test_pools_of_large_windows_match_the_host(machine, host):
    """pool_s8.c's channel groups on windows of 125 to 300 taps (arm-dsp sums halfword pairs up
    to 255 taps), whole-window and SAME-padded, inputs random and at both int8 edges."""
    rng = np.random.default_rng(92)
    shapes = [(25, 5, 8, 25, 5), (15, 17, 5, 15, 17), (16, 16, 4, 16, 16), (20, 15, 9, 20, 15), (17, 16, 6, 9, 9)]
    for k, (h, w, c, fh, fw) in enumerate(shapes):
        oh, pt = window_ops.window(rng, h, fh, 1, fh != h)
        ow, pl = window_ops.window(rng, w, fw, 1, fw != w)
        params = dict(in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow, filter_h=fh, filter_w=fw, stride_h=1,
                      stride_w=1, pad_top=pt, pad_left=pl, act_min=-128, act_max=127)
        for x in (rng.integers(-128, 128, size=(h, w, c)).astype(np.int8), np.full((h, w, c), -128, np.int8),
                  np.full((h, w, c), 127, np.int8)):
            for kind in ("avg", "max"):
                _, want = window_ops.run_pool(host, params, x, kind)
                status, got = machine.kernel(f"tml_{kind}pool_s8", tuple(params[f] for f in window_ops.POOL_FIELDS),
                                             [x], len(want), misalign=k % 4)
                assert status == 0 and np.array_equal(got, want), (machine.cpu.name, kind, k, params)


def test_add_fast_path_on_every_int8_pair(machine):
    """add_s8.c's TFLite Micro path on the core (SMMULR on arm-dsp) against TFLite's arithmetic
    on all 65,536 input pairs, for a few random scale sets."""
    rng = np.random.default_rng(13)
    a, b = window_ops.every_int8_pair()
    for k in range(6):
        params = window_ops.add_params_tflm(rng)
        status, got = machine.kernel("tml_add_s8", tuple(params[f] for f in window_ops.ADD_FIELDS), [a, b], a.size,
                                     misalign=k)
        assert status == 0 and np.array_equal(got, window_ops.tflm_add(params, a, b)), (machine.cpu.name, params)


def test_add_linear_input_table_on_every_int8_pair(machine):
    """add_s8.c's table path (arm-dsp: one input rescaled by exactly one half, as TFLite gives the
    input of the larger scale; the other by a table of its rounding error) against TFLite's
    arithmetic on all 65,536 input pairs (one fewer for an odd count), the linear input first or
    second, at every alignment."""
    rng = np.random.default_rng(17)
    a, b = window_ops.every_int8_pair()
    for k in range(12):
        params, _, _ = window_ops.random_add(rng)
        n = a.size - (k % 2)
        params.update(size=n, rounding=0, act_min=-128, act_max=127)
        status, got = machine.kernel("tml_add_s8", tuple(params[f] for f in window_ops.ADD_FIELDS), [a[:n], b[:n]],
                                     n, misalign=k % 4)
        assert status == 0 and np.array_equal(got, window_ops.tflm_add(params, a[:n], b[:n])), (machine.cpu.name,
                                                                                              params)


def test_conv_variant_is_the_cores_own(machine):
    assert machine.variant() == machine.cpu.variant
