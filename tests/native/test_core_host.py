"""native/core on the host: bit-exact with the numpy reference, clean under ASan and UBSan."""

import os
import subprocess
import sys

import numpy as np
import pytest

import harness

ERRORS = {"TML_OK": 0, "TML_ERR_NULL": -1, "TML_ERR_SHAPE": -2, "TML_ERR_QUANT": -3, "TML_ERR_RANGE": -4}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return harness.build(tmp_path_factory.mktemp("native"))


def test_portable_path_on_host(lib):
    assert harness.load(lib).tml_fc_s8_variant() == b"portable"


def test_3000_random_layers_bit_exact(lib):
    assert harness.check(lib, 3000, seed=11) == 0


def test_300_random_models_in_one_call_bit_exact(lib):
    assert harness.check_models(lib, 300, seed=13) == 0


def test_model_check_refuses_a_broken_chain_and_bad_layers(lib):
    dll = harness.load(lib)
    rng = np.random.default_rng(5)
    first, x = harness.layer_of_shape(rng, 8, 6)
    second, _ = harness.layer_of_shape(rng, 6, 3)
    wrong, _ = harness.layer_of_shape(rng, 5, 3)  # n_in 5 after a layer of n_out 6
    assert harness.run_model(dll, [first, second], x, "tflm")[:2] == (0, 0)
    table, keep = harness.model_layers([first, wrong], "tflm")
    assert dll.tml_model_check(table, 2) == ERRORS["TML_ERR_SHAPE"]
    table, keep = harness.model_layers([first, second], "tflm")
    assert dll.tml_model_check(table, 0) == ERRORS["TML_ERR_SHAPE"]
    assert dll.tml_model_check(None, 2) == ERRORS["TML_ERR_NULL"]
    table[1].p.act_min, table[1].p.act_max = 100, 50
    assert dll.tml_model_check(table, 2) == ERRORS["TML_ERR_RANGE"]
    table[1].p.act_min, table[1].p.act_max = -128, 127
    table[0].bias = None
    assert dll.tml_model_check(table, 2) == ERRORS["TML_ERR_NULL"]
    out = np.zeros(3, np.int8)
    assert dll.tml_model_run(table, 2, harness._ptr(x), harness._ptr(out), None) == ERRORS["TML_ERR_NULL"]
    assert dll.tml_model_scratch_bytes(table, 2) == 12  # two halves of the 6-wide hidden layer
    assert dll.tml_model_scratch_bytes(table, 1) == 0


def test_requantize_matches_reference_on_edges(lib):
    from tinyml_host.reference import requantize

    dll = harness.load(lib)
    rng = np.random.default_rng(5)
    accs = np.concatenate([[-(1 << 31), (1 << 31) - 1, 0, 1, -1], rng.integers(-(1 << 31), 1 << 31, 3000)])
    for rounding, code in (("tflm", 0), ("litert", 1)):
        for shift in (-31, -17, -1, 0, 1, 7, 30):
            for m in (1 << 30, (1 << 31) - 1, 1518500250):
                if rounding == "litert" and shift > 30:
                    continue
                want = requantize(accs, np.full(len(accs), m), np.full(len(accs), shift), rounding)
                got = [dll.tml_requantize(int(a), m, shift, code) for a in accs]
                assert got == list(want), (rounding, shift, m)


def test_output_zero_point_added_without_int32_overflow(lib):
    """y near INT32_MAX plus zp 127 clamps to act_max (the reference adds in 64 bits), not to
    act_min as a wrapped int32 add would (and C's signed overflow is undefined)."""
    from tinyml_host.reference import fully_connected
    from tinyml_host.tmdl import Layer

    dll = harness.load(lib)
    for bias, zp in (((1 << 31) - 1, 127), (-(1 << 31), -128)):
        for rounding in ("tflm", "litert"):
            layer = Layer(np.zeros((1, 4), np.int8), np.array([bias], np.int32), np.array([(1 << 31) - 1], np.int32),
                          np.array([0], np.int8), -128, 127, zp)
            x = np.zeros(4, np.int8)
            want = fully_connected(x.reshape(1, -1), layer, rounding).reshape(-1)
            assert want[0] == (127 if zp > 0 else -128)
            for fn in (dll.tml_fc_s8, dll.tml_fc_s8_ref):
                status, got = harness.call(fn, layer, x, rounding)
                assert status == 0 and got[0] == want[0], (fn, bias, zp, rounding, got)


def test_bad_arguments_get_status_codes(lib):
    """tml_fc_check (run once when a layer is prepared) and the reference, which runs it too,
    name each problem; tml_fc_s8 trusts checked parameters and only refuses NULL pointers."""
    dll = harness.load(lib)
    rng = np.random.default_rng(0)
    layer, x = harness.random_layer(rng, 8)
    layer.multiplier = layer.multiplier[:1]
    layer.shift = layer.shift[:1]

    def checked(fn=dll.tml_fc_s8_ref):
        status = dll.tml_fc_check(harness.ctypes.byref(harness.Params(*_params(layer))),
                                  harness._ptr(layer.multiplier), harness._ptr(layer.shift))
        assert harness.call(fn, layer, x, "tflm")[0] == status
        return status

    assert checked() == ERRORS["TML_OK"]
    assert harness.call(dll.tml_fc_s8, layer, x, "tflm")[0] == ERRORS["TML_OK"]
    layer.shift[0] = 31
    assert checked() == ERRORS["TML_ERR_QUANT"]
    layer.shift[0] = 0
    layer.act_min, layer.act_max = 5, -5
    assert checked() == ERRORS["TML_ERR_RANGE"]
    p = harness.Params(0, 4, 1, -128, 127, 0, 0)
    z = np.zeros(16, np.int8)
    zi = np.zeros(16, np.int32)
    args = [harness._ptr(a) for a in (z, z, zi, zi, z, z)]
    assert dll.tml_fc_check(harness.ctypes.byref(p), args[3], args[4]) == ERRORS["TML_ERR_SHAPE"]
    assert dll.tml_fc_s8_ref(harness.ctypes.byref(p), *args) == ERRORS["TML_ERR_SHAPE"]
    p.n_in = 4
    for fn in (dll.tml_fc_s8, dll.tml_fc_s8_ref):
        assert fn(harness.ctypes.byref(p), None, *args[1:]) == ERRORS["TML_ERR_NULL"]
        assert fn(None, *args) == ERRORS["TML_ERR_NULL"]


def _params(layer):
    n_out, n_in = layer.weights.shape
    return n_in, n_out, len(layer.multiplier), layer.act_min, layer.act_max, layer.output_zp, 0


def _runtime(name):
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def test_random_layers_under_asan_and_ubsan(tmp_path):
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    assert asan and ubsan, "gcc's libasan/libubsan are needed (Debian: libgcc-12-dev)"
    lib = harness.build(tmp_path, sanitize=True)
    env = dict(os.environ, LD_PRELOAD=f"{asan}:{ubsan}", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    proc = subprocess.run([sys.executable, harness.__file__, str(lib), "2000", "12"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_checked_call_on_64_bit_pointers(lib):
    """check.c on the host (64-bit pointers and size_t): the emulated cores' buffer fuzz
    (harness.damaged_buffers), 1000 calls of tml_fc_run_checked on an arena in host memory."""
    import ctypes

    dll = harness.load(lib)
    dll.tml_fc_run_checked.restype = ctypes.c_int
    dll.tml_fc_run_checked.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    rng = np.random.default_rng(1806)
    outcomes = {}
    for k in range(1000):
        case = harness.damaged_buffers(rng)
        arena = (ctypes.c_uint8 * (len(case.arena) + 4))()
        base = (ctypes.addressof(arena) + 3) // 4 * 4  # the arena starts at a word boundary
        ctypes.memmove(base, case.arena, len(case.arena))
        params = np.array(case.params, np.int32)
        table = np.array(case.pointers_and_lengths(base), np.uint64)
        status = dll.tml_fc_run_checked(params.ctypes.data, table.ctypes.data)
        after = ctypes.string_at(base, len(case.arena))
        if case.allowed:
            assert status in case.allowed and after == case.arena, (k, case.params, status, case.allowed)
        else:
            assert status == 0 and after == case.expected(), (k, case.params, status)
        outcomes[status] = outcomes.get(status, 0) + 1
    assert set(outcomes) >= {0, -1, -2, -3, -4, -5, -6, -7}, outcomes
