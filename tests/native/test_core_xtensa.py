"""native/core cross-compiled for Xtensa LX106 and run under QEMU, bit-exact with numpy.

The ESP8266's LX106 core has the base Xtensa ISA of the ESP32 (LX6) and ESP32-S3 (LX7), which
add options (MUL32_HIGH, SEXT, MIN/MAX, zero-overhead loops, MAC16, windowed registers) GCC uses
only when told: this is the portable path as GCC 12 builds it for the lowest common core.
QEMU's lx106 raises an exception on an unaligned 16/32-bit access, and the driver's exception
vectors end the run, so an unaligned word load of int8 data fails the test. Many calls go to
one QEMU run (native/tools/xtensarun.py): a job of layers in, statuses and outputs back.

Needs xtensa-lx106-elf-gcc and qemu-system-xtensa (`make test` installs them: .ci/system-packages.txt);
when one is missing these tests fail and say what to install.
"""

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import harness

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import xtensarun  # noqa: E402

from tinyml_host.reference import fully_connected, requantize  # noqa: E402
from tinyml_host.tmdl import Layer  # noqa: E402

KERNELS = ("tml_fc_s8", "tml_fc_s8_ref")
# tml_fc_s8 trusts parameters that passed tml_fc_check (tinyml.h): damaged ones go through both,
# as a binding runs them (native/tools emu_support.c, xtensa_driver.c)
CHECKED_KERNELS = ("tml_fc_s8_checked", "tml_fc_s8_ref")
ERRORS = {"TML_OK": 0, "TML_ERR_NULL": -1, "TML_ERR_SHAPE": -2, "TML_ERR_QUANT": -3, "TML_ERR_RANGE": -4}


def _require_tools():
    try:
        xtensarun.require_tools()
    except xtensarun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    _require_tools()
    return tmp_path_factory.mktemp("xtensa")


@pytest.fixture(scope="module")
def elf(build_dir):
    return xtensarun.build(build_dir)


def test_cross_toolchain_and_qemu_installed():
    _require_tools()


def _run_checked(elf, cases):
    """cases: (layer, x, rounding, misalign, what); both kernels on each, in one QEMU run."""
    job = xtensarun.Job()
    handles = [(case, [job.fc(k, case[0], case[1], case[2], misalign=case[3]) for k in KERNELS]) for case in cases]
    result = xtensarun.run(elf, job)
    assert result.variant == "portable"
    for (layer, x, rounding, misalign, what), hs in handles:
        expected = fully_connected(x.reshape(1, -1), layer, rounding).reshape(-1)
        for kernel, h in zip(KERNELS, hs):
            status, got = result.fc(h)
            assert status == 0, (what, kernel, status)
            assert np.array_equal(got, expected), (
                f"lx106 {kernel} {what} {layer.weights.shape} {rounding} misalign {misalign}: "
                f"first differences at {np.flatnonzero(got != expected)[:5]}")


def _random_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(count):
        layer, x = harness.random_layer(rng, 1024)
        cases.append((layer, x, "litert" if k % 2 else "tflm", k % 4, f"layer {k}"))
    return cases


def _run_in_parallel(elf, cases, jobs=2):
    """QEMU runs one CPU per process: two jobs side by side on a 2-core machine."""
    chunks = [cases[k::jobs] for k in range(jobs)]
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda chunk: _run_checked(elf, chunk), chunks))


def test_400_random_layers_bit_exact(elf):
    """harness.random_layer: log-uniform shapes 1..1024, saturating/sparse/random values, extreme
    scales, per-tensor and per-channel, both roundings, x/weights/out at every alignment."""
    cases = _random_cases(400, seed=2024)
    shapes = [c[0].weights.shape for c in cases]
    assert max(max(s) for s in shapes) > 900  # the big ones were there
    assert sum(1 for s in shapes if s[0] % 2 and s[1] % 4) > 40  # and odd ones
    _run_in_parallel(elf, cases)


def test_every_loop_tail(elf):
    """n_in 1..40 against n_out 1..9 and a few long rows: every remainder of the unrolled loops."""
    rng = np.random.default_rng(7)
    shapes = [(i, o) for i in range(1, 41) for o in range(1, 10)]
    shapes += [(1024, 1), (1, 1024), (1023, 5), (1021, 7), (257, 64), (64, 256)]
    cases = []
    for k, (n_in, n_out) in enumerate(shapes):
        layer, x = harness.layer_of_shape(rng, n_in, n_out)
        cases.append((layer, x, "litert" if k % 2 else "tflm", k % 4, f"shape {n_in}x{n_out}"))
    _run_checked(elf, cases)


@pytest.mark.parametrize("opt", ["-O3", "-Os"])
def test_other_optimization_levels(build_dir, opt):
    """Firmware builds use -Os (the ESP32 and ESP8266 ports) or -O3: other code, same results."""
    elf = xtensarun.build(build_dir, opt=opt)
    rng = np.random.default_rng(3)
    cases = _random_cases(100, seed=99)
    for k, (n_in, n_out) in enumerate((i, o) for i in range(1, 18) for o in range(1, 6)):
        layer, x = harness.layer_of_shape(rng, n_in, n_out)
        cases.append((layer, x, "litert" if k % 2 else "tflm", k % 4, f"shape {n_in}x{n_out}"))
    _run_checked(elf, cases)


def test_requantize_matches_reference_on_edges(elf):
    """tml_requantize, through the 64-bit multiply lx106 does in software (xtensa_libgcc.c)."""
    rng = np.random.default_rng(5)
    accs = np.concatenate([[-(1 << 31), (1 << 31) - 1, 0, 1, -1], rng.integers(-(1 << 31), 1 << 31, 1000)])
    job = xtensarun.Job()
    handles = []
    for rounding, code in (("tflm", 0), ("litert", 1)):
        for shift in (-31, -17, -1, 0, 1, 7, 30):
            for m in (0, 1, 1 << 30, (1 << 31) - 1, 1518500250):
                handles.append((rounding, shift, m, job.requantize_many(accs, m, shift, code)))
    result = xtensarun.run(elf, job)
    for rounding, shift, m, h in handles:
        want = requantize(accs, np.full(len(accs), m), np.full(len(accs), shift), rounding)
        assert np.array_equal(result.requantized(h), want), (rounding, shift, m)


def test_bad_arguments_get_status_codes(elf):
    rng = np.random.default_rng(0)
    layer, x = harness.layer_of_shape(rng, 8, 6)
    layer.multiplier, layer.shift = layer.multiplier[:1].copy(), layer.shift[:1].copy()
    p = [8, 6, 1, -128, 127, 0, 0]
    job = xtensarun.Job()
    expect = []

    def add(want, params=None, null=None, mult=None, shift=None):
        lay = Layer(layer.weights, layer.bias, layer.multiplier if mult is None else np.array([mult], np.int32),
                    layer.shift if shift is None else np.array([shift], np.int8), -128, 127, 0)
        # tml_fc_s8 trusts parameters that passed tml_fc_check (tinyml.h); the reference checks them
        for kernel in KERNELS if want in ("TML_OK", "TML_ERR_NULL") else ("tml_fc_s8_ref",):
            h = job.fc(kernel, lay, x, "tflm", params=tuple(p if params is None else params), null=null)
            expect.append((h, kernel, want, (params, null, mult, shift)))

    add("TML_OK")
    for name in ("p", "x", "w", "bias", "mult", "shift", "out"):
        add("TML_ERR_NULL", null=name)
    for bad in ([0, 6], [8, 0], [-1, 6], [65536, 6], [8, 6, 2], [8, 6, 0]):
        add("TML_ERR_SHAPE", params=bad + p[len(bad):])
    add("TML_ERR_QUANT", params=p[:6] + [2])
    add("TML_ERR_QUANT", shift=31)
    add("TML_ERR_QUANT", shift=-32)
    add("TML_ERR_QUANT", mult=-5)
    for bad in ([5, -5], [-129, 0], [0, 128]):
        add("TML_ERR_RANGE", params=p[:3] + bad + p[5:])
    add("TML_ERR_RANGE", params=p[:5] + [128, 0])
    add("TML_OK", mult=1 << 30)
    result = xtensarun.run(elf, job)
    for h, kernel, want, what in expect:
        assert result.status(h) == ERRORS[want], (kernel, want, what)
        if want != "TML_OK":   # nothing written on an error
            assert not any(result.output(h)), (kernel, want, what)


def test_damaged_arguments_get_a_status_or_the_right_answer(elf):
    """Fuzz, as on the Unicorn cores: 300 calls per kernel with damaged params at every
    alignment, in one QEMU run: an allowed status code with nothing written, or (all valid) the
    reference's answer; a fault or a write past the output ends the run with an error."""
    rng = np.random.default_rng(18)
    job = xtensarun.Job()
    cases = []
    for k in range(300):
        layer, x, p, allowed = harness.damaged_arguments(rng)
        handles = [job.fc(kernel, layer, x, "tflm", misalign=k % 4, params=p) for kernel in CHECKED_KERNELS]
        cases.append((k, layer, x, p, allowed, handles))
    result = xtensarun.run(elf, job)
    valid = 0
    for k, layer, x, p, allowed, handles in cases:
        for kernel, h in zip(CHECKED_KERNELS, handles):
            status, got = result.status(h), np.frombuffer(bytes(result.output(h)), np.int8)
            if allowed:
                assert status in allowed and not got.any(), (kernel, k, p, status, allowed)
                continue
            layer.act_min, layer.act_max, layer.output_zp = p[3], p[4], p[5]
            expected = fully_connected(x.reshape(1, -1), layer, "litert" if p[6] else "tflm").reshape(-1)
            assert status == 0 and np.array_equal(got, expected), (kernel, k, p, status)
        valid += not allowed
    assert 30 <= valid <= 270, valid


def test_a_fault_ends_the_run_with_a_clear_error(elf):
    """The driver's exception vectors: a load from an unmapped address stops QEMU at once."""
    rng = np.random.default_rng(1)
    layer, x = harness.layer_of_shape(rng, 8, 4)
    job = xtensarun.Job()
    job.fc("tml_fc_s8", layer, x, "tflm")
    job.calls[-1].args[1] = 0x1000_0000   # x: nothing is mapped there
    with pytest.raises(xtensarun.EmuFault, match="exception"):
        xtensarun.run(elf, job, timeout=30)


def test_instruction_counts_are_exact(elf):
    """CCOUNT under -icount counts instructions: a loop of 2 n + 1 instructions for n up to 10^6."""
    cal = xtensarun.calibrate(elf)
    assert cal.ticks_per_instruction == pytest.approx(40.96)
    assert 0 < cal.call_overhead < 20


def test_checked_call_refuses_bad_buffers_or_answers_right(elf):
    """The binding's path fuzzed as on the Unicorn cores (test_core_emulated.py): 400 calls of
    tml_fc_run_checked with short, unaligned, overlapping or NULL buffers or damaged params, in
    one QEMU run: an allowed status with every byte as it was, or the reference's answer in
    out and nothing else written; a fault ends the run with an error."""
    rng = np.random.default_rng(1804)
    job = xtensarun.Job()
    cases = [harness.damaged_buffers(rng) for _ in range(400)]
    handles = [job.fc_checked(case) for case in cases]
    result = xtensarun.run(elf, job)
    outcomes = {}
    for k, (case, h) in enumerate(zip(cases, handles)):
        status, arena = result.status(h), bytes(result.output(h))
        if case.allowed:
            assert status in case.allowed and arena == case.arena, (k, case.params, status, case.allowed)
        else:
            assert status == 0 and arena == case.expected(), (k, case.params, status)
        outcomes[status] = outcomes.get(status, 0) + 1
    assert set(outcomes) >= {0, -1, -2, -3, -4, -5, -6, -7} and outcomes[0] >= 80, outcomes
