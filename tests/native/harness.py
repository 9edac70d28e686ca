"""Build native/core with host gcc and call it through ctypes; random layers to test it on.

Run as a script (`python harness.py LIB COUNT SEED`) it checks COUNT random layers
against the numpy reference and exits non-zero on the first mismatch: the sanitizer test
runs it in a subprocess with libasan/libubsan preloaded, since they must come first.
"""

from __future__ import annotations

import ctypes
import math
import subprocess
import sys
from pathlib import Path

import numpy as np


def _interleave(weights) -> bytes:
    """Row-major weights in the .tmdl layout, the order the core reads (docs/format.md)."""
    from tinyml_host.tmdl import interleave

    return interleave(weights)

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "native" / "core"
SOURCES = ["requantize.c", "fc_s8_ref.c", "fc_s8.c", "model.c", "check.c", "features.c",
           "conv_check.c", "conv_s8_ref.c", "conv_s8.c", "dwconv_s8.c", "pool_s8.c", "add_s8.c", "softmax_s8.c"]
CC = "gcc"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def build(out_dir: Path, sanitize: bool = False) -> Path:
    lib = Path(out_dir) / ("libtinyml_san.so" if sanitize else "libtinyml.so")
    cmd = [CC, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O2", "-g", "-shared", "-fPIC",
           *(SANITIZE if sanitize else []), "-o", str(lib), *[str(CORE / s) for s in SOURCES]]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return lib


class Params(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in
                ("n_in", "n_out", "n_channels", "act_min", "act_max", "output_zp", "rounding")]


class FcLayer(ctypes.Structure):
    """tml_fc_layer: a layer's params and buffers, one element of a model for tml_model_run."""
    _fields_ = [("p", Params), ("w", ctypes.c_void_p), ("bias", ctypes.c_void_p),
                ("mult", ctypes.c_void_p), ("shift", ctypes.c_void_p)]


def load(lib: Path):
    dll = ctypes.CDLL(str(lib))
    dll.tml_model_check.restype = ctypes.c_int
    dll.tml_model_check.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    dll.tml_model_scratch_bytes.restype = ctypes.c_int32
    dll.tml_model_scratch_bytes.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    dll.tml_model_run.restype = ctypes.c_int
    dll.tml_model_run.argtypes = [ctypes.c_void_p, ctypes.c_int32] + [ctypes.c_void_p] * 3
    for name in ("tml_fc_s8", "tml_fc_s8_ref"):
        fn = getattr(dll, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.POINTER(Params)] + [ctypes.c_void_p] * 6
    dll.tml_fc_check.restype = ctypes.c_int
    dll.tml_fc_check.argtypes = [ctypes.POINTER(Params), ctypes.c_void_p, ctypes.c_void_p]
    dll.tml_requantize.restype = ctypes.c_int32
    dll.tml_requantize.argtypes = [ctypes.c_int32] * 4
    dll.tml_fc_s8_variant.restype = ctypes.c_char_p
    return dll


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def call(fn, layer, x: np.ndarray, rounding: str) -> tuple[int, np.ndarray]:
    """Run one int8 vector through `fn`; each buffer is exactly sized so ASan sees overruns.
    tml_fc_s8 trusts its parameters: give it only layers that pass tml_fc_check."""
    from tinyml_host.tmdl import ROUNDING

    n_out, n_in = layer.weights.shape
    p = Params(n_in, n_out, len(layer.multiplier), layer.act_min, layer.act_max, layer.output_zp,
               ROUNDING[rounding])
    w = np.frombuffer(_interleave(layer.weights), np.int8).copy()  # the file's layout
    bias = np.ascontiguousarray(layer.bias, np.int32).copy()
    mult = np.ascontiguousarray(layer.multiplier, np.int32).copy()
    shift = np.ascontiguousarray(layer.shift, np.int8).copy()
    xb = np.ascontiguousarray(x, np.int8).copy()
    out = np.zeros(n_out, np.int8)
    status = fn(ctypes.byref(p), _ptr(xb), _ptr(w), _ptr(bias), _ptr(mult), _ptr(shift), _ptr(out))
    return status, out


def model_layers(layers, rounding: str):
    """A ctypes array of tml_fc_layer for `layers`, and the numpy arrays it points into (keep
    them alive while it is used)."""
    from tinyml_host.tmdl import ROUNDING

    table = (FcLayer * len(layers))()
    keep = []
    for entry, layer in zip(table, layers):
        n_out, n_in = layer.weights.shape
        arrays = [np.frombuffer(_interleave(layer.weights), np.int8).copy(), np.ascontiguousarray(layer.bias, np.int32).copy(),
                  np.ascontiguousarray(layer.multiplier, np.int32).copy(), np.ascontiguousarray(layer.shift, np.int8).copy()]
        keep += arrays
        entry.p = Params(n_in, n_out, len(layer.multiplier), layer.act_min, layer.act_max, layer.output_zp,
                         ROUNDING[rounding])
        entry.w, entry.bias, entry.mult, entry.shift = (a.ctypes.data for a in arrays)
    return table, keep


def run_model(dll, layers, x: np.ndarray, rounding: str) -> tuple[int, int, np.ndarray]:
    """tml_model_check's status, then tml_model_run's status and output, with exactly sized
    input, output and scratch buffers (ASan sees overruns)."""
    table, keep = model_layers(layers, rounding)
    checked = dll.tml_model_check(table, len(layers))
    scratch = np.zeros(dll.tml_model_scratch_bytes(table, len(layers)), np.int8)
    xb = np.ascontiguousarray(x, np.int8).copy()
    out = np.zeros(layers[-1].weights.shape[0], np.int8)
    status = dll.tml_model_run(table, len(layers), _ptr(xb), _ptr(out), _ptr(scratch) if scratch.size else None)
    return checked, status, out


def check_models(lib: Path, count: int, seed: int) -> int:
    """tml_model_run on `count` random chains of 1-6 layers against the numpy reference run
    layer by layer; returns mismatches."""
    from tinyml_host.reference import fully_connected

    dll = load(lib)
    rng = np.random.default_rng(seed)
    bad = 0
    for k in range(count):
        widths = [int(round(math.exp(rng.uniform(0, math.log(300))))) for _ in range(int(rng.integers(2, 8)))]
        layers = []
        x = rng.integers(-128, 128, size=widths[0]).astype(np.int8)
        for n_in, n_out in zip(widths, widths[1:]):
            layers.append(layer_of_shape(rng, n_in, n_out)[0])
        rounding = "litert" if k % 2 else "tflm"
        expected = x.reshape(1, -1)
        for layer in layers:
            expected = fully_connected(expected, layer, rounding)
        checked, status, got = run_model(dll, layers, x, rounding)
        if checked != 0 or status != 0 or not np.array_equal(got, expected.reshape(-1)):
            bad += 1
            print(f"model {k} widths {widths} check {checked} status {status}", file=sys.stderr)
    return bad


def random_layer(rng: np.random.Generator, max_dim: int = 1024):
    """A layer with odd shapes, extreme scales and saturating values."""
    from tinyml_host.reference import quantize_multiplier
    from tinyml_host.tmdl import Layer

    def dim():
        return int(round(math.exp(rng.uniform(0, math.log(max_dim)))))

    n_in, n_out = dim(), dim()
    kind = rng.integers(4)
    if kind == 0:    # saturating: all weights and inputs at the int8 edges
        w = rng.choice(np.array([-128, 127], np.int8), size=(n_out, n_in))
    elif kind == 1:  # sparse small weights
        w = (rng.integers(-3, 4, size=(n_out, n_in)) * (rng.random((n_out, n_in)) < 0.3)).astype(np.int8)
    else:
        w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
    per_channel = bool(rng.integers(2))
    n_q = n_out if per_channel else 1
    # effective scales from 1e-9 (everything rounds to zero) to 4 (left shifts, int32 wrap)
    scales = np.exp(rng.uniform(math.log(1e-9), math.log(4.0), n_q))
    q = [quantize_multiplier(float(s), single_rounding=bool(rng.integers(2))) for s in scales]
    mult = np.array([m for m, _ in q], np.int32)
    shift = np.clip([s for _, s in q], -31, 30).astype(np.int8)
    bias_span = int(rng.choice([1 << 10, 1 << 20, 1 << 31]))
    bias = rng.integers(-bias_span, bias_span, size=n_out, dtype=np.int64)
    bias = np.clip(bias, -(1 << 31), (1 << 31) - 1).astype(np.int32)
    out_zp = int(rng.integers(-128, 128))
    if rng.random() < 0.05:
        # requantized values at the int32 limits with an extreme output zero point: y + zp
        # must clamp as if added in 64 bits, with no signed overflow in C
        bias = rng.choice(np.array([-(1 << 31), (1 << 31) - 1], np.int32), size=n_out)
        mult = np.full(n_q, (1 << 31) - 1, np.int32)
        shift = rng.integers(0, 31, size=n_q).astype(np.int8)
        out_zp = int(rng.choice([-128, 127]))
    act = sorted(int(v) for v in rng.integers(-128, 128, 2))
    act_min, act_max = (act if rng.random() < 0.5 else (-128, 127))
    layer = Layer(w, bias, mult, shift, act_min, act_max, out_zp)
    x = rng.integers(-128, 128, size=n_in).astype(np.int8)
    if kind == 0:
        x = rng.choice(np.array([-128, 127], np.int8), size=n_in)
    return layer, x


def check(lib: Path, count: int, seed: int, max_dim: int = 1024) -> int:
    """Both kernels against the numpy reference on `count` random layers; returns mismatches."""
    from tinyml_host.reference import fully_connected

    dll = load(lib)
    rng = np.random.default_rng(seed)
    bad = 0
    for k in range(count):
        layer, x = random_layer(rng, max_dim)
        rounding = "litert" if k % 2 else "tflm"
        expected = fully_connected(x.reshape(1, -1), layer, rounding).reshape(-1)
        for fn in (dll.tml_fc_s8, dll.tml_fc_s8_ref):
            status, got = call(fn, layer, x, rounding)
            if status != 0 or not np.array_equal(got, expected):
                bad += 1
                print(f"layer {k} {fn.__name__} {layer.weights.shape} status {status}: "
                      f"first difference at {np.flatnonzero(got != expected)[:5]}", file=sys.stderr)
    return bad



def layer_of_shape(rng: np.random.Generator, n_in: int, n_out: int):
    """A random layer of a given shape (values drawn like random_layer), and an input."""
    from tinyml_host.reference import quantize_multiplier
    from tinyml_host.tmdl import Layer

    w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
    if rng.random() < 0.25:
        w = rng.choice(np.array([-128, 127], np.int8), size=(n_out, n_in))
    n_q = n_out if rng.integers(2) else 1
    scales = np.exp(rng.uniform(math.log(1e-6), math.log(2.0), n_q))
    q = [quantize_multiplier(float(s), single_rounding=bool(rng.integers(2))) for s in scales]
    mult = np.array([m for m, _ in q], np.int32)
    shift = np.clip([s for _, s in q], -31, 30).astype(np.int8)
    bias = rng.integers(-(1 << 20), 1 << 20, size=n_out).astype(np.int32)
    layer = Layer(w, bias, mult, shift, -128, 127, int(rng.integers(-128, 128)))
    return layer, rng.integers(-128, 128, size=n_in).astype(np.int8)


TML_ERR_SHAPE, TML_ERR_QUANT, TML_ERR_RANGE = -2, -3, -4  # native/core/tinyml.h


def damaged_arguments(rng: np.random.Generator):
    """A small layer, its params with 0-3 fields damaged (shape, channels, activation range,
    output zero point, rounding, one shift, one multiplier), and the status codes the
    header's contract (native/core/tinyml.h) allows for them: empty when all are valid."""
    n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    layer, x = layer_of_shape(rng, n_in, n_out)
    layer.multiplier, layer.shift = layer.multiplier.copy(), layer.shift.copy()
    p = [n_in, n_out, len(layer.multiplier), -128, 127, layer.output_zp, int(rng.integers(2))]
    for _ in range(int(rng.integers(0, 4))):
        what = int(rng.integers(7))
        if what == 0:    # a shape no buffer here matches, and out of the core's range
            p[int(rng.integers(2))] = int(rng.choice([0, -1, 65536, (1 << 31) - 1, -(1 << 31)]))
        elif what == 1:
            p[2] = int(rng.choice([0, -1, n_out + 1, (1 << 31) - 1]))
        elif what == 2:
            p[3], p[4] = (int(v) for v in rng.integers(-300, 300, 2))
        elif what == 3:
            p[5] = int(rng.integers(-300, 300))
        elif what == 4:
            p[6] = int(rng.choice([0, 1, 2, -1, (1 << 31) - 1]))
        elif what == 5:
            layer.shift[int(rng.integers(len(layer.shift)))] = int(rng.integers(-128, 128))
        else:
            layer.multiplier[int(rng.integers(len(layer.multiplier)))] = int(rng.integers(-(1 << 31), 1 << 31))
    allowed = set()
    if not (1 <= p[0] <= 65535 and 1 <= p[1] <= 65535) or p[2] not in (1, p[1]):
        allowed.add(TML_ERR_SHAPE)
    if p[6] not in (0, 1) or (layer.multiplier < 0).any() or ((layer.shift < -31) | (layer.shift > 30)).any():
        allowed.add(TML_ERR_QUANT)
    if not -128 <= p[3] <= p[4] <= 127 or not -128 <= p[5] <= 127:
        allowed.add(TML_ERR_RANGE)
    return layer, x, tuple(p), allowed


TML_ERR_NULL, TML_ERR_SIZE, TML_ERR_ALIGN, TML_ERR_OVERLAP = -1, -5, -6, -7  # native/core/tinyml.h
BUFFERS = ("x", "w", "bias", "mult", "shift", "out")  # the order of tml_fc_buffers' fields


class BufferCase:
    """One call of tml_fc_run_checked with its buffers laid out in one arena (bytes): each
    buffer's offset in it (None: a NULL pointer) and the length in bytes the caller claims.
    The arena starts at a 4-byte boundary; 16 guard bytes at each end."""

    def __init__(self, layer, x, params, arena, offsets, lengths, allowed):
        self.layer, self.x, self.params = layer, x, params
        self.arena, self.offsets, self.lengths, self.allowed = arena, offsets, lengths, allowed

    def pointers_and_lengths(self, base: int) -> list[int]:
        """tml_fc_buffers' 12 words for an arena placed at address `base`."""
        words = []
        for name in BUFFERS:
            off = self.offsets[name]
            words += [0 if off is None else base + off, self.lengths[name]]
        return words

    def expected(self):
        """The arena after a successful call: out written with the reference's answer."""
        from tinyml_host.reference import fully_connected

        layer = self.layer
        layer.act_min, layer.act_max, layer.output_zp = self.params[3], self.params[4], self.params[5]
        y = fully_connected(self.x.reshape(1, -1), layer, "litert" if self.params[6] else "tflm").reshape(-1)
        arena = bytearray(self.arena)
        o = self.offsets["out"]
        arena[o:o + len(y)] = y.astype(np.int8).tobytes()
        return bytes(arena)


def damaged_buffers(rng: np.random.Generator) -> BufferCase:
    """What a binding could hand the core: a small layer whose buffers are at any alignment,
    sometimes shorter than claimed shapes need, int32 ones sometimes unaligned, out sometimes
    overlapping an input (partly or exactly), a pointer sometimes NULL, and params sometimes
    damaged as in damaged_arguments. `allowed` holds every status the contract in tinyml.h
    allows for what was done (empty: the call must succeed with the reference's answer)."""
    if rng.random() < 0.3:
        layer, x, params, allowed = damaged_arguments(rng)
    else:
        n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(1, 12))
        layer, x = layer_of_shape(rng, n_in, n_out)
        params, allowed = (n_in, n_out, len(layer.multiplier), -128, 127, layer.output_zp,
                           int(rng.integers(2))), set()
    n_out, n_in = layer.weights.shape
    n_ch = len(layer.multiplier)
    data = {
        "x": np.ascontiguousarray(x, np.int8).tobytes(),
        "w": _interleave(layer.weights),
        "bias": np.ascontiguousarray(layer.bias, "<i4").tobytes(),
        "mult": np.ascontiguousarray(layer.multiplier, "<i4").tobytes(),
        "shift": np.ascontiguousarray(layer.shift, np.int8).tobytes(),
    }
    arena = bytearray(rng.integers(0, 256, 16, dtype=np.uint8).tobytes())
    offsets, lengths = {}, {}
    for name, blob in data.items():
        word = name in ("bias", "mult")
        pad = int(rng.integers(0, 8))
        if word and rng.random() < 0.85:
            pad += -(len(arena) + pad) % 4
        offsets[name] = len(arena) + pad
        arena += bytes(rng.integers(0, 256, pad, dtype=np.uint8)) + blob
    out_needed = n_out
    overlaps = rng.random() < 0.25
    if overlaps:  # out over an input's bytes, from partly before to partly after it
        target = str(rng.choice(list(data)))
        start, size = offsets[target], len(data[target])
        offsets["out"] = int(rng.integers(max(16, start - out_needed + 1), start + size))
        if rng.random() < 0.3:
            offsets["out"] = start  # exactly in place
        arena += bytes(max(0, offsets["out"] + out_needed - len(arena)))
    else:
        offsets["out"] = len(arena) + int(rng.integers(0, 8))
        arena += bytes(offsets["out"] - len(arena) + out_needed)
    arena += bytes(rng.integers(0, 256, 16, dtype=np.uint8))
    sizes = {"x": len(data["x"]), "w": len(data["w"]), "bias": len(data["bias"]), "mult": len(data["mult"]),
             "shift": len(data["shift"]), "out": out_needed}
    for name in BUFFERS:
        lengths[name] = sizes[name]
        if rng.random() < 0.05:  # a buffer shorter than the layer needs
            lengths[name] = int(rng.integers(0, max(sizes[name], 1)))
    if rng.random() < 0.05:
        offsets[str(rng.choice(BUFFERS))] = None

    allowed, overlapped = set(allowed), set()
    if any(offsets[name] is None for name in BUFFERS):
        allowed.add(TML_ERR_NULL)
    shape_ok = 1 <= params[0] <= 65535 and 1 <= params[1] <= 65535 and params[2] in (1, params[1])
    if shape_ok:
        # damaged params keep the real buffers: a shape that grew makes them too short
        p_in, p_out, p_ch = params[0], params[1], params[2]
        need = {"x": p_in, "w": p_in * p_out, "bias": 4 * p_out, "mult": 4 * p_ch, "shift": p_ch, "out": p_out}
        if any(lengths[k] < need[k] for k in need):
            allowed.add(TML_ERR_SIZE)
        if any(offsets[k] is not None and offsets[k] % 4 for k in ("bias", "mult")):
            allowed.add(TML_ERR_ALIGN)
        o = offsets["out"]
        extent = {"x": p_in, "w": p_in * p_out, "bias": 4 * p_out, "mult": 4 * p_ch, "shift": p_ch}
        overlapped = {k for k in extent if o is not None and offsets[k] is not None
                      and o < offsets[k] + extent[k] and offsets[k] < o + p_out}
        if overlapped:
            allowed.add(TML_ERR_OVERLAP)
        if (p_ch, p_out, p_in) != (n_ch, n_out, n_in) and not allowed:
            raise AssertionError("a damaged shape that fits the buffers: not expected from damaged_arguments")
    case = BufferCase(layer, x, params, bytes(arena), offsets, lengths, allowed)
    case.overlapped = overlapped  # the buffers out overlaps
    return case


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "host"))
    lib, count, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sys.exit(1 if check(lib, count, seed) or check_models(lib, count // 10, seed) else 0)
