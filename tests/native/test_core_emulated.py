"""native/core cross-compiled for Cortex-M0+, M4, M33 and rv32imac, run under Unicorn, bit-exact with numpy.

The oracle is `tinyml_host.reference.fully_connected` (itself tested bit-exact against TFLite).
The M0+ build runs on Unicorn's Cortex-M0 model (Armv6-M, like the M0+): a Thumb-2 or DSP
instruction, or an unaligned word access, faults there and fails the test. The rv32imac build
(RP2350's Hazard3 cores; natmod ARCH rv32imc) runs on Unicorn's SiFive E31 model. The int8
buffers are placed at every alignment; 16 guard bytes after the output must stay untouched.

Needs arm-none-eabi-gcc and riscv64-unknown-elf-gcc (`make test` installs them: .ci/system-packages.txt)
and unicorn (PyPI, a dev dependency); when one is missing these tests fail and say what to install.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import harness

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402

from tinyml_host.reference import fully_connected, requantize  # noqa: E402

CPUS = list(crossrun.CPUS)
KERNELS = ("tml_fc_s8", "tml_fc_s8_ref")
# tml_fc_s8 trusts parameters that passed tml_fc_check (tinyml.h): damaged ones go through both,
# as a binding runs them (native/tools emu_support.c, xtensa_driver.c)
CHECKED_KERNELS = ("tml_fc_s8_checked", "tml_fc_s8_ref")
ERRORS = {"TML_OK": 0, "TML_ERR_NULL": -1, "TML_ERR_SHAPE": -2, "TML_ERR_QUANT": -3, "TML_ERR_RANGE": -4}


def _require_tools(cpus=CPUS):
    try:
        for cpu in cpus:
            crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module", params=CPUS)
def machine(request, tmp_path_factory):
    cpu = request.param
    _require_tools([cpu])
    elf = crossrun.build(cpu, tmp_path_factory.mktemp(f"emu-{cpu}"))
    return crossrun.Machine(elf, cpu)


def test_cross_toolchain_and_emulator_installed():
    _require_tools()


def test_each_cpu_runs_its_own_path(machine):
    assert machine.variant() == machine.cpu.variant


def _check(machine, layer, x, rounding, misalign, what):
    expected = fully_connected(x.reshape(1, -1), layer, rounding).reshape(-1)
    for kernel in KERNELS:
        status, got = machine.fc(kernel, layer, x, rounding, misalign=misalign)
        assert status == 0, (what, kernel, status)
        assert np.array_equal(got, expected), (
            f"{machine.cpu.name} {kernel} {what} {layer.weights.shape} {rounding} misalign {misalign}: "
            f"first differences at {np.flatnonzero(got != expected)[:5]}")


def _random_layers(machine, count, seed):
    rng = np.random.default_rng(seed)
    shapes = []
    for k in range(count):
        layer, x = harness.random_layer(rng, 1024)
        shapes.append(layer.weights.shape)
        _check(machine, layer, x, "litert" if k % 2 else "tflm", k % 4, f"layer {k}")
    return shapes


def test_1000_random_layers_bit_exact(machine):
    """harness.random_layer: log-uniform shapes 1..1024, saturating/sparse/random values, extreme scales."""
    shapes = _random_layers(machine, 1000, seed=2024)
    assert max(max(s) for s in shapes) > 900  # the big ones were there
    assert sum(1 for s in shapes if s[1] % 2 and s[0] % 4) > 100  # and odd ones


@pytest.mark.parametrize("opt", ["-O3", "-Os"])
@pytest.mark.parametrize("cpu", CPUS)
def test_other_optimization_levels(cpu, opt, tmp_path_factory):
    """Firmware builds use -Os or -O3 too: other code from GCC, same results."""
    _require_tools([cpu])
    machine = crossrun.Machine(crossrun.build(cpu, tmp_path_factory.mktemp(f"emu-{cpu}{opt}"), opt=opt), cpu)
    assert machine.variant() == machine.cpu.variant
    _random_layers(machine, 200, seed=99)
    rng = np.random.default_rng(3)
    for k, (n_in, n_out) in enumerate((i, o) for i in range(1, 18) for o in range(1, 6)):
        layer, x = harness.layer_of_shape(rng, n_in, n_out)
        _check(machine, layer, x, "litert" if k % 2 else "tflm", k % 4, f"shape {n_in}x{n_out}")


def test_every_loop_tail(machine):
    """n_in 1..40 against n_out 1..9 and a few long rows: every remainder of the unrolled loops."""
    rng = np.random.default_rng(7)
    shapes = [(i, o) for i in range(1, 41) for o in range(1, 10)]
    shapes += [(1024, 1), (1, 1024), (1023, 5), (1021, 7), (257, 64), (64, 256)]
    for k, (n_in, n_out) in enumerate(shapes):
        layer, x = harness.layer_of_shape(rng, n_in, n_out)
        _check(machine, layer, x, "litert" if k % 2 else "tflm", k % 4, f"shape {n_in}x{n_out}")


def test_whole_models_in_one_call_bit_exact(machine):
    """tml_model_run on 40 random chains of 1-5 layers: the reference run layer by layer."""
    rng = np.random.default_rng(21)
    for k in range(40):
        widths = [int(rng.integers(1, 90)) for _ in range(int(rng.integers(2, 7)))]
        layers = [harness.layer_of_shape(rng, a, b)[0] for a, b in zip(widths, widths[1:])]
        x = rng.integers(-128, 128, size=widths[0]).astype(np.int8)
        rounding = "litert" if k % 2 else "tflm"
        expected = x.reshape(1, -1)
        for layer in layers:
            expected = fully_connected(expected, layer, rounding)
        checked, status, got = machine.model(layers, x, rounding)
        assert (checked, status) == (0, 0) and np.array_equal(got, expected.reshape(-1)), (k, widths)


def test_requantize_matches_reference_on_edges(machine):
    rng = np.random.default_rng(5)
    accs = np.concatenate([[-(1 << 31), (1 << 31) - 1, 0, 1, -1], rng.integers(-(1 << 31), 1 << 31, 1000)])
    for rounding, code in (("tflm", 0), ("litert", 1)):
        for shift in (-31, -17, -1, 0, 1, 7, 30):
            for m in (0, 1 << 30, (1 << 31) - 1, 1518500250):
                want = requantize(accs, np.full(len(accs), m), np.full(len(accs), shift), rounding)
                got = machine.requantize_many(accs, m, shift, code)
                assert np.array_equal(got, want), (machine.cpu.name, rounding, shift, m)


@pytest.mark.parametrize("kernel", KERNELS)
def test_bad_arguments_get_status_codes(machine, kernel):
    rng = np.random.default_rng(0)
    layer, x = harness.layer_of_shape(rng, 8, 6)
    layer.multiplier, layer.shift = layer.multiplier[:1], layer.shift[:1]
    p = [8, 6, 1, -128, 127, 0, 0]

    def status(params=None, null=None):
        q = list(p) if params is None else params
        return machine.fc(kernel, layer, x, "tflm", params=tuple(q), null=null)[0]

    assert status() == ERRORS["TML_OK"]
    for name in ("p", "x", "w", "bias", "mult", "shift", "out"):
        assert status(null=name) == ERRORS["TML_ERR_NULL"], name
    if kernel == "tml_fc_s8":
        return  # it trusts parameters that passed tml_fc_check (tinyml.h); the reference checks them
    for bad in ([0, 6], [8, 0], [-1, 6], [65536, 6], [8, 6, 2], [8, 6, 0]):
        assert status(bad + p[len(bad):]) == ERRORS["TML_ERR_SHAPE"], bad
    assert status(p[:6] + [2]) == ERRORS["TML_ERR_QUANT"]
    layer.shift[0] = 31
    assert status() == ERRORS["TML_ERR_QUANT"]
    layer.shift[0] = -32
    assert status() == ERRORS["TML_ERR_QUANT"]
    layer.shift[0] = 0
    layer.multiplier[0] = -5
    assert status() == ERRORS["TML_ERR_QUANT"]
    layer.multiplier[0] = 1 << 30
    for bad in ([5, -5], [-129, 0], [0, 128]):
        assert status(p[:3] + bad + p[5:]) == ERRORS["TML_ERR_RANGE"], bad
    assert status(p[:5] + [128, 0]) == ERRORS["TML_ERR_RANGE"]
    assert status() == ERRORS["TML_OK"]


@pytest.mark.parametrize("kernel", CHECKED_KERNELS)
def test_damaged_arguments_get_a_status_or_the_right_answer(machine, kernel):
    """Fuzz: 300 calls with damaged params at every alignment. Each returns a status code the
    contract allows for what was damaged, or (all valid) the reference's answer; never a
    fault, a timeout, or a write past the output (all three raise crossrun.EmuFault)."""
    rng = np.random.default_rng(18)
    valid = 0
    for k in range(300):
        layer, x, p, allowed = harness.damaged_arguments(rng)
        status, got = machine.fc(kernel, layer, x, "tflm", misalign=k % 4, params=p)
        if allowed:
            assert status in allowed and not got.any(), (k, p, status, allowed)
            continue
        valid += 1
        layer.act_min, layer.act_max, layer.output_zp = p[3], p[4], p[5]
        expected = fully_connected(x.reshape(1, -1), layer, "litert" if p[6] else "tflm").reshape(-1)
        assert status == 0 and np.array_equal(got, expected), (k, p, status)
    assert 30 <= valid <= 270, valid  # both outcomes well represented


def test_checked_call_refuses_bad_buffers_or_answers_right(machine):
    """Fuzz of what the MicroPython binding hands the core (tml_fc_run_checked: the checks of
    prepare and fc, then the kernel): 400 calls with buffers at any alignment, shorter than
    the shape needs, int32 ones unaligned, out overlapping an input, a NULL, or params damaged.
    Each returns a status the contract allows and leaves every byte as it was, or (nothing
    wrong) writes the reference's answer into out and nothing else; never a fault."""
    rng = np.random.default_rng(1804)
    outcomes = {}
    for k in range(400):
        case = harness.damaged_buffers(rng)
        status, arena = machine.fc_checked(case)
        if case.allowed:
            assert status in case.allowed and arena == case.arena, (k, case.params, status, case.allowed)
        else:
            assert status == 0 and arena == case.expected(), (k, case.params, status)
        outcomes[status] = outcomes.get(status, 0) + 1
    # every refusal the checks make was reached, and plenty of calls ran
    assert set(outcomes) >= {0, -1, -2, -3, -4, -5, -6, -7} and outcomes[0] >= 80, outcomes
