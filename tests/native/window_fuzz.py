"""What a binding could hand the convolution family's checked calls (native/core/check.c:
tml_conv_run_checked and its siblings): a small random layer of each kind whose buffers lie in
one arena at any alignment, sometimes shorter than the shape needs, int32 ones sometimes
unaligned, out (or conv's scratch) sometimes overlapping another buffer, partly or exactly, a
pointer sometimes NULL, params sometimes damaged. `allowed` holds every status the contract in
tinyml.h allows for what was done, stated here in Python from TFLite's rules, not from check.c
(empty: the call must succeed and write the reference's answer into out, nothing else).

The answers: tml_conv_s8_ref and tml_dwconv_s8_ref for the filters, the pools, add and softmax
kernels themselves on separate exactly sized copies (each is bit-exact with TFLite Micro on the
converter's models, test_window_ops_host.py): what is tested here is the checked path.

Run as a script (`python window_fuzz.py LIB COUNT SEED`) it runs COUNT cases of every kind and
exits non-zero on the first disagreement: the sanitizer test runs it with libasan/libubsan
preloaded.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

import window_ops
from window_ops import ADD_FIELDS, CONV_FIELDS, POOL_FIELDS, SOFTMAX_FIELDS

KINDS = ("conv", "dwconv", "avgpool", "maxpool", "add", "softmax")
BUFFERS = ("x", "x2", "w", "bias", "mult", "shift", "out", "scratch")  # tml_op_buffers' order
USES = {"conv": ("x", "w", "bias", "mult", "shift", "out", "scratch"),
        "dwconv": ("x", "w", "bias", "mult", "shift", "out"),
        "avgpool": ("x", "out"), "maxpool": ("x", "out"), "add": ("x", "x2", "out"), "softmax": ("x", "out")}
FIELDS = {"conv": CONV_FIELDS, "dwconv": CONV_FIELDS, "avgpool": POOL_FIELDS, "maxpool": POOL_FIELDS,
          "add": ADD_FIELDS, "softmax": SOFTMAX_FIELDS}
RUN_CHECKED = {"conv": "tml_conv_run_checked", "dwconv": "tml_dwconv_run_checked",
               "avgpool": "tml_avgpool_run_checked", "maxpool": "tml_maxpool_run_checked",
               "add": "tml_add_run_checked", "softmax": "tml_softmax_run_checked"}

OK, NULL, SHAPE, QUANT, RANGE, SIZE, ALIGN, OVERLAP = 0, -1, -2, -3, -4, -5, -6, -7  # tinyml.h
MAX_TENSOR = 1 << 24


def int8(v) -> bool:
    return -128 <= v <= 127


# ---- the contract, from TFLite's rules ----

def dim_ok(size: int, out: int, filt: int, stride: int, pad: int) -> bool:
    """out and pad are TFLite's for VALID or SAME padding (window_ops.window)."""
    if not all(1 <= v <= 65535 for v in (size, out, filt, stride)) or pad < 0:
        return False
    same = window_ops.window(None, size, filt, stride, True)
    valid = window_ops.window(None, size, filt, stride, False) if size >= filt else None
    return (out, pad) in (same, valid)


def shape_ok(kind: str, p: dict) -> bool:
    if kind in ("conv", "dwconv"):
        windows = dim_ok(p["in_h"], p["out_h"], p["filter_h"], p["stride_h"], p["pad_top"]) and \
            dim_ok(p["in_w"], p["out_w"], p["filter_w"], p["stride_w"], p["pad_left"])
        if not windows or p["in_c"] < 1 or not 1 <= p["out_c"] <= 65535 or p["n_channels"] not in (1, p["out_c"]):
            return False
        if p["in_h"] * p["in_w"] * p["in_c"] > MAX_TENSOR or p["out_h"] * p["out_w"] * p["out_c"] > MAX_TENSOR:
            return False
        taps = p["filter_h"] * p["filter_w"] * p["in_c"]
        return taps <= 65535 if kind == "conv" else p["out_c"] == p["in_c"] and taps <= MAX_TENSOR
    if kind in ("avgpool", "maxpool"):
        return dim_ok(p["in_h"], p["out_h"], p["filter_h"], p["stride_h"], p["pad_top"]) and \
            dim_ok(p["in_w"], p["out_w"], p["filter_w"], p["stride_w"], p["pad_left"]) and p["channels"] >= 1 and \
            p["in_h"] * p["in_w"] * p["channels"] <= MAX_TENSOR and p["out_h"] * p["out_w"] * p["channels"] <= MAX_TENSOR
    if kind == "add":
        return 1 <= p["size"] <= MAX_TENSOR
    return p["rows"] >= 1 and 1 <= p["depth"] <= 511 and p["rows"] * p["depth"] <= MAX_TENSOR


def needs(kind: str, p: dict) -> dict:
    """Bytes of each buffer the kernel touches, for params that pass shape_ok."""
    if kind in ("conv", "dwconv"):
        taps = p["filter_h"] * p["filter_w"] * p["in_c"]
        return dict(x=p["in_h"] * p["in_w"] * p["in_c"], out=p["out_h"] * p["out_w"] * p["out_c"],
                    w=taps if kind == "dwconv" else taps * p["out_c"], bias=4 * p["out_c"], mult=4 * p["n_channels"],
                    shift=p["n_channels"], scratch=0 if kind == "dwconv" else 4 * ((taps + 3) & ~3) + 4)
    if kind in ("avgpool", "maxpool"):
        return dict(x=p["in_h"] * p["in_w"] * p["channels"], out=p["out_h"] * p["out_w"] * p["channels"])
    if kind == "add":
        return dict(x=p["size"], x2=p["size"], out=p["size"])
    return dict(x=p["rows"] * p["depth"], out=p["rows"] * p["depth"])


def param_problems(kind: str, p: dict, mult: np.ndarray, shift: np.ndarray) -> set:
    """QUANT and RANGE problems of params whose shape is fine."""
    found = set()
    if kind in ("conv", "dwconv"):
        n = min(p["n_channels"], len(mult), len(shift))
        if p["rounding"] not in (0, 1) or (mult[:n] < 0).any() or ((shift[:n] < -31) | (shift[:n] > 30)).any():
            found.add(QUANT)
        if not (int8(p["input_zp"]) and int8(p["output_zp"]) and -128 <= p["act_min"] <= p["act_max"] <= 127):
            found.add(RANGE)
    elif kind in ("avgpool", "maxpool"):
        if not -128 <= p["act_min"] <= p["act_max"] <= 127:
            found.add(RANGE)
    elif kind == "add":
        rescales = [(p["input1_multiplier"], p["input1_shift"]), (p["input2_multiplier"], p["input2_shift"]),
                    (p["output_multiplier"], p["output_shift"])]
        if not 0 <= p["left_shift"] <= 22 or not all(-127 <= p[k] <= 128 for k in ("input1_offset", "input2_offset")) \
                or any(m < 0 or not -31 <= s <= 0 for m, s in rescales) or p["rounding"] not in (0, 1):
            found.add(QUANT)
        if not (int8(p["output_zp"]) and -128 <= p["act_min"] <= p["act_max"] <= 127):
            found.add(RANGE)
    else:
        if p["input_multiplier"] < 0 or not 0 <= p["input_left_shift"] <= 31 or p["diff_min"] > 0:
            found.add(QUANT)
    return found


# ---- random cases ----

def _layer(rng, kind: str):
    """(params dict, {buffer: bytes}, conv layer or None)"""
    if kind in ("conv", "dwconv"):
        layer, x = window_ops.random_conv(rng, kind == "dwconv", max_hw=7, max_c=8, max_filter=4)
        data = dict(x=x.tobytes(), w=layer.weight_bytes().tobytes(), bias=layer.bias.astype("<i4").tobytes(),
                    mult=layer.mult.astype("<i4").tobytes(), shift=layer.shift.tobytes())
        return dict(layer.params), data, layer
    if kind in ("avgpool", "maxpool"):
        params, x = window_ops.random_pool(rng)
        return params, dict(x=x.tobytes()), None
    if kind == "add":
        params, a, b = window_ops.random_add(rng)
        return params, dict(x=a.tobytes(), x2=b.tobytes()), None
    params, x = window_ops.random_softmax(rng)
    return params, dict(x=x.tobytes()), None


def _damage(rng, kind: str, p: dict, data: dict):
    """0-2 damaged fields (or bytes of mult and shift)."""
    for _ in range(int(rng.integers(0, 3))):
        what = int(rng.integers(6))
        if kind in ("conv", "dwconv"):
            if what == 0:
                p[str(rng.choice(["in_h", "out_w", "in_c", "out_c", "stride_h", "filter_w", "pad_top"]))] = \
                    int(rng.choice([0, -1, 70000, (1 << 31) - 1, -(1 << 31)]))
            elif what == 1:
                p["n_channels"] = int(rng.choice([0, -1, 1, p["out_c"], p["out_c"] + 1]))
            elif what == 2:
                p["act_min"], p["act_max"] = (int(v) for v in rng.integers(-300, 300, 2))
            elif what == 3:
                p[str(rng.choice(["input_zp", "output_zp"]))] = int(rng.integers(-300, 300))
            elif what == 4:
                p["rounding"] = int(rng.choice([0, 1, 2, -1]))
            else:
                name = str(rng.choice(["mult", "shift"]))
                blob = bytearray(data[name])
                blob[int(rng.integers(len(blob)))] = int(rng.integers(256))
                data[name] = bytes(blob)
        elif kind in ("avgpool", "maxpool"):
            if what < 2:
                p[str(rng.choice(["in_w", "out_h", "channels", "filter_h", "stride_w"]))] = \
                    int(rng.choice([0, -1, 70000, p["out_h"] + 1]))
            else:
                p["act_min"], p["act_max"] = (int(v) for v in rng.integers(-300, 300, 2))
        elif kind == "add":
            field = str(rng.choice(ADD_FIELDS))
            p[field] = int(rng.choice([0, -1, 1, 23, 129, -128, 200, 1 << 24, (1 << 24) + 1, -(1 << 31)]))
        else:
            field = str(rng.choice(SOFTMAX_FIELDS))
            p[field] = int(rng.choice([0, -1, 1, 31, 32, 511, 512, -(1 << 31)]))


class OpCase:
    """One checked call: its kind, params (a tuple in the struct's order), the arena (bytes,
    starting at a word boundary, 16 guard bytes at each end), each buffer's offset in it (None:
    NULL) and the length in bytes the caller claims, the statuses allowed, the overlaps as
    (out or scratch, the buffer it overlaps) pairs, and for a valid call the reference's out."""

    def __init__(self, kind, params, arena, offsets, lengths, allowed, overlapped, answer):
        self.kind, self.params, self.arena, self.offsets, self.lengths = kind, params, arena, offsets, lengths
        self.allowed, self.overlapped, self.answer = allowed, overlapped, answer

    def table(self, base: int) -> list[int]:
        """tml_op_buffers' 16 words for the arena placed at address `base`."""
        words = []
        for name in BUFFERS:
            off = self.offsets.get(name)
            words += [0 if off is None else base + off, self.lengths.get(name, 0)]
        return words

    def expected(self) -> bytes:
        """The arena after a successful call: out written with the reference's answer (scratch
        holds whatever the kernel left there: the caller compares outside it)."""
        arena = bytearray(self.arena)
        o = self.offsets["out"]
        arena[o:o + len(self.answer)] = self.answer
        return bytes(arena)

    def scratch_span(self):
        o, n = self.offsets.get("scratch"), self.lengths.get("scratch", 0)
        return (o, o + n) if o is not None else (0, 0)


def _answer(dll, kind: str, p: dict, data: dict, layer) -> bytes:
    x = np.frombuffer(data["x"], np.int8)
    if kind in ("conv", "dwconv"):
        ref = window_ops.Conv(p, layer.weights, layer.bias, np.frombuffer(data["mult"], "<i4"),
                              np.frombuffer(data["shift"], np.int8), kind == "dwconv")
        status, out = window_ops.run_conv(dll, ref, x, f"tml_{kind}_s8_ref")
    elif kind in ("avgpool", "maxpool"):
        status, out = window_ops.run_pool(dll, p, x, kind[:3])
    elif kind == "add":
        status, out = window_ops.run_add(dll, p, x, np.frombuffer(data["x2"], np.int8))
    else:
        status, out = window_ops.run_softmax(dll, p, x)
    assert status == 0, (kind, p, status)
    return out.tobytes()


def damaged_case(rng, dll, kind: str) -> OpCase:
    p, data, layer = _layer(rng, kind)
    first = needs(kind, p)
    if rng.random() < 0.3:
        _damage(rng, kind, p, data)
    arena = bytearray(rng.integers(0, 256, 16, dtype=np.uint8).tobytes())
    offsets, lengths = {}, {}
    for name, blob in data.items():
        pad = int(rng.integers(0, 8))
        if name in ("bias", "mult") and rng.random() < 0.85:
            pad += -(len(arena) + pad) % 4
        offsets[name] = len(arena) + pad
        arena += bytes(rng.integers(0, 256, pad, dtype=np.uint8)) + blob
        lengths[name] = len(blob)
    if kind == "add" and rng.random() < 0.1:
        offsets["x2"] = offsets["x"]  # x + x
        data["x2"] = data["x"]
    writes = ["out"] + (["scratch"] if first.get("scratch") else [])
    for name in writes:
        size = first[name]
        if rng.random() < 0.2:  # over another buffer's bytes, from partly before to partly after it
            target = str(rng.choice(sorted(offsets)))
            start, extent = offsets[target], max(lengths[target], 1)
            offsets[name] = start if rng.random() < 0.3 else int(rng.integers(max(16, start - size + 1), start + extent))
            arena += bytes(max(0, offsets[name] + size - len(arena)))
        else:
            offsets[name] = len(arena) + int(rng.integers(0, 8))
            arena += bytes(offsets[name] - len(arena) + size)
        lengths[name] = size
    arena += bytes(rng.integers(0, 256, 16, dtype=np.uint8))
    for name in offsets:
        if rng.random() < 0.04:  # shorter than the layer needs
            lengths[name] = int(rng.integers(0, max(lengths[name], 1)))
    if rng.random() < 0.04:
        offsets[str(rng.choice(sorted(offsets)))] = None

    params = tuple(int(p[f]) for f in FIELDS[kind])
    allowed, overlapped = set(), set()
    used = [b for b in USES[kind] if b != "scratch" or first.get("scratch")]
    if any(offsets.get(b) is None for b in used):
        allowed.add(NULL)
    if not shape_ok(kind, p):
        allowed.add(SHAPE)
    else:
        need = needs(kind, p)
        if any(lengths.get(b, 0) < need[b] for b in used) or (need.get("scratch") and "scratch" not in offsets):
            allowed.add(SIZE)
        if need.get("scratch") and offsets.get("scratch") is None:
            allowed.add(NULL)
        if any(offsets.get(b) is not None and offsets[b] % 4 for b in ("bias", "mult") if b in used):
            allowed.add(ALIGN)
        mult = np.frombuffer(data.get("mult", b""), "<i4")
        shift = np.frombuffer(data.get("shift", b""), np.int8)
        allowed |= param_problems(kind, p, mult, shift)

        def span(b):
            return (offsets[b], offsets[b] + need[b]) if offsets.get(b) is not None and need.get(b) else None

        def meet(a, b):
            sa, sb = span(a), span(b)
            return sa is not None and sb is not None and sa[0] < sb[1] and sb[0] < sa[1]

        reads = [b for b in used if b not in ("out", "scratch")]
        for b in reads:
            # ADD reads element i of both inputs before writing out[i]: out == an input is fine
            exact = kind == "add" and offsets.get(b) is not None and offsets[b] == offsets.get("out")
            if meet("out", b) and not exact:
                overlapped.add(("out", b))
        if "scratch" in used and need.get("scratch"):
            overlapped |= {("scratch", b) for b in ["out"] + reads if meet("scratch", b)}
        if overlapped:
            allowed.add(OVERLAP)
    # params and lengths valid: the answer (a binding that copies mult and shift may run it)
    answer = None if allowed - {OVERLAP} else _answer(dll, kind, p, data, layer)
    return OpCase(kind, params, bytes(arena), offsets, lengths, allowed, overlapped, answer)


def load(lib: Path):
    dll = window_ops.load(lib)
    for name in RUN_CHECKED.values():
        fn = getattr(dll, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return dll


def run_checked(dll, case: OpCase) -> tuple[int, bytes]:
    """The case's tml_*_run_checked on its arena in host memory: (status, arena after)."""
    arena = (ctypes.c_uint8 * (len(case.arena) + 4))()
    base = (ctypes.addressof(arena) + 3) // 4 * 4
    ctypes.memmove(base, case.arena, len(case.arena))
    params = np.array(case.params, np.int32)
    table = np.array(case.table(base), np.uint64)
    status = getattr(dll, RUN_CHECKED[case.kind])(params.ctypes.data, table.ctypes.data)
    return status, ctypes.string_at(base, len(case.arena))


def verdict(case: OpCase, status: int, after: bytes) -> str | None:
    """None when the call kept the contract, else what went wrong."""
    if case.allowed:
        if status not in case.allowed:
            return f"status {status}, allowed {case.allowed}"
        if after != case.arena:
            return "refused but wrote"
        return None
    if status != 0:
        return f"status {status} on a valid call"
    lo, hi = case.scratch_span()
    want = case.expected()
    if after[:lo] + after[hi:] != want[:lo] + want[hi:]:
        return "wrong answer, or bytes outside out and scratch changed"
    return None


def fuzz(lib: Path, count: int, seed: int) -> dict:
    """`count` cases of each kind through the checked calls: {kind: {status: calls}}; raises
    AssertionError on the first call that breaks the contract."""
    dll = load(lib)
    rng = np.random.default_rng(seed)
    outcomes = {kind: {} for kind in KINDS}
    for k in range(count):
        for kind in KINDS:
            case = damaged_case(rng, dll, kind)
            status, after = run_checked(dll, case)
            problem = verdict(case, status, after)
            assert problem is None, (k, kind, case.params, case.offsets, case.lengths, problem)
            outcomes[kind][status] = outcomes[kind].get(status, 0) + 1
    return outcomes


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "host"))
    lib, count, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print(fuzz(lib, count, seed))
