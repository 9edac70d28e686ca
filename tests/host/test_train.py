"""Training is seeded and deterministic; the converter yields the hello-world int8 graph."""

import math

import numpy as np

from tinyml_host import export, train


def _short_run():
    model = train.train_sine(epochs=3)
    x = np.linspace(0.0, 2 * math.pi, 50, dtype=np.float32).reshape(-1, 1)
    return train.quantize_int8(model, x)


def test_same_seed_same_bytes():
    assert _short_run() == _short_run()


def test_hello_world_architecture():
    model = export.convert(_short_run())
    assert [l.shape for l in model.layers] == [(16, 1), (16, 16), (1, 16)]
    assert model.layers[0].act_min == model.layers[0].output_zp  # fused RELU clamps at zero
    assert (model.layers[-1].act_min, model.layers[-1].act_max) == (-128, 127)  # no activation
    assert not (model.float_input or model.float_output or model.softmax)


def test_dataset_is_noisy_sine_over_one_period():
    (x, y), (xv, yv) = train.sine_dataset()
    assert len(x) == 600 and len(xv) == 200
    assert x.min() >= 0 and x.max() <= 2 * math.pi
    residual = y - np.sin(x)
    assert 0.05 < residual.std() < 0.15
