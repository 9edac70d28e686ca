"""_tinyml.prepare and fc fuzzed in the real micropython binary: what harness.damaged_buffers
makes for the emulated cores (buffers at any alignment, shorter than the shape needs, int32
ones unaligned, out overlapping an input, empty ones, damaged params), handed to the binding as
memoryview slices of one bytearray. Each call raises a ValueError whose message names a
problem the contract allows for what was done, with every byte as it was, or writes the
reference's answer into out and nothing else. Never a crash.

Needs a _tinyml build (docs/firmware.md) on TINYML_MPY_PATH; skipped without one unless
TINYML_REQUIRE_NATIVE=1."""

import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
import harness  # noqa: E402
from mpy import lines_with, native_or_skip, run  # noqa: E402

CASES = 400

# the ValueError messages (native/micropython/modtinyml.c) each status may give
MESSAGES = {
    harness.TML_ERR_NULL: "shorter than",
    harness.TML_ERR_SIZE: "shorter than",
    harness.TML_ERR_ALIGN: "must be 4-byte aligned",
    harness.TML_ERR_OVERLAP: "out overlaps",
    harness.TML_ERR_SHAPE: "layer shape must be",
    harness.TML_ERR_QUANT: "bad multiplier, shift or rounding",
    harness.TML_ERR_RANGE: "bad activation range or zero point",
}

RECORD = "<7i12iBH"  # params, (offset or -1, length) per buffer, read-only flag, arena size; then the arena

SCRIPT = """
from array import array
import struct
import _tinyml
from binascii import hexlify
RECORD = '%s'
with open('cases.bin', 'rb') as f:
    n = 0
    while True:
        head = f.read(struct.calcsize(RECORD))
        if not head:
            break
        fields = struct.unpack(RECORD, head)
        params, spans, ro, size = fields[:7], fields[7:19], fields[19], fields[20]
        arena = bytearray(f.read(size))
        view = memoryview(arena)
        bufs = [bytearray() if spans[2 * k] < 0 else view[spans[2 * k]:spans[2 * k] + spans[2 * k + 1]] for k in range(6)]
        x, w, bias, mult, shift, out = bufs
        if ro:  # multipliers and shifts read-only: the plan uses them in place
            mult, shift = bytes(mult), bytes(shift)
        try:
            plan = _tinyml.prepare(array('i', params), w, bias, mult, shift)
            _tinyml.fc(plan, x, out)
            print('C', n, 'ok', hexlify(arena).decode())
        except ValueError as e:
            print('C', n, 'refused', hexlify(arena).decode(), e)
        n += 1
""" % RECORD


def test_binding_refuses_bad_buffers_or_answers_right(tmp_path):
    native_or_skip()
    rng = np.random.default_rng(1805)
    cases = [harness.damaged_buffers(rng) for _ in range(CASES)]
    records, read_only = bytearray(), []
    for k, case in enumerate(cases):
        spans = []
        for b in harness.BUFFERS:
            spans += [-1 if case.offsets[b] is None else case.offsets[b], case.lengths[b]]
        ro = k % 3 == 0 and not case.allowed  # every third valid case: mult and shift as bytes, used in place
        read_only.append(ro)
        records += struct.pack(RECORD, *case.params, *spans, ro, len(case.arena)) + case.arena
    (tmp_path / "cases.bin").write_bytes(records)
    out = run(SCRIPT, cwd=tmp_path)
    results = lines_with("C", out)
    assert len(results) == CASES, out[-2000:]
    outcomes = {"ok": 0, "refused": 0}
    for k, (case, line) in enumerate(zip(cases, results)):
        n, verdict, arena, *message = line.split(" ", 3)
        arena, message = bytes.fromhex(arena), " ".join(message)
        # the binding copies writable multipliers and shifts into the plan: out may overlap
        # the originals, and the call runs (the kernel reads the copies)
        copied = case.allowed == {harness.TML_ERR_OVERLAP} and case.overlapped <= {"mult", "shift"}
        if verdict == "ok":
            assert not case.allowed or copied, (k, case.params, case.allowed)
            assert arena == case.expected(), (k, case.params)
        else:
            assert case.allowed, (k, case.params, message)
            assert any(MESSAGES[s] in message for s in case.allowed), (k, case.allowed, message)
            assert arena == case.arena, (k, "refused but wrote", message)
        outcomes[verdict] += 1
    assert outcomes["ok"] >= CASES // 5 and outcomes["refused"] >= CASES // 3, outcomes


RUN_OVERLAPS = """
from array import array
import _tinyml
def plan(n_in, n_out, seed):
    w = bytearray((seed * 37 + 11 * i) & 0xFF for i in range(n_in * n_out))
    return _tinyml.prepare(array('i', (n_in, n_out, 1, -128, 127, 0, 0)), w, array('i', [5] * n_out),
                           array('i', (1 << 29,)), array('b', (0,)))
plans = (plan(6, 8, 1), plan(8, 3, 2))
scratch = bytearray(16)
model = _tinyml.prepare_model(plans, scratch)
buf = bytearray(64)
view = memoryview(buf)
for i in range(6):
    buf[i] = (i * 29) & 0xFF
x = view[0:6]
def attempt(label, x, out):
    try:
        _tinyml.run(model, x, out)
        print('R', label, 'ok', bytes(out).hex())
    except ValueError as e:
        print('R', label, 'ValueError', e)
hidden, want = bytearray(8), bytearray(3)
_tinyml.fc(plans[0], x, hidden)
_tinyml.fc(plans[1], hidden, want)
print('W', want.hex())
attempt('apart', x, view[32:35])
attempt('out-on-x', x, view[4:7])
attempt('out-in-scratch', x, memoryview(scratch)[2:5])
attempt('x-in-scratch', memoryview(scratch)[0:6], view[32:35])
attempt('short-out', x, view[32:34])
"""


def test_run_refuses_overlapping_out_x_and_scratch():
    """The whole-model call: out over x, out or x inside the model's scratch, a short out:
    each a ValueError naming it; apart, the same bytes as the layers one by one."""
    native_or_skip()
    out = run(RUN_OVERLAPS)
    results = dict(line.split(" ", 1) for line in lines_with("R", out))
    assert results["apart"] == "ok " + lines_with("W", out)[0]
    assert results["out-on-x"] == "ValueError out overlaps x"
    assert results["out-in-scratch"] == "ValueError scratch overlaps x, out, weights or bias"
    assert results["x-in-scratch"] == "ValueError scratch overlaps x, out, weights or bias"
    assert results["short-out"] == "ValueError out shorter than n_out"
