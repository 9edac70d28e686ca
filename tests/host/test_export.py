"""Export: what it accepts, and a clear error naming the problem for what it refuses."""

import numpy as np
import pytest

import models
from tinyml_host import cli, export, golden, reference, tmdl
from tinyml_host.errors import TinymlError


def _keras_tflite(build, n_in, int8_io=True):
    import tensorflow as tf

    from tinyml_host.train import quantize_int8

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(n_in,))] + build(tf.keras.layers))
    rep = np.random.default_rng(0).standard_normal((32, n_in)).astype(np.float32)
    if int8_io:
        return quantize_int8(model, rep)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([r.reshape(1, -1)] for r in rep)
    return converter.convert()


def test_unsupported_op_is_named_with_its_index():
    data = _keras_tflite(lambda L: [L.Dense(8), L.Activation("tanh"), L.Dense(2)], 4)
    with pytest.raises(TinymlError, match=r"unsupported TFLite op TANH at operator index 1"):
        export.convert(data)


def test_float_edges_and_softmax_are_accepted():
    # float in/out: QUANTIZE first, DEQUANTIZE last; SOFTMAX last runs in float on the board
    data = _keras_tflite(lambda L: [L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")], 5,
                         int8_io=False)
    model = export.convert(data)
    assert model.float_input and model.float_output and model.softmax
    x = np.random.default_rng(1).standard_normal((20, 5)).astype(np.float32)
    from ai_edge_litert import interpreter as litert

    interp = litert.Interpreter(model_content=data,
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    expected = []
    for row in x:
        interp.set_tensor(inp["index"], row.reshape(1, -1))
        interp.invoke()
        expected.append(interp.get_tensor(outp["index"]).reshape(-1))
    litert_model = export.convert(data, "litert")
    # TFLite's int8 softmax output has 1/256 steps; ours is float softmax of the same logits
    np.testing.assert_allclose(reference.predict(litert_model, x), np.array(expected), atol=2 / 256 + 1e-6)


def test_float_model_is_refused():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(3,)), tf.keras.layers.Dense(2)])
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(TinymlError, match="full-int8"):
        export.convert(data)


def test_garbage_is_not_a_flatbuffer():
    with pytest.raises(TinymlError, match="TFLite"):
        export.convert(b"\x00\x01garbage" * 10)


def test_cli_export_writes_a_checked_file(tmp_path, capsys):
    src = tmp_path / "sine.tflite"
    src.write_bytes(models.sine_tflite())
    dst = tmp_path / "sine.tmdl"
    assert cli.main(["export", str(src), "-o", str(dst), "--rounding", "litert", "--vectors", "8"]) == 0
    assert "1->16->16->1" in capsys.readouterr().out
    model = tmdl.read(dst)
    assert model.rounding == "litert" and len(model.vectors_in) == 8
    # the golden vectors are the LiteRT interpreter's answers
    np.testing.assert_array_equal(model.vectors_out, golden.run_litert(src.read_bytes(), model.vectors_in))


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    assert cli.main(["export", str(bad), "-o", str(tmp_path / "x.tmdl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinyml export: error:") and "Traceback" not in err
    assert not (tmp_path / "x.tmdl").exists()
