"""The numpy reference against TensorFlow Lite's own interpreters, byte for byte."""

import numpy as np
import pytest

import models
from tinyml_host import export, golden, reference, tmdl

ALL_INT8 = np.arange(-128, 128, dtype=np.int16).astype(np.int8).reshape(-1, 1)


def _roundtrip(tflite_bytes, rounding):
    """Export exactly as the CLI does, then read back what a board would read."""
    return tmdl.decode(tmdl.encode(export.convert(tflite_bytes, rounding)))


@pytest.mark.parametrize("rounding", ["tflm", "litert"])
def test_sine_all_256_inputs(rounding):
    data = models.sine_tflite()
    model = _roundtrip(data, rounding)
    expected = golden.run(data, ALL_INT8, rounding).reshape(-1)
    assert list(reference.run(model, ALL_INT8).reshape(-1)) == list(expected)


def test_sine_roundings_really_differ():
    # If both interpreters agreed on every input, the two modes would be untested.
    data = models.sine_tflite()
    tflm = golden.run(data, ALL_INT8, "tflm")
    litert = golden.run(data, ALL_INT8, "litert")
    assert (tflm != litert).sum() > 0


def _inputs(n_in, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(30, n_in)).astype(np.int8)
    return np.vstack([x, np.full((1, n_in), -128, np.int8), np.full((1, n_in), 127, np.int8)])


@pytest.mark.parametrize("index", range(models.RANDOM_MLP_COUNT))
def test_random_mlp(index):
    data = models.random_mlp_tflite(index)
    widths, acts, per_channel = models.mlp_recipe(index)
    x = _inputs(widths[0], index)
    for rounding in ("tflm", "litert"):
        model = _roundtrip(data, rounding)
        assert [l.shape for l in model.layers] == list(zip(widths[1:], widths[:-1]))
        n_channels = {len(l.multiplier) for l in model.layers}
        assert n_channels == {1} or per_channel
        expected = golden.run(data, x, rounding)
        np.testing.assert_array_equal(reference.run(model, x), expected.reshape(len(x), -1))


def test_random_mlps_cover_the_recipe_space():
    recipes = [models.mlp_recipe(i) for i in range(models.RANDOM_MLP_COUNT)]
    widths = [w for r in recipes for w in r[0]]
    assert min(widths) == 1 and max(widths) >= 200
    assert {len(r[1]) for r in recipes} == {1, 2, 3, 4}
    assert {a for r in recipes for a in r[1]} == {"relu", "relu6", "linear"}
    assert {r[2] for r in recipes} == {True, False}


def test_quantize_multiplier_matches_definition():
    # q * 2**(shift-31) must approximate the real multiplier to 31 bits
    rng = np.random.default_rng(0)
    for real in np.exp(rng.uniform(-20, 3, 500)):
        q, shift = reference.quantize_multiplier(float(real))
        assert (1 << 30) <= q < (1 << 31)
        assert abs(q * 2.0 ** (shift - 31) - real) <= real * 2.0 ** -30
