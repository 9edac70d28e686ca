"""_tinyml, the binding of native/core, in the real micropython binary: prepare() checks a
layer once (the C kernel then trusts it), and refuses int32 buffers that are not 4-byte
aligned, which a Cortex-M0+ cannot load by words (a HardFault reachable from Python)."""

from mpy import lines_with, native_or_skip, run


BINDING = """
from array import array
import _tinyml

params = array('i', (4, 2, 1, -128, 127, 0, 0))  # tml_fc_params: 4 -> 2, per tensor, tflm
w = array('b', (1, 2, 3, 4, -1, -2, -3, -4))
bias = array('i', (0, 0))
mult = array('i', (1 << 30,))
shift = array('b', (0,))
x = array('b', (10, 20, 30, 40))
out = array('b', (0, 0))

def attempt(label, *args):
    try:
        _tinyml.prepare(*args)
        print('R', label, 'accepted')
    except ValueError as e:
        print('R', label, 'ValueError', e)

def unaligned(n):
    return memoryview(bytearray(n + 4))[1:]

attempt('aligned', params, w, bias, mult, shift)
attempt('bias', params, w, unaligned(8), mult, shift)
attempt('mult', params, w, bias, unaligned(4), shift)
attempt('weights', params, unaligned(8), bias, mult, shift)  # int8: byte loads, any address
attempt('shift', params, w, bias, mult, array('b', (31,)))
attempt('rounding', array('i', (4, 2, 1, -128, 127, 0, 2)), w, bias, mult, shift)
attempt('short-bias', params, w, array('i', (0,)), mult, shift)

plan = _tinyml.prepare(params, w, bias, mult, shift)
_tinyml.fc(plan, x, out)
print('Y', *out)  # (10 + 40 + 90 + 160) / 2 = 150 -> 127 clamped; -150 -> -128
mult[0] = -5      # the plan holds a checked copy of a writable array's multipliers
shift[0] = 99
_tinyml.fc(plan, x, out)
print('Y', *out)
try:
    _tinyml.fc((params, w, bias, mult, shift), x, out)
except TypeError as e:
    print('T', e)
ro = _tinyml.prepare(params, w, bias, bytes(array('i', (1 << 29,))), bytes(1))  # read-only: used in place
_tinyml.fc(ro, x, out)
print('Y', *out)  # 300 / 4 = 75
"""


def test_prepare_checks_once_and_refuses_unaligned_int32_buffers():
    native_or_skip()
    out = run(BINDING)
    results = dict(line.split(" ", 1) for line in lines_with("R", out))
    assert results["aligned"] == "accepted"
    assert results["bias"] == "ValueError bias must be 4-byte aligned (int32)"
    assert results["mult"] == "ValueError multipliers must be 4-byte aligned (int32)"
    assert results["weights"] == "accepted"
    assert results["shift"] == "ValueError bad multiplier, shift or rounding"
    assert results["rounding"] == "ValueError bad multiplier, shift or rounding"
    assert results["short-bias"] == "ValueError bias shorter than n_out"
    # w rows (1, 2, 3, 4) and (-1, -2, -3, -4) on x (10, 20, 30, 40): +-300, times 2**30 / 2**31
    assert lines_with("Y", out) == ["127 -128", "127 -128", "75 -75"]
    assert lines_with("T", out) == ["plan must come from _tinyml.prepare"]


WHOLE_MODEL = """
import gc
from array import array
import _tinyml

def layer(n_in, n_out, seed):
    w = array('b', ((seed * 7 + k * 13) % 256 - 128 for k in range(n_in * n_out)))
    bias = array('i', ((seed * 1000 + o * 37) % 4001 - 2000 for o in range(n_out)))
    params = array('i', (n_in, n_out, 1, -128, 127, seed % 7 - 3, seed % 2))
    return _tinyml.prepare(params, w, bias, array('i', (1 << 24,)), array('b', (-2,)))

plans = [layer(20, 12, 1), layer(12, 9, 2), layer(9, 5, 3)]
x = array('b', ((k * 29) % 256 - 128 for k in range(20)))
# layer by layer through fc, the loop run() replaces
h1, h2, expected = array('b', bytes(12)), array('b', bytes(9)), array('b', bytes(5))
_tinyml.fc(plans[0], x, h1)
_tinyml.fc(plans[1], h1, h2)
_tinyml.fc(plans[2], h2, expected)
model = _tinyml.prepare_model(plans, bytearray(24))
out = array('b', bytes(5))
_tinyml.run(model, x, out)
print('E', out == expected, list(out) != [0] * 5)
gc.collect()
before = gc.mem_alloc()
for _ in range(10):
    _tinyml.run(model, x, out)
print('A', gc.mem_alloc() - before)

def attempt(label, f, *args):
    try:
        f(*args)
        print('R', label, 'accepted')
    except (ValueError, TypeError) as e:
        print('R', label, type(e).__name__, e)

attempt('chain', _tinyml.prepare_model, [plans[0], plans[2]], bytearray(24))
attempt('scratch', _tinyml.prepare_model, plans, bytearray(23))
attempt('read-only-scratch', _tinyml.prepare_model, plans, bytes(24))
attempt('empty', _tinyml.prepare_model, [], bytearray(24))
attempt('not-a-plan', _tinyml.prepare_model, [plans[0], 'x'], bytearray(24))
attempt('not-a-model', _tinyml.run, plans[0], x, out)
attempt('short-x', _tinyml.run, model, array('b', bytes(19)), out)
attempt('short-out', _tinyml.run, model, x, array('b', bytes(4)))
attempt('one-layer', _tinyml.prepare_model, (plans[0],), bytearray(0))
"""


def test_whole_model_in_one_call_matches_the_layer_loop_and_allocates_nothing():
    native_or_skip()
    out = run(WHOLE_MODEL)
    assert lines_with("E", out) == ["True True"]
    assert lines_with("A", out) == ["0"]
    results = dict(line.split(" ", 1) for line in lines_with("R", out))
    assert results == {
        "chain": "ValueError each layer's n_in must be the previous layer's n_out",
        "scratch": "ValueError scratch shorter than twice the widest hidden layer",
        "read-only-scratch": "TypeError object with buffer protocol required",
        "empty": "ValueError a model has 1..255 layers",
        "not-a-plan": "TypeError plan must come from _tinyml.prepare",
        "not-a-model": "TypeError model must come from _tinyml.prepare_model",
        "short-x": "ValueError x shorter than n_in",
        "short-out": "ValueError out shorter than n_out",
        "one-layer": "accepted",
    }


SCATTER = """
import gc
import _tinyml
import tinyml.model as model

def case(positions, n, stride, first, seed):
    src = bytearray((seed * 31 + k * 7) % 256 for k in range(positions * n))
    a = bytearray(b'\\xee' * (first + (positions - 1) * stride + n + 3)) if positions else bytearray(5)
    b = bytearray(a)
    _tinyml.scatter(src, a, positions, n, stride, first)
    model._scatter(src, b, positions, n, stride, first)   # model.py's loop: the other computation
    return a == b and a != bytearray(b'\\xee' * len(a)) or positions * n == 0

print('S', all(case(p, n, s, f, p + n + s + f) for p, n, s, f in
               ((1, 1, 1, 0), (7, 3, 8, 2), (49, 8, 16, 8), (10, 5, 5, 0), (3, 4, 64, 60), (0, 4, 4, 0))))
src, dst = bytearray(64), bytearray(200)
i = before = 0   # globals made before measuring: a new one grows the module's dict
gc.collect()
before = gc.mem_alloc()
while i < 20:   # no range object: small ints only
    _tinyml.scatter(src, dst, 8, 8, 24, 8)
    i += 1
print('A', gc.mem_alloc() - before)
for label, args in (('src short', (bytearray(15), dst, 2, 8, 24, 0)), ('dst short', (src, bytearray(40), 2, 8, 24, 9)),
                    ('stride < n', (src, dst, 2, 8, 4, 0)), ('negative', (src, dst, -1, 8, 8, 0)),
                    ('huge', (src, dst, 1 << 29, 8, 1 << 20, 0)), ('read-only dst', (src, bytes(200), 2, 8, 24, 0))):
    try:
        _tinyml.scatter(*args)
        print('E', label + '|accepted')
    except (ValueError, TypeError) as e:
        print('E', label + '|' + type(e).__name__)
"""


def test_scatter_puts_a_blocks_channels_in_place_checks_every_index_and_allocates_nothing():
    # what a streamed CONV_2D on native does with each block of output channels (model._Streamed)
    native_or_skip()
    out = run(SCATTER)
    assert lines_with("S", out) == ["True"] and lines_with("A", out) == ["0"]
    refused = dict(line.split("|") for line in lines_with("E", out))
    assert refused == {"src short": "ValueError", "dst short": "ValueError", "stride < n": "ValueError",
                       "negative": "ValueError", "huge": "ValueError", "read-only dst": "TypeError"}, refused
