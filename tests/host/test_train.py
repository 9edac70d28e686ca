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


def test_ad01_preset_has_the_shape_of_mlperf_ad01():
    import models
    from tinyml_host import ad01_demo

    model = export.convert(models.ad01_shaped_tflite())
    shapes = [l.shape for l in model.layers]
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert shapes == [(o, i) for i, o in zip(widths, widths[1:])]
    assert sum(o * i for o, i in shapes) == 264192  # AD01's MACs, as ../shared/models/README.md states
    real = ad01_demo.SHARED_MODELS / "ad01_int8.tflite"
    if real.exists():  # and the same as MLPerf's own, layer by layer
        assert shapes == [l.shape for l in export.convert(real.read_bytes()).layers]


def test_ad01_preset_reconstructs_normal_sound_better_than_an_anomaly():
    """The autoencoder learned the synthetic machine: a held-out recording of it reconstructs
    with a lower error than the same recording with a loud hum added in 10 bands."""
    import models
    from tinyml_host import golden, reference

    tflite = models.ad01_shaped_tflite()
    model = export.convert(tflite)

    def score(recording):
        w = train.ad01_windows(recording)
        q = reference.quantize(w, model.input_scale, model.input_zp)
        y = (golden.run_tflm(tflite, q).astype(np.float64) - model.output_zp) * model.output_scale
        return float(np.mean((w - y) ** 2))

    normal = train.ad01_recording(seed=999)
    anomalous = normal.copy()
    anomalous[:, 60:70] += 15.0
    assert train.ad01_windows(normal).shape == (196, 640)
    assert score(anomalous) > 1.5 * score(normal)
