"""_tinyml's convolution family (ABI 4) in the real micropython binary: prepare_conv /
prepare_dwconv / prepare_pool / prepare_add / prepare_softmax check a layer once, conv, dwconv,
avgpool, maxpool, add and softmax run it after the core's O(1) call check.

- byte for byte TFLite Micro's outputs on single-operator models from the converter
  (tests/native/tflite_ops.py), 0 bytes allocated per call;
- damaged arguments refused with a ValueError naming the problem;
- a fuzz of what window_fuzz.py makes (buffers at any alignment, short, overlapping, damaged
  params): a ValueError the contract allows with every byte as it was, or the C reference's
  answer (tml_conv_s8_ref and the others through ctypes) and nothing else written.

Needs a _tinyml build (docs/firmware.md) on TINYML_MPY_PATH; skipped without one unless
TINYML_REQUIRE_NATIVE=1."""

import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
import harness  # noqa: E402
import tflite_ops  # noqa: E402
import window_fuzz  # noqa: E402
import window_ops  # noqa: E402
from mpy import lines_with, native_or_skip, run  # noqa: E402
from test_window_ops_host import ADD, CONV, DWCONV, POOL, SOFTMAX  # noqa: E402

CALLS = 20

GOLDEN = """
import gc
from array import array
import _tinyml
import cases

def timed(f, *args):
    f(*args)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(%d):
        f(*args)
    return gc.mem_alloc() - before

for label, kind, params, consts, inputs, out_size in cases.CASES:
    p = array('i', params)
    out = bytearray(out_size)
    if kind in ('conv', 'dwconv'):
        w, bias, mult, shift = consts
        if label.endswith('ro'):  # read-only multipliers and shifts: used in place
            mult, shift = bytes(mult), bytes(shift)
        else:
            mult, shift = array('i', mult), array('b', shift)
        prepare = _tinyml.prepare_conv if kind == 'conv' else _tinyml.prepare_dwconv
        plan = prepare(p, bytearray(w), array('i', bias), mult, shift)
        if kind == 'conv':
            n = _tinyml.conv_scratch_bytes(p)
            args = (plan, None, out, bytearray(n) if n else None)
            run = _tinyml.conv
        else:
            args = (plan, None, out)
            run = _tinyml.dwconv
    elif kind in ('avgpool', 'maxpool'):
        args = (_tinyml.prepare_pool(p), None, out)
        run = _tinyml.avgpool if kind == 'avgpool' else _tinyml.maxpool
    elif kind == 'add':
        args = (_tinyml.prepare_add(p), None, None, out)
        run = _tinyml.add
    else:
        args = (_tinyml.prepare_softmax(p), None, out)
        run = _tinyml.softmax
    for k, x in enumerate(inputs):
        a = list(args)
        if kind == 'add':
            a[1], a[2] = x
            run(*a)
            print('G', label, k, bytes(out).hex())
            x1 = bytearray(a[1])  # in place over the first input
            a[1] = a[3] = x1
            run(*a)
            print('I', label, k, bytes(x1).hex())
        else:
            a[1] = x
            run(*a)
            print('G', label, k, bytes(out).hex())
    a[1] = inputs[0]
    if kind == 'add':
        a[1], a[2] = inputs[0]
        a[3] = out
    print('A', label, timed(run, *a))
""" % CALLS


def _literal(v):
    return repr(bytes(np.ascontiguousarray(v).tobytes()))


def _golden_cases():
    """(cases.py source, {(label, k): TFLM's output hex}) over the host tests' recipes."""
    lines, want = ["CASES = ["], {}

    def inputs(shape, seed):
        rng = np.random.default_rng(seed)
        return [rng.integers(-128, 128, size=shape).astype(np.int8) for _ in range(3)] + \
            [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]

    for n, recipe in enumerate(CONV + DWCONV):
        kind = "conv" if n < len(CONV) else "dwconv"
        data = tflite_ops.op_model(dict(recipe, op=kind))
        layer = tflite_ops.conv_layer(data, kind == "dwconv")
        label = f"{kind}{n}" + ("ro" if n % 2 else "")
        xs = inputs(recipe["shape"], n)
        params = [int(layer.params[f]) for f in window_ops.CONV_FIELDS]
        consts = ", ".join(_literal(a) for a in (layer.weight_bytes(), layer.bias.astype("<i4"),
                                                    layer.mult.astype("<i4"), layer.shift))
        lines.append(f"({label!r}, {kind!r}, {params}, ({consts}), [{', '.join(_literal(x) for x in xs)}], "
                     f"{layer.out_size()}),")
        for k, x in enumerate(xs):
            want[(label, k)] = tflite_ops.run_tflm(data, [x]).astype(np.int8).tobytes().hex()
    for n, recipe in enumerate(POOL):
        for kind in ("avgpool", "maxpool"):
            data = tflite_ops.op_model(dict(recipe, op=kind))
            p = tflite_ops.pool_params(data, kind[:3])
            label = f"{kind}{n}"
            xs = inputs(recipe["shape"], 10 + n)
            lines.append(f"({label!r}, {kind!r}, {[int(p[f]) for f in window_ops.POOL_FIELDS]}, None, "
                         f"[{', '.join(_literal(x) for x in xs)}], {p['out_h'] * p['out_w'] * p['channels']}),")
            for k, x in enumerate(xs):
                want[(label, k)] = tflite_ops.run_tflm(data, [x]).astype(np.int8).tobytes().hex()
    for n, recipe in enumerate(ADD):
        data = tflite_ops.op_model(dict(recipe, op="add"))
        p = tflite_ops.add_params(data)
        first, second = tflite_ops.add_input_order(data)
        xs = inputs(recipe["shape"], 20 + n)
        pairs = list(zip(xs, xs[1:] + xs[:1]))
        label = f"add{n}"
        lines.append(f"({label!r}, 'add', {[int(p[f]) for f in window_ops.ADD_FIELDS]}, None, [" +
                     ", ".join(f"({_literal(pr[first])}, {_literal(pr[second])})" for pr in pairs) +
                     f"], {p['size']}),")
        for k, pr in enumerate(pairs):
            want[(label, k)] = tflite_ops.run_tflm(data, list(pr)).astype(np.int8).tobytes().hex()
    for n, recipe in enumerate(SOFTMAX):
        data = tflite_ops.op_model(dict(recipe, op="softmax"))
        p = tflite_ops.softmax_params(data)
        xs = inputs(recipe["shape"], 30 + n)
        label = f"softmax{n}"
        lines.append(f"({label!r}, 'softmax', {[int(p[f]) for f in window_ops.SOFTMAX_FIELDS]}, None, "
                     f"[{', '.join(_literal(x) for x in xs)}], {p['rows'] * p['depth']}),")
        for k, x in enumerate(xs):
            want[(label, k)] = tflite_ops.run_tflm(data, [x]).astype(np.int8).tobytes().hex()
    lines.append("]")
    return "\n".join(lines) + "\n", want


def test_each_op_bit_exact_with_tflite_micro_and_allocates_nothing(tmp_path):
    native_or_skip()
    source, want = _golden_cases()
    (tmp_path / "cases.py").write_text(source)
    out = run(GOLDEN, cwd=tmp_path, env={"MICROPYPATH": f"{tmp_path}:" + __import__("mpy").micropypath()})
    got = {}
    for line in lines_with("G", out):
        label, k, value = line.split()
        got[(label, int(k))] = value
    assert got == want
    in_place = {}
    for line in lines_with("I", out):
        label, k, value = line.split()
        in_place[(label, int(k))] = value
    assert in_place and all(in_place[key] == want[key] for key in in_place)  # add, out over x1
    allocs = dict(line.split() for line in lines_with("A", out))
    assert len(allocs) == len({label for label, _ in want}) and set(allocs.values()) == {"0"}, allocs


REFUSALS = """
from array import array
import _tinyml

# conv: 5x5x4 -> 3x3x6, 3x3 filters, stride 2, SAME (padding 1), per channel
cp = array('i', (5, 5, 4, 3, 3, 6, 3, 3, 2, 2, 1, 1, 0, 6, -128, 127, 0, 0))
w = bytearray(6 * 36)
bias = array('i', [0] * 6)
mult = array('i', [1 << 30] * 6)
shift = array('b', [0] * 6)
def attempt(label, f, *args):
    try:
        f(*args)
        print('R', label, 'accepted')
    except (ValueError, TypeError) as e:
        print('R', label, type(e).__name__, e)

def unaligned(n):
    return memoryview(bytearray(n + 4))[1:n + 1]

plan = _tinyml.prepare_conv(cp, w, bias, mult, shift)
buf = bytearray(400)
view = memoryview(buf)
x, out, scratch = view[0:100], view[100:154], bytearray(148)
print('S', _tinyml.conv_scratch_bytes(cp))
attempt('conv', _tinyml.conv, plan, x, out, scratch)
attempt('conv-short-x', _tinyml.conv, plan, view[0:99], out, scratch)
attempt('conv-short-out', _tinyml.conv, plan, x, view[100:153], scratch)
attempt('conv-short-scratch', _tinyml.conv, plan, x, out, bytearray(147))
attempt('conv-no-scratch', _tinyml.conv, plan, x, out, None)
attempt('conv-out-on-x', _tinyml.conv, plan, x, view[60:114], scratch)
attempt('conv-scratch-on-x', _tinyml.conv, plan, x, out, view[80:228])
attempt('conv-scratch-on-out', _tinyml.conv, plan, x, out, view[140:288])
attempt('conv-read-only-out', _tinyml.conv, plan, x, bytes(54), scratch)
attempt('conv-wrong-plan', _tinyml.dwconv, plan, x, out)
attempt('conv-fc-plan', _tinyml.conv, _tinyml.prepare(array('i', (4, 2, 1, -128, 127, 0, 0)), bytearray(8),
        array('i', (0, 0)), array('i', (1 << 30,)), array('b', (0,))), x, out, scratch)
attempt('conv-params-length', _tinyml.prepare_conv, cp[:17], w, bias, mult, shift)
attempt('conv-pool-params', _tinyml.prepare_conv, array('i', [1] * 13), w, bias, mult, shift)
attempt('conv-short-w', _tinyml.prepare_conv, cp, bytearray(215), bias, mult, shift)
attempt('conv-unaligned-bias', _tinyml.prepare_conv, cp, w, unaligned(24), mult, shift)
attempt('conv-unaligned-mult', _tinyml.prepare_conv, cp, w, bias, unaligned(24), shift)
attempt('conv-short-shift', _tinyml.prepare_conv, cp, w, bias, mult, array('b', [0] * 5))
attempt('conv-bad-shift', _tinyml.prepare_conv, cp, w, bias, mult, array('b', [0, 0, 31, 0, 0, 0]))
attempt('conv-bad-padding', _tinyml.prepare_conv, array('i', (5, 5, 4, 3, 3, 6, 3, 3, 2, 2, 0, 1, 0, 6, -128, 127, 0, 0)),
        w, bias, mult, shift)
attempt('conv-bad-zp', _tinyml.prepare_conv, array('i', (5, 5, 4, 3, 3, 6, 3, 3, 2, 2, 1, 1, 128, 6, -128, 127, 0, 0)),
        w, bias, mult, shift)
cp1 = array('i', (5, 5, 4, 3, 3, 6, 1, 1, 2, 2, 0, 0, 0, 1, -128, 127, 0, 1))  # 1x1: a scratch too (arm-dsp stages pixels)
print('S1', _tinyml.conv_scratch_bytes(cp1))
plan1 = _tinyml.prepare_conv(cp1, bytearray(24), bias, mult, shift)
attempt('conv1x1-no-scratch', _tinyml.conv, plan1, x, out, None)
attempt('conv1x1', _tinyml.conv, plan1, x, out, bytearray(20))
w.extend(bytearray(8))  # a RAM buffer may move after prepare: looked up again on every call
attempt('conv-moved-weights', _tinyml.conv, plan, x, out, scratch)

dp = array('i', (5, 5, 4, 3, 3, 4, 3, 3, 2, 2, 1, 1, 0, 4, -128, 127, 0, 0))
dw = bytearray(72)
dplan = _tinyml.prepare_dwconv(dp, dw, bias, mult, shift)
attempt('dw', _tinyml.dwconv, dplan, x, view[100:136])
attempt('dw-out-on-weights', _tinyml.dwconv, dplan, x, memoryview(dw)[20:56])
attempt('dw-channels', _tinyml.prepare_dwconv, cp, w, bias, mult, shift)
attempt('dw-short-w', _tinyml.prepare_dwconv, dp, bytearray(35), bias, mult, shift)

pp = _tinyml.prepare_pool(array('i', (5, 5, 4, 3, 3, 3, 3, 2, 2, 1, 1, -128, 127)))
attempt('avg', _tinyml.avgpool, pp, x, view[100:136])
attempt('max-out-on-x', _tinyml.maxpool, pp, x, view[90:126])
attempt('max-short-out', _tinyml.maxpool, pp, x, view[100:135])
attempt('pool-shape', _tinyml.prepare_pool, array('i', (5, 5, 4, 4, 3, 3, 3, 2, 2, 1, 1, -128, 127)))
attempt('pool-range', _tinyml.prepare_pool, array('i', (5, 5, 4, 3, 3, 3, 3, 2, 2, 1, 1, 10, 5)))

ap = _tinyml.prepare_add(array('i', (20, 20, 3, 1 << 30, -1, -5, 1 << 30, -2, 1 << 30, -18, 1, -128, 127, 0)))
attempt('add', _tinyml.add, ap, view[0:20], view[20:40], view[40:60])
attempt('add-in-place-x1', _tinyml.add, ap, view[0:20], view[20:40], view[0:20])
attempt('add-in-place-x2', _tinyml.add, ap, view[0:20], view[20:40], view[20:40])
attempt('add-out-on-x1', _tinyml.add, ap, view[0:20], view[20:40], view[1:21])
attempt('add-out-on-x2', _tinyml.add, ap, view[0:20], view[30:50], view[40:60])
attempt('add-short-x2', _tinyml.add, ap, view[0:20], view[20:39], view[40:60])
attempt('add-shift', _tinyml.prepare_add, array('i', (20, 23, 3, 1 << 30, -1, -5, 1 << 30, -2, 1 << 30, -18, 1, -128, 127, 0)))
attempt('add-size', _tinyml.prepare_add, array('i', (0, 20, 3, 1 << 30, -1, -5, 1 << 30, -2, 1 << 30, -18, 1, -128, 127, 0)))

sp = _tinyml.prepare_softmax(array('i', (2, 10, 1 << 30, 20, -100)))
attempt('softmax', _tinyml.softmax, sp, view[0:20], view[20:40])
attempt('softmax-in-place', _tinyml.softmax, sp, view[0:20], view[0:20])
attempt('softmax-depth', _tinyml.prepare_softmax, array('i', (1, 512, 1 << 30, 20, -100)))
attempt('softmax-diff-min', _tinyml.prepare_softmax, array('i', (1, 10, 1 << 30, 20, 1)))
attempt('softmax-add-plan', _tinyml.softmax, ap, view[0:20], view[20:40])
"""


def test_damaged_arguments_get_a_value_error_naming_the_problem():
    native_or_skip()
    out = run(REFUSALS)
    assert lines_with("S", out)[0] == "148" and lines_with("S1", out) == ["20"]
    results = dict(line.split(" ", 1) for line in lines_with("R", out))
    shape = "ValueError bad conv shape: sizes, TFLite's VALID/SAME output and padding, channels 1 or out_c, patch <= 65535"
    assert results == {
        "conv": "accepted",
        "conv-short-x": "ValueError x shorter than the input tensor",
        "conv-short-out": "ValueError out shorter than the output tensor",
        "conv-short-scratch": "ValueError scratch shorter than conv_scratch_bytes(params)",
        "conv-no-scratch": "ValueError scratch shorter than conv_scratch_bytes(params)",
        "conv-out-on-x": "ValueError out overlaps x",
        "conv-scratch-on-x": "ValueError scratch overlaps x, out, weights, bias, multipliers or shifts",
        "conv-scratch-on-out": "ValueError scratch overlaps x, out, weights, bias, multipliers or shifts",
        "conv-read-only-out": "TypeError object with buffer protocol required",
        "conv-wrong-plan": "TypeError plan must come from _tinyml.prepare_dwconv",
        "conv-fc-plan": "TypeError plan must come from _tinyml.prepare_conv",
        "conv-params-length": "ValueError params must hold 18 int32 (tml_conv_params)",
        "conv-pool-params": "ValueError params must hold 18 int32 (tml_conv_params)",
        "conv-short-w": "ValueError weights shorter than the filters",
        "conv-unaligned-bias": "ValueError bias must be 4-byte aligned (int32)",
        "conv-unaligned-mult": "ValueError multipliers must be 4-byte aligned (int32)",
        "conv-short-shift": "ValueError shifts shorter than n_channels",
        "conv-bad-shift": "ValueError bad multiplier, shift or rounding",
        "conv-bad-padding": shape,
        "conv-bad-zp": "ValueError bad activation range or zero point",
        "conv1x1-no-scratch": "ValueError scratch shorter than conv_scratch_bytes(params)",
        "conv1x1": "accepted",
        "conv-moved-weights": "accepted",
        "dw": "accepted",
        "dw-out-on-weights": "ValueError out overlaps weights",
        "dw-channels": "ValueError bad depthwise shape: sizes, TFLite's VALID/SAME output and padding, out_c == in_c, "
                       "channels 1 or out_c",
        "dw-short-w": "ValueError weights shorter than the filters",
        "avg": "accepted",
        "max-out-on-x": "ValueError out overlaps x",
        "max-short-out": "ValueError out shorter than the output tensor",
        "pool-shape": "ValueError bad pool shape: sizes, TFLite's VALID/SAME output and padding",
        "pool-range": "ValueError bad activation range or zero point",
        "add": "accepted",
        "add-in-place-x1": "accepted",
        "add-in-place-x2": "accepted",
        "add-out-on-x1": "ValueError out overlaps x1 (it may only be x1 itself)",
        "add-out-on-x2": "ValueError out overlaps x2 (it may only be x2 itself)",
        "add-short-x2": "ValueError x2 shorter than size",
        "add-shift": "ValueError bad add left_shift, offsets, multipliers, shifts or rounding",
        "add-size": "ValueError add size must be 1..16777216",
        "softmax": "accepted",
        "softmax-in-place": "ValueError out overlaps x",
        "softmax-depth": "ValueError softmax needs rows >= 1 and depth 1..511",
        "softmax-diff-min": "ValueError bad softmax multiplier, left shift or diff_min",
        "softmax-add-plan": "TypeError plan must come from _tinyml.prepare_softmax",
    }


# ---- the fuzz ----

# the ValueError messages (native/micropython/modtinyml.c) each status may give
MESSAGES = {
    window_fuzz.NULL: ("shorter than",),
    window_fuzz.SIZE: ("shorter than",),
    window_fuzz.ALIGN: ("must be 4-byte aligned",),
    window_fuzz.OVERLAP: ("overlaps",),
    window_fuzz.SHAPE: ("shape:", "add size must be", "softmax needs"),
    window_fuzz.QUANT: ("bad multiplier, shift or rounding", "bad add left_shift", "bad softmax multiplier"),
    window_fuzz.RANGE: ("bad activation range or zero point",),
}
RECORD = "<B18i16iBH"  # kind, params (zero-padded), (offset or -1, length) per buffer, read-only flag, arena size
CASES_PER_KIND = 60

FUZZ = """
from array import array
import struct
import _tinyml
from binascii import hexlify
KINDS = %r
RECORD = %r
FIELDS = (18, 18, 13, 13, 14, 5)
with open('cases.bin', 'rb') as f:
    n = 0
    while True:
        head = f.read(struct.calcsize(RECORD))
        if not head:
            break
        fields = struct.unpack(RECORD, head)
        kind, params, spans, ro, size = fields[0], fields[1:1 + FIELDS[fields[0]]], fields[19:35], fields[35], fields[36]
        arena = bytearray(f.read(size))
        view = memoryview(arena)
        b = [None if spans[2 * k] < 0 else view[spans[2 * k]:spans[2 * k] + spans[2 * k + 1]] for k in range(8)]
        x, x2, w, bias, mult, shift, out, scratch = [bytearray() if v is None and k != 7 else v for k, v in enumerate(b)]
        if ro:  # multipliers and shifts read-only: the plan uses them in place
            mult, shift = bytes(mult), bytes(shift)
        p = array('i', params)
        name = KINDS[kind]
        try:
            if name == 'conv':
                _tinyml.conv(_tinyml.prepare_conv(p, w, bias, mult, shift), x, out, scratch)
            elif name == 'dwconv':
                _tinyml.dwconv(_tinyml.prepare_dwconv(p, w, bias, mult, shift), x, out)
            elif name == 'avgpool':
                _tinyml.avgpool(_tinyml.prepare_pool(p), x, out)
            elif name == 'maxpool':
                _tinyml.maxpool(_tinyml.prepare_pool(p), x, out)
            elif name == 'add':
                _tinyml.add(_tinyml.prepare_add(p), x, x2, out)
            else:
                _tinyml.softmax(_tinyml.prepare_softmax(p), x, out)
            print('C', n, 'ok', hexlify(arena).decode())
        except ValueError as e:
            print('C', n, 'refused', hexlify(arena).decode(), e)
        n += 1
""" % (window_fuzz.KINDS, RECORD)


def test_binding_refuses_damaged_arguments_or_answers_right(tmp_path):
    native_or_skip()
    dll = window_fuzz.load(harness.build(tmp_path))
    rng = np.random.default_rng(4242)
    cases = [window_fuzz.damaged_case(rng, dll, kind) for _ in range(CASES_PER_KIND) for kind in window_fuzz.KINDS]
    records = bytearray()
    for k, case in enumerate(cases):
        spans = []
        for name in window_fuzz.BUFFERS:
            off = case.offsets.get(name)
            spans += [-1 if off is None else off, case.lengths.get(name, 0)]
        ro = k % 3 == 0 and not case.allowed and case.kind in ("conv", "dwconv")
        params = list(case.params) + [0] * (18 - len(case.params))
        records += struct.pack(RECORD, window_fuzz.KINDS.index(case.kind), *params, *spans, ro, len(case.arena))
        records += case.arena
    (tmp_path / "cases.bin").write_bytes(records)
    out = run(FUZZ, cwd=tmp_path)
    results = lines_with("C", out)
    assert len(results) == len(cases), out[-2000:]
    outcomes = {}
    for k, (case, line) in enumerate(zip(cases, results)):
        _, verdict, arena, *message = line.split(" ", 3)
        arena, message = bytes.fromhex(arena), " ".join(message)
        # writable multipliers and shifts are copied into the plan: out over the originals is harmless
        copied = case.allowed == {window_fuzz.OVERLAP} and {b for _, b in case.overlapped} <= {"mult", "shift"}
        if verdict == "ok":
            assert not case.allowed or copied, (k, case.kind, case.params, case.allowed)
            lo, hi = case.scratch_span()
            want = case.expected()
            assert arena[:lo] + arena[hi:] == want[:lo] + want[hi:], (k, case.kind, case.params)
        else:
            assert case.allowed, (k, case.kind, case.params, message)
            assert any(m in message for s in case.allowed for m in MESSAGES[s]), (k, case.kind, case.allowed, message)
            assert arena == case.arena, (k, "refused but wrote", message)
        outcomes.setdefault(case.kind, {}).setdefault(verdict, 0)
        outcomes[case.kind][verdict] += 1
    for kind, seen in outcomes.items():
        assert seen.get("ok", 0) >= CASES_PER_KIND // 4 and seen.get("refused", 0) >= CASES_PER_KIND // 6, outcomes
