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


def _tiny_model():
    tf = train._quiet_tensorflow()
    tf.keras.backend.clear_session()  # layer names, which go into the .tflite, count from zero again
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([tf.keras.Input(shape=(2,)), tf.keras.layers.Dense(2)])


def test_converter_log_held_back_unless_verbose(capfd, monkeypatch):
    rep = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    monkeypatch.delenv("TINYML_VERBOSE", raising=False)
    model = _tiny_model()
    capfd.readouterr()  # what importing TensorFlow printed is not the converter's
    quiet = train.quantize_int8(model, rep)
    held_back = capfd.readouterr()
    assert held_back.out == "" and held_back.err == ""
    monkeypatch.setenv("TINYML_VERBOSE", "1")
    loud = train.quantize_int8(_tiny_model(), rep)
    shown = capfd.readouterr()
    assert "Saved artifact" in shown.out + shown.err  # TensorFlow's own dump, written to fd 1
    assert loud == quiet  # holding the log back does not change the conversion


def test_converter_log_shown_when_conversion_fails(capfd, monkeypatch):
    monkeypatch.delenv("TINYML_VERBOSE", raising=False)
    wrong_width = np.zeros((4, 3), np.float32)  # the model takes 2 inputs
    try:
        train.quantize_int8(_tiny_model(), wrong_width)
    except Exception:  # noqa: BLE001 - TensorFlow's own error type; the test is about the log
        pass
    else:
        raise AssertionError("conversion with a wrong representative shape should fail")
    shown = capfd.readouterr()
    assert "Saved artifact" in shown.out + shown.err
