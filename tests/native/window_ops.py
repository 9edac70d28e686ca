"""The convolution-family kernels of native/core through ctypes: params structs, calls with
exactly sized buffers (ASan sees any overrun), and random layers to compare paths on.

Run as a script (`python window_ops.py LIB COUNT SEED`) it compares each optimized kernel with
its reference on COUNT random layers and exits non-zero on a mismatch: the sanitizer test runs
it in a subprocess with libasan/libubsan preloaded.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

CONV_FIELDS = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "filter_h", "filter_w", "stride_h", "stride_w",
               "pad_top", "pad_left", "input_zp", "n_channels", "act_min", "act_max", "output_zp", "rounding")
POOL_FIELDS = ("in_h", "in_w", "channels", "out_h", "out_w", "filter_h", "filter_w", "stride_h", "stride_w",
               "pad_top", "pad_left", "act_min", "act_max")
ADD_FIELDS = ("size", "left_shift", "input1_offset", "input1_multiplier", "input1_shift", "input2_offset",
              "input2_multiplier", "input2_shift", "output_multiplier", "output_shift", "output_zp", "act_min",
              "act_max", "rounding")
SOFTMAX_FIELDS = ("rows", "depth", "input_multiplier", "input_left_shift", "diff_min")


def _struct(name, fields):
    return type(name, (ctypes.Structure,), {"_fields_": [(f, ctypes.c_int32) for f in fields]})


ConvParams = _struct("ConvParams", CONV_FIELDS)
PoolParams = _struct("PoolParams", POOL_FIELDS)
AddParams = _struct("AddParams", ADD_FIELDS)
SoftmaxParams = _struct("SoftmaxParams", SOFTMAX_FIELDS)

P = ctypes.c_void_p


def load(lib: Path):
    dll = ctypes.CDLL(str(lib))
    for name, n in (("tml_conv_s8", 8), ("tml_conv_s8_ref", 7), ("tml_dwconv_s8", 7), ("tml_dwconv_s8_ref", 7),
                    ("tml_avgpool_s8", 3), ("tml_maxpool_s8", 3), ("tml_add_s8", 4), ("tml_softmax_s8", 3),
                    ("tml_conv_check", 3), ("tml_dwconv_check", 3), ("tml_pool_check", 1), ("tml_add_check", 1),
                    ("tml_softmax_check", 1), ("tml_conv_scratch_bytes", 1), ("tml_conv_input_bytes", 1),
                    ("tml_conv_output_bytes", 1)):
        fn = getattr(dll, name)
        fn.restype = ctypes.c_int32
        fn.argtypes = [P] * n
    return dll


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(P) if a.size else None


class Conv:
    """One CONV_2D or DEPTHWISE_CONV_2D layer as the kernels take it. weights: conv [out_c, K]
    row-major (OHWI, interleaved on the way in), depthwise [filter_h, filter_w, C]."""

    def __init__(self, params: dict, weights, bias, mult, shift, depthwise: bool):
        self.params = dict(params)
        self.weights = np.asarray(weights, np.int8)
        self.bias = np.asarray(bias, np.int32)
        self.mult = np.asarray(mult, np.int32)
        self.shift = np.asarray(shift, np.int8)
        self.depthwise = depthwise

    def struct(self):
        return ConvParams(*(int(self.params[f]) for f in CONV_FIELDS))

    def weight_bytes(self) -> np.ndarray:
        if self.depthwise:
            return np.ascontiguousarray(self.weights).reshape(-1).copy()
        from tinyml_host.tmdl import interleave

        return np.frombuffer(interleave(self.weights), np.int8).copy()

    def out_size(self) -> int:
        p = self.params
        return p["out_h"] * p["out_w"] * p["out_c"]


def run_conv(dll, layer: Conv, x: np.ndarray, kernel: str) -> tuple[int, np.ndarray]:
    """kernel: "tml_conv_s8", "tml_conv_s8_ref", "tml_dwconv_s8" or "tml_dwconv_s8_ref"; every
    buffer exactly sized, scratch as tml_conv_scratch_bytes says."""
    p = layer.struct()
    w, bias = layer.weight_bytes(), layer.bias.copy()
    mult, shift = layer.mult.copy(), layer.shift.copy()
    xb = np.ascontiguousarray(x, np.int8).reshape(-1).copy()
    out = np.zeros(layer.out_size(), np.int8)
    args = [ctypes.byref(p), _ptr(xb), _ptr(w), _ptr(bias), _ptr(mult), _ptr(shift), _ptr(out)]
    if kernel == "tml_conv_s8":
        scratch = np.zeros(dll.tml_conv_scratch_bytes(ctypes.byref(p)), np.int8)
        args.append(_ptr(scratch))
    status = getattr(dll, kernel)(*args)
    return status, out


def run_pool(dll, params: dict, x: np.ndarray, kind: str) -> tuple[int, np.ndarray]:
    p = PoolParams(*(int(params[f]) for f in POOL_FIELDS))
    xb = np.ascontiguousarray(x, np.int8).reshape(-1).copy()
    out = np.zeros(params["out_h"] * params["out_w"] * params["channels"], np.int8)
    status = getattr(dll, f"tml_{kind}pool_s8")(ctypes.byref(p), _ptr(xb), _ptr(out))
    return status, out


def run_add(dll, params: dict, x1: np.ndarray, x2: np.ndarray) -> tuple[int, np.ndarray]:
    p = AddParams(*(int(params[f]) for f in ADD_FIELDS))
    a = np.ascontiguousarray(x1, np.int8).reshape(-1).copy()
    b = np.ascontiguousarray(x2, np.int8).reshape(-1).copy()
    out = np.zeros(params["size"], np.int8)
    status = dll.tml_add_s8(ctypes.byref(p), _ptr(a), _ptr(b), _ptr(out))
    return status, out


def run_softmax(dll, params: dict, x: np.ndarray) -> tuple[int, np.ndarray]:
    p = SoftmaxParams(*(int(params[f]) for f in SOFTMAX_FIELDS))
    xb = np.ascontiguousarray(x, np.int8).reshape(-1).copy()
    out = np.zeros(params["rows"] * params["depth"], np.int8)
    status = dll.tml_softmax_s8(ctypes.byref(p), _ptr(xb), _ptr(out))
    return status, out


# ---- random layers ----

def window(rng, in_size: int, filter_size: int, stride: int, same: bool) -> tuple[int, int]:
    """TFLite's output size and leading padding for one dimension (ComputePaddingHeightWidth)."""
    if same:
        out = (in_size + stride - 1) // stride
        return out, max((out - 1) * stride + filter_size - in_size, 0) // 2
    return (in_size - filter_size) // stride + 1, 0


def random_geometry(rng, max_hw: int = 12, max_c: int = 20, max_filter: int = 5) -> dict:
    """Odd sizes, filters up to 5 (and 10x4-like), strides 1-3, SAME or VALID."""
    while True:
        fh, fw = int(rng.integers(1, max_filter + 1)), int(rng.integers(1, max_filter + 1))
        if rng.random() < 0.1:
            fh, fw = 10, 4
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        in_h, in_w = int(rng.integers(1, max_hw + 1)), int(rng.integers(1, max_hw + 1))
        same = bool(rng.integers(2))
        if not same and (in_h < fh or in_w < fw):
            continue
        out_h, pad_top = window(rng, in_h, fh, sh, same)
        out_w, pad_left = window(rng, in_w, fw, sw, same)
        return dict(in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, filter_h=fh, filter_w=fw, stride_h=sh,
                    stride_w=sw, pad_top=pad_top, pad_left=pad_left, in_c=int(rng.integers(1, max_c + 1)))


def _quant(rng, n: int, saturate: bool):
    from tinyml_host.reference import quantize_multiplier

    scales = np.exp(rng.uniform(np.log(1e-7), np.log(4.0 if saturate else 0.05), n))
    q = [quantize_multiplier(float(s), single_rounding=bool(rng.integers(2))) for s in scales]
    return (np.array([m for m, _ in q], np.int32), np.clip([s for _, s in q], -31, 30).astype(np.int8))


def random_conv(rng, depthwise: bool, **geometry_args) -> tuple[Conv, np.ndarray]:
    g = random_geometry(rng, **geometry_args)
    c = g["in_c"]
    out_c = c if depthwise else int(rng.integers(1, 40))
    n_q = out_c if rng.integers(2) else 1
    mult, shift = _quant(rng, n_q, saturate=rng.random() < 0.1)
    zp = int(rng.integers(-128, 128))
    act = sorted(int(v) for v in rng.integers(-128, 128, 2)) if rng.random() < 0.3 else (-128, 127)
    params = dict(g, out_c=out_c, input_zp=zp, n_channels=n_q, act_min=act[0], act_max=act[1],
                  output_zp=int(rng.integers(-128, 128)), rounding=int(rng.integers(2)))
    edges = rng.random() < 0.2  # saturating weights and inputs at the int8 edges
    draw = (lambda shape: rng.choice(np.array([-128, 127], np.int8), size=shape)) if edges else \
        (lambda shape: rng.integers(-128, 128, size=shape).astype(np.int8))
    shape = (g["filter_h"], g["filter_w"], c) if depthwise else (out_c, g["filter_h"] * g["filter_w"] * c)
    span = int(rng.choice([1 << 10, 1 << 20, 1 << 31]))
    bias = np.clip(rng.integers(-span, span, size=out_c, dtype=np.int64), -(1 << 31), (1 << 31) - 1)
    return Conv(params, draw(shape), bias, mult, shift, depthwise), draw((g["in_h"], g["in_w"], c))


def pair_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """CONV_2D layers conv_s8.c's two-pixel path takes on arm-dsp (TFLite Micro rounding, shifts
    <= -1, |bias| well below 2^30): 1x1 filters (in place, in_c % 4 of 0 to 3), K % 4 of 0 to
    3, out_c around a block of 8, odd and even pixel counts, per-tensor and per-channel, the
    int8 edges, and now and then a bias at the edge of the path's bound."""
    layers = []
    while len(layers) < n:
        layer, x = random_conv(rng, False, max_hw=7, max_c=13)
        p = layer.params
        if len(layers) % 3 == 0:
            kh, kw = 1, 1
            out_h, pt = window(rng, p["in_h"], 1, p["stride_h"], True)
            out_w, pl = window(rng, p["in_w"], 1, p["stride_w"], True)
            p.update(filter_h=1, filter_w=1, out_h=out_h, out_w=out_w, pad_top=pt, pad_left=pl)
            layer.weights = rng.integers(-128, 128, size=(p["out_c"], p["in_c"])).astype(np.int8)
        k = p["filter_h"] * p["filter_w"] * p["in_c"]
        p["rounding"] = 0
        layer.shift = np.minimum(layer.shift, -1).astype(np.int8)
        room = (1 << 30) - k * 16384
        span = int(rng.choice([1 << 10, 1 << 20, room]))
        layer.bias = rng.integers(-span + 1, span, size=p["out_c"]).astype(np.int32)
        layers.append((layer, x))
    return layers


def pair_rows_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """pair_conv_layers' layers with K % 4 == 0 and at least one block of 8 rows: on arm-dsp
    every full block of a pixel pair in one call (pair_rows): 1 to 5 blocks, K / 4 of every
    residue mod 8 (its MAC loop takes 8 groups per turn), the clamp and the full int8 range, odd pixel counts, per-tensor and
    per-channel."""
    layers = []
    while len(layers) < n:
        for layer, x in pair_conv_layers(rng, 1):
            p = layer.params
            k = p["filter_h"] * p["filter_w"] * p["in_c"]
            if len(layers) % 4 == 0 and p["filter_h"] == 1 and p["filter_w"] == 1:  # K / 4 of 4 to 16
                p["in_c"] = k = 4 * int(rng.integers(4, 17))
                layer.weights = rng.integers(-128, 128, size=(p["out_c"], k)).astype(np.int8)
                x = rng.integers(-128, 128, size=(p["in_h"], p["in_w"], k)).astype(np.int8)
                layer.bias = np.clip(layer.bias, -(1 << 29), 1 << 29).astype(np.int32)
            if k % 4 or p["out_c"] < 8:
                continue
            if len(layers) % 2 and p["out_c"] < 24:  # more blocks: rows copied with fresh biases
                reps = int(rng.integers(2, 5))
                p["out_c"] *= reps
                layer.weights = np.tile(layer.weights, (reps, 1))
                layer.weights[p["out_c"] // 2:] = rng.integers(-128, 128, size=layer.weights[p["out_c"] // 2:].shape)
                layer.bias = np.tile(layer.bias, reps)
                if p["n_channels"] != 1:
                    p["n_channels"] = p["out_c"]
                    layer.mult, layer.shift = np.tile(layer.mult, reps), np.tile(layer.shift, reps)
            layers.append((layer, x))
    return layers


def k8_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """pair_conv_layers' layers reshaped to K = 8 (1x1 on 8 channels, 1x2 and 2x1 on 4) with 8
    to 23 rows: on arm-dsp conv_s8.c stages each row of up to 16 as one record (k8_pair), rows
    past 16 go through pair_rows; the clamp and the full int8 range, odd pixel counts,
    per-tensor and per-channel."""
    layers = []
    while len(layers) < n:
        for layer, x in pair_conv_layers(rng, 1):
            p = layer.params
            fh, fw, c = [(1, 1, 8), (1, 2, 4), (2, 1, 4)][len(layers) % 3]
            out_c = int(rng.integers(8, 24))
            out_h, pt = window(rng, p["in_h"], fh, p["stride_h"], bool(len(layers) % 2))
            out_w, pl = window(rng, p["in_w"], fw, p["stride_w"], bool(len(layers) % 2))
            if out_h < 1 or out_w < 1:
                continue
            p.update(filter_h=fh, filter_w=fw, in_c=c, out_c=out_c, out_h=out_h, out_w=out_w, pad_top=pt,
                     pad_left=pl)
            if p["n_channels"] != 1:
                p["n_channels"] = out_c
                layer.mult = rng.integers(1 << 30, (1 << 31) - 1, size=out_c).astype(np.int32)
                layer.shift = rng.integers(-12, 0, size=out_c).astype(np.int8)
            if len(layers) % 2:
                p["act_min"], p["act_max"] = -128, 127
            layer.weights = rng.integers(-128, 128, size=(out_c, 8)).astype(np.int8)
            layer.bias = rng.integers(-(1 << 20), 1 << 20, size=out_c).astype(np.int32)
            x = rng.integers(-128, 128, size=(p["in_h"], p["in_w"], c)).astype(np.int8)
            layers.append((layer, x))
    return layers


def wide_stage_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """CONV_2D layers whose filter rows are whole groups of 4 inputs (filter_w in_c % 4 == 0:
    conv_s8.c widens their patches straight into the int16 groups on arm-dsp), SAME padding on
    every side now and then wider than the filter's reach into a group, with scales large enough
    (about 1 / (64 sqrt K)) that one padded input's error shows in the outputs."""
    from tinyml_host.reference import quantize_multiplier

    layers = []
    while len(layers) < n:
        layer, x = random_conv(rng, False, max_hw=8, max_c=13)
        p = layer.params
        if p["filter_h"] * p["filter_w"] == 1 or p["filter_w"] * p["in_c"] % 4 or (p["pad_top"] + p["pad_left"]) == 0:
            continue
        k = p["filter_h"] * p["filter_w"] * p["in_c"]
        n_q = p["n_channels"]
        q = [quantize_multiplier(float(s)) for s in rng.uniform(0.5, 2.0, n_q) / (64.0 * np.sqrt(k))]
        layer.mult = np.array([m for m, _ in q], np.int32)
        layer.shift = np.array([s for _, s in q], np.int8)
        p["rounding"] = 0
        p["act_min"], p["act_max"] = -128, 127
        layer.bias = rng.integers(-3000, 3000, size=p["out_c"]).astype(np.int32)
        layer.weights = rng.integers(-127, 128, size=layer.weights.shape).astype(np.int8)
        x = rng.integers(-128, 128, size=x.shape).astype(np.int8)
        layers.append((layer, x))
    return layers


def dead_row_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """CONV_2D layers with rows of all-zero weights, as converters leave dead channels (VWW's
    pointwise layers: a bias of about 2^30, shifts of -25 to -31, now and then a shift of 0):
    conv_s8.c stores their constant and skips a row pair whose rows are both dead. Single dead
    rows, dead pairs, whole dead blocks and dead rows past the last block; any rounding; the
    live rows now and then outside the path's requantization shortcut."""
    layers = []
    while len(layers) < n:
        layer, x = random_conv(rng, False, max_hw=6, max_c=13)
        p = layer.params
        out_c = int(rng.integers(8, 41))
        k = p["filter_h"] * p["filter_w"] * p["in_c"]
        p["out_c"] = out_c
        if p["n_channels"] != 1:
            p["n_channels"] = out_c
        layer.mult, layer.shift = _quant(rng, p["n_channels"], saturate=False)
        if rng.random() < 0.7:
            p["rounding"] = 0
            layer.shift = np.minimum(layer.shift, -1).astype(np.int8)
        layer.weights = rng.integers(-128, 128, size=(out_c, k)).astype(np.int8)
        layer.bias = rng.integers(-(1 << 20), 1 << 20, size=out_c).astype(np.int64)
        pattern = rng.random()
        if pattern < 0.3:
            dead = rng.random(out_c) < 0.5
        elif pattern < 0.6:
            dead = np.repeat(rng.random((out_c + 1) // 2) < 0.6, 2)[:out_c]
        else:
            dead = np.repeat(rng.random((out_c + 7) // 8) < 0.5, 8)[:out_c] | (rng.random(out_c) < 0.2)
        layer.weights[dead] = 0
        big = rng.choice(np.array([1 << 30, -(1 << 30), (1 << 30) + 128, -(1 << 30) - 64, 5000], np.int64), dead.sum())
        layer.bias[dead] = big
        layer.bias = layer.bias.astype(np.int32)
        if p["n_channels"] != 1:
            layer.shift = layer.shift.copy()
            layer.shift[dead] = rng.choice(np.array([-31, -28, -25, 0], np.int8), dead.sum())
        layers.append((layer, x))
    return layers


def live_row_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """CONV_2D layers with dead rows taken by conv_s8.c's live_rows on arm-dsp (K % 4 = 0, out_c
    a multiple of 8 up to 256, a scale per channel, TFLite Micro rounding): the live rows paired
    across blocks, an odd number of them (the last one twice), none, one, all but one; K from 4
    to 384 (every nq % 8), 1x1 and 3x3 filters, an odd number of pixels (a lone last one), the
    whole int8 range or a clamp. Now and then a live row outside requant_fast (a shift of 0, a
    bias near 2^30), which sends the layer back to pair_block_any."""
    layers = []
    while len(layers) < n:
        one = rng.random() < 0.7
        in_c = 4 * int(rng.integers(1, 97 if one else 4))
        fh = fw = 1 if one else 3
        stride = int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(fh, 6)), int(rng.integers(fw, 6))
        same = bool(rng.integers(2))
        out_h, pad_top = window(rng, in_h, fh, stride, same)
        out_w, pad_left = window(rng, in_w, fw, stride, same)
        out_c = 8 * int(rng.integers(1, 33)) if rng.random() < 0.8 else 256
        k = fh * fw * in_c
        zp_out = int(rng.integers(-128, 128))
        act = (-128, 127) if rng.integers(2) else (max(zp_out, -128), min(zp_out + 100, 127))
        params = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, filter_h=fh,
                      filter_w=fw, stride_h=stride, stride_w=stride, pad_top=pad_top, pad_left=pad_left,
                      input_zp=int(rng.integers(-128, 128)), n_channels=out_c, act_min=act[0], act_max=act[1],
                      output_zp=zp_out, rounding=0)
        mult, shift = _quant(rng, out_c, saturate=False)
        shift = np.minimum(shift, -1).astype(np.int8)
        weights = rng.integers(-128, 128, size=(out_c, k)).astype(np.int8)
        bias = rng.integers(-(1 << 20), 1 << 20, size=out_c).astype(np.int64)
        pattern = rng.random()
        if pattern < 0.1:
            dead = np.ones(out_c, bool)
        elif pattern < 0.2:
            dead = np.ones(out_c, bool)
            dead[rng.integers(out_c)] = False
        elif pattern < 0.3:
            dead = np.zeros(out_c, bool)
            dead[rng.integers(out_c)] = True
        else:
            dead = rng.random(out_c) < rng.uniform(0.2, 0.95)
        weights[dead] = 0
        bias[dead] = rng.choice(np.array([1 << 30, -(1 << 30), (1 << 30) + 128, 5000], np.int64), dead.sum())
        shift[dead] = rng.choice(np.array([-31, -28, -25, 0], np.int8), dead.sum())
        if rng.random() < 0.1 and (~dead).any():  # a live row outside requant_fast
            r = int(rng.choice(np.flatnonzero(~dead)))
            if rng.integers(2):
                shift[r] = 0
            else:
                bias[r] = (1 << 30) - 1000
        layer = Conv(params, weights, bias.astype(np.int32), mult, shift, False)
        x = rng.integers(-128, 128, size=(in_h, in_w, in_c)).astype(np.int8)
        layers.append((layer, x))
    return layers


def _scales_and_draw(rng, n_q: int):
    """(mult, shift, draw) of k8_pair_conv_layers and rgb_conv_layers: n_q multipliers of at
    least 2^30 and shifts -20..-1, and draw(shape): int8 values, a quarter of the time only the
    int8 edges (-128 and 127)."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n_q).astype(np.int32)
    shift = rng.integers(-20, 0, size=n_q).astype(np.int8)
    edges = rng.random() < 0.25
    draw = (lambda shape: rng.choice(np.array([-128, 127], np.int8), size=shape)) if edges else \
        (lambda shape: rng.integers(-128, 128, size=shape).astype(np.int8))
    return mult, shift, draw


def k8_pair_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """K = 8 layers of 8 or 16 rows over the whole int8 range (conv_s8.c's k8_pair8/k8_pair16 on
    arm-dsp, both pixels of a pair per record; k8_run16 for a 1x1 stride-1 layer on 8 channels
    with 16 rows, every pair in one call): odd and even pixel counts (a lone last pixel), 1x1 at
    strides 1 and 2 and 1x2 on 4 channels, per-tensor and per-channel scales, biases up to
    requant_fast's limit, inputs and weights at the int8 edges; now and then 12 rows or a clamp
    (the C records)."""
    layers = []
    while len(layers) < n:
        fh, fw, c = [(1, 1, 8), (1, 1, 8), (1, 2, 4)][len(layers) % 3]
        stride = 1 if len(layers) % 3 == 0 else int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(1, 8)), int(rng.integers(fw, 9))
        out_h, pt = window(rng, in_h, fh, stride, False)
        out_w, pl = window(rng, in_w, fw, stride, False)
        out_c = int(rng.choice([16, 16, 8, 12]))
        n_q = out_c if rng.integers(2) else 1
        zp_out = int(rng.integers(-128, 128))
        act = (-128, 127) if rng.random() < 0.85 else (max(zp_out, -128), min(zp_out + 100, 127))
        params = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, out_c=out_c, filter_h=fh,
                      filter_w=fw, stride_h=stride, stride_w=stride, pad_top=pt, pad_left=pl,
                      input_zp=int(rng.integers(-128, 128)), n_channels=n_q, act_min=act[0], act_max=act[1],
                      output_zp=zp_out, rounding=0)
        mult, shift, draw = _scales_and_draw(rng, n_q)
        span = (1 << 20) if rng.random() < 0.7 else (1 << 30) - 8 * 16384 - 1
        bias = rng.integers(-span, span + 1, size=out_c).astype(np.int32)
        layer = Conv(params, draw((out_c, 8)), bias, mult, shift, False)
        layers.append((layer, draw((in_h, in_w, c))))
    return layers


def rgb_conv_layers(rng, n: int) -> list[tuple[Conv, np.ndarray]]:
    """3x3 convolutions on 3 channels (an RGB image's first layer, K = 27: conv_s8.c's stage_rgb
    on arm-dsp stages both pixels of a pair whose windows are inside the input, the others
    through patch_bytes): strides 1 and 2, SAME and VALID, odd widths (pairs across rows), 8 or
    16 rows, inputs and weights at the int8 edges, per-tensor and per-channel scales."""
    layers = []
    while len(layers) < n:
        stride = int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(3, 12)), int(rng.integers(3, 12))
        same = bool(rng.integers(2))
        out_h, pt = window(rng, in_h, 3, stride, same)
        out_w, pl = window(rng, in_w, 3, stride, same)
        out_c = int(rng.choice([8, 16]))
        n_q = out_c if rng.integers(2) else 1
        zp_out = int(rng.integers(-128, 128))
        act = (-128, 127) if rng.integers(2) else (max(zp_out, -128), min(zp_out + 100, 127))
        params = dict(in_h=in_h, in_w=in_w, in_c=3, out_h=out_h, out_w=out_w, out_c=out_c, filter_h=3, filter_w=3,
                      stride_h=stride, stride_w=stride, pad_top=pt, pad_left=pl,
                      input_zp=int(rng.integers(-128, 128)), n_channels=n_q, act_min=act[0], act_max=act[1],
                      output_zp=zp_out, rounding=0)
        mult, shift, draw = _scales_and_draw(rng, n_q)
        bias = rng.integers(-(1 << 20), 1 << 20, size=out_c).astype(np.int32)
        layer = Conv(params, draw((out_c, 27)), bias, mult, shift, False)
        layers.append((layer, draw((in_h, in_w, 3))))
    return layers


def conv_scratch_bytes(filter_h: int, filter_w: int, in_c: int) -> int:
    """tml_conv_scratch_bytes: two patches as int16, K rounded up to 4, and 4 bytes to align them."""
    k = filter_h * filter_w * in_c
    return 4 * ((k + 3) & ~3) + 4


def conv_args(layer: Conv, x: np.ndarray) -> tuple[tuple, list, int]:
    """(params, input buffers, scratch bytes) of a conv or depthwise layer for crossrun's
    Machine.kernel: x, weights, bias and multipliers (int32), shifts."""
    p = layer.params
    scratch = conv_scratch_bytes(p["filter_h"], p["filter_w"], p["in_c"])
    inputs = [np.asarray(x, np.int8).reshape(-1), layer.weight_bytes(), layer.bias, layer.mult, layer.shift]
    return tuple(int(p[f]) for f in CONV_FIELDS), inputs, scratch


def random_pool(rng) -> tuple[dict, np.ndarray]:
    g = random_geometry(rng, max_filter=4)
    act = sorted(int(v) for v in rng.integers(-128, 128, 2)) if rng.random() < 0.3 else (-128, 127)
    params = {f: g[f] for f in POOL_FIELDS if f in g}
    params.update(channels=g["in_c"], act_min=act[0], act_max=act[1])
    return params, rng.integers(-128, 128, size=(g["in_h"], g["in_w"], g["in_c"])).astype(np.int8)


def random_add(rng) -> tuple[dict, np.ndarray, np.ndarray]:
    """Scales as TFLite's prepare derives them from three random tensor scales."""
    from tinyml_host.reference import quantize_multiplier

    s1, s2, so = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), 3))
    twice = 2 * max(s1, s2)
    (m1, e1), (m2, e2), (mo, eo) = (quantize_multiplier(float(v)) for v in (s1 / twice, s2 / twice, twice / ((1 << 20) * so)))
    size = int(rng.integers(1, 300))
    act = sorted(int(v) for v in rng.integers(-128, 128, 2)) if rng.random() < 0.3 else (-128, 127)
    params = dict(size=size, left_shift=20, input1_offset=int(rng.integers(-127, 129)), input1_multiplier=m1,
                  input1_shift=e1, input2_offset=int(rng.integers(-127, 129)), input2_multiplier=m2, input2_shift=e2,
                  output_multiplier=mo, output_shift=max(eo, -31), output_zp=int(rng.integers(-128, 128)),
                  act_min=act[0], act_max=act[1], rounding=int(rng.integers(2)))
    draw = lambda: rng.integers(-128, 128, size=size).astype(np.int8)  # noqa: E731
    return params, draw(), draw()


def tflm_add(params: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite Micro's int8 ADD (reference_ops::AddElementwise, TFLite Micro rounding), element by
    element in int64: what add_s8.c's fast path must equal on every input pair."""
    def srdhm(x, m):
        p = x.astype(np.int64) * m
        nudge = np.where(p >= 0, 1 << 30, 1 - (1 << 30))
        q = p + nudge
        return np.where(q >= 0, q >> 31, -((-q) >> 31))  # C division by 2^31: toward zero

    def rdbpot(x, e):
        mask = (1 << e) - 1
        return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))

    def rescale(x, m, s):
        return rdbpot(srdhm(x, m), -s)

    ls = params["left_shift"]
    x1 = (a.astype(np.int64) + params["input1_offset"]) << ls
    x2 = (b.astype(np.int64) + params["input2_offset"]) << ls
    total = rescale(x1, params["input1_multiplier"], params["input1_shift"]) + \
        rescale(x2, params["input2_multiplier"], params["input2_shift"])
    y = rescale(total, params["output_multiplier"], params["output_shift"]) + params["output_zp"]
    return np.clip(y, params["act_min"], params["act_max"]).astype(np.int8)


def every_int8_pair() -> tuple[np.ndarray, np.ndarray]:
    """All 65,536 (a, b) pairs of int8 values, as two tensors."""
    v = np.arange(-128, 128, dtype=np.int8)
    return np.repeat(v, 256), np.tile(v, 256)


def add_params_tflm(rng) -> dict:
    """random_add's scales, TFLite Micro rounding, every int8 pair, left shifts up to 22 now and then."""
    params, _, _ = random_add(rng)
    params.update(size=65536, rounding=0)
    if rng.random() < 0.3:
        params["left_shift"] = int(rng.integers(0, 23))
    return params


def softmax_params_for(beta: float, input_scale: float, rows: int, depth: int) -> dict:
    """TFLite's PreprocessSoftmaxScaling (5 integer bits) and CalculateInputRadius."""
    from tinyml_host.reference import quantize_multiplier

    real = min(beta * input_scale * (1 << 26), (1 << 31) - 1.0)
    mult, left = quantize_multiplier(real)
    radius = int(np.floor(31 * (1 << 26) / (1 << left)))
    return dict(rows=rows, depth=depth, input_multiplier=mult, input_left_shift=left, diff_min=-radius)


def random_softmax(rng) -> tuple[dict, np.ndarray]:
    rows, depth = int(rng.integers(1, 5)), int(rng.integers(1, 200))
    params = softmax_params_for(float(rng.uniform(0.5, 2)), float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5)))),
                                rows, depth)
    return params, rng.integers(-128, 128, size=rows * depth).astype(np.int8)


def exercise_elementwise(dll, count: int, seed: int) -> int:
    """Pools, add and softmax on random parameters with exactly sized buffers (for the
    sanitizers): each must accept them; returns the failures."""
    rng = np.random.default_rng(seed)
    bad = 0
    for _ in range(count):
        params, x = random_pool(rng)
        bad += sum(run_pool(dll, params, x, kind)[0] != 0 for kind in ("avg", "max"))
        params, a, b = random_add(rng)
        bad += run_add(dll, params, a, b)[0] != 0
        params, x = random_softmax(rng)
        bad += run_softmax(dll, params, x)[0] != 0
    return int(bad)


def compare_paths(lib: Path, count: int, seed: int) -> int:
    """tml_conv_s8 == tml_conv_s8_ref and tml_dwconv_s8 == tml_dwconv_s8_ref on `count` random
    layers each; returns mismatches."""
    dll = load(lib)
    rng = np.random.default_rng(seed)
    bad = 0
    for k in range(count):
        for depthwise in (False, True):
            layer, x = random_conv(rng, depthwise)
            name = "tml_dwconv_s8" if depthwise else "tml_conv_s8"
            s_ref, want = run_conv(dll, layer, x, name + "_ref")
            s_fast, got = run_conv(dll, layer, x, name)
            if s_ref != 0 or s_fast != 0 or not np.array_equal(got, want):
                bad += 1
                print(f"{k} {name} {layer.params} status {s_ref} {s_fast}: differences at "
                      f"{np.flatnonzero(got != want)[:5]}", file=sys.stderr)
    return bad


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "host"))
    lib, count, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sys.exit(1 if compare_paths(lib, count, seed) or exercise_elementwise(load(lib), count, seed) else 0)


def depthwise_3x3_layers(rng, count: int, max_h: int = 7, max_stride: int = 2, min_stride: int = 1,
                         max_w: int = 8) -> list[tuple[Conv, np.ndarray]]:
    """3x3 depthwise layers (dwconv_s8.c's assembly path on arm-dsp): odd and small sizes (an
    input narrower than the filter included), strides 1 and 2, SAME and VALID (padding on
    every edge), 4 to 13 channels (groups of four and the rest), converter-like scales (shift
    <= -1, small bias: the fast requantization) and others (a bias near 2^31, shifts >= 0),
    the whole int8 range or a ReLU6-like clamp, per-channel or per-tensor. max_h 7 and
    max_stride 2 are the original draws; taller inputs at stride 1 give several row pairs
    (pair3_dsp) and odd rows after them; at stride 2 too (pair3s2_dsp), wider ones beyond
    dw_small's 40 output pixels."""
    from tinyml_host.reference import quantize_multiplier

    layers = []
    while len(layers) < count:
        in_h, in_w = int(rng.integers(1, max_h + 1)), int(rng.integers(1, max_w + 1))
        stride = int(rng.integers(min_stride, max_stride + 1))
        same = bool(rng.integers(2)) or in_h < 3 or in_w < 3
        out_h, pad_top = window(rng, in_h, 3, stride, same)
        out_w, pad_left = window(rng, in_w, 3, stride, same)
        c = int(rng.choice([4, 5, 7, 8, 12, 13]))
        n_q = c if rng.integers(2) else 1
        usual = rng.random() < 0.75
        scales = rng.uniform(0.5, 1.0, n_q) / (16.0 * 9) if usual else np.exp(rng.uniform(np.log(1e-6), np.log(3.0), n_q))
        q = [quantize_multiplier(float(v)) for v in scales]
        zp_out = int(rng.integers(-128, 128))
        act = (-128, 127) if rng.integers(2) else (max(zp_out, -128), min(zp_out + 100, 127))
        params = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, out_c=c, filter_h=3, filter_w=3,
                      stride_h=stride, stride_w=stride, pad_top=pad_top, pad_left=pad_left,
                      input_zp=int(rng.integers(-128, 128)), n_channels=n_q, act_min=act[0], act_max=act[1],
                      output_zp=zp_out, rounding=0 if usual or rng.integers(2) else 1)
        span = 5000 if usual else int(rng.choice([1 << 20, (1 << 30) - 300000, 1 << 31]))
        bias = np.clip(rng.integers(-span, span, size=c, dtype=np.int64), -(1 << 31), (1 << 31) - 1)
        weights = rng.integers(-128, 128, size=(3, 3, c)).astype(np.int8)
        layer = Conv(params, weights, bias, [m for m, _ in q], np.clip([s for _, s in q], -31, 30), True)
        layers.append((layer, rng.integers(-128, 128, size=(in_h, in_w, c)).astype(np.int8)))
    return layers


def depthwise_small_layers(rng, count: int) -> list[tuple[Conv, np.ndarray]]:
    """3x3 depthwise layers of at most 40 output pixels with a scale per channel and shifts <= -1
    (dwconv_s8.c's dw_small on arm-dsp: every group of 4 channels per pixel, windows 1 to 3 rows
    and 1 to 3 columns inside the input): inputs 1 to 13 wide, outputs of exactly 40 and 41
    pixels (the threshold) among them, strides 1 and 2, SAME and VALID, 4 to 70 channels (and
    the last in_c % 4 through dw_channel), biases up to the fast requantization's limit, inputs
    and weights at the int8 edges, input zero points at both ends, the whole int8 range or a
    clamp."""
    from tinyml_host.reference import quantize_multiplier

    layers = []
    while len(layers) < count:
        stride = int(rng.integers(1, 3))
        if rng.random() < 0.2:  # 40 or 41 output pixels (8x5, 5x8, 41x1)
            out_h, out_w = [(8, 5), (5, 8), (41, 1), (1, 40)][int(rng.integers(4))]
            in_h, in_w, same = out_h * stride, out_w * stride, True
        else:
            in_h, in_w = int(rng.integers(1, 8)), int(rng.integers(1, 14))
            if rng.random() < 0.2:  # windows of one column (and one row)
                in_w, in_h = int(rng.integers(1, 3)), int(rng.integers(1, 3)) if rng.random() < 0.5 else in_h
            same = bool(rng.integers(2)) or in_h < 3 or in_w < 3
        out_h, pad_top = window(rng, in_h, 3, stride, same)
        out_w, pad_left = window(rng, in_w, 3, stride, same)
        c = int(rng.choice([4, 5, 8, 11, 16, 32, 70]))
        scales = rng.uniform(0.5, 1.0, c) / (16.0 * 9) * (rng.uniform(0.01, 4.0) if rng.random() < 0.3 else 1.0)
        q = [quantize_multiplier(float(v)) for v in scales]
        zp_out = int(rng.integers(-128, 128))
        act = (-128, 127) if rng.integers(2) else (max(zp_out, -128), min(zp_out + 100, 127))
        zp_in = int(rng.choice([-128, 127])) if rng.random() < 0.3 else int(rng.integers(-128, 128))
        params = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, out_c=c, filter_h=3, filter_w=3,
                      stride_h=stride, stride_w=stride, pad_top=pad_top, pad_left=pad_left,
                      input_zp=zp_in, n_channels=c, act_min=act[0], act_max=act[1],
                      output_zp=zp_out, rounding=0)
        span = 5000 if rng.random() < 0.7 else (1 << 30) - 9 * 32640 - 1
        bias = rng.integers(-span, span + 1, size=c, dtype=np.int64)
        edges = rng.random() < 0.25
        draw = (lambda shape: rng.choice(np.array([-128, 127], np.int8), size=shape)) if edges else \
            (lambda shape: rng.integers(-128, 128, size=shape).astype(np.int8))
        shift = np.array([min(s, -1) for _, s in q])
        layer = Conv(params, draw((3, 3, c)), bias, [m for m, _ in q], np.clip(shift, -31, -1), True)
        layers.append((layer, draw((in_h, in_w, c))))
    return layers


def depthwise_column_layers(rng, count: int) -> list[tuple[Conv, np.ndarray]]:
    """Depthwise layers with an Nx1 filter on a one-column input (StrWW's, which dwconv_s8.c
    takes as 1xN on one row on arm-dsp; the N-tap assembly for N > 3, the 3-tap one for N = 3):
    N 2 to 16, strides 1 to 3, VALID and SAME, 4 to 13 channels, converter-like scales and
    others, per-channel or per-tensor, the whole int8 range or a clamp."""
    from tinyml_host.reference import quantize_multiplier

    layers = []
    while len(layers) < count:
        n = int(rng.integers(2, 17))
        in_h = int(rng.integers(1, 31))
        stride = int(rng.integers(1, 4))
        same = bool(rng.integers(2)) or in_h < n
        out_h, pad_top = window(rng, in_h, n, stride, same)
        c = int(rng.choice([4, 5, 8, 12, 13]))
        n_q = c if rng.integers(2) else 1
        usual = rng.random() < 0.75
        scales = rng.uniform(0.5, 1.0, n_q) / (16.0 * n) if usual else np.exp(rng.uniform(np.log(1e-6), np.log(3.0), n_q))
        q = [quantize_multiplier(float(v)) for v in scales]
        zp_out = int(rng.integers(-128, 128))
        act = (-128, 127) if rng.integers(2) else (max(zp_out, -128), min(zp_out + 100, 127))
        params = dict(in_h=in_h, in_w=1, in_c=c, out_h=out_h, out_w=1, out_c=c, filter_h=n, filter_w=1,
                      stride_h=stride, stride_w=1, pad_top=pad_top, pad_left=0,
                      input_zp=int(rng.integers(-128, 128)), n_channels=n_q, act_min=act[0], act_max=act[1],
                      output_zp=zp_out, rounding=0 if usual or rng.integers(2) else 1)
        span = 5000 if usual else int(rng.choice([1 << 20, (1 << 30) - 300000, 1 << 31]))
        bias = np.clip(rng.integers(-span, span, size=c, dtype=np.int64), -(1 << 31), (1 << 31) - 1)
        weights = rng.integers(-128, 128, size=(n, 1, c)).astype(np.int8)
        layer = Conv(params, weights, bias, [m for m, _ in q], np.clip([s for _, s in q], -31, 30), True)
        layers.append((layer, rng.integers(-128, 128, size=(in_h, 1, c)).astype(np.int8)))
    return layers
